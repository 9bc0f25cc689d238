#!/bin/sh
# weft's HTTP/2 server (weft-httpbin) against real clients: curl with
# --http2-prior-knowledge (h2c), --http2 on http:// (the upgrade to h2c)
# and --http2 over TLS (h2 chosen by ALPN, with a certificate made here), a
# body up and a body down, the access log's HTTP/2.0 lines, HTTP/1.1 still
# served on the same port, and h2load
# (nghttp2-client) with 10 connections of 10 streams each, every request
# answered 2xx.
# Usage: sh t_http2_curl.sh BUILD_DIR (exit 77: curl, openssl or h2load
# missing, or a curl without HTTP/2).
set -eu
build=$1
bin=$build/apps/weft-httpbin/weft-httpbin
for p in curl openssl h2load; do
  command -v $p >/dev/null 2>&1 || { echo "$p not installed"; exit 77; }
done
curl -V | grep -q HTTP2 || { echo "curl without HTTP/2"; exit 77; }
[ -x "$bin" ] || { echo "no weft-httpbin"; exit 77; }
tmp=$(mktemp -d)
pids=
trap 'for p in $pids; do kill $p 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; for f in "$tmp"/*.err; do echo "== $f"; cat "$f"; done; exit 1; }

# start NAME ARGS...: weft-httpbin on a free port; its URL in $url.
start() {
  name=$1; shift
  "$bin" --port 0 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids="$pids $!"
  i=0
  until grep -q '^listening on' "$tmp/$name.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 100 ] && fail "$name did not start"
    sleep 0.05
  done
  url=$(sed -n 's/^listening on //p' "$tmp/$name.out")
}

start plain --access-log
c() { curl -sS --max-time 10 "$@"; }

# h2c with prior knowledge: the version, a body each way.
c --http2-prior-knowledge -o /dev/null -w '%{http_version} %{http_code}\n' "$url/get" >"$tmp/v"
[ "$(cat "$tmp/v")" = "2 200" ] || fail "prior knowledge: $(cat "$tmp/v")"
head -c 200000 /dev/urandom >"$tmp/data"
c --http2-prior-knowledge --data-binary @"$tmp/data" -H 'Content-Type: application/octet-stream' \
  "$url/anything" -o "$tmp/json"
/usr/bin/python3 - "$tmp/json" "$tmp/data" <<'PY' || fail "uploaded body differs"
import base64, json, sys
got = json.load(open(sys.argv[1]))["data"].split(",", 1)[1]
sys.exit(base64.b64decode(got) != open(sys.argv[2], "rb").read())
PY
[ "$(c --http2-prior-knowledge "$url/bytes/50000" | wc -c)" = 50000 ] || fail "download size"
grep -q '"GET /get HTTP/2.0" 200' "$tmp/plain.err" || fail "access log has no HTTP/2.0 line"
echo "ok: curl --http2-prior-knowledge"

# The same port still speaks HTTP/1.1; curl --http2 on http:// asks to
# upgrade (Upgrade: h2c), which a request without a body gets, and one
# with a body does not (it is answered over HTTP/1.1, as allowed).
[ "$(c --http1.1 -o /dev/null -w '%{http_version}' "$url/get")" = 1.1 ] || fail "HTTP/1.1"
c --http2 -v -o "$tmp/up" -w '%{http_version} %{http_code}' "$url/get?u=1" >"$tmp/v" 2>"$tmp/vv"
[ "$(cat "$tmp/v")" = "2 200" ] || fail "upgrade: $(cat "$tmp/v")"
grep -q '^< HTTP/1.1 101' "$tmp/vv" || fail "no 101"
grep -q '"u":"1"' "$tmp/up" || fail "upgraded request's answer: $(cat "$tmp/up")"
[ "$(c --http2 -d x -o /dev/null -w '%{http_version} %{http_code}' "$url/post")" = "1.1 200" ] || fail "POST upgrade"
echo "ok: HTTP/1.1 beside, and the upgrade to h2c"

# TLS: h2 by ALPN, http/1.1 for a client that offers only it.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout "$tmp/key.pem" \
  -out "$tmp/cert.pem" -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
start tls --cert "$tmp/cert.pem" --key "$tmp/key.pem"
[ "$(c --http2 --cacert "$tmp/cert.pem" -o /dev/null -w '%{http_version} %{http_code}' "$url/get")" = "2 200" ] \
  || fail "h2 over TLS"
[ "$(c --http1.1 --cacert "$tmp/cert.pem" -o /dev/null -w '%{http_version} %{http_code}' "$url/get")" = "1.1 200" ] \
  || fail "http/1.1 over TLS"
echo "ok: curl --http2 over TLS (ALPN)"

# h2load: 10 connections, 10 streams each.
start load
h2load -n 5000 -c 10 -m 10 "$url/get" >"$tmp/h2load" 2>&1 || fail "h2load failed: $(cat "$tmp/h2load")"
grep -q 'requests: 5000 total, 5000 started, 5000 done, 5000 succeeded' "$tmp/h2load" \
  || fail "h2load: $(grep requests: "$tmp/h2load")"
grep -q 'status codes: 5000 2xx' "$tmp/h2load" || fail "h2load: $(grep 'status codes' "$tmp/h2load")"
echo "ok: h2load -c 10 -m 10"
