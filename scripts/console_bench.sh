#!/bin/sh
# What the live console costs a busy server: weft-httpbin's /get under wrk
# (keep-alive, -t1 -c100), the server pinned to core 0 and wrk to core 1,
# without WEFT_CONSOLE and then with it and a weft-console --json polling
# every 100 ms (beside wrk, on core 1), alternately, ROUNDS times each; the
# best round of each counts (the machine's other load only ever makes a
# round slower). A fresh server each round: the console is set at start.
# Prints, as scripts/bench.sh does, one `name value unit` line per figure:
#
#   console_rps             requests per second, no console
#   console_rps_attached    the same, console on and polled every 100 ms
#   console_overhead        attached / without (the target: >= 0.97)
#   console_cpu_us_per_req(_attached)  the server process's CPU time (user +
#                           system, its console thread included) per
#                           request, the lowest round's: steadier than the
#                           rate on a loaded machine
#   console_cpu_ratio       attached / without
#
# Usage: scripts/console_bench.sh [BUILD_DIR] [SECONDS] [ROUNDS]
# (default build/bench-release 3 3). Exit 77 if the apps are not built.
set -eu
build=${1:-build/bench-release}
secs=${2:-3}
rounds=${3:-3}
httpbin=$build/apps/weft-httpbin/weft-httpbin
console=$build/apps/weft-console/weft-console
[ -x "$httpbin" ] && [ -x "$console" ] || { echo "console_bench: $httpbin or $console not built" >&2; exit 77; }
command -v wrk >/dev/null || { echo "console_bench: wrk not installed" >&2; exit 77; }

tmp=$(mktemp -d)
pid= cpid=
trap 'kill $pid $cpid 2>/dev/null || true; rm -rf "$tmp"' EXIT
. "$(dirname "$0")/listening.sh"

round() {  # "" or a socket path: prints "rps cpu_us_per_request" of one round
  rm -f "$tmp/log" "$tmp/sock"
  WEFT_CONSOLE=$1 taskset -c 0 "$httpbin" --port 0 >"$tmp/log" &
  pid=$!
  url=$(listening_url "$tmp/log")/get || { echo "console_bench: weft-httpbin did not start" >&2; exit 1; }
  if [ -n "$1" ]; then
    taskset -c 1 "$console" "$1" --json --interval 100 >/dev/null &
    cpid=$!
  fi
  taskset -c 1 wrk -t1 -c100 -d"${secs}s" "$url" >"$tmp/wrk"
  [ -z "$cpid" ] || { kill $cpid 2>/dev/null; wait $cpid 2>/dev/null || true; cpid=; }
  # utime and stime, fields 14 and 15 of /proc/PID/stat (after the name)
  ticks=$(sed 's/^.*) //' /proc/$pid/stat | awk '{ print $12 + $13 }')
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" '/requests in/ { n = $1 } /^Requests\/sec:/ { r = $2 }
    END { printf "%s %.2f\n", r, (n > 0 ? t / hz * 1e6 / n : 0) }' "$tmp/wrk"
  kill $pid; wait $pid 2>/dev/null || true; pid=
}
max() { awk -v x="$1" -v y="$2" 'BEGIN { print (x + 0 > y + 0 ? x : y) }'; }
min() { awk -v x="$1" -v y="$2" 'BEGIN { print (y == "" || x + 0 < y + 0 ? x : y) }'; }

rps=0 rps_c=0 cpu= cpu_c=
i=0
while [ $i -lt "$rounds" ]; do
  set -- $(round "")
  rps=$(max "$1" "$rps") cpu=$(min "$2" "$cpu")
  set -- $(round "$tmp/sock")
  rps_c=$(max "$1" "$rps_c") cpu_c=$(min "$2" "$cpu_c")
  i=$((i + 1))
done
echo "console_rps $rps req/s"
echo "console_rps_attached $rps_c req/s"
awk -v a="$rps" -v b="$rps_c" 'BEGIN { if (a > 0) printf "console_overhead %.3g x\n", b / a }'
echo "console_cpu_us_per_req $cpu us"
echo "console_cpu_us_per_req_attached $cpu_c us"
awk -v a="$cpu" -v b="$cpu_c" 'BEGIN { if (a > 0) printf "console_cpu_ratio %.3g x\n", b / a }'
