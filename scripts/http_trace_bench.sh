#!/bin/sh
# What tracing costs a busy HTTP client: keep-alive GETs of weft-httpbin's
# /get from weft-fetch's load mode (N requests over C connections, one
# loop), with WEFT_TRACE unset and then set, alternately, ROUNDS times each;
# the best round of each counts (the machine's other load only ever makes a
# round slower). Prints, as scripts/bench.sh does, one `name value unit`
# line per figure:
#
#   http_client_rps          requests per second, untraced
#   http_client_rps_traced   the same with WEFT_TRACE=/dev/null (every
#                            switch recorded; the file written at the end,
#                            outside the measured time)
#   http_client_rps_traced_ratio   traced / untraced
#   http_client_cpu_us_per_req(_traced)  the client process's CPU time
#                            (user + system, /usr/bin/time) per request,
#                            the lowest round's: steadier than the rate on
#                            a loaded machine; the traced figure includes
#                            writing the trace at the end
#
# Usage: scripts/http_trace_bench.sh [BUILD_DIR] [N] [C] [ROUNDS]
# (default build/bench-release 20000 8 3). Exit 77 if the http layer's apps
# are not built.
set -eu
build=${1:-build/bench-release}
n=${2:-20000}
c=${3:-8}
rounds=${4:-3}
httpbin=$build/apps/weft-httpbin/weft-httpbin
fetch=$build/apps/weft-fetch/weft-fetch
[ -x "$httpbin" ] && [ -x "$fetch" ] || { echo "http_trace_bench: $httpbin or $fetch not built" >&2; exit 77; }

log=$(mktemp)
cpu=$(mktemp)
"$httpbin" --port 0 >"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log" "$cpu"' EXIT
. "$(dirname "$0")/listening.sh"
url=$(listening_url "$log")/get || { echo "http_trace_bench: weft-httpbin did not start" >&2; exit 1; }

round() {  # WEFT_TRACE value: "rps cpu_us_per_request" of one round
  r=$(WEFT_TRACE=$1 /usr/bin/time -f '%U %S' -o "$cpu" "$fetch" -n "$n" -c "$c" "$url" |
      sed -n 's/^Requests\/sec: *//p')
  awk -v r="$r" -v n="$n" '{ printf "%s %.2f\n", r, ($1 + $2) * 1e6 / n }' "$cpu"
}
max() { awk -v x="$1" -v y="$2" 'BEGIN { print (x + 0 > y + 0 ? x : y) }'; }
min() { awk -v x="$1" -v y="$2" 'BEGIN { print (y == "" || x + 0 < y + 0 ? x : y) }'; }

round "" >/dev/null   # warm up: connections, page cache, the server's first allocations
rps=0 rps_t=0 cpu_u= cpu_t=
i=0
while [ $i -lt "$rounds" ]; do
  set -- $(round "")
  rps=$(max "$1" "$rps") cpu_u=$(min "$2" "$cpu_u")
  set -- $(round /dev/null)
  rps_t=$(max "$1" "$rps_t") cpu_t=$(min "$2" "$cpu_t")
  i=$((i + 1))
done
echo "http_client_rps $rps req/s"
echo "http_client_rps_traced $rps_t req/s"
awk -v a="$rps" -v b="$rps_t" 'BEGIN { if (a > 0) printf "http_client_rps_traced_ratio %.3g x\n", b / a }'
echo "http_client_cpu_us_per_req $cpu_u us"
echo "http_client_cpu_us_per_req_traced $cpu_t us"
