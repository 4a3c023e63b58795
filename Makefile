# The README's two commands. Each does the whole set-up on a fresh Debian 12 machine:
# install what is missing, configure, build, then run or test.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= 2
CONFIG ?= examples/switchyard.yaml

.PHONY: all deps configure build run test bench clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j$(JOBS)

run: build
	./$(BUILD_DIR)/switchyard run --config $(CONFIG)

test: build
	@bash scripts/install-js-deps.sh $(BUILD_DIR)
	@cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 600 || \
	  { bash $(CURDIR)/scripts/test-failures.sh $(abspath $(BUILD_DIR)); exit 8; }

bench: build
	bash bench/run.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR)
