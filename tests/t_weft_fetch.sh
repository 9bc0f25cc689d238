#!/bin/sh
# weft-fetch against python3-httpbin: what curl lacks (--timings' lines, the
# load mode's report), -o, and curl's exit codes for a refused connection
# and bad usage. fetch_curl.py compares the rest with curl itself.
# Usage: sh t_weft_fetch.sh BUILD_DIR. Exit 77: skipped.
set -u
build=$1
fetch=$build/apps/weft-fetch/weft-fetch
py=/usr/bin/python3
[ -x "$fetch" ] || { echo "no $fetch"; exit 77; }
$py -c 'import httpbin.core' 2>/dev/null || { echo "no httpbin in $py"; exit 77; }

tmp=$(mktemp -d)
# Port 0, read back from werkzeug's "Running on" line: a port picked
# beforehand could be taken by a parallel test while werkzeug starts.
$py -m httpbin.core --host 127.0.0.1 --port 0 >"$tmp/httpbin.log" 2>&1 &
hb=$!
trap 'kill $hb 2>/dev/null; wait $hb 2>/dev/null; rm -rf "$tmp"' EXIT
i=0
until port=$(sed -n 's|.*Running on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$tmp/httpbin.log") && [ -n "$port" ]; do
    i=$((i + 1))
    [ $i -lt 150 ] || { echo "httpbin did not start"; cat "$tmp/httpbin.log"; exit 1; }
    sleep 0.1
done
base=http://127.0.0.1:$port
i=0
until curl -s -o /dev/null "$base/get"; do
    i=$((i + 1))
    [ $i -lt 150 ] || { echo "httpbin did not start"; exit 1; }
    sleep 0.1
done

fail() { echo "FAIL: $*"; exit 1; }

# --timings: one line per URL on stderr, in the order given, with status
# and size; the bodies on stdout.
"$fetch" --timings "$base/bytes/1000" "$base/status/418" >"$tmp/out" 2>"$tmp/timings" || fail "fetch exited $?"
sed -n 1p "$tmp/timings" | grep -q "/bytes/1000  200  1000 bytes  dns .* total " || fail "bytes line: $(cat "$tmp/timings")"
sed -n 2p "$tmp/timings" | grep -q "/status/418  418  " || fail "status line: $(cat "$tmp/timings")"
[ "$(wc -c <"$tmp/out")" -ge 1000 ] || fail "bodies not on stdout"

# -o writes the body, decoded with --compressed.
"$fetch" --compressed -o "$tmp/body" "$base/gzip" >/dev/null || fail "-o exited $?"
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
# ... on two loops (-t, wrk's threads): every request made once.
"$fetch" -n 101 -c 5 -t 2 "$base/get" >"$tmp/load" || fail "load -t 2 exited $?"
grep -q '^101 requests over 5 connections on 2 loops' "$tmp/load" || fail "load -t 2: $(cat "$tmp/load")"
"$fetch" -t 2 "$base/get" >/dev/null 2>&1
[ $? -eq 2 ] || fail "-t without -n is a usage error"

# A refused connection: curl's 7, with the reason on stderr.
"$fetch" "http://127.0.0.1:1/" >/dev/null 2>"$tmp/err"
[ $? -eq 7 ] || fail "refused exit code"
grep -q "Couldn't connect to server" "$tmp/err" || fail "refused: $(cat "$tmp/err")"
# Bad usage is 2.
"$fetch" >/dev/null 2>&1
[ $? -eq 2 ] || fail "usage exit code"
echo ok
