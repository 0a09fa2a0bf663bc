/*
 * connlimit.h - --max-conns: how many client connections lb holds at once, across its workers.
 *
 * A worker takes a slot before each accept() and gives it back when the connection closes (or
 * when accept() found nothing). At the limit it takes none: it stops accepting, so new
 * connections wait in the kernel's listen backlog (as HAProxy's maxconn does) instead of being
 * accepted only to be refused with a 503 - a client that waits a little is served, not failed,
 * and lb spends nothing on the connections over the limit. When the backlog is full the kernel
 * drops further SYNs and the client retries them. A worker stopped at the limit looks again
 * every CONNLIMIT_RECHECK_MS.
 *
 * With max 0 there is no limit and the calls cost nothing but a branch.
 */
#ifndef LB_CONNLIMIT_H
#define LB_CONNLIMIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define CONNLIMIT_RECHECK_MS 10

struct connlimit {
    uint32_t max;        /* immutable after start-up; 0: no limit */
    atomic_uint open;    /* slots taken: connections open, or being accepted */
    atomic_ulong paused; /* times a worker stopped accepting at the limit */
};

/* Sets l up for at most max connections (0: no limit). */
void connlimit_init(struct connlimit *l, uint32_t max);

/* Takes a slot for a connection about to be accepted. Returns false at the limit (counted in
 * paused); then nothing was taken. l NULL: always true. Any thread. */
bool connlimit_take(struct connlimit *l);

/* Gives a slot back: its connection closed, or the accept it was taken for found nothing. */
void connlimit_give(struct connlimit *l);

/* Slots taken now (0 without a limit: nothing is counted then). */
uint32_t connlimit_open(struct connlimit *l);

#endif
