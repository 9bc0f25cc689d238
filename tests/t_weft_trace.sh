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
assert b3[0] >= b2[1], (b2, b3)
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

echo '{"traceEvents": [' >"$tmp/bad.json"
if "$tool" "$tmp/bad.json" -o "$tmp/bad.svg" 2>"$tmp/err"; then echo "malformed trace accepted"; exit 1; fi
grep -q 'weft-trace: ' "$tmp/err"
echo "malformed trace rejected"
