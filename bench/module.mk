# bench/module.mk - the tools benchmarks drive, built with the tests and by `make bench`, never
# installed: $(BUILD)/bench/holdconns (scripts/bench-mem.sh), and $(BUILD)/bench/sendcost (what a
# system call and a write cost here, and what lb's send batch saves: `make sendcost`).
BENCH_TOOLS := $(BUILD)/bench/holdconns $(BUILD)/bench/sendcost

$(BUILD)/bench/holdconns: $(BUILD)/bench/holdconns.o
	$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^

# sendcost measures lb's own send batch (lb/sendbatch.c), from lb's archive
$(BUILD)/bench/sendcost: $(BUILD)/bench/sendcost.o $(BUILD)/lb/liblb.a
	$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^

.PHONY: sendcost
sendcost: $(BUILD)/bench/sendcost ## what a system call and a small socket write cost here, one each or batched (io_uring)
	$(Q)$(BUILD)/bench/sendcost

-include $(BENCH_TOOLS:=.d)
