#!/bin/sh
# Every allocation of weft-fetch failed in turn (tests/alloc_shim.c, preloaded,
# as curl's torture tests do): each run must end with a message on stderr
# and a non-zero exit, or succeed, never die of a signal. Walked over a few
# command lines that between them reach every part: a GET to stdout, a
# form POST to a file with -w, a multipart body over redirects, two URLs
# at once, -v -i with decoding, and the load mode.
# Usage: sh t_fetch_alloc_walk.sh BUILD_DIR. Exit 77: skipped.
set -u
build=$1
fetch=$build/apps/weft-fetch/weft-fetch
httpbin=$build/apps/weft-httpbin/weft-httpbin
shim=$build/tests/liballoc_shim.so
[ -x "$fetch" ] && [ -x "$httpbin" ] || { echo "apps not built"; exit 77; }
[ -f "$shim" ] || { echo "no $shim (a sanitizer build)"; exit 77; }

tmp=$(mktemp -d)
"$httpbin" --port 0 >"$tmp/hb.out" 2>/dev/null &
hb=$!
trap 'kill $hb 2>/dev/null; wait $hb 2>/dev/null; rm -rf "$tmp"' EXIT
i=0
until base=$(sed -n 's|^listening on ||p' "$tmp/hb.out") && [ -n "$base" ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || { echo "weft-httpbin did not start"; exit 1; }
    sleep 0.05
done
printf 'file part' >"$tmp/in.txt"

bad=0
walk() {
    WEFT_ALLOC_COUNT=$tmp/count LD_PRELOAD=$shim "$fetch" "$@" >/dev/null 2>"$tmp/err" ||
        { echo "FAIL: without failures: $* exited $?: $(cat "$tmp/err")"; bad=1; return; }
    total=$(cat "$tmp/count")
    n=1
    while [ $n -le $((total + 2)) ]; do
        WEFT_ALLOC_FAIL=$n LD_PRELOAD=$shim "$fetch" "$@" >/dev/null 2>"$tmp/err"
        rc=$?
        if [ $rc -ge 128 ] || { [ $rc -ne 0 ] && [ ! -s "$tmp/err" ]; }; then
            echo "FAIL: allocation $n of $total failed: $* exited $rc: $(head -c 300 "$tmp/err")"
            bad=1
        fi
        n=$((n + 1))
    done
    echo "ok   $total allocations: $*"
}

walk -sS "$base/get"
walk -sS -d a=1 -o "$tmp/out" -w '%{http_code}' "$base/post"
walk -sS -F "f=@$tmp/in.txt" -L "$base/redirect/2"
walk -sS -Z "$base/get" "$base/json"
walk -sS -v -i --compressed "$base/gzip"
walk -n 5 -c 2 "$base/get"
exit $bad
