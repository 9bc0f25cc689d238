#!/bin/sh
# weft's HTTP server against curl: keep-alive reuse across URLs of one
# invocation, chunked uploads (from stdin and as a POST), Expect:
# 100-continue answered only when the handler reads, HEAD, a streamed
# download, 413 for an oversized upload, and a clean exit on SIGTERM.
# Usage: sh t_httpd_curl.sh BUILD_DIR (exit 77: curl missing).
set -eu
build=$1
command -v curl >/dev/null 2>&1 || { echo "curl not installed"; exit 77; }
tmp=$(mktemp -d)
pid=
trap 'if [ -n "$pid" ]; then kill $pid 2>/dev/null || true; fi; rm -rf "$tmp"' EXIT
"$build/tests/httpd_testserver" >"$tmp/out" 2>"$tmp/err" &
pid=$!
i=0
until grep -q '^listening on' "$tmp/out"; do
  i=$((i + 1)); [ $i -gt 100 ] && { echo "server did not start"; cat "$tmp/out" "$tmp/err"; exit 1; }
  sleep 0.05
done
url=$(sed -n 's/^listening on //p' "$tmp/out")
fail() { echo "FAIL: $*"; exit 1; }
c() { curl --http1.1 -sS --max-time 10 "$@"; }

# Keep-alive: three URLs, one connection.
c -v "$url/" "$url/" "$url/" >"$tmp/body" 2>"$tmp/v"
[ "$(cat "$tmp/body")" = "$(printf 'hello\nhello\nhello')" ] || fail "three hellos"
grep -Eqi 're-?using existing connection' "$tmp/v" || fail "connection not reused"
[ "$(grep -c 'Connected to' "$tmp/v")" = 1 ] || fail "more than one connect"
echo "ok: keep-alive reuses the connection"

# Chunked uploads: from stdin (curl -T - sends PUT, chunked), and POST.
head -c 300000 /dev/urandom >"$tmp/data"
c -T - "$url/echo" <"$tmp/data" -v -o "$tmp/got" 2>"$tmp/v"
grep -qi '^> Transfer-Encoding: chunked' "$tmp/v" || fail "curl did not send chunked"
cmp -s "$tmp/data" "$tmp/got" || fail "chunked PUT echo differs"
c -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/data" "$url/stream-echo" -o "$tmp/got"
cmp -s "$tmp/data" "$tmp/got" || fail "chunked POST stream-echo differs"
echo "ok: chunked uploads"

# Expect: 100-continue: sent when the handler reads, not when it does not.
c -v -H 'Expect: 100-continue' --data-binary @"$tmp/data" "$url/echo" -o "$tmp/got" 2>"$tmp/v"
grep -q '^< HTTP/1.1 100 Continue' "$tmp/v" || fail "no 100 Continue"
cmp -s "$tmp/data" "$tmp/got" || fail "expect echo differs"
c -v -H 'Expect: 100-continue' --data-binary @"$tmp/data" "$url/noread" -o "$tmp/got" 2>"$tmp/v"
grep -q '100 Continue' "$tmp/v" && fail "100 Continue sent to a handler that did not read"
[ "$(cat "$tmp/got")" = "not read" ] || fail "noread body"
echo "ok: 100-continue only when read"

# Too big: curl sends Expect for > 1 MiB by itself; 413 without the upload.
head -c 2000000 /dev/zero >"$tmp/big"
code=$(c -o /dev/null -w '%{http_code}' --data-binary @"$tmp/big" "$url/echo")
[ "$code" = 413 ] || fail "oversized upload got $code"
echo "ok: 413"

# HEAD.
c -I "$url/" >"$tmp/h"
grep -q '^HTTP/1.1 200 OK' "$tmp/h" || fail "HEAD status"
grep -qi '^Content-Length: 6' "$tmp/h" || fail "HEAD Content-Length"
echo "ok: HEAD"

# A streamed download.
c "$url/stream/10000" -o "$tmp/lines"
[ "$(wc -l <"$tmp/lines")" = 10000 ] || fail "streamed lines"
[ "$(tail -n1 "$tmp/lines")" = "line 9999" ] || fail "last line"
code=$(c -o /dev/null -w '%{http_code}' "$url/nothing")
[ "$code" = 404 ] || fail "404 got $code"
echo "ok: streamed download, 404"

kill -TERM $pid
wait $pid || fail "server exit status $?"
pid=
echo "ok: SIGTERM shuts down cleanly"
