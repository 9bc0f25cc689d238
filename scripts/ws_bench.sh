#!/bin/sh
# WebSocket echo: weft's server (weft-httpbin's /ws/echo), Python websockets
# and Go's gorilla/websocket, each pinned to core 0, loaded from core 1 by
# bench_ws_load (weft's client) with 100 connections of 64-byte binary
# ping-pong for $WS_SECONDS (default 10). Prints, per server,
# `ws_echo_msgs_per_s[_PEER] N msg/s` and `ws_echo_cpu_us_per_msg[_PEER] N us`
# (the server's CPU, user + system from /proc/PID/stat, per echoed message:
# the figure to judge by, as the load generator may be what limits the
# rate), then the ratios weft / peer.
#
# usage: scripts/ws_bench.sh BUILD_DIR
set -eu
build=$(cd "$1" && pwd)
secs=${WS_SECONDS:-10}
tick=$(getconf CLK_TCK)
out=$(mktemp)
figures=$(mktemp)
trap 'rm -f "$out" "$figures"' EXIT

# The Go peer, in GOPATH mode against Debian's gorilla (no network, nothing
# written outside the build dir).
gorilla=/usr/share/gocode/src/github.com/gorilla/websocket
if [ -d "$gorilla" ]; then
  (cd "$(dirname "$0")/../bench/go-ws" &&
   GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$build/go/cache" GOFLAGS='' GOPROXY=off \
     GOTOOLCHAIN=local go build -o "$build/bench/weft_bench_go_ws" .)
else
  echo "ws_bench: $gorilla missing (golang-github-gorilla-websocket-dev): no Go peer" >&2
fi

. "$(dirname "$0")/pinned_server.sh"

one() {  # suffix, path, command...
  suffix=$1 path=$2; shift 2
  pinned_start "$out" "$@" || return 1
  load=$(taskset -c 1 "$build/bench/bench_ws_load" "ws://127.0.0.1:$port$path" 100 "$secs" 64)
  pinned_stop
  echo "$load" | awk -v s="$suffix" -v c="$ticks" -v tick="$tick" '
    $1 == "round_trips" { rt = $2 } $1 == "seconds" { secs = $2 }
    END { printf "ws_echo_msgs_per_s%s %.0f msg/s\n", s, rt / secs
          printf "ws_echo_cpu_us_per_msg%s %.2f us\n", s, c / tick * 1e6 / rt }' | tee -a "$figures"
}

one "" /ws/echo "$build/apps/weft-httpbin/weft-httpbin" --port 0
if /usr/bin/python3 -c 'import websockets' 2>/dev/null; then
  one _python / /usr/bin/python3 "$(dirname "$0")/../bench/ws_echo.py"
fi
[ -x "$build/bench/weft_bench_go_ws" ] && one _go / env GOMAXPROCS=1 "$build/bench/weft_bench_go_ws"

for peer in python go; do
  awk -v p="$peer" '
    $1 == "ws_echo_msgs_per_s" { w = $2 } $1 == "ws_echo_msgs_per_s_" p { r = $2 }
    $1 == "ws_echo_cpu_us_per_msg" { wc = $2 } $1 == "ws_echo_cpu_us_per_msg_" p { rc = $2 }
    END { if (w != "" && r > 0) printf "ws_echo_msgs_per_s_ratio_%s %.3g x\n", p, w / r
          if (wc != "" && rc > 0) printf "ws_echo_cpu_us_per_msg_ratio_%s %.3g x\n", p, wc / rc }' "$figures"
done
