# lbtop/module.mk - the ncurses monitor of lb's shared-memory statistics: bin/lbtop.
PROGRAMS += lbtop
lbtop_MAIN := lbtop/main.c
lbtop_SRCS := $(filter-out $(lbtop_MAIN),$(wildcard lbtop/*.c))
lbtop_LDLIBS := $(shell pkg-config --libs ncursesw 2>/dev/null || echo -lncursesw) -lm
