# The front door. `make` builds everything into build/; `make demo`, `make
# check` and `make bench` each first install what they need, and only that
# (scripts/bootstrap.sh PROFILE: it says what and how much before it does).
BUILD ?= build

.PHONY: all build demo check bench fuzz soak coverage clean bootstrap

all: build

bootstrap:
	@scripts/bootstrap.sh check

build:
	@scripts/bootstrap.sh build
	@cmake -S . -B $(BUILD) -G Ninja >/dev/null
	@ninja -C $(BUILD)

# Builds only the library and the programs the demo runs (scripts/demo.sh).
demo:
	@scripts/bootstrap.sh demo
	@scripts/demo.sh $(BUILD)

check:
	@scripts/bootstrap.sh check
	@scripts/check.sh

# The HTTP layer's libFuzzer targets, 5 minutes each (clang; build/fuzz).
fuzz:
	@scripts/bootstrap.sh fuzz
	@scripts/fuzz.sh 300

# weft-httpbin under wrk and misbehaving clients, SOAK_SECONDS (default
# 120): fails if the server's fds or memory did not come back (loopback).
soak:
	@scripts/bootstrap.sh bench
	@cmake -S . -B $(BUILD) -G Ninja >/dev/null
	@ninja -C $(BUILD)
	@scripts/soak.sh $(BUILD)

# The test suite's line and branch coverage per layer (gcc --coverage,
# gcovr; build/coverage, HTML in build/coverage/html).
coverage:
	@scripts/bootstrap.sh coverage
	@scripts/coverage.sh

bench:
	@scripts/bootstrap.sh bench
	@cmake -S . -B $(BUILD)/bench-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF >/dev/null
	@ninja -C $(BUILD)/bench-release >/dev/null
	@scripts/bench.sh $(BUILD)/bench-release

clean:
	rm -rf $(BUILD)
