#!/bin/sh
# weft-fetch against python3-httpbin: status and size lines, -o, the load
# mode's report, and the exit code when a connection is refused.
# Usage: sh t_weft_fetch.sh BUILD_DIR. Exit 77: skipped.
set -u
build=$1
fetch=$build/apps/weft-fetch/weft-fetch
py=/usr/bin/python3
[ -x "$fetch" ] || { echo "no $fetch"; exit 77; }
$py -c 'import httpbin.core' 2>/dev/null || { echo "no httpbin in $py"; exit 77; }

tmp=$(mktemp -d)
port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$py -m httpbin.core --host 127.0.0.1 --port "$port" >"$tmp/httpbin.log" 2>&1 &
hb=$!
trap 'kill $hb 2>/dev/null; wait $hb 2>/dev/null; rm -rf "$tmp"' EXIT
base=http://127.0.0.1:$port
i=0
until curl -s -o /dev/null "$base/get"; do
    i=$((i + 1))
    [ $i -lt 150 ] || { echo "httpbin did not start"; exit 1; }
    sleep 0.1
done

fail() { echo "FAIL: $*"; exit 1; }

# One line per URL, in the order given, with status and size.
"$fetch" "$base/bytes/1000" "$base/status/418" >"$tmp/out" || fail "fetch exited $?"
sed -n 1p "$tmp/out" | grep -q "/bytes/1000  200  1000 bytes  dns .* total " || fail "bytes line: $(cat "$tmp/out")"
sed -n 2p "$tmp/out" | grep -q "/status/418  418  " || fail "status line: $(cat "$tmp/out")"

# -o writes the decoded body.
"$fetch" -o "$tmp/body" "$base/gzip" >/dev/null || fail "-o exited $?"
grep -q '"gzipped": *true' "$tmp/body" || fail "-o body: $(head -c 200 "$tmp/body")"

# -L, -X, -H and --json reach the server.
"$fetch" -L -X PUT -H 'X-Hello: there' --json '{"k": 2}' -o "$tmp/put" "$base/put" >/dev/null || fail "put"
grep -q '"X-Hello": *"there"' "$tmp/put" || fail "header not echoed"
grep -q '"k": *2' "$tmp/put" || fail "json not echoed"

# Load mode: wrk's wording and the percentiles.
"$fetch" -n 40 -c 4 "$base/get" >"$tmp/load" || fail "load exited $?"
grep -q '^Requests/sec: [0-9]' "$tmp/load" || fail "load: $(cat "$tmp/load")"
grep -q '^Latency: p50 .* p90 .* p99 .* max ' "$tmp/load" || fail "load: $(cat "$tmp/load")"
grep -q '^40 requests over 4 connections' "$tmp/load" || fail "load: $(cat "$tmp/load")"

# A refused connection: non-zero, with the reason on stderr.
if "$fetch" "http://127.0.0.1:1/" >/dev/null 2>"$tmp/err"; then fail "refused exited 0"; fi
grep -qi "refused" "$tmp/err" || fail "refused: $(cat "$tmp/err")"
# Bad usage is 2.
"$fetch" >/dev/null 2>&1
[ $? -eq 2 ] || fail "usage exit code"
echo ok
