#!/bin/sh
# WEFT_TRACE and weft-trace end to end on the lesson's Program 2: the trace
# shows the two blocking sleeps end to end and the two weft sleeps
# overlapping, and weft-trace draws it as well-formed SVG with one lane per
# task. A malformed trace is an error message, not a crash.
set -eu
dir=$1
prog=$dir/examples/blocking_vs_nonblocking
tool=$dir/apps/weft-trace/weft-trace
[ -x "$prog" ] && [ -x "$tool" ] || { echo "examples or apps not built"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

WEFT_TRACE=$tmp/p2.json "$prog" >/dev/null
/usr/bin/python3 - "$tmp/p2.json" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
def spans(tid, name):
    return [(e["ts"], e["ts"] + e["dur"]) for e in ev if e.get("ph") == "X" and e["tid"] == tid and e["name"] == name]
# tasks 2 and 3 block in sleep(1): their runs are end to end, about 1 s each
(b2,), (b3,) = [[s for s in spans(t, "run") if s[1] - s[0] > 5e5] for t in (2, 3)]
assert b3[0] >= b2[1] - 0.002, (b2, b3)   # ts and dur are printed to 1 ns
# tasks 4 and 5 wait in weft_sleep: their waits overlap
(g4,), (g5,) = spans(4, "sleep"), spans(5, "sleep")
assert g5[0] < g4[1] and g4[0] < g5[1], (g4, g5)
print("blocking runs end to end, weft sleeps overlap")
PY

"$tool" "$tmp/p2.json" -o "$tmp/p2.svg"
if command -v xmllint >/dev/null; then
  xmllint --noout "$tmp/p2.svg"
else
  head -c 64 "$tmp/p2.svg" | grep -q '^<?xml' && tail -n 1 "$tmp/p2.svg" | grep -q '^</svg>$'
fi
lanes=$(grep -c 'class="lane"' "$tmp/p2.svg")
[ "$lanes" -eq 5 ] || { echo "expected 5 lanes (main and four tasks), got $lanes"; exit 1; }
grep -q '>sleep 1000' "$tmp/p2.svg"   # a wait labelled with what it waits for
echo "svg: well formed, $lanes lanes"

# --title, and an axis in seconds for a trace over a second long.
"$tool" "$tmp/p2.json" --title "Program 2 & co" -o "$tmp/p2t.svg"
grep -q '>Program 2 &amp; co</text>' "$tmp/p2t.svg"
grep -q '>1 s</text>' "$tmp/p2t.svg"
echo "svg: titled, seconds on the axis"

# Program 1 (its own server in-process): the two named fetch tasks wait
# for their HTTP responses side by side, and the waits say so.
fetch=$dir/examples/fetch_slow
if [ -x "$fetch" ]; then
  WEFT_TRACE=$tmp/p1.json "$fetch" >/dev/null
  /usr/bin/python3 - "$tmp/p1.json" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
names = {e["tid"]: e["args"]["name"] for e in ev if e.get("ph") == "M" and e["name"] == "thread_name"}
lanes = [t for t, n in names.items() if n.startswith("fetch source_")]
assert len(lanes) == 2, names
waits = [[(e["ts"], e["ts"] + e["dur"]) for e in ev if e.get("ph") == "X" and e["tid"] == t
          and e.get("args", {}).get("detail", "").startswith("HTTP response from 127.0.0.1:")
          and e["dur"] > 1e6] for t in lanes]
(a,), (b,) = waits
assert a[0] < b[1] and b[0] < a[1], (a, b)
print("program 1: two fetches wait for their HTTP responses side by side")
PY
fi

echo '{"traceEvents": [' >"$tmp/bad.json"
if "$tool" "$tmp/bad.json" -o "$tmp/bad.svg" 2>"$tmp/err"; then echo "malformed trace accepted"; exit 1; fi
grep -q 'weft-trace: ' "$tmp/err"
echo "malformed trace rejected"
