#!/bin/sh
# Runs every benchmark of bench/ against its Go peer and prints each figure
# as one line `name value unit` on stdout, weft's then Go's (`name_go`), then
# the ratio weft / Go (`name_ratio_go`, in x); the echo and HTTP scripts
# measure other peers too (libuv, nginx, wrk, libcurl: docs/benchmarks.md)
# and print `name_PEER` and `name_ratio_PEER` the same way. The targets weft
# aims for are checked on stderr at the end: reported, never enforced (exit
# status 0 unless a benchmark failed to run).
#
# Usage: scripts/bench.sh [BUILD_DIR]   (default build/bench-release, as built
# by `make bench`: a Release build). Each program runs in a process of its
# own, so no run's memory peak or heap state leaks into another's.
set -eu
cd "$(dirname "$0")/.."
build=$(cd "${1:-build/bench-release}" && pwd)
figures=$(mktemp)
one=$(mktemp)
trap 'rm -f "$figures" "$one"' EXIT
status=0

sh scripts/go_peer.sh "$build"

run() {  # command...: prints its figures and keeps them for the ratios
  if timeout 150 "$@" >"$one"; then :; else
    echo "bench: '$*' failed" >&2
    status=1
  fi
  cat "$one"
  cat "$one" >>"$figures"
}

ratio() {  # name...: name_ratio_go = weft's figure / Go's
  for n in "$@"; do
    awk -v n="$n" '$1 == n { w = $2 } $1 == n "_go" { g = $2 }
      END { if (w != "" && g > 0) printf "%s_ratio_go %.3g x\n", n, w / g }' "$figures" | tee -a "$figures"
  done
}

# Go runs on one thread of Go code (GOMAXPROCS=1), as a weft loop does.
go_run() { run env GOMAXPROCS=1 "$build/bench/weft_bench_go" "$@"; }

run "$build/bench/bench_page_fault"

run "$build/bench/bench_switch"
go_run switch
ratio switch_ns
# The same with a trace recorded (docs/debugging.md): what tracing costs.
WEFT_TRACE=/dev/null "$build/bench/bench_switch" | sed -n 's/^switch_ns /switch_traced_ns /p' | tee -a "$figures"

run "$build/bench/bench_spawn_join"
go_run spawn_join
ratio spawn_join_ns

run "$build/bench/bench_sleepers"
go_run sleepers
ratio sleepers_1m_wall_s sleepers_1m_rss_per_task_bytes sleepers_1m_faults_per_task

run "$build/bench/bench_timers"
go_run timers
ratio timers_1m_s

run "$build/bench/bench_connect_accept"

# Children started and reaped (/bin/true), beside Go's exec.Command.
run "$build/bench/bench_process"
go_run spawn_process
ratio spawn_per_s

# Across loops (two cores): Go with two threads of Go code.
run "$build/bench/bench_loops_call"
run env GOMAXPROCS=2 "$build/bench/weft_bench_go" cross_loop_call
ratio cross_loop_call_us
# A channel between two loops, beside Go's between two goroutines.
run "$build/bench/bench_chan"
run env GOMAXPROCS=2 "$build/bench/weft_bench_go" chan
ratio chan_msgs_per_s_cross_loop chan_msgs_per_s_cross_loop_cap1
# What tracing costs a keep-alive HTTP client (weft-fetch against
# weft-httpbin): http_client_rps with WEFT_TRACE unset and set.
if [ -x "$build/apps/weft-fetch/weft-fetch" ]; then run sh scripts/http_trace_bench.sh "$build"; fi
# What the live console costs a busy server (weft-httpbin under wrk), with a
# weft-console polling it every 100 ms: console_overhead, attached / not.
if [ -x "$build/apps/weft-console/weft-console" ]; then run sh scripts/console_bench.sh "$build"; fi
run sh scripts/echo_bench.sh "$build/bench"
for peer in epoll_ref libuv; do
  awk -v p="$peer" '$1 == "echo_cpu_us_per_rt" { w = $2 } $1 == "echo_cpu_us_per_rt_" p { r = $2 }
    END { if (w != "" && r > 0) printf "echo_cpu_us_per_rt_ratio_%s %.3g x\n", p, w / r }' "$figures" | tee -a "$figures"
done

# HTTP: each part in a run of its own, under run's timeout; the script prints
# its own ratios (weft / nginx, wrk, libcurl, Go).
for part in server hello instructions client delay idle workers static h2 h2client; do
  run sh scripts/http_bench.sh "$build" $part
done

# WebSocket echo: weft's server against Python websockets and Go's gorilla
# (the script prints its own ratios).
if [ -x "$build/bench/bench_ws_load" ]; then run sh scripts/ws_bench.sh "$build"; fi

# The targets, on stderr: name, limit (the figure must be <= it; >=N: at least N).
awk 'BEGIN { m = split("switch_ns 10 switch_ns_ratio_raw 2 spawn_join_ns 60 " \
                       "sleepers_1m_wall_s 1.5 sleepers_1m_rss_per_task_bytes 4608 timers_1m_s 0.5 " \
                       "echo_cpu_us_per_rt_ratio_epoll_ref 1.10 echo_cpu_us_per_rt_ratio_libuv 1.0 " \
                       "delay_hold_ratio 1.10 delay_fanout_wall_s_ratio_go 0.8 " \
                       "delay_hold_wall_s_ratio_go 0.7 delay_hold_rss_per_conn_bytes 6144 " \
                       "http_server_idle_conn_bytes 1024 sleepers_1m_wall_s_ratio_go 1.2 " \
                       "http_server_cpu_us_per_req_hello_ratio_nginx 0.83 " \
                       "http_server_cpu_us_per_req_ratio_nginx 1.0 " \
                       "http_server_cpu_us_per_req_hello_uring_ratio_epoll 1.0 " \
                       "http_server_rps_2workers_ratio_nginx >=1.0 http_server_scaling_2workers >=1.6 " \
                       "http_server_rps_hello_ratio_nginx >=1.2 http_server_rps_ratio_nginx >=1.0 " \
                       "static_rps_4k_ratio_nginx >=1.0 static_large_mb_s_ratio_nginx >=1.0 " \
                       "h2_server_rps_ratio_nginx >=1.0 h2_client_rps_ratio_h2load >=0.8 " \
                       "console_overhead >=0.97", t, " ")
             for (i = 1; i < m; i += 2) { limit[t[i]] = t[i + 1]; order[++n] = t[i] } }
     { v[$1] = $2 }
     END { for (i = 1; i <= n; i++) { k = order[i]
             ge = limit[k] ~ /^>=/; l = ge ? substr(limit[k], 3) : limit[k]; op = ge ? ">=" : "<="
             if (!(k in v)) { printf "target %s %s %s: no figure\n", k, op, l; continue }
             ok = ge ? v[k] + 0 >= l + 0 : v[k] + 0 <= l + 0
             printf "target %s %s %s %s: %s\n", k, v[k], op, l, ok ? "met" : "MISSED" } }' \
  "$figures" >&2
exit $status
