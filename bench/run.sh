#!/bin/bash
# One comparison run of qmgrd against its peers on this machine (about 20
# minutes on 2 cores with the defaults; --runs 1 takes about 10).
#
#   bench/run.sh                          # every part, 3 rounds of the targets
#   bench/run.sh --parts core,mem --runs 1
#   bench/run.sh --help                   # parts and options (bench/run.py)
#
# Builds qmgrd, qmgr-bench and the logstats programs (Release) in
# build-bench/, installs the peers' servers if they are missing, then runs
# bench/run.py; results and summary.md go to bench/results/<UTC time>/ (or
# --out DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${QMGR_BENCH_BUILD:-$root/build-bench}

need=()
command -v redis-server >/dev/null || need+=(redis-server redis-tools)
command -v beanstalkd >/dev/null || need+=(beanstalkd)
command -v strace >/dev/null || need+=(strace)
command -v perf >/dev/null || need+=(linux-perf)
command -v valgrind >/dev/null || need+=(valgrind)
/usr/bin/python3 -c 'import redis, msgpack' 2>/dev/null || need+=(python3-redis python3-msgpack)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y "${need[@]}"
  else
    echo "bench/run.sh: needs: sudo apt-get install ${need[*]}" >&2
    exit 2
  fi
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DQMGR_TESTS=OFF >/dev/null
cmake --build "$build" --target qmgrd qmgr-bench qmgr-logstats-producer qmgr-logstats-worker qmgr-logstats-dumper -j"$(nproc)" >/dev/null
exec /usr/bin/python3 "$root/bench/run.py" --build "$build" "$@"
