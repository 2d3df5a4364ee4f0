#!/bin/sh
# The README's first command: installs what is missing, builds, and runs
# qmgrd in the foreground on the embedded defaults (127.0.0.1:50002, queue
# line_queue maxsize 200, buf flow_buf; a random authkey is created in the
# state directory on first start). Ctrl-C stops it.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=Release -DQMGR_TESTS=OFF >/dev/null
cmake --build build-demo -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
exec build-demo/server/qmgrd "$@"
