#!/bin/sh
# Builds the Go peers (bench/go) into BUILD_DIR/bench/weft_bench_go, caches
# included, from the standard library only: no network, no $HOME, nothing
# outside the build dir written. Both bench.sh and http_bench.sh run it, so
# either finds a peer built from the tree it runs; Go's cache makes the
# second build a no-op.
#
# usage: scripts/go_peer.sh BUILD_DIR
set -eu
build=$(cd "$1" && pwd)
mkdir -p "$build/go" "$build/bench"
cd "$(dirname "$0")/../bench/go"
GOCACHE="$build/go/cache" GOPATH="$build/go/path" GOENV=off GOFLAGS='' GOPROXY=off \
  GOTOOLCHAIN=local go build -o "$build/bench/weft_bench_go" .
