#!/bin/sh
# Soak: weft-httpbin under load for SOAK_SECONDS (default 120), loopback
# only, while clients misbehave, then checks that the server gave back what
# the load took: its open file descriptors and its resident memory.
#
#   scripts/soak.sh [BUILD_DIR]        (make soak; not part of make check)
#
# The load, all at once:
#  - wrk on /get and on /gzip, keep-alive, 32 + 8 connections;
#  - weft-fetch in load mode with a 0.3 s --timeout against /delay/0.5 and
#    a /drip of a byte every 0.5 s, so requests time out and are cancelled
#    mid-flight on the client's side, and the server's writes meet closed
#    connections;
#  - a Python loop opening connections and dropping them mid-request: half a
#    head, a body cut short, a response abandoned after a few bytes, an RST
#    (SO_LINGER 0), a connection held idle a while.
# Measures: fds (/proc/PID/fd) and RSS (VmRSS) after a 10 s warm-up with the
# same load and a quiet second (start), every 10 s, and at the end once the
# load stopped and the server's connections are gone (waiting up to 20 s for
# that). Fails if fds_end > fds_start + 2 or rss_end > rss_start * 1.2 +
# 8 MiB (docs/reliability.md says why those bounds), if the
# server stopped answering, or if it did not shut down cleanly on SIGTERM.
set -e
cd "$(dirname "$0")/.."
build=${1:-build}
secs=${SOAK_SECONDS:-120}
warm=10
bin=$build/apps/weft-httpbin/weft-httpbin
fetch=$build/apps/weft-fetch/weft-fetch
py=/usr/bin/python3
[ -x "$py" ] || py=python3
for b in "$bin" "$fetch"; do
  [ -x "$b" ] || { echo "soak: $b is missing (make build)"; exit 1; }
done
command -v wrk >/dev/null || { echo "soak: wrk is missing (scripts/bootstrap.sh bench)"; exit 1; }

tmp=$(mktemp -d)
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  [ -n "$srv" ] && kill "$srv" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"$bin" --port 0 >"$tmp/srv.out" 2>"$tmp/srv.err" &
srv=$!
for _ in $(seq 50); do grep -q listening "$tmp/srv.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$tmp/srv.out")
[ -n "$url" ] || { echo "soak: weft-httpbin did not start"; cat "$tmp/srv.err"; exit 1; }
port=${url##*:}

fds() { ls /proc/$srv/fd | wc -l; }
rss() { awk '/^VmRSS:/ { print $2 }' /proc/$srv/status; }

# The load, for $1 seconds; its pids go to $pids, wrk's reports to $tmp.
load() {
  d=$1
  pids=""
  wrk -t1 -c32 -d"${d}s" "$url/get" >"$tmp/wrk_get.$d" 2>&1 & pids="$pids $!"
  wrk -t1 -c8 -d"${d}s" "$url/gzip" >"$tmp/wrk_gzip.$d" 2>&1 & pids="$pids $!"
  end=$(($(date +%s) + d))
  (while [ "$(date +%s)" -lt "$end" ]; do
     "$fetch" --timeout 0.3 -n 40 -c 8 "$url/delay/0.5" >/dev/null 2>>"$tmp/fetch.$d" || true
     "$fetch" --timeout 0.3 -n 16 -c 4 "$url/drip?duration=2&numbytes=4&delay=0" >/dev/null 2>>"$tmp/fetch.$d" || true
   done) & pids="$pids $!"
  "$py" - "$port" "$d" >"$tmp/chaos.$d" 2>&1 <<'PY' & pids="$pids $!"
import random, socket, struct, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
end = time.time() + secs
held, n = [], 0
def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    return s
def rst(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
while time.time() < end:
    k = random.randrange(7)
    try:
        s = conn()
        n += 1
        if k == 0:
            s.sendall(b"GET /get HTTP/1.1\r\nHo")                 # half a head
            s.close()
        elif k == 1:
            s.sendall(b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"a" * 1000)
            rst(s)                                                # a body cut short
        elif k == 2:
            s.sendall(b"GET /drip?duration=2&numbytes=50&delay=0 HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(20)
            rst(s)                                                # a response abandoned
        elif k == 3:
            s.sendall(b"GET /stream/100 HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(100)
            s.close()
        elif k == 4:
            s.sendall(b"GET /delay/1 HTTP/1.1\r\nHost: x\r\n\r\n")
            rst(s)                                                # gone before the answer
        elif k == 5:
            held.append(s)                                        # idle a while
            if len(held) > 20:
                held.pop(0).close()
        else:
            rst(s)                                                # connect, reset
    except OSError:
        pass
    time.sleep(0.01)
for s in held:
    s.close()
print(n)
PY
}

# Warm-up: the same load, so the allocator's high-water marks and the
# server's caches are reached before the start is measured.
load $warm
wait $pids
sleep 1
fds_start=$(fds); rss_start=$(rss)
echo "soak: $url, warm-up done: $fds_start fds, $rss_start kB"

load "$secs"
t=0
while [ $t -lt "$secs" ]; do
  step=$((secs - t < 10 ? secs - t : 10))
  sleep $step
  t=$((t + step))
  echo "soak_sample t=${t}s fds=$(fds) rss_kb=$(rss)"
done
wait $pids
pids=""

# Connections the load left: lingering closes end within seconds; wait up
# to 20 s for the count to come back before measuring the end.
for _ in $(seq 20); do [ "$(fds)" -le $((fds_start + 2)) ] && break; sleep 1; done
sleep 1
fds_end=$(fds); rss_end=$(rss)
curl -sf "$url/get" >/dev/null || { echo "soak: the server no longer answers"; exit 1; }
kill -TERM $srv
rc=0; wait $srv || rc=$?
srv=""

reqs=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$tmp/wrk_get.$secs" "$tmp/wrk_gzip.$secs" | awk '{s += $1} END {print s + 0}')
errs=$(grep -h "Socket errors\|Non-2xx" "$tmp/wrk_get.$secs" "$tmp/wrk_gzip.$secs" | tr '\n' ' ')
bound=$((rss_start * 12 / 10 + 8192))
echo "soak_seconds $secs"
echo "soak_wrk_requests $reqs"
# weft-fetch's "N of M requests failed": the ones its timeout cancelled.
echo "soak_fetch_cancelled $(sed -n 's/^weft-fetch: \([0-9]*\) of \([0-9]*\) requests failed.*/\1 \2/p' "$tmp/fetch.$secs" |
  awk '{f += $1; n += $2} END {printf "%d of %d requests", f, n}')"
echo "soak_chaos_connections $(cat "$tmp/chaos.$secs")"
[ -n "$errs" ] && echo "soak_wrk_errors $errs"
echo "soak_fds_start $fds_start"
echo "soak_fds_end $fds_end"
echo "soak_rss_start $rss_start kB"
echo "soak_rss_end $rss_end kB"
echo "soak_rss_bound $bound kB"
fail=0
[ "$fds_end" -le $((fds_start + 2)) ] || { echo "soak: FAIL: $((fds_end - fds_start)) more fds than at the start"; fail=1; }
[ "$rss_end" -le "$bound" ] || { echo "soak: FAIL: RSS grew past the bound"; fail=1; }
[ $rc -eq 0 ] || { echo "soak: FAIL: weft-httpbin exited $rc on SIGTERM"; cat "$tmp/srv.err"; fail=1; }
[ $fail -eq 0 ] && echo "soak: ok"
exit $fail
