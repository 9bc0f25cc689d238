#!/bin/sh
# Fuzzes the HTTP parser: builds the libFuzzer targets of fuzz/ with clang
# into build/fuzz and runs each for SECONDS (default 10) over a copy of its
# seed corpus (fuzz/corpus/<target>, left untouched), with fuzz/http.dict.
# Prints each target's executions; fails, showing the crash, if a target
# crashes. The input that crashed is kept as build/fuzz/crash-* for
# `build/fuzz/fuzz/<target> FILE`.
set -e
cd "$(dirname "$0")/.."
secs=${1:-10}
dir=build/fuzz
targets="fuzz_http_request fuzz_http_response fuzz_chunked"
cmake -S . -B "$dir" -G Ninja -DCMAKE_C_COMPILER=clang -DWEFT_BUILD_FUZZ=ON -DWEFT_BUILD_TESTS=OFF \
  -DWEFT_BUILD_EXAMPLES=OFF -DWEFT_BUILD_BENCH=OFF -DWEFT_BUILD_APPS=OFF >/dev/null
ninja -C "$dir" $targets >/dev/null
for t in $targets; do
  work=$dir/corpus/$t
  rm -rf "$work" && mkdir -p "$work" && cp fuzz/corpus/$t/* "$work"/
  if ! "$dir/fuzz/$t" -max_total_time="$secs" -max_len=4096 -timeout=10 -print_final_stats=1 -dict=fuzz/http.dict \
         -artifact_prefix="$dir/" "$work" >"$dir/$t.log" 2>&1; then
    tail -40 "$dir/$t.log"
    echo "$t: crashed (log: $dir/$t.log)"
    exit 1
  fi
  echo "$t: $(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/$t.log") executions in ${secs} s," \
       "$(ls "$work" | wc -l) inputs in the corpus"
done
