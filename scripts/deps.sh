#!/bin/sh
# Installs what qmgr needs to build and test on Debian 12, only if missing.
# Idempotent; needs root (or sudo) only when something is missing.
set -eu

PACKAGES="build-essential cmake pkg-config libevent-dev libmsgpack-dev libsodium-dev
  nettle-dev libinih-dev uthash-dev libisal-dev check libsubunit-dev libsqlite3-dev
  clang libclang-rt-14-dev valgrind strace python3 python3-msgpack systemd
  python3-venv python3-pip python3-setuptools python3-wheel
  libnats-dev nats-server libssl-dev openssl prometheus python3-prometheus-client libzstd-dev"

missing=""
for p in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
    *"install ok installed"*) ;;
    *) missing="$missing $p" ;;
    esac
done

[ -z "$missing" ] && exit 0

echo "deps.sh: installing$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
