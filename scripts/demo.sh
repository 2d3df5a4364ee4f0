#!/bin/sh
# The README's first command: installs what is missing, builds, and runs the
# log-statistics pipeline end to end: a qmgrd of its own (a free port, a
# temporary state directory, so it never clashes with a running daemon), a
# synthetic access log of $LINES lines (default 2,000,000) cut into batches
# by the producer, 8 workers ($WORKERS) counting them into flow_buf, and the
# dumper draining that into SQLite. Then it prints the report and checks that
# the database counted exactly the lines generated (exit 1 if not). Whatever
# it started is stopped on exit, Ctrl-C included. The database stays in
# build-demo/logstats.db.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=Release -DQMGR_TESTS=OFF >/dev/null
cmake --build build-demo -j"$(nproc 2>/dev/null || echo 2)" >/dev/null

LINES=${LINES:-2000000}
WORKERS=${WORKERS:-8}
BIN=build-demo/examples/logstats
DB=build-demo/logstats.db
TMP=$(mktemp -d "${TMPDIR:-/tmp}/qmgr-demo.XXXXXX")
qmgrd_pid="" workers_pid="" dumper_pid=""

say() { echo "demo: $*" >&2; }
die() { say "$*"; exit 1; }

stop() { # pid: SIGTERM, then wait for it; returns its exit status
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || true
    wait "$1"
}

cleanup() {
    status=$?
    trap - EXIT INT TERM
    for pid in $workers_pid $dumper_pid $qmgrd_pid; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The daemon, on a free port; its log line gives the port.
build-demo/server/qmgrd -l 127.0.0.1:0 -d "$TMP/state" 2>"$TMP/qmgrd.log" &
qmgrd_pid=$!
port=""
tries=0
while [ -z "$port" ]; do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$TMP/qmgrd.log")
    [ -n "$port" ] && break
    kill -0 "$qmgrd_pid" 2>/dev/null || { cat "$TMP/qmgrd.log" >&2; die "qmgrd exited"; }
    tries=$((tries + 1))
    [ "$tries" -le 300 ] || die "qmgrd is not listening after 30 s"
    sleep 0.1
done
export QMGR_ADDR="127.0.0.1:$port" QMGR_AUTHKEY_FILE="$TMP/state/authkey"
say "qmgrd listening on $QMGR_ADDR; $WORKERS workers; $LINES lines"

rm -f "$DB" "$DB-wal" "$DB-shm"
"$BIN/qmgr-logstats-dumper" --db "$DB" 2>"$TMP/dumper.log" &
dumper_pid=$!
"$BIN/qmgr-logstats-worker" -j "$WORKERS" 2>"$TMP/workers.log" &
workers_pid=$!

# Puts every batch, shows progress, returns once every batch is done.
status=0
"$BIN/qmgr-logstats-producer" --generate "$LINES" --progress || status=$?
[ "$status" -le 128 ] || exit "$status" # interrupted (Ctrl-C): just clean up
if [ "$status" -ne 0 ]; then
    cat "$TMP/workers.log" "$TMP/dumper.log" >&2
    die "the producer failed"
fi

# Every batch is done, so every count is in flow_buf or already in the
# database: stop the workers, then the dumper (its last drain takes the rest).
stop "$workers_pid" || { cat "$TMP/workers.log" >&2; die "a worker failed"; }
workers_pid=""
stop "$dumper_pid" || { cat "$TMP/dumper.log" >&2; die "the dumper failed"; }
dumper_pid=""

echo
"$BIN/qmgr-logstats-dumper" --db "$DB" --report
echo
counted=$("$BIN/qmgr-logstats-dumper" --db "$DB" --get lines || true)
if [ "$counted" != "$LINES" ]; then
    die "FAILED: the database counted ${counted:-no} lines, $LINES were generated"
fi
say "OK: the database counted exactly the $LINES lines generated ($DB)"
