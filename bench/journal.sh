#!/bin/bash
# Durability figures (issue 5): put throughput with the journal off, on with
# fsync = no / everysec / always, at 1 and 50 connections, the same puts on
# Redis with appendonly (everysec, always) and beanstalkd with -b, and the
# time a start takes to replay a journal of 1,000,000 items. One server per
# row, all rows in one run; prints a Markdown table.
#
#   bench/journal.sh [BUILD_DIR]      (default build-bench, Release)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-bench}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DQMGR_TESTS=OFF >/dev/null
cmake --build "$build" --target qmgrd qmgr-bench -j"$(nproc)" >/dev/null
qmgrd=$build/server/qmgrd
bench=$build/bench/qmgr-bench
tmp=$(mktemp -d /tmp/qmgr-journal-bench-XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

start() { # journal fsync [keep]: keep = reuse the state (journal) of the last run
    [ "${3:-}" = keep ] || { rm -rf "$tmp/state" && mkdir -p "$tmp/state"; }
    printf '[qmgrd]\nlisten = 127.0.0.1:0\nstate_dir = %s\njournal = %s\nfsync = %s\nmax_memory = 4G\n[queue bench_q]\n[buf bench_buf]\n' \
        "$tmp/state" "$1" "$2" >"$tmp/conf"
    "$qmgrd" -c "$tmp/conf" 2>"$tmp/log" &
    pid=$!
    for _ in $(seq 100); do grep -q 'listening on' "$tmp/log" && break; sleep 0.1; done
    port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/log")
    printf '[qmgrd]\nlisten = 127.0.0.1:%s\nauthkey_file = %s/state/authkey\n' "$port" "$tmp" >"$tmp/client.conf"
}

stop() { kill "$pid"; wait "$pid" || true; pid=; }

field() { /usr/bin/python3 -c "import json,sys; print(round(json.load(sys.stdin)['$1']))"; }

row() { # label journal fsync conns ops
    start "$2" "$3"
    local ops_s threads=()
    # Many connections run from one client thread, as redis-benchmark's do.
    [ "$4" -gt 1 ] && threads=(-T 1)
    ops_s=$("$bench" -C "$tmp/client.conf" -w put -c "$4" "${threads[@]}" -n "$5" --json | field ops_per_s)
    stop
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" "$ops_s"
}

echo "| row | journal | fsync | conns | puts/s |"
echo "|---|---|---|---|---|"
row "off, 1 conn" off everysec 1 200000
row "no, 1 conn" on no 1 200000
row "everysec, 1 conn" on everysec 1 200000
row "always, 1 conn (one fsync per put)" on always 1 5000
row "off, 50 conns" off everysec 50 400000
row "everysec, 50 conns" on everysec 50 400000
row "always, 50 conns (group commit)" on always 50 100000

# The peers, durable, on the same puts: Redis with its append-only file
# (LPUSH, 64-byte values, redis-benchmark) and beanstalkd with its binlog.
redis_row() { # label fsync conns ops
    mkdir -p "$tmp/redis"
    redis-server --port 16492 --bind 127.0.0.1 --save '' --appendonly yes --appendfsync "$2" \
        --dir "$tmp/redis" --daemonize no >/dev/null 2>&1 &
    local rpid=$! ops_s=
    for _ in $(seq 100); do redis-cli -p 16492 ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
    ops_s=$(redis-benchmark -p 16492 -c "$3" -n "$4" -d 64 -t lpush --csv | sed -n '2s/^"[^"]*","\([0-9.]*\)".*/\1/p')
    kill "$rpid"
    wait "$rpid" || true
    rm -rf "$tmp/redis"
    printf '| %s | appendonly | %s | %s | %.0f |\n' "$1" "$2" "$3" "$ops_s"
}
if command -v redis-server >/dev/null; then
    redis_row "Redis LPUSH, 1 conn" everysec 1 100000
    redis_row "Redis LPUSH, 1 conn" always 1 5000
    redis_row "Redis LPUSH, 50 conns" everysec 50 300000
    redis_row "Redis LPUSH, 50 conns" always 50 50000
fi
if command -v beanstalkd >/dev/null; then
    cp -r "$root/../shared/peers" "$tmp/peers"
    rm -rf "$tmp/peers/results"
    /usr/bin/python3 "$tmp/peers/beanstalk_bench.py" --binlog on --parts w1 --runs 1 --n 20000 \
        --port 11492 >/dev/null 2>&1 || true
    /usr/bin/python3 - "$tmp/peers/results/beanstalk.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("binlog") == "on":
        print("| beanstalkd, 1 conn: jobs (put+reserve+delete) | -b (binlog) | 50 ms | 1 | %d jobs/s |"
              % r["jobs_per_s"])
PY
fi

# Replay: 1,000,000 items of 64 bytes in the journal, then a restart.
start on no
/usr/bin/python3 - "$port" "$tmp/state/authkey" "$root/tests/integration" <<'PY'
import sys
sys.path.insert(0, sys.argv[3])
from qmgrtest import Client
c = Client(int(sys.argv[1]), key=open(sys.argv[2], "rb").read().rstrip(b"\n"))
item = b"x" * 64
for _ in range(1000):
    c.call("queue.put_many", ["bench_q", [item] * 1000, 0])
assert c.call("queue.qsize", ["bench_q"]) == 1000000
PY
stop
t0=$(date +%s.%N)
start on no keep
t1=$(date +%s.%N)
items=$(grep -o 'replayed [0-9]* records' "$tmp/log" | head -1)
stop
size=$(stat -c %s "$tmp/state/qmgrd.journal")
echo
printf 'Replay + snapshot rewrite at start: %s, %.2f s from exec to listening (journal now %s bytes)\n' \
    "$items" "$(echo "$t1 - $t0" | bc)" "$size"
