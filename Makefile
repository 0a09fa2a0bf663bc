# Makefile - lblab's one non-recursive build.
#
# Every directory adds itself through a module.mk that this file includes; objects go under
# $(BUILD), programs into $(BIN). `make help` lists the targets. Quiet unless V=1.
#
# A program directory's module.mk says:
#     PROGRAMS += NAME            the program bin/NAME
#     NAME_MAIN := DIR/main.c     the file with main()
#     NAME_SRCS := ...            its other sources (also linked into unit tests)
#     NAME_LDLIBS := ...          libraries it needs
# tests/module.mk turns tests/unit/test_*.c and tests/e2e/test_*.c into test programs.

.DEFAULT_GOAL := all
.SECONDARY:
.DELETE_ON_ERROR:
SHELL := /bin/bash

BUILD  ?= build
BIN    ?= bin
PREFIX ?= /usr/local
SAN    ?= 0
V      ?= 0

CFLAGS   ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -Icommon
WARNINGS := -Wall -Wextra -Werror -Wformat=2 -Wno-format-nonliteral -Wstrict-prototypes -Wmissing-prototypes
# Hardening, for every program and test: stack canaries, checked string and memory calls
# (_FORTIFY_SOURCE needs the optimiser: only with -O1 or more), a position-independent
# executable (ASLR moves the code too) and full RELRO (relocations resolved at start, then the
# table made read-only). scripts/check-hardening.sh checks the binaries; HARDEN=0 turns it off.
HARDEN ?= 1
ifeq ($(HARDEN),1)
HARDEN_CFLAGS := -fstack-protector-strong -fPIE
ifneq ($(filter -O1 -O2 -O3 -Os -Og -Ofast,$(CFLAGS)),)
HARDEN_CFLAGS += -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2
endif
HARDEN_LDFLAGS := -pie -Wl,-z,relro,-z,now
endif
ALL_CFLAGS = -std=c11 $(WARNINGS) $(CFLAGS) $(HARDEN_CFLAGS) -pthread -MMD -MP
ALL_LDFLAGS = $(LDFLAGS) $(HARDEN_LDFLAGS) -pthread
ifeq ($(SAN),1)
SANITIZERS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else ifeq ($(SAN),thread)
SANITIZERS := -fsanitize=thread -fno-omit-frame-pointer
endif
ALL_CFLAGS += $(SANITIZERS)
ALL_LDFLAGS += $(SANITIZERS)

ifeq ($(V),1)
Q :=
say :=
else
Q := @
say = @printf '  %-7s %s\n' $(1) $(2);
endif

PROGRAMS :=
UNIT_TESTS :=
E2E_TESTS :=

objs_of = $(patsubst %.c,$(BUILD)/%.o,$(1))

include common/module.mk
include $(filter-out common/module.mk tests/module.mk,$(sort $(wildcard */module.mk)))

# One archive per program (all but main.c), so unit tests link the modules they test.
define program_template
$(1)_LIB := $(BUILD)/$(1)/lib$(1).a
$$($(1)_LIB): $$(call objs_of,$$($(1)_SRCS))
	$$(call say,AR,$$@)rm -f $$@ && ar rcs $$@ $$^
$(BIN)/$(1): $$(call objs_of,$$($(1)_MAIN)) $$($(1)_LIB) $$(COMMON_LIB)
	@mkdir -p $$(@D)
	$$(call say,LD,$$@)$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$($(1)_LDLIBS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call program_template,$(p))))

PROGRAM_BINS := $(addprefix $(BIN)/,$(PROGRAMS))

include tests/module.mk

# Before the first compile in $(BUILD), check that the packages' headers are there, so that a
# missing one is named (with `make deps`) instead of failing as a compiler error.
$(BUILD)/.deps-build: scripts/deps.sh
	@mkdir -p $(@D)
	$(Q)CC="$(CC)" scripts/deps.sh --check build && touch $@
$(BUILD)/.deps-test: scripts/deps.sh
	@mkdir -p $(@D)
	$(Q)CC="$(CC)" scripts/deps.sh --check test && touch $@
$(call objs_of,$(TEST_SUPPORT_SRCS) $(UNIT_TEST_SRCS) $(E2E_TEST_SRCS)): | $(BUILD)/.deps-test

# Objects are rebuilt when the compiler or its flags change (hardening, sanitizers...): the
# stamp holds the command line and is rewritten only when it differs.
BUILD_FLAGS = $(CC) $(CPPFLAGS) $(ALL_CFLAGS) | $(ALL_LDFLAGS)
$(BUILD)/.flags: FORCE
	@mkdir -p $(@D)
	$(Q)echo '$(BUILD_FLAGS)' | cmp -s - $@ || echo '$(BUILD_FLAGS)' > $@
