# ensemble - the user-facing entry points. CMake does the real work; this
# file names the usual jobs and the build directories they use:
#   build/       normal build (-O2 -g, asserts on)
#   build-asan/  ASan + UBSan build (ENS_SANITIZE=ON)
#   build-fuzz/  libFuzzer targets (clang, ENS_FUZZ=ON)
#   build-clang/ the same sources compiled by clang (-O0), for its warnings
#                and for clang-tidy's compile_commands.json
#
#   make deps | build | test | bench | demo | reliability | soak | plots | lint | format |
#        format-check | install | clean
#   make install PREFIX=/opt/ensemble
#   make test ENS_FUZZ_SECONDS=600

PREFIX           ?= /usr/local
JOBS             ?= $(shell nproc 2>/dev/null || echo 2)
ENS_FUZZ_SECONDS ?= 60
CMAKE            ?= cmake
CTEST            ?= ctest
CLANG_FORMAT     ?= clang-format
CLANG_TIDY       ?= clang-tidy
CTEST_FLAGS      ?= --output-on-failure --timeout 120 -j$(JOBS)

BUILD      := build
BUILD_ASAN := build-asan
BUILD_FUZZ := build-fuzz
BUILD_CLANG := build-clang

# Every .c/.h the repository holds or would hold (tracked, or new and not
# ignored), so build directories are never formatted.
SOURCES = $(shell git ls-files --cached --others --exclude-standard -- '*.c' '*.h' 2>/dev/null \
            || find . -path './build*' -prune -o -name '*.[ch]' -print)

# Sanitizer reports must fail the run and say where.
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS  ?= detect_leaks=1:abort_on_error=0

.NOTPARALLEL:
MAKEFLAGS += --no-print-directory

.PHONY: all deps build test test-unit test-asan test-fuzz test-clang lint demo demo-cluster reliability soak \
        plots format format-check install clean

all: build

deps:
	@sh scripts/deps.sh

# Configure once; later builds let CMake re-glob and re-configure itself.
$(BUILD)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

$(BUILD_ASAN)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DENS_SANITIZE=ON

$(BUILD_FUZZ)/CMakeCache.txt:
	CC=clang $(CMAKE) -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DENS_FUZZ=ON

# -O0: clang's warnings come from its front end, and this build only compiles.
$(BUILD_CLANG)/CMakeCache.txt:
	CC=clang $(CMAKE) -S . -B $(BUILD_CLANG) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG=-O0 \
	    -DENS_WERROR=ON

build: deps $(BUILD)/CMakeCache.txt
	$(CMAKE) --build $(BUILD) -j$(JOBS)

test: deps test-unit test-asan format-check test-clang lint test-fuzz
	@echo "== make test: all passed"

test-unit: build
	@echo "== tests (build/)"
	cd $(BUILD) && $(CTEST) $(CTEST_FLAGS)

test-asan: deps $(BUILD_ASAN)/CMakeCache.txt
	@echo "== tests under ASan + UBSan (build-asan/)"
	$(CMAKE) --build $(BUILD_ASAN) -j$(JOBS)
	cd $(BUILD_ASAN) && $(CTEST) $(CTEST_FLAGS)

# Everything compiled by clang with -Werror (the other builds use gcc, and
# each compiler warns about things the other misses). The suite already ran
# twice: here only two quick suites show the clang binaries work (the codec's
# struct layouts, the process base's forks and signals).
test-clang: deps $(BUILD_CLANG)/CMakeCache.txt
	@echo "== clang build, -Werror (build-clang/)"
	$(CMAKE) --build $(BUILD_CLANG) -j$(JOBS)
	cd $(BUILD_CLANG) && $(CTEST) $(CTEST_FLAGS) -R '^test_(codec|process)$$'

# Static analysis: clang-tidy with the checks in .clang-tidy (tests/.clang-tidy
# for the tests) over every file build-clang/compile_commands.json lists:
# library, tool, tests, examples, benchmarks. Any finding fails. Needs only
# the configured build tree, not a build.
lint: deps $(BUILD_CLANG)/CMakeCache.txt
	@echo "== clang-tidy (.clang-tidy) over $(BUILD_CLANG)/compile_commands.json"
	@log=$(BUILD_CLANG)/clang-tidy.log; \
	if sed -n 's/^ *"file": "\(.*\)",*$$/\1/p' $(BUILD_CLANG)/compile_commands.json | sort -u | \
	    xargs -P$(JOBS) -n4 $(CLANG_TIDY) -p $(BUILD_CLANG) --quiet >"$$log" 2>&1; then \
	    echo "   no findings"; \
	else \
	    grep -v '^[0-9]* warnings\{0,1\} generated\.$$' "$$log"; \
	    echo "lint: clang-tidy found the problems above (full log: $$log)"; exit 1; \
	fi

