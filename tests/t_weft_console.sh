#!/bin/sh
# WEFT_CONSOLE and weft-console end to end: weft-httpbin on two loops with
# the console on, a request held half sent; the live view's text (--once),
# its JSON (--json, checked with Python: both loops, the held request's
# task with the HTTP layer's words for its wait, counts that add up), a
# task's stack, the socket's mode; a console that is not there is an error
# message, and the socket file is gone once the server has ended.
set -eu
dir=$1
httpbin=$dir/apps/weft-httpbin/weft-httpbin
tool=$dir/apps/weft-console/weft-console
[ -x "$httpbin" ] && [ -x "$tool" ] || { echo "apps not built"; exit 77; }
tmp=$(mktemp -d)
pid=
cpid=
trap 'kill $pid $cpid 2>/dev/null || true; rm -rf "$tmp"' EXIT
. "$(dirname "$0")/../scripts/listening.sh"

sock=$tmp/console.sock
WEFT_CONSOLE=$sock "$httpbin" --port 0 --workers 2 >"$tmp/log" 2>&1 &
pid=$!
url=$(listening_url "$tmp/log")
[ "$(stat -c %a "$sock")" = 600 ] || { echo "socket mode $(stat -c %a "$sock"), not 600"; exit 1; }
# A request whose headers never end: its task waits, in the HTTP layer's
# words, until the server ends.
port=${url##*:}
/usr/bin/python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', $port))
s.sendall(b'GET /get HTTP/1.1\\r\\nHost: x\\r\\n')
time.sleep(30)" &
cpid=$!
sleep 1

"$tool" "$sock" --once --stuck 200 --sort wait >"$tmp/once.txt"
cat "$tmp/once.txt"
grep -q '^loop 0 ' "$tmp/once.txt" && grep -q '^loop 1 ' "$tmp/once.txt"
grep -q '^STUCK: waiting longer than 200 ms' "$tmp/once.txt"
grep -q 'httpd-conn .*HTTP request on connection from 127.0.0.1:' "$tmp/once.txt"

"$tool" "$sock" --json --interval 50 --count 3 >"$tmp/snap.json"
/usr/bin/python3 - "$tmp/snap.json" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 3, len(lines)
for line in lines:
    s = json.loads(line)
    assert [l["index"] for l in s["loops"]] == [0, 1], s["loops"]
    for l in s["loops"]:
        assert l["tasks"] == len(l["list"]), l
        assert l["ready"] + l["waiting"] <= l["tasks"]
        assert len(l["hist"]) == 7 and sum(l["hist"]) <= l["steps"]
        assert {"main", "httpd-accept"} <= {t["name"] for t in l["list"]}
    conns = [t for l in s["loops"] for t in l["list"] if t["name"] == "httpd-conn"]
    assert len(conns) == 1 and conns[0]["state"] == "waiting", conns
    assert conns[0]["in_state_ns"] > 300e6 and conns[0]["steps"] >= 1 and conns[0]["cpu_ns"] > 0
print("json: 3 snapshots, both loops, the held request waiting")
PY

"$tool" "$sock" --stack 0:1 >"$tmp/stack.txt"
cat "$tmp/stack.txt"
grep -q '^    #0 ' "$tmp/stack.txt"

if "$tool" "$tmp/nothing.sock" --once 2>"$tmp/err"; then echo "no console, yet success"; exit 1; fi
grep -q 'WEFT_CONSOLE' "$tmp/err"

kill $cpid $pid
wait $pid 2>/dev/null || true
pid=
[ ! -e "$sock" ] || { echo "the socket outlived the server"; exit 1; }
echo "weft-console: ok"
