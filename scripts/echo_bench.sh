#!/bin/sh
# Echo benchmarks: each server pinned to core 0, the load generator to core
# 1, 100 connections of 64-byte ping-pong for $ECHO_SECONDS (default 10) on
# loopback. Prints, per server, `echo_rps[_SUFFIX] N rt/s` and
# `echo_cpu_us_per_rt[_SUFFIX] N us`: the server's CPU time (user + system,
# from /proc/PID/stat) per round trip. Loopback throughput swings from run
# to run on these machines; CPU per round trip is the figure to judge by.
#
# usage: scripts/echo_bench.sh BENCH_DIR
set -eu
dir=$1
secs=${ECHO_SECONDS:-10}
tick=$(getconf CLK_TCK)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

. "$(dirname "$0")/pinned_server.sh"

one() {  # suffix, command...
  suffix=$1; shift
  pinned_start "$out" "$@" || return 1
  load=$(taskset -c 1 "$dir/bench_echo_load" "$port" 100 "$secs" 64)
  pinned_stop
  echo "$load" | awk -v s="$suffix" -v c="$ticks" -v tick="$tick" '
    $1 == "round_trips" { rt = $2 } $1 == "seconds" { secs = $2 }
    END { printf "echo_rps%s %.0f rt/s\n", s, rt / secs
          printf "echo_cpu_us_per_rt%s %.2f us\n", s, c / tick * 1e6 / rt }'
}

one "" env WEFT_BACKEND=epoll "$dir/bench_echo_weft"
if WEFT_BACKEND=uring "$dir/bench_echo_weft" --probe >/dev/null 2>&1; then
  one _uring env WEFT_BACKEND=uring "$dir/bench_echo_weft"
fi
one _epoll_ref "$dir/bench_echo_ref"
[ -x "$dir/bench_echo_libuv" ] && one _libuv "$dir/bench_echo_libuv"
exit 0