# Each fuzz target runs for ENS_FUZZ_SECONDS on a scratch copy of its corpus
# (new inputs stay out of the repository); crashes land in build-fuzz/artifacts/.
test-fuzz: deps $(BUILD_FUZZ)/CMakeCache.txt
	@echo "== fuzz smoke run, $(ENS_FUZZ_SECONDS)s per target (build-fuzz/)"
	$(CMAKE) --build $(BUILD_FUZZ) -j$(JOBS) --target ens_fuzz
	@set -e; found=0; mkdir -p $(BUILD_FUZZ)/artifacts; \
	total=$$(ls tests/fuzz/fuzz_*.c 2>/dev/null | wc -l); i=0; \
	for src in tests/fuzz/fuzz_*.c; do \
	    [ -e "$$src" ] || continue; found=1; i=$$((i + 1)); \
	    name=$$(basename "$$src" .c); \
	    corpus=$$(mktemp -d); \
	    seeds=tests/fuzz/corpus/$${name#fuzz_}; \
	    if [ -d "$$seeds" ]; then cp -R "$$seeds/." "$$corpus/"; fi; \
	    log=$(BUILD_FUZZ)/$$name.log; \
	    echo "   $$name ($$i of $$total): $(ENS_FUZZ_SECONDS) s, about $$(( (total - i + 1) * $(ENS_FUZZ_SECONDS) )) s left in all"; \
	    if sh scripts/longrun.sh --duration $(ENS_FUZZ_SECONDS) "$$name" "$$log" \
	         $(BUILD_FUZZ)/fuzz/$$name -max_total_time=$(ENS_FUZZ_SECONDS) -max_len=70000 \
	         -artifact_prefix=$(BUILD_FUZZ)/artifacts/$$name- "$$corpus"; then \
	        echo "   $$name ok ($$(grep -o 'Done [0-9]* runs' "$$log" | tail -n 1))"; rm -rf "$$corpus"; \
	    else \
	        echo "   $$name FAILED (log: $$log)"; tail -n 40 "$$log"; rm -rf "$$corpus"; exit 1; \
	    fi; \
	done; \
	[ $$found = 1 ] || echo "   (no tests/fuzz/fuzz_*.c yet)"

# The reliability matrix (RELIABILITY.md), long versions: the kill storm
# with 1 000 kills, the flood with 100 000 messages per producer, and the
# fault rows as they run in `make test`. Each prints its figures ("# ...").
# While a suite runs, a line every ENS_PROGRESS_SECONDS (10) says how long
# it has run and its last progress line (kills, requests, RSS); the kill
# storm's series goes to build/reliability/kill_storm.csv.
ENS_STORM_KILLS ?= 1000
ENS_FLOOD_PER_PRODUCER ?= 100000
ENS_PROGRESS_SECONDS ?= 10
export ENS_PROGRESS_SECONDS
reliability: build
	@echo "== reliability matrix (build/tests)"
	@set -e; runs=$(CURDIR)/$(BUILD)/reliability; cd $(BUILD)/tests; \
	export XDG_STATE_HOME=$$PWD/state ENS_RUN_DIR=$$runs; \
	for t in test_kill_storm test_flood test_process test_kill test_hostile test_limits \
	         test_connect test_journal test_journal_runtime; do \
	    echo "-- $$t"; \
	    if ! ENS_STORM_KILLS=$(ENS_STORM_KILLS) ENS_FLOOD_PER_PRODUCER=$(ENS_FLOOD_PER_PRODUCER) \
	        sh $(CURDIR)/scripts/longrun.sh $$t $$t.log ./$$t; then tail -n 60 $$t.log; exit 1; fi; \
	    grep -E '^(#|\[  PASSED|[a-z_]+: series )' $$t.log; \
	done

# The soak, two parts of ENS_SOAK_SECONDS (10 minutes) each:
#  - mixed request/reply traffic through a supervision tree with a random
#    SIGKILL after each restart; it reports messages, restarts and memory
#    over time, and fails if memory grows;
#  - three systems of a convention with the default heartbeat and
#    down_after_ms while a spinning child keeps a core busy; it fails on any
#    member reported unreachable or left (a false down).
# Each prints a progress line every ENS_PROGRESS_SECONDS (10) and writes its
# series to build/soak/kill_storm.csv and build/soak/convention_downs.csv.
ENS_SOAK_SECONDS ?= 600
soak: build
	@echo "== soak, $(ENS_SOAK_SECONDS) s (build/tests/test_kill_storm)"
	@cd $(BUILD)/tests && XDG_STATE_HOME=$$PWD/state ENS_STORM_SECONDS=$(ENS_SOAK_SECONDS) \
	    ENS_RUN_DIR=$(CURDIR)/$(BUILD)/soak ./test_kill_storm
	@echo "== soak, $(ENS_SOAK_SECONDS) s (build/tests/soak_convention_downs)"
	@cd $(BUILD)/tests && XDG_STATE_HOME=$$PWD/state ENS_SOAK_SECONDS=$(ENS_SOAK_SECONDS) \
	    ENS_RUN_DIR=$(CURDIR)/$(BUILD)/soak ./soak_convention_downs

# Benchmarks, never part of `make test`: the full set, one JSON line per
# result on stdout (BENCHMARKS.md). `make bench ENS_BENCH_FLAGS=--quick` for a
# short run, ENS_BENCH_FLAGS="--only pingpong" for one benchmark.
# The build's own output goes to stderr, so stdout carries only JSON lines.
ENS_BENCH_FLAGS ?=
.PHONY: bench
bench: deps $(BUILD)/CMakeCache.txt
	@$(CMAKE) --build $(BUILD) -j$(JOBS) >&2
	@./$(BUILD)/bench/ens-bench $(ENS_BENCH_FLAGS)

# Plots (docs/plots/*.svg, shown in BENCHMARKS.md and RELIABILITY.md), drawn
# by gnuplot (Debian gnuplot-nox: installed here, not needed by `make test`)
# from the CSV files committed beside them. `make plots RUN=1` measures
# first: ens-bench's throughput, troupe and admin_scaling rows (--quick) and
# a kill-storm soak of ENS_PLOT_SOAK_SECONDS (scripts/plots.sh).
RUN ?=
ENS_PLOT_SOAK_SECONDS ?= 120
export ENS_PLOT_SOAK_SECONDS
plots:
	@ENS_DEPS_PACKAGES=gnuplot-nox sh scripts/deps.sh
	@if [ -n "$(RUN)" ]; then \
	    $(MAKE) build && sh scripts/plots.sh --run docs/plots; \
	else \
	    sh scripts/plots.sh docs/plots; \
	fi

# Only what the demo runs: the three examples and ens (not the tests and
# benchmarks that `make build` also builds).
DEMO_TARGETS := hello supervision_tree convention ens
demo: deps $(BUILD)/CMakeCache.txt
	$(CMAKE) --build $(BUILD) -j$(JOBS) --target $(DEMO_TARGETS)
	@set -e; \
	echo "== hello (inproc base)"; ./$(BUILD)/examples/hello; \
	echo "== hello (process base)"; ./$(BUILD)/examples/hello process; \
	echo "== supervision_tree (process base: a supervision tree with injected failures)"; \
	rm -f $(BUILD)/demo-journal.db*; \
	./$(BUILD)/examples/supervision_tree $(BUILD)/demo-journal.db; \
	echo; echo "== ens journal --db $(BUILD)/demo-journal.db --limit 25 (the newest rows of that run)"; \
	./$(BUILD)/tools/ens journal --db $(BUILD)/demo-journal.db --limit 25; \
	echo; echo "== ens journal --db $(BUILD)/demo-journal.db --count-by kind"; \
	./$(BUILD)/tools/ens journal --db $(BUILD)/demo-journal.db --count-by kind; \
	echo; echo "== ens journal --db $(BUILD)/demo-journal.db --kind escalate,breaker"; \
	./$(BUILD)/tools/ens journal --db $(BUILD)/demo-journal.db --kind escalate,breaker; \
	echo; echo "== convention (three systems of one convention on a private nats-server; placement by capabilities)"; \
	./$(BUILD)/examples/convention

# Three hosts (network namespaces as root, else loopback), a NATS cluster,
# one host killed: what the others see (examples/demo_cluster.c).
demo-cluster: deps build
	@./$(BUILD)/examples/demo_cluster ./$(BUILD)/tools/ens

format:
	$(CLANG_FORMAT) -i $(SOURCES)

format-check:
	@echo "== format check"
	$(CLANG_FORMAT) --dry-run -Werror $(SOURCES)

install: build
	$(CMAKE) --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ) $(BUILD_CLANG)
