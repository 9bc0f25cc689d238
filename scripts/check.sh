#!/bin/sh
# The whole test suite: a normal build, an ASan+UBSan build, a ucontext
# build, and an aarch64 build whose tests run under qemu-user. Each build is
# its own directory under build/, and each runs every test under CTest.
# The last line sums up every run: tests passed, failed, and skipped with
# each one's reason (scripts/check_summary.py, over ctest's JUnit files).
set -e
cd "$(dirname "$0")/.."
jobs=$(nproc)
results=build/check-results
rm -rf "$results" && mkdir -p "$results"
step() { echo "$*" >>"$results/steps"; }
summary() {
  rc=$?
  [ $rc -eq 0 ] || step "stopped (exit $rc) at: ${current:-the start}"
  echo
  python3 scripts/check_summary.py "$results/steps" "$results"/*.xml || rc=1
  exit $rc
}
trap summary EXIT
ctest_run() {  # name, ctest args...: one run, its results in $results/name.xml
  name=$1; shift
  ctest --output-junit "$PWD/$results/$name.xml" -j "$jobs" --output-on-failure "$@"
}
run() {  # dir, extra cmake args...  ($CTEST_EXCLUDE: a regex of cases to leave out;
         # $CTEST_ONLY: a regex of the only cases to run)
  dir=$1; shift
  current=$dir
  echo "== $dir"
  cmake -S . -B "$dir" -G Ninja -DWEFT_BUILD_BENCH=OFF "$@" >/dev/null
  ninja -C "$dir" >/dev/null
  ctest_run "$(echo "$dir" | tr / -)" --test-dir "$dir" ${CTEST_EXCLUDE:+-E "$CTEST_EXCLUDE"} \
    ${CTEST_ONLY:+-R "$CTEST_ONLY"}
}
run build

# The same build's tests again on the io_uring poller, where the kernel lets
# us make a ring: kernel.io_uring_disabled, container seccomp profiles and
# kernels before 5.1 refuse it, and a loop asking for io_uring then fails.
echo "== build (io_uring poller)"
current="build (io_uring poller)"
printf '%s\n' '#include <linux/io_uring.h>' '#include <sys/syscall.h>' '#include <unistd.h>' \
  'int main(void) { struct io_uring_params p = { 0 }; return syscall(__NR_io_uring_setup, 2, &p) < 0; }' |
  cc -x c - -o build/uring_probe
if ! grep -q DWEFT_HAVE_URING build/build.ninja; then
  echo "built without liburing (scripts/bootstrap.sh installs it): skipping the io_uring pass"
  step "io_uring pass skipped: built without liburing"
elif build/uring_probe; then
  # The allocation walk (~80 s under this load) once, on epoll above: the
  # io_uring poller allocates through the same hook, and a run of it on
  # this pass found nothing the epoll one had not.
  WEFT_BACKEND=uring ctest_run build-io_uring --test-dir build -E 'million|alloc_walk'
else
  echo "this kernel refuses io_uring: skipping the io_uring pass"
  step "io_uring pass skipped: this kernel refuses io_uring"
fi

# The installed library, found the two ways users find it.
echo "== install"
current=install
prefix=$PWD/build/install
rm -rf "$prefix" build/consumer
cmake --install build --prefix "$prefix" >/dev/null
cmake -S tests/consumer -B build/consumer -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
ninja -C build/consumer >/dev/null
LD_LIBRARY_PATH="$prefix/lib" build/consumer/consumer
build/consumer/consumer_static
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" cc tests/consumer/main.c -o build/consumer/pc \
  $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs weft)
LD_LIBRARY_PATH="$prefix/lib" build/consumer/pc
step "install: the CMake package and pkg-config consumers ok"
run build/asan -DWEFT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
# ThreadSanitizer on what other threads touch: the thread pool and
# call_soon_threadsafe, DNS and files on the pool (and their cancellation walks), signals,
# loops on several threads, channels between loops, the file handler that a
# server's workers share, the console's thread.
# Tasks switch stacks under it as fibers (WEFT_TSAN in src/core/internal.h);
# any report fails its case (TSan's exit code 66).
CTEST_ONLY='test_pool|test_dns|test_fs|test_signal|thread|test_cancel_walk.dns|test_cancel_walk.file|test_loops|test_http_workers|test_http_files.files_one_server_shared|test_chan|test_console' \
  run build/tsan -DWEFT_TSAN=ON -DWEFT_BUILD_EXAMPLES=OFF -DWEFT_BUILD_APPS=OFF
# The installed programs' allocation walk ran in the build above; a
# ucontext switch allocates nothing, so it would find the same.
CTEST_EXCLUDE=alloc_walk run build/ucontext -DWEFT_SWITCH=ucontext
# Under emulation a million tasks would take minutes: that case runs natively.
WEFT_TEST_TIMEOUT_SCALE=4 CTEST_EXCLUDE=million \
  run build/aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DWEFT_WITH_HTTP=OFF
# The HTTP layer's fuzzers, briefly: 7 s each, ~70 s for the eight (`make
# fuzz` runs them for 5 minutes each).
echo "== fuzz smoke"; current="fuzz smoke"
scripts/fuzz.sh 7
step "fuzz smoke: every target 7 s, no crash"
current=
