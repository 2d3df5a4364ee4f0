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
DEMO=demo
. "$(dirname "$0")/demo-lib.sh"

LINES=${LINES:-2000000}
WORKERS=${WORKERS:-8}
DB=build-demo/logstats.db

# The daemon, on a free port; its log line gives the port.
"$QMGRD" -l 127.0.0.1:0 -d "$TMP/state" 2>"$TMP/qmgrd.log" &
qmgrd_pid=$!
started "$qmgrd_pid"
listening_port() {
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$TMP/qmgrd.log")
    [ -n "$port" ]
}
wait_for "$qmgrd_pid" "$TMP/qmgrd.log" 30 "qmgrd listening" listening_port
export QMGR_ADDR="127.0.0.1:$port" QMGR_AUTHKEY_FILE="$TMP/state/authkey"
say "qmgrd listening on $QMGR_ADDR; $WORKERS workers; $LINES lines"

rm -f "$DB" "$DB-wal" "$DB-shm"
"$BIN/qmgr-logstats-dumper" --db "$DB" 2>"$TMP/dumper.log" &
dumper_pid=$!
started "$dumper_pid"
"$BIN/qmgr-logstats-worker" -j "$WORKERS" 2>"$TMP/workers.log" &
workers_pid=$!
started "$workers_pid"

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
stop "$workers_pid" "$TMP/workers.log"
stop "$dumper_pid" "$TMP/dumper.log"
check_totals "$DB" "$LINES" ""
