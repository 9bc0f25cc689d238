#!/bin/sh
# weft-serve against curl and wget: whole files (sendfile) compared byte for
# byte, HEAD, 304 from curl's own conditionals, ranges (a 1 GiB sparse file
# read only at its end, 416, wget -c resuming), types, index and listing,
# traversal attempts sent as-is, two workers, and a clean exit on SIGTERM.
# Usage: sh t_weft_serve.sh BUILD_DIR (exit 77: curl or wget missing).
set -eu
build=$1
serve=$build/apps/weft-serve/weft-serve
command -v curl >/dev/null 2>&1 || { echo "curl not installed"; exit 77; }
command -v wget >/dev/null 2>&1 || { echo "wget not installed"; exit 77; }
[ -x "$serve" ] || { echo "weft-serve not built"; exit 77; }
tmp=$(mktemp -d)
pid=
trap 'if [ -n "$pid" ]; then kill $pid 2>/dev/null || true; fi; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
c() { curl --http1.1 -sS --max-time 20 "$@"; }

root=$tmp/root
mkdir -p "$root/sub" "$root/list"
echo SECRET >"$tmp/secret"
printf 'hello, world\n' >"$root/hello.txt"
printf '<p>sub</p>\n' >"$root/sub/index.html"
printf 'x\n' >"$root/list/a b.css"
head -c 20000000 /dev/urandom >"$root/blob.bin"
truncate -s 1G "$root/sparse"
printf 'end' | dd of="$root/sparse" bs=1 seek=$((1073741824 - 3)) conv=notrunc 2>/dev/null
ln -s /etc "$root/etc"
ln -s ../secret "$root/up"

. "$(dirname "$0")/../scripts/listening.sh"
start() {
  "$serve" --port 0 "$@" "$root" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  url=$(listening_url "$tmp/out") || { echo "server did not start"; cat "$tmp/out" "$tmp/err"; exit 1; }
}
stop() {
  kill -TERM $pid
  wait $pid || fail "weft-serve exited $? on SIGTERM"
  pid=
}

start
# Whole files, by both clients.
c -o "$tmp/got" "$url/blob.bin"
cmp -s "$root/blob.bin" "$tmp/got" || fail "curl's blob.bin differs"
wget -q -O "$tmp/wgot" "$url/blob.bin" || fail "wget failed"
cmp -s "$root/blob.bin" "$tmp/wgot" || fail "wget's blob.bin differs"
[ "$(c "$url/hello.txt")" = "hello, world" ] || fail "hello.txt"
echo "ok: curl and wget get whole files"

# HEAD and the head's fields.
c -I "$url/hello.txt" >"$tmp/h"
grep -q '^HTTP/1.1 200' "$tmp/h" || fail "HEAD status"
grep -qi '^Content-Length: 13' "$tmp/h" || fail "HEAD length"
grep -qi '^Content-Type: text/plain' "$tmp/h" || fail "HEAD type"
grep -qi '^ETag: "' "$tmp/h" || fail "no ETag"
grep -qi '^Last-Modified: ' "$tmp/h" || fail "no Last-Modified"
c -I "$url/list/a%20b.css" | grep -qi '^Content-Type: text/css' || fail "css type"
echo "ok: HEAD, types, validators"

# 304: curl's --etag-compare and -z (If-Modified-Since from a file's time).
c -o /dev/null --etag-save "$tmp/etag" "$url/hello.txt"
[ "$(c -o /dev/null -w '%{http_code}' --etag-compare "$tmp/etag" "$url/hello.txt")" = 304 ] || fail "etag 304"
[ "$(c -o /dev/null -w '%{http_code}' -z "$root/hello.txt" "$url/hello.txt")" = 304 ] || fail "ims 304"
[ "$(c -o /dev/null -w '%{http_code}' -z 'Jan 1 2000' "$url/hello.txt")" = 200 ] || fail "old ims 200"
echo "ok: 304 Not Modified"

# Ranges: the sparse GiB read at its end only, 416, wget -c resuming.
[ "$(c -r 1073741821- "$url/sparse")" = end ] || fail "sparse range"
c -r -5 -D "$tmp/h" -o /dev/null "$url/sparse"
grep -q '^HTTP/1.1 206' "$tmp/h" || fail "206 status"
grep -qi '^Content-Range: bytes 1073741819-1073741823/1073741824' "$tmp/h" || fail "Content-Range"
[ "$(c -o /dev/null -w '%{http_code}' -r 2000000000- "$url/sparse")" = 416 ] || fail "416"
head -c 7000000 "$root/blob.bin" >"$tmp/part"
(cd "$tmp" && wget -q -c -O part "$url/blob.bin") || fail "wget -c failed"
cmp -s "$root/blob.bin" "$tmp/part" || fail "wget -c result differs"
echo "ok: ranges (sparse 1 GiB, 416, wget -c)"

# Directories.
[ "$(c "$url/sub/")" = '<p>sub</p>' ] || fail "index.html"
[ "$(c -o /dev/null -w '%{http_code} %{redirect_url}' "$url/sub")" = "301 $url/sub/" ] || fail "redirect"
c "$url/list/" | grep -q 'href="a%20b.css"' || fail "listing"
wget -q -r -np -nH -P "$tmp/mirror" "$url/list/" || fail "wget -r"
[ -f "$tmp/mirror/list/a b.css" ] || fail "wget -r did not follow the listing"
echo "ok: index, redirect, listing (wget -r follows it)"

# Ways out, sent as they are.
for p in /../secret /%2e%2e/secret /%2E%2e/ /..%2fsecret /%2f../secret /%00 /hello.txt%00 \
         //etc/passwd '/..\secret' /%5c..%5csecret /%c0%ae%c0%ae/secret /up /etc/passwd \
         /sub/../../secret; do
  code=$(c --path-as-is -o "$tmp/body" -w '%{http_code}' "$url$p")
  case $code in 400|403|404) ;; *) fail "$p: $code" ;; esac
  grep -q -e SECRET -e 'root:' "$tmp/body" && fail "$p leaked"
done
echo "ok: no way out of the root"
stop

# Two workers serve the same tree, four downloads at once.
start --workers 2
pids=
for i in 1 2 3 4; do c -o "$tmp/got$i" "$url/blob.bin" & pids="$pids $!"; done
for p in $pids; do wait $p || fail "a download from two workers failed"; done
for i in 1 2 3 4; do cmp -s "$root/blob.bin" "$tmp/got$i" || fail "two workers: blob $i differs"; done
stop
echo "ok: two workers, SIGTERM exits 0"
