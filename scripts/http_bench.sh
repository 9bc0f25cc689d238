#!/bin/sh
# HTTP benchmarks, each figure a line `name value unit` as scripts/bench.sh
# prints them, the peers measured in the same run and the ratios weft / peer
# printed after them. Every server runs pinned to core 0 and every client to
# core 1, one pair at a time. The parts (docs/benchmarks.md says more):
#
#   server  wrk -t1 -c100 --latency against weft-httpbin's /get, then
#           against nginx returning a fixed 200-byte body: requests per
#           second and the 99th percentile latency of each.
#   hello   the same against bench_httpd_hello (weft's server without
#           weft-httpbin's JSON) and nginx, both answering "Hello, World!".
#   instructions  callgrind's count of the instructions a request costs
#           bench_httpd_hello and weft-httpbin's /get (warm, wrk -c10).
#   client  keep-alive GETs of nginx's body on 100 connections from one
#           process: weft-fetch, wrk, libcurl's multi interface, Go.
#   h2client  GETs of nginx's body over HTTP/2 and TLS (http2 on), 100
#           streams at once on one connection: weft-fetch --http2 -c 100,
#           then h2load -c 1 -m 100 (nghttp2's own load generator).
#   delay   10,000 concurrent GET /delay/1, twice over. The clients: weft's
#           (bench/http_delay_fanout.c), then Go's, against one Go server
#           (weft_bench_go delay_server): wall time, the client's fresh
#           pages per request. The servers: weft-httpbin, then a fresh Go
#           server, under the one Go client: wall time, the longest wait
#           for a response once its request was sent, peak RSS growth per
#           held connection.
#   idle    10,000 idle keep-alive connections held open against
#           weft-httpbin, then nginx: the server's RSS growth and fresh
#           pages (minor faults) per connection.
#   static  weft-serve, then nginx (sendfile on), serving one directory:
#           wrk -t1 -c100 on a 4 KiB file (requests per second), then
#           downloads of a 256 MiB file by curl (MB/s, the best of three
#           after one that fills the page cache).
#   h2      HTTP/2 over plain TCP (h2c, prior knowledge): h2load -c10 -m10
#           (10 connections, 10 streams each) against weft-httpbin's /get,
#           then nginx's fixed body on a `listen ... http2` port: requests
#           per second.
#
# usage: scripts/http_bench.sh BUILD_DIR [PART...]   (all parts by default)
# Environment: HTTP_BENCH_SECONDS (each timed run, default 10),
# HTTP_FANOUT_N (default 10000), HTTP_IDLE_CONNS (default 10000).
set -eu
build=$(cd "$1" && pwd)
shift
parts=${*:-server hello instructions client h2client delay idle workers static h2}
secs=${HTTP_BENCH_SECONDS:-10}
fanout_n=${HTTP_FANOUT_N:-10000}
idle_n=${HTTP_IDLE_CONNS:-10000}
bench=$build/bench
httpbin=$build/apps/weft-httpbin/weft-httpbin
serve=$build/apps/weft-serve/weft-serve
gopeer=$bench/weft_bench_go
fetch=$build/apps/weft-fetch/weft-fetch
nofile=$(ulimit -H -n)
tmp=$(mktemp -d)
servers=""
cleanup() {
  for p in $servers; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
status=0

fail() { echo "http_bench: $*" >&2; status=1; }

sh "$(dirname "$0")/go_peer.sh" "$build" || fail "the Go peers did not build"

# Runs a command printing figures: prints them and keeps them for the
# ratios. Its exit status is the command's.
keep() {
  rc=0
  "$@" >"$tmp/one" || rc=$?
  cat "$tmp/one"
  cat "$tmp/one" >>"$tmp/figures"
  return $rc
}

ratio() {  # name peer: name_ratio_peer = weft's figure / the peer's
  awk -v n="$1" -v p="$2" '$1 == n { w = $2 } $1 == n "_" p { r = $2 }
    END { if (w != "" && r > 0) printf "%s_ratio_%s %.3g x\n", n, p, w / r }' "$tmp/figures"
}

# Whether the process runs (an exited child stays a zombie until waited for,
# and kill -0 still finds it).
alive() {  # pid
  state=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

mem_bytes() {  # pid field: a field of /proc/PID/status ("VmRSS", "VmHWM") in bytes
  awk -v f="$2:" '$1 == f { print $2 * 1024 }' "/proc/$1/status"
}

# The process's minor faults so far: field 10 of /proc/PID/stat, counted
# after the ")" that ends its name, which may hold spaces.
minflt() {  # pid
  sed 's/.*) //' "/proc/$1/stat" | awk '{ print $8 }'
}

# Waits (up to 10 s) until the server holds fewer than 64 fds: the last
# run's connections closed, so the next client does not meet their teardown.
settle() {  # pid
  i=0
  while [ "$(ls "/proc/$1/fd" 2>/dev/null | wc -l)" -ge 64 ] && [ $i -lt 200 ]; do
    i=$((i + 1))
    sleep 0.05
  done
}

# ------------------------------------------------------------- servers

# A server on core 0 that prints `listening on http://HOST:PORT` first, as
# weft-httpbin and the Go delay server do; sets $pid and $port.
start_listening() {  # name command...   ($server_cpus: where it runs, default core 0)
  name=$1
  shift
  taskset -c "${server_cpus:-0}" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid=$!
  servers="$servers $pid"
  i=0
  until port=$(sed -n '1s|^listening on http://.*:\([0-9][0-9]*\)/*$|\1|p' "$tmp/$name.out") &&
        [ -n "$port" ]; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! alive "$pid"; then
      fail "$name did not start: $(cat "$tmp/$name.err")"
      return 1
    fi
    sleep 0.05
  done
}

# weft-httpbin (it raises its own fd limit to the hard one).
start_httpbin() {
  [ -x "$httpbin" ] || { fail "no $httpbin"; return 1; }
  start_listening weft-httpbin "$httpbin" --host 127.0.0.1 --port 0
}

# Go's net/http serving /delay/N, GOMAXPROCS=1 (Go raises its own fd limit).
start_go_delay() {
  [ -x "$gopeer" ] || { fail "no $gopeer"; return 1; }
  start_listening go-delay env GOMAXPROCS=1 "$gopeer" delay_server 0
}

# nginx (Debian's nginx-light) on core 0: one worker, no access log, every
# path answered with a fixed 204-byte JSON body (weft-httpbin's /get is
# some 105 bytes under wrk, which sends only Host); everything it writes
# stays in $tmp/nginx. With $nginx_root set it serves that directory's
# files instead (sendfile on, nginx's other defaults). Sets $pid (the
# master, which also gets the kill), $worker and $port. With `tls`: https
# and HTTP/2 (a certificate made here), and no limit on the requests of a
# connection (HTTP/2's 1000 by default would end the one connection a run
# uses).
nginx_body='{"args": {}, "headers": {"Accept": "*/*", "Host": "127.0.0.1", "User-Agent": "bench"}, "origin": "127.0.0.1", "url": "http://127.0.0.1/get", "note": "a fixed body of about two hundred bytes, from nginx"}'
nginx_type=application/json
start_nginx() {  # [worker_processes] [tls]   ($server_cpus as start_listening's)
  d=$tmp/nginx
  mkdir -p "$d"
  port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  if [ -n "${nginx_root:-}" ]; then
    location="root $nginx_root; sendfile on;"
  else
    location="default_type $nginx_type; return 200 '$nginx_body\n';"
  fi
  listen="127.0.0.1:$port" scheme=http
  if [ "${2:-}" = tls ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/key.pem" \
      -out "$d/cert.pem" -subj /CN=localhost -days 1 2>/dev/null
    listen="$listen ssl http2; ssl_certificate $d/cert.pem; ssl_certificate_key $d/key.pem;
    keepalive_requests 100000000" scheme=https
  fi
  cat >"$d/nginx.conf" <<EOF
worker_processes ${1:-1};
daemon off;
pid $d/nginx.pid;
error_log $d/error.log;
worker_rlimit_nofile $nofile;
events { worker_connections 16384; }
http {
  access_log off;${nginx_http:-}
  client_body_temp_path $d/body;
  proxy_temp_path $d/proxy;
  fastcgi_temp_path $d/fastcgi;
  uwsgi_temp_path $d/uwsgi;
  scgi_temp_path $d/scgi;
  server {
    listen $listen${nginx_listen:-};
    location / {
      $location
    }
  }
}
EOF
  taskset -c "${server_cpus:-0}" /usr/sbin/nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf" 2>"$d/stderr" &
  pid=$!
  servers="$servers $pid"
  i=0
  until curl -sk ${nginx_curl:-} -o /dev/null "$scheme://127.0.0.1:$port/"; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! alive "$pid"; then
      fail "nginx did not start: $(cat "$d/stderr" "$d/error.log" 2>/dev/null)"
      return 1
    fi
    sleep 0.05
  done
  worker=$(pgrep -P "$pid" | head -1)
}

# SIGTERM, which both servers take as a graceful shutdown; SIGKILL if that
# has not ended it within 15 s.
stop() {  # pid
  kill "$1" 2>/dev/null || true
  i=0
  while alive "$1" && [ $i -lt 300 ]; do
    i=$((i + 1))
    sleep 0.05
  done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  servers=$(echo "$servers" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ' || true)
}

# ---------------------------------------------------------------- wrk

# wrk -t1 -c100 on core 1 for $secs against URL; its output in $tmp/wrk.out.
# $wrk_args and $wrk_cpus change the defaults (the workers part).
run_wrk() {
  timeout $((secs + 30)) taskset -c "${wrk_cpus:-1}" wrk ${wrk_args:--t1 -c100} -d"${secs}s" --latency "$1" >"$tmp/wrk.out" ||
    { fail "wrk $1 failed"; return 1; }
}

# Prints the rps figure (and with p99_name, the 99% latency in ms) from
# wrk's output; a run with non-2xx answers or socket errors prints nothing.
wrk_figures() {  # rps_name [p99_name]
  keep awk -v rps="$1" -v p99="${2:-}" '
    function ms(v) {  # wrk prints latencies as 812.00us, 1.23ms, 2.00s, 1.00m
      if (v ~ /us$/) return v / 1000
      if (v ~ /ms$/) return v + 0
      if (v ~ /m$/) return v * 60000
      return v * 1000
    }
    $1 == "99%" { lat = ms($2) }
    $1 == "Requests/sec:" { r = $2 }
    /Non-2xx|Socket errors/ { print "http_bench: wrk: " $0 > "/dev/stderr"; bad = 1 }
    END {
      if (bad || r == "") exit 1
      printf "%s %.0f req/s\n", rps, r
      if (p99 != "") printf "%s %.3g ms\n", p99, lat
    }' "$tmp/wrk.out"
}

# -------------------------------------------------------------- parts

# One wrk run against a server and its figures: http_server_rps,
# _p99_ms and _cpu_us_per_req, each with SUFFIX; CPU_PID does the work.
server_figures() {  # url suffix cpu_pid what
  c0=$(cpu_ticks "$3")
  run_wrk "$1" && wrk_figures "http_server_rps$2" "http_server_p99_ms$2" &&
    cpu_figure "http_server_cpu_us_per_req$2" "$3" "$c0" || fail "wrk against $4 gave no figures"
}

part_server() {
  if start_httpbin; then
    server_figures "http://127.0.0.1:$port/get" "" "$pid" weft-httpbin
    stop "$pid"
  fi
  if start_nginx; then
    server_figures "http://127.0.0.1:$port/get" _nginx "$worker" nginx
    stop "$pid"
  fi
  ratio http_server_rps nginx
  ratio http_server_p99_ms nginx
  ratio http_server_cpu_us_per_req nginx
}

# Both cores, nothing pinned, wrk -t2 -c200: weft-httpbin --workers 2
# against nginx with worker_processes 2 on /get (nginx's fixed body), and
# the scaling of a CPU-bound request (/bytes/65536?seed=1: 64 KiB of
# seeded random bytes made per request) from one worker to two.
part_workers() {
  server_cpus=0,1 wrk_cpus=0,1 wrk_args="-t2 -c200"
  if start_listening weft-httpbin "$httpbin" --host 127.0.0.1 --port 0 --workers 2; then
    run_wrk "http://127.0.0.1:$port/get" && wrk_figures http_server_rps_2workers || fail "wrk against weft-httpbin --workers 2"
    stop "$pid"
  fi
  if start_nginx 2; then
    run_wrk "http://127.0.0.1:$port/get" && wrk_figures http_server_rps_2workers_nginx || fail "wrk against nginx (2 workers)"
    stop "$pid"
  fi
  ratio http_server_rps_2workers nginx
  for w in 1 2; do
    if start_listening weft-httpbin "$httpbin" --host 127.0.0.1 --port 0 --workers $w; then
      run_wrk "http://127.0.0.1:$port/bytes/65536?seed=1" && wrk_figures http_server_rps_bytes64k_${w}worker ||
        fail "wrk against /bytes/65536 with $w workers"
      stop "$pid"
    fi
  done
  keep awk '$1 == "http_server_rps_bytes64k_1worker" { a = $2 } $1 == "http_server_rps_bytes64k_2worker" { b = $2 }
    END { if (a > 0 && b > 0) printf "http_server_scaling_2workers %.3g x\n", b / a }' "$tmp/figures"
  unset server_cpus wrk_cpus wrk_args
}

# weft-fetch -n N -c 100 makes N requests: a short run first measures its
# rate, so that the real run's N lasts about $secs.
weft_fetch_rps() {  # url [figure [weft-fetch options...]]
  [ -x "$fetch" ] || { fail "no $fetch"; return 1; }
  u=$1 figure=${2:-http_client_rps}
  shift
  [ $# -gt 0 ] && shift
  n=$(timeout 60 taskset -c 1 "$fetch" "$@" -n 5000 -c 100 "$u" |
      awk -v s="$secs" '$1 == "Requests/sec:" { n = int($2 * s) } END { print n < 5000 ? 5000 : n }')
  timeout $((secs * 3 + 30)) taskset -c 1 "$fetch" "$@" -n "$n" -c 100 "$u" >"$tmp/fetch.out" ||
    { fail "weft-fetch failed"; return 1; }
  keep awk -v f="$figure" '$1 == "Requests/sec:" { printf "%s %.0f req/s\n", f, $2; found = 1 }
            END { exit !found }' "$tmp/fetch.out" || fail "no Requests/sec: from weft-fetch"
}

part_client() {
  start_nginx || return 0
  url=http://127.0.0.1:$port/get
  weft_fetch_rps "$url" || true
  run_wrk "$url" && wrk_figures http_client_rps_wrk || fail "wrk gave no figure"
  if [ -x "$bench/bench_http_curl" ]; then
    keep timeout $((secs + 30)) taskset -c 1 "$bench/bench_http_curl" "$url" 100 "$secs" ||
      fail "bench_http_curl failed"
  fi
  if [ -x "$gopeer" ]; then
    keep timeout $((secs + 30)) env GOMAXPROCS=1 taskset -c 1 "$gopeer" http_client "$url" 100 "$secs" ||
      fail "weft_bench_go http_client failed"
  fi
  stop "$pid"
  for peer in wrk curl go; do ratio http_client_rps $peer; done
}

# HTTP/2: weft's client multiplexing 100 tasks' requests on one connection,
# then h2load doing the same (-c 1 -m 100) for as long.
part_h2client() {
  command -v h2load >/dev/null || { fail "no h2load (nghttp2-client)"; return 0; }
  start_nginx 1 tls || return 0
  url=https://127.0.0.1:$port/get
  weft_fetch_rps "$url" h2_client_rps --http2 -k || true
  timeout $((secs + 30)) taskset -c 1 h2load -c 1 -m 100 -D "$secs" --warm-up-time=1 "$url" >"$tmp/h2load.out" ||
    fail "h2load failed"
  keep awk '$1 == "finished" { printf "h2_client_rps_h2load %.0f req/s\n", $4; found = 1 } END { exit !found }' \
    "$tmp/h2load.out" || fail "h2load gave no figure"
  stop "$pid"
  ratio h2_client_rps h2load
}

# Go's client: $fanout_n goroutines each GET /delay/1 at once from one
# http.Client, GOMAXPROCS=1; the figures named KEY=NAME (wall, hold,
# connect, pages: see bench/go/main.go).
go_fanout() {  # base_url KEY=NAME...
  url=$1
  shift
  keep timeout 90 env GOMAXPROCS=1 taskset -c 1 "$gopeer" delay_fanout "$url" "$fanout_n" 1 "$@"
}

# The clients: weft's fan-out, then Go's, against one Go server. A first
# fan-out, not measured, warms the server: a fresh Go server grows its heap
# and its goroutines' stacks (collecting as it grows) through the first
# burst it meets, which cost the client that came first some 1.5 s of its
# 3 to 5 here.
delay_clients() {
  start_go_delay || return 0
  go_fanout "http://127.0.0.1:$port" || fail "the warm-up fan-out against Go's server failed"
  settle "$pid"
  keep timeout 90 taskset -c 1 "$bench/bench_http_delay_fanout" "http://127.0.0.1:$port" "$fanout_n" 1 ||
    fail "bench_http_delay_fanout against Go's server failed"
  settle "$pid"
  go_fanout "http://127.0.0.1:$port" wall=delay_fanout_wall_s_go hold=delay_fanout_hold_ratio_go \
    connect=delay_fanout_connect_max_s_go pages=pages_per_request_client_go ||
    fail "weft_bench_go delay_fanout against Go's server failed"
  stop "$pid"
  ratio delay_fanout_wall_s go
  ratio pages_per_request_client go
}

# A server under Go's fan-out: after one request, its RSS; after the run,
# its peak RSS, and (peak - before) / $fanout_n, what holding one more
# connection through its request cost it at most.
hold_figures() {  # suffix ("" for weft-httpbin, _go)
  curl -sf -o /dev/null "http://127.0.0.1:$port/delay/0" || { fail "delay_hold$1: no answer"; return 1; }
  rss0=$(mem_bytes "$pid" VmRSS)
  cpu0=$(cpu_ticks "$pid")
  go_fanout "http://127.0.0.1:$port" wall="delay_hold_wall_s$1" hold="delay_hold_ratio$1" \
    connect="delay_hold_connect_max_s$1" || { fail "delay_hold$1: Go's fan-out failed"; return 1; }
  hwm=$(mem_bytes "$pid" VmHWM)
  cpu1=$(cpu_ticks "$pid")
  keep printf '%s %s bytes\n' "delay_hold_server_rss_bytes$1" "$hwm" \
    "delay_hold_rss_per_conn_bytes$1" $(( (hwm - rss0) / fanout_n ))
  # The wall is mostly the client's (Go's, on one core, spends ~2.4 s of
  # CPU on 10,000 connections): the server's own CPU shows its cost.
  keep awk -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v n="delay_hold_server_cpu_s$1" \
    'BEGIN { printf "%s %.3g s\n", n, t / hz }'
}

cpu_ticks() {  # pid: user + system time so far, in clock ticks
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# The server's CPU time (user + system) per request over the last wrk run.
# Where wrk, on its one core, is the bottleneck, both servers' req/s tie
# near its ceiling (~80k here) and this still tells them apart.
cpu_figure() {  # name pid ticks_before
  t=$(( $(cpu_ticks "$2") - $3 ))
  keep awk -v t="$t" -v hz="$(getconf CLK_TCK)" -v n="$1" '
    $2 == "requests" && $3 == "in" { r = $1 }
    END { if (r > 0) printf "%s %.3g us\n", n, t / hz * 1e6 / r; else exit 1 }' "$tmp/wrk.out"
}

# The servers: weft-httpbin, then a fresh Go server, under the same client.
delay_servers() {
  if start_httpbin; then
    hold_figures "" || true
    stop "$pid"
  fi
  if start_go_delay; then
    hold_figures _go || true
    stop "$pid"
  fi
  ratio delay_hold_wall_s go
  ratio delay_hold_rss_per_conn_bytes go
  ratio delay_hold_server_cpu_s go
}

part_delay() {
  delay_clients
  delay_servers
}

# weft's server itself, without weft-httpbin's JSON: bench_httpd_hello and
# nginx answering every request with the same 14-byte text/plain body.
part_hello() {
  if [ -x "$bench/bench_httpd_hello" ] && start_listening hello env WEFT_BACKEND=epoll "$bench/bench_httpd_hello"; then
    server_figures "http://127.0.0.1:$port/" _hello "$pid" bench_httpd_hello
    stop "$pid"
  fi
  # The same server on the io_uring backend, where the kernel has it.
  if [ -x "$bench/bench_httpd_hello" ] && start_listening hello env WEFT_BACKEND=uring "$bench/bench_httpd_hello"; then
    server_figures "http://127.0.0.1:$port/" _hello_uring "$pid" "bench_httpd_hello (uring)"
    stop "$pid"
    keep awk '$1 == "http_server_rps_hello" { e = $2 } $1 == "http_server_rps_hello_uring" { u = $2 }
      $1 == "http_server_cpu_us_per_req_hello" { ce = $2 } $1 == "http_server_cpu_us_per_req_hello_uring" { cu = $2 }
      END { if (e > 0 && u > 0) printf "http_server_rps_hello_uring_ratio_epoll %.3g x\n", u / e
            if (ce > 0 && cu > 0) printf "http_server_cpu_us_per_req_hello_uring_ratio_epoll %.3g x\n", cu / ce }' "$tmp/figures"
  fi
  saved_body=$nginx_body
  nginx_body='Hello, World!' nginx_type=text/plain
  if start_nginx; then
    server_figures "http://127.0.0.1:$port/" _hello_nginx "$worker" "nginx (hello)"
    stop "$pid"
  fi
  nginx_body=$saved_body nginx_type=application/json
  ratio http_server_rps_hello nginx
  ratio http_server_p99_ms_hello nginx
  ratio http_server_cpu_us_per_req_hello nginx
}

# Instructions a request costs the server, counted by callgrind (steady,
# where wall-clock figures swing): the server runs under valgrind, a second
# of wrk warms it, the counters are zeroed, 4 s more are counted. Only the
# server process's user-space instructions: the kernel's share is not in it.
instructions() {  # name url_path command...
  name=$1 path=$2
  shift 2
  out=$tmp/cg.$name
  taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out" "$@" \
    >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid=$!
  servers="$servers $pid"
  i=0
  until port=$(sed -n 's|^listening on http://[^:]*:\([0-9]*\).*|\1|p' "$tmp/$name.out") && [ -n "$port" ]; do
    i=$((i + 1))
    if [ $i -gt 600 ] || ! alive "$pid"; then fail "$name: the server under callgrind did not start"; return 1; fi
    sleep 0.05
  done
  taskset -c 1 wrk -t1 -c10 -d1s "http://127.0.0.1:$port$path" >/dev/null
  callgrind_control -z "$pid" >/dev/null
  taskset -c 1 wrk -t1 -c10 -d4s "http://127.0.0.1:$port$path" >"$tmp/wrk.out"
  callgrind_control -d "$pid" >/dev/null
  stop "$pid"
  reqs=$(awk '/requests in/ { print $1 }' "$tmp/wrk.out")
  ir=$(callgrind_annotate "$out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
  [ -n "$reqs" ] && [ -n "$ir" ] && [ "$reqs" -gt 0 ] || { fail "$name: no callgrind count"; return 1; }
  keep echo "$name $((ir / reqs)) instructions"
}

part_instructions() {
  command -v valgrind >/dev/null || { fail "no valgrind"; return 0; }
  instructions http_server_instructions_per_request_hello / "$bench/bench_httpd_hello" || true
  instructions http_server_instructions_per_request /get "$httpbin" --host 127.0.0.1 --port 0 || true
}

# The server's RSS and minor faults after one request, then with $idle_n
# idle connections open, each having made one request: the growth per
# connection.
idle_figure() {  # suffix ("" for weft-httpbin, _nginx) server_pid
  curl -sf -o /dev/null "http://127.0.0.1:$port/get" || { fail "idle$1: no answer"; return 1; }
  rss0=$(mem_bytes "$2" VmRSS)
  flt0=$(minflt "$2")
  taskset -c 1 "$bench/bench_http_idle_conns" "$port" "$idle_n" >"$tmp/idle.out" &
  opener=$!
  i=0
  until grep -q '^open' "$tmp/idle.out"; do
    i=$((i + 1))
    if [ $i -gt 1200 ] || ! alive "$opener"; then
      kill "$opener" 2>/dev/null || true
      wait "$opener" 2>/dev/null || true
      fail "idle$1: the connections did not all open"
      return 1
    fi
    sleep 0.05
  done
  rss1=$(mem_bytes "$2" VmRSS)
  flt1=$(minflt "$2")
  kill "$opener"
  wait "$opener" 2>/dev/null || true
  keep printf '%s %s bytes\n' "http_server_idle_conn_bytes$1" $(( (rss1 - rss0) / idle_n ))
  keep awk -v n="pages_per_request_server$1" -v f=$((flt1 - flt0)) -v c="$idle_n" \
    'BEGIN { printf "%s %.3g pages\n", n, f / c }'
}

part_idle() {
  if start_httpbin; then
    idle_figure "" "$pid" || true
    stop "$pid"
  fi
  if start_nginx; then
    idle_figure _nginx "$worker" || true
    stop "$pid"
  fi
  ratio http_server_idle_conn_bytes nginx
  ratio pages_per_request_server nginx
}

# Downloads of the 256 MiB file by curl on core 1 from the two servers in
# turn (both up, on core 0): one each to fill the page cache, then five
# each, alternating, since one download's rate swings by a third from run
# to run here; the figures are the medians in MB/s (10^6 bytes).
download_figures() {  # weft_url nginx_url
  : >"$tmp/speeds"
  for i in 0 1 2 3 4 5; do
    for u in "$1" "$2"; do
      sp=$(timeout 120 taskset -c 1 curl -sS -o /dev/null -w '%{speed_download}' "$u") ||
        { fail "curl $u failed"; return 1; }
      [ $i -gt 0 ] && echo "$u $sp" >>"$tmp/speeds"
    done
  done
  median_mb_s() {  # url name
    keep awk -v u="$1" -v n="$2" '$1 == u { v[++k] = $2 }
      END { for (a = 2; a <= k; a++) for (b = a; b > 1 && v[b - 1] > v[b]; b--) { t = v[b]; v[b] = v[b - 1]; v[b - 1] = t }
            if (k) printf "%s %.0f MB/s\n", n, v[int((k + 1) / 2)] / 1e6 }' "$tmp/speeds"
  }
  median_mb_s "$1" static_large_mb_s
  median_mb_s "$2" static_large_mb_s_nginx
}

# The files in a directory nginx's worker can read even when it runs as
# nobody (a root run): $tmp itself is mktemp's 0700.
part_static() {
  d=$tmp/static
  mkdir -p "$d"
  head -c 4096 /dev/urandom >"$d/4k.bin"
  head -c 268435456 /dev/zero >"$d/256m.bin"
  chmod 755 "$tmp" "$d" && chmod 644 "$d"/*
  sync  # no writeback of the new files under the first server's figures
  weft_url= nginx_url=
  if [ -x "$serve" ] && start_listening weft-serve "$serve" --host 127.0.0.1 --port 0 "$d"; then
    run_wrk "http://127.0.0.1:$port/4k.bin" && wrk_figures static_rps_4k || fail "wrk against weft-serve"
    weft_pid=$pid weft_url="http://127.0.0.1:$port/256m.bin"
  fi
  nginx_root=$d
  if start_nginx; then
    run_wrk "http://127.0.0.1:$port/4k.bin" && wrk_figures static_rps_4k_nginx || fail "wrk against nginx's 4k.bin"
    nginx_pid=$pid nginx_url="http://127.0.0.1:$port/256m.bin"
  fi
  nginx_root=
  if [ -n "$weft_url" ] && [ -n "$nginx_url" ]; then download_figures "$weft_url" "$nginx_url" || true; fi
  [ -z "$weft_url" ] || stop "$weft_pid"
  [ -z "$nginx_url" ] || stop "$nginx_pid"
  ratio static_rps_4k nginx
  ratio static_large_mb_s nginx
}

# h2load on core 1 for $secs against URL: the rps figure NAME, or nothing
# (and a failure) if a request failed or was not answered 2xx.
h2load_figure() {  # name url
  timeout $((secs + 30)) taskset -c 1 h2load -c 10 -m 10 -D "$secs" "$2" >"$tmp/h2load.out" 2>&1 ||
    { fail "h2load $2 failed: $(tail -3 "$tmp/h2load.out")"; return 1; }
  keep awk -v n="$1" '
    $1 == "finished" { r = $4 }
    $1 == "requests:" && ($10 != 0 || $12 != 0 || $14 != 0) { bad = 1 }
    $1 == "status" && ($5 != 0 || $7 != 0 || $9 != 0) { bad = 1 }
    END { if (bad || r == "") exit 1; printf "%s %.0f req/s\n", n, r }' "$tmp/h2load.out" ||
    fail "h2load against $2: $(grep -E '^(requests|status)' "$tmp/h2load.out")"
}

part_h2() {
  command -v h2load >/dev/null 2>&1 || { fail "no h2load (nghttp2-client)"; return; }
  if start_httpbin; then
    h2load_figure h2_server_rps "http://127.0.0.1:$port/get"
    stop "$pid"
  fi
  # nginx 1.22: "listen ... http2" without ssl is h2c with prior knowledge.
  # Its keepalive_requests (1000) would end h2load's connections midway,
  # failing their streams in flight; weft's HTTP/2 has no such cap.
  if nginx_listen=" http2" nginx_curl=--http2-prior-knowledge \
     nginx_http="
  keepalive_requests 100000000;" start_nginx; then
    h2load_figure h2_server_rps_nginx "http://127.0.0.1:$port/get"
    stop "$pid"
  fi
  unset nginx_listen nginx_curl nginx_http  # (a shell may keep them after the call)
  ratio h2_server_rps nginx
}

for p in $parts; do
  case $p in
    server|hello|instructions|client|h2client|delay|idle|workers|static|h2) "part_$p" ;;
    *) echo "usage: scripts/http_bench.sh BUILD_DIR [server|hello|instructions|client|h2client|delay|idle|workers|static|h2]..." >&2; exit 2 ;;
  esac
done
exit $status
