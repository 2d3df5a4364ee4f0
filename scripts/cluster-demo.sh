#!/bin/sh
# The cluster demo (README): three nats-server nodes and three qmgrd front
# ends (store = jetstream) on loopback, the log-statistics pipeline with the
# producer on front end 1 and the workers spread over front ends 2 and 3,
# then, mid-run, the JetStream stream leader and front end 3 killed with
# SIGKILL. The workers of front end 3 move to the others, its leased batches
# come back after frontend_timeout, and the totals are checked exactly at
# the end. Everything it started is stopped on exit, Ctrl-C included.
#   LINES (default 300000), WORKERS per front end (default 4), BATCH (lines
#   per batch, default 1000).
set -eu
DEMO=cluster-demo
. "$(dirname "$0")/demo-lib.sh"

LINES=${LINES:-300000}
WORKERS=${WORKERS:-4}
BATCH=${BATCH:-1000}
DB=build-demo/cluster-logstats.db

# 12 free loopback ports: per NATS node client, route and monitoring; then
# one per front end.
set -- $($PY -c '
import socket
socks = [socket.socket() for _ in range(12)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
NC1=$1 NR1=$2 NM1=$3 NC2=$4 NR2=$5 NM2=$6 NC3=$7 NR3=$8 NM3=$9
shift 9
FE1=127.0.0.1:$1 FE2=127.0.0.1:$2 FE3=127.0.0.1:$3
SERVERS="nats://127.0.0.1:$NC1,nats://127.0.0.1:$NC2,nats://127.0.0.1:$NC3"

start_nats() { # index, client port, route port, monitoring port
    mkdir -p "$TMP/n$1"
    cat >"$TMP/n$1.conf" <<EOF
server_name: n$1
listen: 127.0.0.1:$2
http: 127.0.0.1:$4
max_payload: 8MB
jetstream { store_dir: "$TMP/n$1" }
cluster {
  name: qmgr-demo
  listen: 127.0.0.1:$3
  routes: [nats-route://127.0.0.1:$NR1, nats-route://127.0.0.1:$NR2, nats-route://127.0.0.1:$NR3]
}
EOF
    nats-server -c "$TMP/n$1.conf" >"$TMP/n$1.log" 2>&1 &
    eval "nats$1_pid=$!"
    started $!
}

# Polls the nodes' health endpoints: JetStream is ready on all three.
wait_nats() {
    $PY - "$NM1" "$NM2" "$NM3" <<'EOF' || die "the NATS cluster did not become healthy"
import json, sys, time, urllib.request
deadline = time.monotonic() + 60
for port in sys.argv[1:]:
    while True:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%s/healthz" % port, timeout=2) as r:
                if json.load(r).get("status") == "ok":
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.1)
EOF
}

# The stream's leader, from any node's monitoring port: its node number.
stream_leader() {
    $PY - "$NM1" "$NM2" "$NM3" <<'EOF'
import json, sys, urllib.request
for port in sys.argv[1:]:
    try:
        with urllib.request.urlopen("http://127.0.0.1:%s/jsz?accounts=true&streams=true" % port, timeout=2) as r:
            for acc in json.load(r).get("account_details", []):
                for s in acc.get("stream_detail") or []:
                    if s["name"] == "QMGR_LOG" and s.get("cluster", {}).get("leader"):
                        print(s["cluster"]["leader"][1:])
                        sys.exit(0)
    except OSError:
        pass
EOF
}

start_frontend() { # index, address
    mkdir -p "$TMP/fe$1"
    cat >"$TMP/fe$1.conf" <<EOF
[qmgrd]
listen = $2
state_dir = $TMP/fe$1
authkey_file = $TMP/authkey
store = jetstream
jetstream_servers = $SERVERS
jetstream_stream = QMGR_LOG
jetstream_replicas = 3
frontend_timeout = 3s
EOF
    "$QMGRD" -c "$TMP/fe$1.conf" 2>"$TMP/fe$1.log" &
    eval "fe$1_pid=$!"
    started $!
    wait_for $! "$TMP/fe$1.log" 60 "front end $1 joining" \
        grep -q "cluster: joined as front end" "$TMP/fe$1.log"
}

start_nats 1 "$NC1" "$NR1" "$NM1"
start_nats 2 "$NC2" "$NR2" "$NM2"
start_nats 3 "$NC3" "$NR3" "$NM3"
wait_nats
say "NATS JetStream cluster up: $SERVERS"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/authkey"
chmod 600 "$TMP/authkey"
export QMGR_AUTHKEY_FILE="$TMP/authkey"
start_frontend 1 "$FE1"
start_frontend 2 "$FE2"
start_frontend 3 "$FE3"
say "front ends: $FE1 $FE2 $FE3"

rm -f "$DB" "$DB-wal" "$DB-shm"
QMGR_ADDR="$FE2,$FE1" "$BIN/qmgr-logstats-dumper" --db "$DB" 2>"$TMP/dumper.log" &
dumper_pid=$!
started $!
QMGR_ADDR="$FE2,$FE1" "$BIN/qmgr-logstats-worker" -j "$WORKERS" --reconnect 100 2>"$TMP/workers2.log" &
workers2_pid=$!
started $!
QMGR_ADDR="$FE3,$FE2,$FE1" "$BIN/qmgr-logstats-worker" -j "$WORKERS" --reconnect 100 2>"$TMP/workers3.log" &
workers3_pid=$!
started $!

# A third of the way through: SIGKILL for the stream's leader and front end 3.
(
    batches=$((LINES / BATCH))
    while :; do
        gets=$(QMGR_ADDR="$FE1" "$QMGRCTL" --json stat line_queue 2>/dev/null |
            $PY -c 'import json,sys; print(json.load(sys.stdin).get("gets", 0))' 2>/dev/null || echo 0)
        [ "$gets" -ge $((batches / 3)) ] && break
        sleep 0.2
    done
    leader=$(stream_leader)
    say "killing the stream leader n$leader and front end 3 (SIGKILL), $gets batches in"
    [ -n "$leader" ] && kill -KILL "$(eval echo "\$nats${leader}_pid")"
    kill -KILL "$fe3_pid"
) &
killer_pid=$!
started $!

status=0
QMGR_ADDR="$FE1,$FE2" "$BIN/qmgr-logstats-producer" --generate "$LINES" --batch "$BATCH" --progress || status=$?
[ "$status" -le 128 ] || exit "$status"
wait "$killer_pid" || true
if [ "$status" -ne 0 ]; then
    cat "$TMP/workers2.log" "$TMP/workers3.log" "$TMP/dumper.log" >&2
    die "the producer failed"
fi

echo
QMGR_ADDR="$FE2" "$QMGRCTL" status || true
stop "$workers2_pid" "$TMP/workers2.log"
stop "$workers3_pid" "$TMP/workers3.log"
stop "$dumper_pid" "$TMP/dumper.log"
check_totals "$DB" "$LINES" ", though a JetStream node and a front end were killed"
