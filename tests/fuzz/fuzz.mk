# tests/fuzz/fuzz.mk - libFuzzer targets (tests/fuzz/fuzz_NAME.c), built with clang's
# -fsanitize=fuzzer,address,undefined into $(FUZZ_BUILD)/fuzz_NAME from their own copies of the
# modules they test (objects instrumented for coverage, one archive per directory), so they
# never mix with the gcc or sanitizer builds. Seeds are in tests/fuzz/corpus/NAME/, reproducers
# of fixed crashes in tests/fuzz/crashes/NAME/.
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="http config"]   fuzz each target in turn
#   make fuzz-smoke    each target once over its seeds and reproducers (part of `make test`)
#
# A target NAME says which directories' modules it links (fuzz_NAME_DIRS, common always) and any
# library they need (fuzz_NAME_LDLIBS).
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD := build/fuzz
FUZZ_ALL := http body config conffile headers hashkey lbtrace_decode lbtrace_reasm lbtrace lbtrace_tls lbtop_snapshot \
    backend_sim backend_sim_conn
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -g -O1 $(WARNINGS) -pthread $(FUZZ_SAN)

fuzz_config_DIRS := lb
fuzz_conffile_DIRS := lb
# the configuration reaches lb/backend.c, which makes TLS contexts for https backends
fuzz_config_LDLIBS := $(lb_LDLIBS)
fuzz_conffile_LDLIBS := $(lb_LDLIBS)
fuzz_headers_DIRS := lb
fuzz_hashkey_DIRS := lb
fuzz_lbtrace_decode_DIRS := lbtrace
fuzz_lbtrace_reasm_DIRS := lbtrace
fuzz_lbtrace_DIRS := lbtrace
fuzz_lbtrace_tls_DIRS := lbtrace
fuzz_lbtrace_LDLIBS := $(lbtrace_LDLIBS)
fuzz_lbtop_snapshot_DIRS := lbtop
fuzz_lbtop_snapshot_LDLIBS := $(lbtop_LDLIBS)
fuzz_backend_sim_DIRS := backend-sim
fuzz_backend_sim_LDLIBS := $(backend-sim_LDLIBS)
fuzz_backend_sim_conn_DIRS := backend-sim
fuzz_backend_sim_conn_LDLIBS := $(backend-sim_LDLIBS)

# Objects for fuzzing: coverage-instrumented, never linked into a program with a main().
$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(call say,FUZZCC,$<)$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

fuzz_srcs_of = $(if $(filter common,$(1)),$(COMMON_SRCS),$($(1)_SRCS))
define fuzz_lib_template
$(FUZZ_BUILD)/lib/lib$(1).a: $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(call fuzz_srcs_of,$(1)))
	@mkdir -p $$(@D)
	$$(call say,AR,$$@)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach d,common lb lbtrace lbtop backend-sim,$(eval $(call fuzz_lib_template,$(d))))

define fuzz_target_template
$(FUZZ_BUILD)/fuzz_$(1): tests/fuzz/fuzz_$(1).c tests/fuzz/fuzz_check.h \
    $(foreach d,$(fuzz_$(1)_DIRS) common,$(FUZZ_BUILD)/lib/lib$(d).a)
	@mkdir -p $$(@D)
	$$(call say,FUZZLD,$$@)$(FUZZ_CC) $(CPPFLAGS) $(addprefix -I,$(fuzz_$(1)_DIRS)) \
	    $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $$@ $$(filter-out %.h,$$^) $(fuzz_$(1)_LDLIBS)
endef
$(foreach t,$(FUZZ_ALL),$(eval $(call fuzz_target_template,$(t))))
-include $(wildcard $(FUZZ_BUILD)/obj/*/*.d)

FUZZ_BINS = $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZ_TARGETS))

.PHONY: fuzz fuzz-build fuzz-smoke
fuzz-build: $(FUZZ_BINS)

fuzz: ## fuzz every libFuzzer target for FUZZ_SECONDS each (default 60; needs clang)
	$(Q)scripts/fuzz.sh --check
	$(Q)$(MAKE) --no-print-directory fuzz-build
	$(Q)scripts/fuzz.sh run $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: ## run each fuzz target once over its seeds and crash reproducers
	$(Q)if scripts/fuzz.sh --check; then \
	    $(MAKE) --no-print-directory fuzz-build && scripts/fuzz.sh smoke $(FUZZ_TARGETS); \
	else echo "fuzz-smoke: skipped"; fi
