#!/bin/sh
# The whole test suite: a normal build, an ASan+UBSan build, a ucontext
# build, and an aarch64 build whose tests run under qemu-user. Each build is
# its own directory under build/, and each runs every test under CTest.
set -e
cd "$(dirname "$0")/.."
jobs=$(nproc)
run() {  # dir, extra cmake args...  ($CTEST_EXCLUDE: a regex of cases to leave out)
  dir=$1; shift
  echo "== $dir"
  cmake -S . -B "$dir" -G Ninja -DWEFT_BUILD_BENCH=OFF "$@" >/dev/null
  ninja -C "$dir" >/dev/null
  ctest --test-dir "$dir" -j "$jobs" --output-on-failure ${CTEST_EXCLUDE:+-E "$CTEST_EXCLUDE"}
}
run build

# The installed library, found the two ways users find it.
echo "== install"
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
run build/asan -DWEFT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
run build/ucontext -DWEFT_SWITCH=ucontext
# Under emulation a million tasks would take minutes: that case runs natively.
WEFT_TEST_TIMEOUT_SCALE=4 CTEST_EXCLUDE=million \
  run build/aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
