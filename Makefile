# A thin wrapper: CMake builds, this file installs what is missing and runs things.
#   make run    install, build, start the server with the example gateways and the demo page
#   make test   install, build (and the .deb), check the layering, run every test, then again
#               under ASan+UBSan
#   make install [PREFIX=/usr/local] [DESTDIR=/staging]   the server, its plugins and the plugin SDK
#   make build-matrix   gcc and clang at -O0, -O2 and -O3, warnings as errors (tools/build-matrix.sh)
#   make deb    the Debian package, build-release/switchboard_<version>_<arch>.deb (CPack; README.md)
#   make bench  install the benchmark tools too (gnuplot, perf, valgrind, strace), build, and run
#               bench/compare --full (~9 minutes; writes bench/results/)

BUILD      ?= build
ASAN_BUILD ?= build-asan
RELEASE_BUILD ?= build-release
FUZZ_BUILD ?= build-fuzz
LISTEN     ?= 127.0.0.1:3000
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
PREFIX     ?= /usr/local

.PHONY: all deps build build-asan build-release build-matrix build-fuzz run test test-unit \
        test-integration test-asan test-fuzz format clean install bench deb

all: build

deps:
	@tools/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSB_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# The Release type (-O3), as a distribution builds it: its own warnings (gcc's at -O3 differ).
# It is also the Debian package's build: prefix /usr (the plugin directory compiled into the
# binary is the package's) and SB_PACKAGE's system files. `make install` uses $(BUILD), not this.
build-release: deps
	@cmake -S . -B $(RELEASE_BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
	  -DSB_PACKAGE=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(RELEASE_BUILD) -j $(JOBS)

# The Debian package of the Release build: $(RELEASE_BUILD)/switchboard_<version>_<arch>.deb.
deb: build-release
	cd $(RELEASE_BUILD) && cpack -G DEB

build-matrix: deps
	@tools/build-matrix.sh

bench:
	@tools/install-deps.sh --bench
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	bench/compare --full --build $(BUILD)

run: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target runtime
	./$(BUILD)/switchboard --listen $(LISTEN) --scripts scripts \
	  --plugin auth-static=examples/demo/tokens.txt --plugin propagate \
	  --static examples/demo \
	  --static /vendor/socket.io-client=node_modules/socket.io-client/dist

# DESTDIR (environment or command line) stages the files; the binary still refers to PREFIX.
install: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) \
	  $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target runtime
	cmake --install $(BUILD)

test: build build-asan deb
	@echo "== layering (README.md, Source layout)"
	tools/check-layers.sh
	@echo "== unit tests and fuzz corpus replays"
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@echo "== integration tests"
	SWITCHBOARD_BIN=$(CURDIR)/$(BUILD)/switchboard \
	  SWITCHBOARD_DEB=$$(ls -t $(CURDIR)/$(RELEASE_BUILD)/switchboard_*.deb | head -1) \
	  node --test --test-concurrency=2 tests/integration/
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory test-fuzz

test-asan:
	@echo "== unit and integration tests under AddressSanitizer + UndefinedBehaviorSanitizer"
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)
	SWITCHBOARD_BIN=$(CURDIR)/$(ASAN_BUILD)/switchboard SWITCHBOARD_SANITIZED=1 \
	  ASAN_OPTIONS=detect_leaks=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  node --test --test-concurrency=2 tests/integration/

# libFuzzer targets need clang; without it the corpus still replays in the ctest runs above.
test-fuzz:
	@if command -v clang >/dev/null 2>&1; then \
	  echo "== libFuzzer targets (clang): replaying the seed corpora"; \
	  CC=clang cmake -S . -B $(FUZZ_BUILD) -DSB_FUZZ=ON -DSB_TESTS=ON >/dev/null && \
	  cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_eio fuzz_sio fuzz_wsjson fuzz_query fuzz_adapter fuzz_payload \
	    fuzz_payload3 fuzz_binpayload3 fuzz_sio4 fuzz_bins fuzz_pattern fuzz_redis_url && \
	  for t in eio sio wsjson query adapter payload payload3 binpayload3 sio4 bins pattern redis_url; do \
	    ./$(FUZZ_BUILD)/tests/fuzz/fuzz_$$t -runs=0 tests/fuzz/corpus/$$t 2>&1 | tail -1 || exit 1; \
	  done; \
	else echo "== clang not found: libFuzzer targets skipped (corpora replayed by ctest)"; fi

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(RELEASE_BUILD) build-matrix
