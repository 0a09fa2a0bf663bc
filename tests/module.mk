# tests/module.mk - unit tests (cmocka, one per module) and end-to-end tests (real processes on
# loopback). A unit test may set test_NAME_LDFLAGS, e.g. -Wl,--wrap=connect to mock a call.
UNIT_TEST_SRCS := $(sort $(wildcard tests/unit/test_*.c))
E2E_TEST_SRCS := $(sort $(wildcard tests/e2e/test_*.c))
TEST_SUPPORT_SRCS := $(wildcard tests/e2e/harness.c)
TEST_LDLIBS := -lcmocka $(sort $(SYS_LDLIBS))

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_TEST_SRCS))
E2E_TESTS := $(patsubst tests/e2e/%.c,$(BUILD)/tests/e2e/%,$(E2E_TEST_SRCS))

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(PROGRAM_LIBS) $(COMMON_LIB)
	$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) $($(notdir $@)_LDFLAGS) -o $@ $^ $(TEST_LDLIBS)

$(BUILD)/tests/e2e/%: $(BUILD)/tests/e2e/%.o $(call objs_of,$(TEST_SUPPORT_SRCS)) $(COMMON_LIB)
	$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TEST_LDLIBS)