.PHONY: FORCE

$(BUILD)/%.o: %.c $(BUILD)/.flags | $(BUILD)/.deps-build
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

ALL_OBJS := $(call objs_of,$(COMMON_SRCS) $(foreach p,$(PROGRAMS),$($(p)_MAIN) $($(p)_SRCS)) \
	$(TEST_SUPPORT_SRCS) $(UNIT_TEST_SRCS) $(E2E_TEST_SRCS))
-include $(ALL_OBJS:.o=.d)

# The fuzz smoke run replays each fuzz target's seeds once; it is skipped with a message when
# clang's libFuzzer runtime is missing (tests/fuzz/fuzz.mk).
.PHONY: all help run test test-tsan test-valgrind check check-tsan check-valgrind check-clang tests deps deps-test bench install clean
all: $(PROGRAM_BINS) ## build every program into bin/

help: ## list the targets
	@echo "lblab targets:"
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | \
	    awk -F':.*## ' '{ printf "  make %-14s %s\n", $$1, $$2 }'
	@echo "Variables: V=1 (show commands), CC=clang, PREFIX=/usr/local (install), SAN=1 (ASan+UBSan)"
	@echo "           or SAN=thread (TSan)"

deps: ## install missing Debian packages needed to build and run
	$(Q)scripts/deps.sh build

deps-test:
	$(Q)scripts/deps.sh test

run: deps ## install packages, build, start backends on 3001-3003 and lb on 3000 (HTTPS on 3443)
	$(Q)$(MAKE) --no-print-directory all
	$(Q)LBLAB_BUILD=$(BUILD) scripts/run.sh $(BIN)

tests: $(PROGRAM_BINS) $(UNIT_TESTS) $(E2E_TESTS) $(BENCH_TOOLS)

check: tests ## run every test against the current build (no set-up)
	$(Q)LBLAB_BIN=$(abspath $(BIN)) scripts/run-tests.sh $(UNIT_TESTS) $(E2E_TESTS)

# ThreadSanitizer: lb (workers, resolver, statistics heartbeat), backend-sim (one thread per
# instance) and lbtop (it reads the seqlocked statistics lb's threads write) built with
# -fsanitize=thread in their own BUILD, and the end-to-end tests that start them, plus
# test_health (many threads report to one backend's health at once). TSan sees races
# between the threads of one process, not across the shared memory between two. Every process
# writes its reports under TSAN_REPORTS; any report fails the run, even when the test did not
# notice the process exit 66.
TSAN_PROGRAMS := lb backend-sim lbtop
# (test_lb_hardening is left out: it inspects every program's binary, and this build makes
# only three of them, with TSan's own flags)
TSAN_TESTS = $(filter-out $(BUILD)/tests/e2e/test_lb_hardening, \
    $(filter $(addprefix $(BUILD)/tests/e2e/,test_lb_% test_backend_sim% test_lbtop%), \
    $(E2E_TESTS))) $(filter $(BUILD)/tests/unit/test_health,$(UNIT_TESTS))
TSAN_REPORTS = $(abspath $(BUILD))/tsan-reports

test-tsan: deps-test ## build lb, backend-sim and lbtop with ThreadSanitizer, run their e2e tests
	$(Q)$(MAKE) --no-print-directory SAN=thread CFLAGS="-O1 -g" BUILD=build/tsan \
	    BIN=build/tsan/bin check-tsan

