# lbtrace/module.mk - the libpcap tracer pairing lb's client and backend legs.
PROGRAMS += lbtrace
lbtrace_MAIN := lbtrace/main.c
lbtrace_SRCS := $(filter-out $(lbtrace_MAIN),$(wildcard lbtrace/*.c))
lbtrace_LDLIBS := -lpcap
# lbtrace's unit tests include its headers by name
$(BUILD)/tests/unit/test_lbtrace_%.o: CPPFLAGS += -Ilbtrace
