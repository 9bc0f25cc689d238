#!/bin/sh
# The lesson's programs, run for real. Program 2: two blocking sleeps take
# ~2 s, two weft sleeps ~1 s.
set -e
build=${1:-build}
echo "### Program 2: blocking versus non-blocking sleep"
"$build/examples/blocking_vs_nonblocking"

echo
echo "### The asyncio streams example: an echo server and client"
sh tests/echo_examples.sh "$build/examples"