check-tsan: $(addprefix $(BIN)/,$(TSAN_PROGRAMS)) $(TSAN_TESTS)
	$(Q)rm -rf $(TSAN_REPORTS) && mkdir -p $(TSAN_REPORTS)
	$(Q)export TSAN_OPTIONS="halt_on_error=1 exitcode=66 log_path=$(TSAN_REPORTS)/report"; \
	    LBLAB_BIN=$(abspath $(BIN)) scripts/run-tests.sh $(TSAN_TESTS); rc=$$?; \
	    if [ -n "$$(ls -A $(TSAN_REPORTS))" ]; then \
	        cat $(TSAN_REPORTS)/*; echo "ThreadSanitizer reports: $(TSAN_REPORTS)"; exit 1; \
	    fi; exit $$rc

# Valgrind (memcheck): lb and backend-sim built without sanitizers (-O1 -g, build/vg) and run
# under valgrind by the end-to-end tests below (the harness puts $$LBLAB_WRAP before them and
# multiplies its timeouts by $$LBLAB_TIMEOUT_SCALE). Each process writes a log under VG_REPORTS;
# any error or definite or possible leak in one fails the run. Not in `make test`: it takes
# about ten minutes (docs/testing.md).
VG_PROGRAMS := lb backend-sim
VG_TESTS ?= test_lb_smoke test_lb_bodies test_lb_keepalive test_lb_errors test_lb_protocol \
    test_lb_headers test_lb_hostile test_lb_retry test_lb_failures test_lb_routing \
    test_lb_sticky test_lb_pools test_lb_reload test_lb_tls test_lb_tcp test_lb_admin \
    test_backend_sim
VG_REPORTS = $(abspath $(BUILD))/valgrind-reports
VG_SCALE ?= 10
VALGRIND := valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,possible \
    --error-exitcode=99 --child-silent-after-fork=yes --num-callers=30

test-valgrind: deps-test ## run lb and backend-sim under valgrind through a subset of the e2e tests
	$(Q)$(MAKE) --no-print-directory SAN=0 CFLAGS="-O1 -g" BUILD=build/vg BIN=build/vg/bin \
	    check-valgrind

check-valgrind: $(PROGRAM_BINS) $(addprefix $(BUILD)/tests/e2e/,$(VG_TESTS))
	$(Q)command -v valgrind >/dev/null || { echo "test-valgrind: install valgrind"; exit 1; }
	$(Q)rm -rf $(VG_REPORTS) && mkdir -p $(VG_REPORTS)
	$(Q)export LBLAB_WRAP="$(VALGRIND) --log-file=$(VG_REPORTS)/%q{LBLAB_VG_TEST}.%p.log"; \
	    export LBLAB_WRAP_PROGRAMS="$(VG_PROGRAMS)" LBLAB_TIMEOUT_SCALE=$(VG_SCALE); rc=0; \
	    for t in $(VG_TESTS); do \
	        LBLAB_VG_TEST=$$t LBLAB_BIN=$(abspath $(BIN)) scripts/run-tests.sh $(BUILD)/tests/e2e/$$t \
	            || rc=1; \
	    done; \
	    scripts/valgrind-reports.sh $(VG_REPORTS) || rc=1; exit $$rc

check-clang: ## build everything with clang, warnings as errors
	$(Q)$(MAKE) --no-print-directory CC=clang BUILD=build/clang BIN=build/clang/bin tests

test: deps-test ## install packages, build with clang, run every test under ASan+UBSan, TSan, fuzz smoke, then the labs' graders
	$(Q)$(MAKE) --no-print-directory check-clang
	$(Q)$(MAKE) --no-print-directory SAN=1 CFLAGS="-O1 -g" BUILD=build/san BIN=build/san/bin check
	$(Q)$(MAKE) --no-print-directory test-tsan
	$(Q)$(MAKE) --no-print-directory fuzz-smoke
	$(Q)$(MAKE) --no-print-directory test-labs

# make bench's knobs: seconds per measured cell, interleaved rounds per cell (medians), workers of
# every proxy and wrk threads in the comparisons (scripts/bench-*.sh read them from the environment)
BENCH_SECONDS ?= 2
BENCH_ROUNDS ?= 5
BENCH_WORKERS ?= 1
BENCH_THREADS ?= 1
bench: all $(BENCH_TOOLS) ## benchmarks against nginx and haproxy, one table (BENCH_SECONDS=2 BENCH_ROUNDS=5)
	$(Q)scripts/deps.sh bench
	$(Q)set -e; export LBLAB_BENCH_TOOLS=$(abspath $(BUILD)/bench); \
	    export LBLAB_BENCH_ROWS=$(abspath $(BUILD)/bench/rows.tsv); \
	    export BENCH_SECONDS=$(BENCH_SECONDS) BENCH_ROUNDS=$(BENCH_ROUNDS) \
	        BENCH_WORKERS=$(BENCH_WORKERS) BENCH_THREADS=$(BENCH_THREADS); \
	    mkdir -p $(BUILD)/bench; : >"$$LBLAB_BENCH_ROWS"; \
	    for b in scripts/bench-*.sh; do [ -e "$$b" ] || continue; echo "== $$b"; "$$b" $(BIN); done; \
	    scripts/report-bench.sh $(BIN) "$$LBLAB_BENCH_ROWS" docs/performance.md

install: all ## install programs and man pages under PREFIX
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 0755 $(PROGRAM_BINS) $(DESTDIR)$(PREFIX)/bin/
	@set -e; for m in docs/man/*.1; do [ -e "$$m" ] || continue; \
	    install -m 0644 "$$m" $(DESTDIR)$(PREFIX)/share/man/man1/; done
	@set -e; for m in docs/man/*.5; do [ -e "$$m" ] || continue; \
	    install -m 0644 "$$m" $(DESTDIR)$(PREFIX)/share/man/man5/; done

clean: ## remove build/ and bin/
	rm -rf build bin
