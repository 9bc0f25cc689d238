#!/bin/sh
# Debug mode changes nothing the program does: the lesson's Program 2 under
# WEFT_DEBUG=1 still takes ~2 s for its two blocking sleep(1) calls (the
# watchdog reads the blocked thread from outside instead of signalling it,
# which would cut each sleep to ~0.1 s) and ~1 s for its weft sleeps; and
# the report names the call it is blocked in, the program's function and
# its file:line, and libc's sleep.
set -eu
dir=$1
prog=$dir/examples/blocking_vs_nonblocking
src=$(dirname "$0")/../examples/blocking_vs_nonblocking.c
[ -x "$prog" ] || { echo "examples not built"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

WEFT_DEBUG=1 "$prog" >"$tmp/out" 2>"$tmp/err"
cat "$tmp/out" "$tmp/err"
# The margins are generous: the machine may be loaded, which only lengthens.
awk '/^Total time:/ { sub("s$", "", $3); t[n++] = $3 }
     END { if (n != 2 || t[0] < 1.9 || t[0] > 3.5 || t[1] < 0.95 || t[1] > 1.9) {
             print "times " t[0] " and " t[1] ": expected ~2.00 and ~1.00"; exit 1 } }' "$tmp/out"
reports=$(grep -c "has been running for" "$tmp/err")
[ "$reports" -eq 2 ] || { echo "expected a slow-step report per blocking sleep, got $reports"; exit 1; }
grep -q "task 'bad_example' (id [0-9]*) has been running for" "$tmp/err"
grep -q "It is blocked in .*nanosleep(1.000 s)" "$tmp/err"
if grep -q "without libdw" "$tmp/err"; then
  echo "built without libdw: no stacks to check"
  exit 0
fi
line=$(grep -n 'sleep(1);' "$src" | cut -d: -f1)
grep -q " bad_example (blocking_vs_nonblocking.c:$line)" "$tmp/err" ||
  { echo "no frame 'bad_example (blocking_vs_nonblocking.c:$line)'"; exit 1; }
grep -Eq "#[0-9]+ +0x[0-9a-f]+ sleep[ +]" "$tmp/err" || { echo "no frame in sleep"; exit 1; }
echo "2 s and 1 s as without debug mode; the report names bad_example at line $line and sleep"
