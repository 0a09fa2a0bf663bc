# lb/module.mk - the load balancer: bin/lb.
PROGRAMS += lb
lb_MAIN := lb/main.c
lb_SRCS := $(filter-out $(lb_MAIN),$(wildcard lb/*.c))
lb_LDLIBS := -lssl -lcrypto -lm

# The resolver test replaces getaddrinfo so a backend can "move" between two addresses.
test_resolver_LDFLAGS := -Wl,--wrap=getaddrinfo -Wl,--wrap=freeaddrinfo
