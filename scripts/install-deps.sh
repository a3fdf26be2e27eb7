#!/bin/sh
# Installs every Debian package wasp needs to build and test (Debian 12).
# Usage: scripts/install-deps.sh [--build-only | --bench]
#   --build-only  what building waspd and the plugins needs (scripts/run.sh)
#   --bench       and what scripts/bench/ compares against (nginx with njs, h2load)
# Runs apt-get only when something is missing, so it is cheap to call twice.
set -eu

# The build includes the plugins (the default configuration runs one): clang, lld and
# wasi-libc compile them.
BUILD_PKGS="build-essential cmake pkg-config libevent-dev libnghttp2-dev libssl-dev
libinih-dev libjansson-dev clang lld wasi-libc libclang-rt-14-dev-wasm32"
TEST_PKGS="libcmocka-dev wabt nginx-light curl nghttp2-client procps openssl iproute2 python3-h2
python3-websockets libclang-rt-14-dev"

BENCH_PKGS="nginx-light libnginx-mod-http-js nghttp2-client curl procps"

pkgs="$BUILD_PKGS"
case "${1:-}" in
--build-only) ;;
--bench)
    pkgs="$pkgs $BENCH_PKGS"
    command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
    ;;
*)
    pkgs="$pkgs $TEST_PKGS"
    command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
    ;;
esac

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "installing:$missing"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi
