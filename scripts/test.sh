#!/bin/sh
# The test command of the README: installs what is missing, then builds and
# runs every test three ways: a -Werror build, an ASan+UBSan build, and the
# libFuzzer targets (clang), each through ctest.
#   QMGR_TEST_STAGES="plain asan fuzz valgrind" picks stages (default: all).
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh

STAGES=${QMGR_TEST_STAGES:-"plain asan fuzz valgrind"}
JOBS=$(nproc 2>/dev/null || echo 2)
OUT=build-test

stage() { echo; echo "=== $* ==="; }

build() { # dir, then cmake options
    dir=$1
    shift
    cmake -S . -B "$OUT/$dir" -DQMGR_WERROR=ON "$@" >/dev/null
    cmake --build "$OUT/$dir" -j"$JOBS" -- --no-print-directory >/dev/null
}

run_ctest() { # dir, then ctest options
    dir=$1
    shift
    ctest --test-dir "$OUT/$dir" --output-on-failure --timeout 900 -j"$JOBS" "$@"
}

for s in $STAGES; do
    case $s in
    plain)
        stage "plain build (-Werror), every test"
        build plain -DCMAKE_BUILD_TYPE=RelWithDebInfo
        run_ctest plain -LE 'fuzz60|valgrind'
        ;;
    asan)
        stage "ASan+UBSan build, every test"
        build asan -DCMAKE_BUILD_TYPE=Debug -DQMGR_SANITIZE=ON
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
            QMGRTEST_TIMEOUT_SCALE=3 run_ctest asan -LE 'fuzz60|valgrind'
        ;;
    fuzz)
        stage "libFuzzer targets: 60 s each"
        CC=clang build fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQMGR_FUZZ=ON -DQMGR_TESTS=ON
        run_ctest fuzz -L 'fuzz60'
        ;;
    valgrind)
        stage "valgrind memcheck"
        build plain -DCMAKE_BUILD_TYPE=RelWithDebInfo
        QMGRTEST_TIMEOUT_SCALE=10 run_ctest plain -L valgrind -j1
        ;;
    *)
        echo "unknown stage: $s" >&2
        exit 2
        ;;
    esac
done
echo
echo "all tests passed"
