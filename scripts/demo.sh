#!/bin/sh
# The lesson's programs, run for real against weft-httpbin on a free loopback
# port (these machines have no internet, so weft serves httpbin itself).
# Program 1: two slow fetches gathered take ~2 s, not ~4 s, in C and in the
# lesson's own Python. Program 2: two blocking sleeps take ~2 s, two weft
# sleeps ~1 s.
set -e
build=${1:-build}
httpbin=$build/apps/weft-httpbin/weft-httpbin

log=$(mktemp)
"$httpbin" --port 0 >"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
i=0
until grep -q '^listening on' "$log"; do
  i=$((i + 1))
  [ $i -gt 100 ] && { echo "weft-httpbin did not start" >&2; exit 1; }
  sleep 0.05
done
url=$(sed -n '1s/^listening on //p' "$log")
echo "weft-httpbin is serving on $url"

echo
echo "### Program 1: two slow fetches, gathered (C, weft's HTTP client)"
"$build/examples/fetch_slow" "$url"

if /usr/bin/python3 -c 'import httpx, nest_asyncio' 2>/dev/null; then
  echo
  echo "### Program 1 as the lesson wrote it (Python, httpx), against the same server"
  HTTPBIN_URL=$url /usr/bin/python3 tests/program1.py
fi

echo
echo "### Program 2: blocking versus non-blocking sleep"
"$build/examples/blocking_vs_nonblocking"

echo
echo "### The asyncio streams example: an echo server and client"
sh tests/echo_examples.sh "$build/examples"

kill -TERM $pid
wait $pid || true
