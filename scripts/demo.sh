#!/bin/sh
# The lesson's programs, run for real against weft-httpbin on a free loopback
# port (these machines have no internet, so weft serves httpbin itself).
# Program 1: two slow fetches gathered take ~2 s, not ~4 s, in C and in the
# lesson's own Python. Program 2: two blocking sleeps take ~2 s, two weft
# sleeps ~1 s, then once more in debug mode (WEFT_DEBUG=1), which takes as
# long and says where the loop is blocked. Both C programs run traced
# (WEFT_TRACE), and weft-trace draws each trace as a timeline:
# $build/demo/program1.svg and program2.svg.
set -e
cd "$(dirname "$0")/.."
build=${1:-build}
httpbin=$build/apps/weft-httpbin/weft-httpbin
trace=$build/apps/weft-trace/weft-trace
demo=$build/demo

# Only what the demo runs: the tests and benchmarks wait for make check and
# make bench (in the same build directory, so nothing is built twice).
echo "demo: configuring $build (cmake)"
cmake -S . -B "$build" -G Ninja >/dev/null
echo "demo: building the library, weft-httpbin, weft-trace and the examples the demo runs (ninja)"
ninja -C "$build" weft-httpbin weft-trace fetch_slow blocking_vs_nonblocking echo_server echo_client
mkdir -p "$demo"

log=$(mktemp)
"$httpbin" --port 0 >"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
. "$(dirname "$0")/listening.sh"
url=$(listening_url "$log") || { echo "weft-httpbin did not start" >&2; exit 1; }
echo "weft-httpbin is serving on $url"

echo
echo "### Program 1: two slow fetches, gathered (C, weft's HTTP client)"
WEFT_TRACE=$demo/program1.json "$build/examples/fetch_slow" "$url"

if /usr/bin/python3 -c 'import httpx, nest_asyncio' 2>/dev/null; then
  echo
  echo "### Program 1 as the lesson wrote it (Python, httpx), against the same server"
  HTTPBIN_URL=$url /usr/bin/python3 tests/program1.py
fi

echo
echo "### Program 2: blocking versus non-blocking sleep"
WEFT_TRACE=$demo/program2.json "$build/examples/blocking_vs_nonblocking"

echo
echo "### Program 2 again in debug mode (WEFT_DEBUG=1): the same 2.00 s and 1.00 s, and"
echo "### the watchdog's report of each blocking sleep: the call, and the code that made it"
WEFT_DEBUG=1 "$build/examples/blocking_vs_nonblocking" 2>&1

echo
echo "### The asyncio streams example: an echo server and client"
sh tests/echo_examples.sh "$build/examples"

kill -TERM $pid
wait $pid || true

echo
echo "### What the loop did: the timelines of both programs (WEFT_TRACE, weft-trace)"
"$trace" "$demo/program1.json" -o "$demo/program1.svg" \
  --title "Program 1: two slow fetches, gathered (weft, one thread)"
"$trace" "$demo/program2.json" -o "$demo/program2.svg" \
  --title "Program 2: two blocking sleep(1) calls, then two weft_sleep(1 s)"
echo "Program 1: $demo/program1.svg  (the two fetches wait side by side: ~2 s, not ~4 s)"
echo "Program 2: $demo/program2.svg  (blocking sleeps end to end, weft sleeps side by side)"
echo "Open them in a browser; the traces themselves ($demo/program1.json, program2.json)"
echo "open in https://ui.perfetto.dev too."
