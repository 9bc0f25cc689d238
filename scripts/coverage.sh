#!/bin/sh
# Coverage of the test suite (make coverage): a gcc --coverage build in
# build/coverage (Debug, -O0, so that lines map to code), every CTest entry
# run, then gcovr (Debian's gcovr: scripts/bootstrap.sh coverage) over the
# library and the apps. Prints line and branch coverage per layer as
#   coverage_lines_core 87.1 %
#   coverage_branches_core 70.2 %
# (layers: core, io, tls, http, apps) and the totals, and writes an HTML
# report to build/coverage/html/index.html. Test failures are reported but
# do not stop the report (a coverage run measures; make check judges).
# CTEST_ARGS adds arguments to ctest (e.g. "-E million").
set -e
cd "$(dirname "$0")/.."
dir=build/coverage
jobs=$(nproc)
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=--coverage \
  -DCMAKE_EXE_LINKER_FLAGS=--coverage -DCMAKE_SHARED_LINKER_FLAGS=--coverage \
  -DWEFT_BUILD_BENCH=OFF >/dev/null
ninja -C "$dir" >/dev/null
find "$dir" -name '*.gcda' -delete
ctest --test-dir "$dir" -j "$jobs" $CTEST_ARGS >"$dir/ctest.log" 2>&1 || true
grep -E "tests passed|Total Test time" "$dir/ctest.log" | sed 's/^/coverage: ctest: /'
grep -E '^[[:space:]]*[0-9]+ - ' "$dir/ctest.log" | sed 's/^/coverage: failed: /' || true
mkdir -p "$dir/html"
# Only the library and the apps count; tests, examples, fuzz are the
# measuring, not the measured. Branches the compiler made up (exception
# edges and such) are left out. gcovr's warnings (CMake's compiler probe
# has no data) go to $dir/gcovr.log.
gcovr -r . --object-directory "$dir" -f 'src/' -f 'apps/' --exclude-unreachable-branches \
  --json-summary "$dir/summary.json" --html-details "$dir/html/index.html" "$dir" >/dev/null 2>"$dir/gcovr.log"
python3 - "$dir/summary.json" <<'PY'
import json, sys
files = json.load(open(sys.argv[1]))["files"]
layers = [("core", "src/core/"), ("io", "src/io/"), ("tls", "src/tls/"), ("http", "src/http/"), ("apps", "apps/")]
def pct(a, b):
    return "%.1f" % (100.0 * a / b) if b else "n/a"
tot = [0, 0, 0, 0]
for name, prefix in layers:
    s = [0, 0, 0, 0]
    for f in files:
        if f["filename"].startswith(prefix):
            for i, k in enumerate(("line_covered", "line_total", "branch_covered", "branch_total")):
                s[i] += f[k]
    tot = [a + b for a, b in zip(tot, s)]
    print(f"coverage_lines_{name} {pct(s[0], s[1])} %  ({s[0]}/{s[1]})")
    print(f"coverage_branches_{name} {pct(s[2], s[3])} %  ({s[2]}/{s[3]})")
print(f"coverage_lines_total {pct(tot[0], tot[1])} %  ({tot[0]}/{tot[1]})")
print(f"coverage_branches_total {pct(tot[2], tot[3])} %  ({tot[2]}/{tot[3]})")
PY
echo "coverage: report in $dir/html/index.html"
