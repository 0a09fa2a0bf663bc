# bench/module.mk - the tools benchmarks drive, built with the tests and by `make bench`, never
# installed: $(BUILD)/bench/holdconns (scripts/bench-mem.sh).
BENCH_TOOLS := $(BUILD)/bench/holdconns

$(BUILD)/bench/holdconns: $(BUILD)/bench/holdconns.o
	$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^
