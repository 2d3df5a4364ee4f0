# Shared by demo.sh and cluster-demo.sh (sourced, with DEMO set to the
# script's name): the build, messages, the clean-up of whatever was started,
# waiting for a process's log, and the final exact check of the totals.
cd "$(dirname "$0")/.."
sh scripts/deps.sh
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=Release -DQMGR_TESTS=OFF >/dev/null
cmake --build build-demo -j"$(nproc 2>/dev/null || echo 2)" >/dev/null

BIN=build-demo/examples/logstats
QMGRD=build-demo/server/qmgrd
QMGRCTL=build-demo/ctl/qmgrctl
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/qmgr-$DEMO.XXXXXX")
pids="" # every process started, for the clean-up

say() { echo "$DEMO: $*" >&2; }
die() { say "$*"; exit 1; }

started() { # pid: stopped by the clean-up
    pids="$pids $1"
}

stop() { # pid, log: SIGTERM, then wait; dies showing the log if it failed
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" || { cat "$2" >&2; die "$(basename "$2" .log) failed"; }
}

cleanup() {
    status=$?
    trap - EXIT INT TERM
    for pid in $pids; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# pid, log, seconds, what, then a command: polls the command every 0.1 s
# until it succeeds; dies, showing the log, if pid exits or time runs out.
wait_for() {
    w_pid=$1 w_log=$2 w_tries=$(($3 * 10)) w_what=$4
    shift 4
    until "$@"; do
        kill -0 "$w_pid" 2>/dev/null || { cat "$w_log" >&2; die "$w_what: the process exited"; }
        w_tries=$((w_tries - 1))
        [ "$w_tries" -gt 0 ] || { cat "$w_log" >&2; die "$w_what: not within the time"; }
        sleep 0.1
    done
}

# db, lines, what else to say: the report, then exit 1 unless the database
# counted exactly the lines generated.
check_totals() {
    echo
    "$BIN/qmgr-logstats-dumper" --db "$1" --report
    echo
    counted=$("$BIN/qmgr-logstats-dumper" --db "$1" --get lines || true)
    if [ "$counted" != "$2" ]; then
        die "FAILED: the database counted ${counted:-no} lines, $2 were generated"
    fi
    say "OK: the database counted exactly the $2 lines generated$3 ($1)"
}
