# scripts/module.mk - tools the scripts need: the client of `make soak` (scripts/soak.sh).
# It checks bodies against backend-sim's byte pattern, so it links backend-sim's archive.
SOAK_CLIENT := $(BUILD)/tools/soak-client
SOAK_SECONDS ?= 180
SOAK_CONNS ?= 32

$(SOAK_CLIENT): $(BUILD)/scripts/tools/soak_client.o $(BUILD)/backend-sim/libbackend-sim.a \
    $(BUILD)/common/libcommon.a
	@mkdir -p $(@D)
	$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^

.PHONY: soak
soak: all $(SOAK_CLIENT) ## soak test: lb under load with faults injected (SOAK_SECONDS=180, SOAK_CONNS=32)
	$(Q)SOAK_SECONDS=$(SOAK_SECONDS) SOAK_CONNS=$(SOAK_CONNS) scripts/soak.sh $(BIN) $(SOAK_CLIENT)
