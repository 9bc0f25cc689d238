#!/bin/sh
# The lesson's Program 1 (tests/program1.py: Python, httpx, nest_asyncio)
# against weft-httpbin: two /delay/2 gathered must take about 2 s, not 4,
# which holds only if the server serves both at once. The lesson prints
# 2.0Xs; the check accepts anything under 3 s, because the timed region also
# holds Python's own work (httpx.AsyncClient builds its TLS context with
# the CA bundle): runs take 2.06 s on a quiet machine and up to 2.84 s on
# two cores loaded four times over. Serving the two requests one after the
# other (4 s) fails by far all the same. CTest runs this case alone.
set -u
dir=$1
py=/usr/bin/python3
bin=$dir/apps/weft-httpbin/weft-httpbin
[ -x "$py" ] && "$py" -c 'import httpx, nest_asyncio' 2>/dev/null || { echo "python3-httpx or python3-nest-asyncio missing: skipped"; exit 77; }
[ -x "$bin" ] || { echo "$bin not built: skipped"; exit 77; }

log=$(mktemp)
"$bin" --port 0 >"$log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$log"' EXIT
. "$(dirname "$0")/../scripts/listening.sh"
url=$(listening_url "$log") || { echo "weft-httpbin did not start"; cat "$log"; exit 1; }
case $url in http://127.0.0.1:[0-9]*) ;; *) echo "bad first line: $(head -1 "$log")"; exit 1 ;; esac

out=$(HTTPBIN_URL=$url timeout 20 "$py" "$(dirname "$0")/program1.py") || { echo "program1.py failed"; echo "$out"; exit 1; }
echo "$out"
line() { echo "$out" | sed -n "$1p"; }
[ "$(echo "$out" | wc -l)" -eq 6 ] &&
  [ "$(line 1)" = "Starting fetch from source_A" ] &&
  [ "$(line 2)" = "Starting fetch from source_B" ] &&
  [ "$(echo "$out" | sed -n '3,4p' | sort | tr '\n' ' ')" = "Done fetching from source_A Done fetching from source_B " ] &&
  [ "$(line 5)" = "['Data from source_A', 'Data from source_B']" ] &&
  line 6 | grep -Eqx 'Total time: 2\.[0-9][0-9]s' || { echo "output does not match the lesson's"; exit 1; }
kill -TERM $pid
wait $pid || { echo "weft-httpbin did not exit cleanly on SIGTERM"; exit 1; }
trap 'rm -f "$log"' EXIT
echo "program 1 behaves as in the lesson"
