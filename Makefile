# hqcnn — build, test, check, bench, fuzz, lint, format-check.
#
#   make              build the library, the hqcnn CLI, the tests and the benchmarks
#   make test         run the test suite (no network, no GPU, no cloud credentials)
#   make test-slow    the slow suites (crash/resume torture, long statistical tests)
#   make check        the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make check-thread the threaded suites (storing worker, crash tests) under ThreadSanitizer
#   make bench        benchmarks, JSON lines on stdout (also saved to build/bench.jsonl)
#   make fuzz         libFuzzer targets (clang), FUZZ_TIME seconds each (default 60);
#                     FUZZ=fuzz_qasm (names in tests/fuzz/) runs only those
#   make lint         banned functions, raw allocation outside core/alloc.c
#   make format / format-check
#
# Switches: CC, DEBUG=1, SANITIZE=address,undefined | thread, NATIVE=0 (portable code),
# V=1 (show commands), BUILD=dir (object directory), HQCNN_SHARED=path (test data, default ../shared).
# Dependencies come from pkg-config; a missing one is named with its Debian package.

CC       ?= cc
DEBUG    ?= 0
SANITIZE ?=
NATIVE   ?= 1
BUILD    ?= build
FUZZ_CC  ?= clang
FUZZ_TIME ?= 60
HQCNN_SHARED ?= ../shared
export HQCNN_SHARED

# ---- dependencies -----------------------------------------------------------------------
PKGS := openblas libcjson libcurl sqlite3 openssl zlib libmicrohttpd
deb_openblas      := libopenblas-dev
deb_libcjson      := libcjson-dev
deb_libcurl       := libcurl4-openssl-dev
deb_sqlite3       := libsqlite3-dev
deb_openssl       := libssl-dev
deb_zlib          := zlib1g-dev
deb_libmicrohttpd := libmicrohttpd-dev

NODEP_GOALS := clean format format-check lint help deps
ifneq ($(MAKECMDGOALS),)
ifeq ($(filter-out $(NODEP_GOALS),$(MAKECMDGOALS)),)
SKIP_DEPS := 1
endif
endif
ifndef SKIP_DEPS
ifeq ($(shell command -v pkg-config 2>/dev/null),)
$(error pkg-config is not installed. Install the build dependencies with: sudo scripts/install-deps.sh  (or: sudo apt-get install pkg-config))
endif
MISSING := $(strip $(foreach p,$(PKGS),$(if $(shell pkg-config --exists $(p) && echo ok),,$(p))))
ifneq ($(MISSING),)
$(error missing build dependencies: $(foreach p,$(MISSING),$(p) [Debian package $(deb_$(p))]). Install them with: sudo scripts/install-deps.sh  (or: sudo apt-get install $(foreach p,$(MISSING),$(deb_$(p)))))
endif
DEP_CFLAGS := $(shell pkg-config --cflags $(PKGS))
DEP_LIBS   := $(shell pkg-config --libs $(PKGS))
endif

# ---- flags ------------------------------------------------------------------------------
WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Werror
# snprintf truncation is bounded and intended wherever it can happen; gcc flags it
# differently at each optimisation level, so it is not an error here
WARN += -Wno-format-truncation
CSTD := -std=c11 -D_GNU_SOURCE
ifeq ($(DEBUG),1)
OPT := -O0 -g3 -DHQ_DEBUG
else
OPT := -O3 -g
endif
ifneq ($(SANITIZE),)
OPT := -O1 -g -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer -DHQ_SANITIZE
SAN_LD := -fsanitize=$(SANITIZE)
endif
ifeq ($(NATIVE),1)
OPT += -march=native
endif
# complex multiply without the NaN/Inf recovery path (a libcall per multiply otherwise)
OPT += -fcx-limited-range -fno-math-errno
CFLAGS_ALL := $(CSTD) $(WARN) $(OPT) -I. -I$(BUILD)/gen $(DEP_CFLAGS) $(CFLAGS)
LDLIBS_ALL := $(SAN_LD) $(DEP_LIBS) -lm -lpthread $(LDLIBS)

