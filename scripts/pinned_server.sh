# Sourced by the benchmark scripts that pin a server to core 0 and load it
# from core 1 (echo_bench.sh, ws_bench.sh). pinned_start OUT COMMAND...
# starts the command on core 0 with its stdout in the file OUT, waits for
# its `listening on ...:PORT` line, and sets $pid, $port and $ticks0 (its
# CPU so far); pinned_stop kills it and sets $ticks (the CPU it used since,
# in clock ticks, user + system from /proc/PID/stat).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

pinned_start() {
  _out=$1; shift
  taskset -c 0 "$@" >"$_out" &
  pid=$!
  _i=0
  while ! grep -q '^listening on' "$_out" 2>/dev/null; do
    _i=$((_i + 1)); [ $_i -gt 200 ] && { echo "$0: $* did not start" >&2; kill $pid; return 1; }
    sleep 0.05
  done
  port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$_out")
  ticks0=$(cpu_ticks $pid)
}

pinned_stop() {
  ticks=$(($(cpu_ticks $pid) - ticks0))
  kill $pid; wait $pid 2>/dev/null || true
}
