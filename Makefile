# The front door. `make` builds everything into build/; `make demo`, `make
# check` and `make bench` each first install what they need (bootstrap).
BUILD ?= build

.PHONY: all build demo check bench fuzz clean bootstrap

all: build

bootstrap:
	@scripts/bootstrap.sh

build: bootstrap
	@cmake -S . -B $(BUILD) -G Ninja >/dev/null
	@ninja -C $(BUILD)

demo: build
	@scripts/demo.sh $(BUILD)

check: bootstrap
	@scripts/check.sh

# The parser's libFuzzer targets, 5 minutes each (clang; build/fuzz).
fuzz: bootstrap
	@scripts/fuzz.sh 300

bench: bootstrap
	@scripts/bootstrap.sh bench
	@cmake -S . -B $(BUILD)/bench-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF >/dev/null
	@ninja -C $(BUILD)/bench-release >/dev/null
	@scripts/bench.sh $(BUILD)/bench-release

clean:
	rm -rf $(BUILD)
