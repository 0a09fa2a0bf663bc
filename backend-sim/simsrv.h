/*
 * simsrv.h - one backend-sim instance: a listening port, its name, and the event loop thread
 * that serves every connection to it.
 *
 * Threading: one thread per instance, each with its own epoll set, timers, counters and health
 * state, so instances share nothing mutable but the log writer (which has its own lock). A
 * benchmark of one port is a benchmark of one thread, like nginx with one worker. Connections
 * are non-blocking state machines driven by edge-triggered epoll; no thread per connection, no
 * sleeping in the loop (delays are timers).
 */
#ifndef LBLAB_SIMSRV_H
#define LBLAB_SIMSRV_H

#include <stddef.h>
#include <stdint.h>

#include "simcfg.h"
#include "simlog.h"
#include "simtls.h"

/* What every instance reads; immutable after start-up. */
struct simsrv_shared {
    const struct simcfg *cfg;
    struct simlog *log; /* NULL: no request log */
    int docroot_fd;     /* -1: no --docroot */
    struct simtls *tls; /* --tls-cert: every connection speaks TLS; NULL: plain HTTP */
    long pid;
};

struct simsrv;

/* Creates instance number index of sh->cfg, with its listening socket open (so a busy port is
 * reported before anything runs). Returns the instance, or NULL with a message in err. */
struct simsrv *simsrv_create(const struct simsrv_shared *sh, size_t index, char *err,
                             size_t err_len);

/* Starts the instance's thread. Returns 0 or -errno. */
int simsrv_start(struct simsrv *s);

/* Asks the instance's loop to stop (from any thread); it closes every connection and returns. */
void simsrv_stop(struct simsrv *s);

/* Waits for the thread started by simsrv_start(). */
void simsrv_join(struct simsrv *s);

/* Frees an instance (stopped and joined, or never started). */
void simsrv_destroy(struct simsrv *s);

#endif