# ---- sources ----------------------------------------------------------------------------
LIB_DIRS  := core backends backends/emulator nn db orchestrator
LIB_SRC   := $(filter-out orchestrator/main.c,$(wildcard $(addsuffix /*.c,$(LIB_DIRS))))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC  := $(wildcard tests/*.c) $(wildcard tests/fuzz/fuzz_*.c)
TEST_OBJ  := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
LIB       := $(BUILD)/libhqcnn.a
BIN       := $(BUILD)/hqcnn
TESTS     := $(BUILD)/hq_tests

.PHONY: all lib test test-slow check check-slow check-thread bench fuzz lint format format-check clean help deps
all: $(BIN) $(TESTS) $(BENCH_BIN)
lib: $(LIB)

V ?= 0
ifeq ($(V),1)
Q :=
else
Q := @
endif

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BIN): $(BUILD)/orchestrator/main.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(OPT) -o $@ $^ $(LDLIBS_ALL)

# the registry of tests: every line starting with HQ_TEST(name) / HQ_TEST_SLOW(name)
$(BUILD)/gen/tests.inc: $(TEST_SRC)
	@mkdir -p $(dir $@)
	@grep -h -E '^HQ_TEST(_SLOW)?\([A-Za-z0-9_]+\)' $(TEST_SRC) \
	  | sed -E -e 's/^HQ_TEST_SLOW\(([A-Za-z0-9_]+)\).*/HQ_T(\1, 1)/' \
	           -e 's/^HQ_TEST\(([A-Za-z0-9_]+)\).*/HQ_T(\1, 0)/' > $@.tmp
	@if [ -f $@ ] && cmp -s $@ $@.tmp; then rm -f $@.tmp; else mv $@.tmp $@; fi

$(BUILD)/tests/test_main.o: $(BUILD)/gen/tests.inc

$(TESTS): $(TEST_OBJ) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(OPT) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(OPT) -o $@ $^ $(LDLIBS_ALL)

test: $(TESTS) $(BIN)
	HQCNN_BIN=$(abspath $(BIN)) $(TESTS) $(T)

test-slow: $(TESTS) $(BIN)
	HQCNN_BIN=$(abspath $(BIN)) $(TESTS) --only-slow $(T)

check:
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(MAKE) BUILD=build/san SANITIZE=address,undefined test

check-slow:
	$(MAKE) BUILD=build/san SANITIZE=address,undefined test-slow

# the suites that run threads of their own (the executor's storing worker, crash tests)
# under ThreadSanitizer
check-thread:
	TSAN_OPTIONS=halt_on_error=1 $(MAKE) BUILD=build/tsan SANITIZE=thread test \
	  T="qexec bgstore db_open_again train_crash"

bench: $(BENCH_BIN) $(BIN)
	@mkdir -p $(BUILD)
	HQCNN_BIN=$(abspath $(BIN)) BUILD=$(BUILD) sh bench/run.sh | tee $(BUILD)/bench.jsonl

# ---- fuzzing (clang libFuzzer) ----------------------------------------------------------
ifneq ($(filter fuzz,$(MAKECMDGOALS)),)
ifeq ($(shell command -v $(FUZZ_CC) 2>/dev/null),)
$(error make fuzz needs clang with libFuzzer ($(FUZZ_CC) not found). Install it with: sudo scripts/install-deps.sh --fuzz  (or: sudo apt-get install clang libclang-rt-dev))
endif
endif
FUZZ_FLAGS := $(CSTD) -g -O1 -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer -I. $(DEP_CFLAGS)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/fuzzobj/%.o)
$(BUILD)/fuzzobj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
.SECONDARY: $(FUZZ_LIB_OBJ)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -DHQ_FUZZ_MAIN -o $@ $^ $(DEP_LIBS) -lm -lpthread
FUZZ_RUN := $(if $(FUZZ),$(addprefix $(BUILD)/fuzz/,$(FUZZ)),$(FUZZ_BIN))
fuzz: $(FUZZ_RUN)
	@for f in $(FUZZ_RUN); do n=$$(basename $$f); \
	  mkdir -p tests/fuzz/corpus/$$n $(BUILD)/fuzz/artifacts/$$n; \
	  echo "== $$n for $(FUZZ_TIME)s"; \
	  $$f -max_total_time=$(FUZZ_TIME) -max_len=65536 -artifact_prefix=$(BUILD)/fuzz/artifacts/$$n/ \
	      $$( [ -f tests/fuzz/$$n.dict ] && echo -dict=tests/fuzz/$$n.dict ) \
	      tests/fuzz/corpus/$$n $$( [ -d tests/fuzz/seeds/$$n ] && echo tests/fuzz/seeds/$$n ) || exit 1; \
	done

# ---- hygiene ----------------------------------------------------------------------------
SRC_ALL = $(shell find core backends nn db orchestrator tests bench examples -name '*.[ch]' 2>/dev/null)
lint:
	@sh scripts/lint.sh $(SRC_ALL)
format:
	clang-format -i $(SRC_ALL)
format-check:
	clang-format --dry-run --Werror $(SRC_ALL)

deps:
	sh scripts/install-deps.sh

clean:
	rm -rf build

help:
	@sed -n '/^$$/q; 2,$$p' Makefile

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%.d) $(BUILD)/orchestrator/main.d
