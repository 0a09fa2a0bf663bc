# backend-sim/module.mk - the backend simulator: test backends for labs and end-to-end tests.
PROGRAMS += backend-sim
backend-sim_MAIN := backend-sim/main.c
backend-sim_SRCS := $(filter-out $(backend-sim_MAIN),$(wildcard backend-sim/*.c))
backend-sim_LDLIBS := -lssl -lcrypto -lm
