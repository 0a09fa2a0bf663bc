# tests/module.mk - unit tests (cmocka, one per module) and end-to-end tests (real processes on
# loopback). A unit test may set test_NAME_LDFLAGS, e.g. -Wl,--wrap=connect to mock a call; an
# end-to-end test that needs a library sets test_NAME_LDLIBS.
UNIT_TEST_SRCS := $(sort $(wildcard tests/unit/test_*.c))
E2E_TEST_SRCS := $(sort $(wildcard tests/e2e/test_*.c))
TEST_SUPPORT_SRCS := $(wildcard tests/e2e/harness.c)

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_TEST_SRCS))
E2E_TESTS := $(patsubst tests/e2e/%.c,$(BUILD)/tests/e2e/%,$(E2E_TEST_SRCS))

# A unit test links common/ and the archive of the program it tests, known by its name; every
# test not named below is one of lb's. test_NAME_PROGRAMS lists them when a test needs more.
LBTOP_UNIT_TESTS := test_lbtop_%
LBTRACE_UNIT_TESTS := test_lbtrace_%
BACKEND_SIM_UNIT_TESTS := test_sim% test_endpoint test_docroot test_bytepat test_textesc test_proxyhdr
COMMON_UNIT_TESTS := test_http test_net test_stats_shm test_stats_shm_access
test_stats_writer_PROGRAMS := lb lbtop
test_events_PROGRAMS := lb lbtop

unit_test_programs = $(or $($(1)_PROGRAMS), \
    $(if $(filter $(LBTOP_UNIT_TESTS),$(1)),lbtop, \
    $(if $(filter $(LBTRACE_UNIT_TESTS),$(1)),lbtrace, \
    $(if $(filter $(BACKEND_SIM_UNIT_TESTS),$(1)),backend-sim, \
    $(if $(filter $(COMMON_UNIT_TESTS),$(1)),,lb)))))

define unit_test_template
$(BUILD)/tests/unit/$(1): $(BUILD)/tests/unit/$(1).o $(foreach p,$(2),$($(p)_LIB)) $(COMMON_LIB)
	$$(call say,LD,$$@)$$(CC) $$(ALL_LDFLAGS) $$($(1)_LDFLAGS) -o $$@ $$^ -lcmocka \
	    $(foreach p,$(2),$($(p)_LDLIBS))
endef
$(foreach t,$(UNIT_TEST_SRCS:tests/unit/%.c=%), \
    $(eval $(call unit_test_template,$(t),$(call unit_test_programs,$(t)))))

$(BUILD)/tests/e2e/%: $(BUILD)/tests/e2e/%.o $(call objs_of,$(TEST_SUPPORT_SRCS)) $(COMMON_LIB)
	$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcmocka $($(notdir $@)_LDLIBS)

# test_backend_sim checks the SHA-256 digests backend-sim reports.
test_backend_sim_LDLIBS := -lcrypto

include tests/fuzz/fuzz.mk
