#!/bin/sh
# Installs the Debian packages weft's build, tests, demo and benchmarks need,
# if any is missing. Silent and quick when all are present.
set -e
pkgs="build-essential cmake ninja-build pkg-config valgrind liburing-dev
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
      libssl-dev openssl zlib1g-dev libjansson-dev libhttp-parser-dev
      clang libclang-rt-14-dev curl nginx-light
      python3 python3-httpbin python3-httpx python3-nest-asyncio"
[ "$1" = "bench" ] && pkgs="$pkgs golang-go libuv1-dev wrk libcurl4-openssl-dev"
[ "$1" = "coverage" ] && pkgs="$pkgs gcovr"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "bootstrap: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
