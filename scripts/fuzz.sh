#!/bin/sh
# Fuzzes the HTTP layer: builds the libFuzzer targets of fuzz/ with clang
# into build/fuzz and runs each for SECONDS (default 7) over a copy of its
# seed corpus (fuzz/corpus/<target>, left untouched), with its dictionary
# (fuzz/url.dict for URLs, fuzz/http.dict for the rest). Prints each
# target's executions and the coverage it reached (libFuzzer's cov:, edges
# of the instrumented code); fails, showing the crash, if a target crashes.
# The input that crashed is kept as build/fuzz/crash-* for
# `build/fuzz/fuzz/<target> FILE`; once fixed, add it to the target's
# corpus: the corpus is replayed by every test build (fuzz_replay.*).
# FUZZ_TARGETS (a space-separated list) runs some of them only.
set -e
cd "$(dirname "$0")/.."
secs=${1:-7}
dir=build/fuzz
targets=${FUZZ_TARGETS:-"fuzz_http_request fuzz_http_response fuzz_chunked fuzz_url fuzz_http_client fuzz_http_request_head fuzz_httpd fuzz_ws fuzz_h2d"}
cmake -S . -B "$dir" -G Ninja -DCMAKE_C_COMPILER=clang -DWEFT_BUILD_FUZZ=ON -DWEFT_BUILD_TESTS=OFF \
  -DWEFT_BUILD_EXAMPLES=OFF -DWEFT_BUILD_BENCH=OFF -DWEFT_BUILD_APPS=OFF >/dev/null
ninja -C "$dir" $targets >/dev/null
for t in $targets; do
  work=$dir/corpus/$t
  rm -rf "$work" && mkdir -p "$work" && cp fuzz/corpus/$t/* "$work"/
  dict=fuzz/http.dict
  [ "$t" = fuzz_url ] && dict=fuzz/url.dict
  if ! "$dir/fuzz/$t" -max_total_time="$secs" -max_len=4096 -timeout=10 -print_final_stats=1 -dict=$dict \
         -artifact_prefix="$dir/" "$work" >"$dir/$t.log" 2>&1; then
    tail -40 "$dir/$t.log"
    echo "$t: crashed (log: $dir/$t.log)"
    exit 1
  fi
  echo "$t: $(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/$t.log") executions in ${secs} s," \
       "cov $(grep -o 'cov: [0-9]*' "$dir/$t.log" | tail -1 | cut -d' ' -f2)," \
       "$(ls "$work" | wc -l) inputs in the corpus"
done
