/*
 * checker.h - active HTTP health checks, run inside a worker's event loop.
 *
 * With --health-path PATH, each backend is checked by one worker (backend index % nworkers ==
 * worker id) every --health-interval ms: a nonblocking connect to the backend's current address,
 * then "GET PATH HTTP/1.1" with Host, User-Agent: lblab-health and Connection: close, and the
 * answer's head parsed by the shared HTTP parser. 2xx and 3xx pass; any other status, a
 * malformed or missing answer, a connection error, or no complete head within
 * --health-timeout ms fails, with a short reason ("connect refused", "timeout", "status 503").
 * Each result goes to lb/health.c (which decides about rise and fall) and to lb/events.c (which
 * prints and publishes a change). At most one check per backend is in flight; the next one
 * starts an interval after the previous one started, or at once if it took longer. A round is
 * skipped, with nothing reported, while the backend has no address yet (a name not resolved) or
 * when lb itself is short of descriptors, memory or local ports.
 *
 * No thread of its own and no blocking call: the worker drives it. The checker keeps its own
 * deadline heap, registers its sockets with worker_watch() (their epoll data is a struct endpoint
 * of kind ENDPOINT_CHECK), and is called by the worker's loop:
 *
 *     timeout = checker_wait_ms(c, now, timeout from the session timers)
 *     epoll_wait(...)
 *     for each event of kind ENDPOINT_CHECK: checker_event(c, ep, events)
 *     checker_run_due(c, now)
 *
 * Everything here runs on that one worker thread.
 */
#ifndef LB_CHECKER_H
#define LB_CHECKER_H

#include <stdint.h>

#include "health.h"

struct checker;
struct endpoint;
struct worker;

struct checker_config {
    const char *path;     /* the path checked, e.g. "/health" (copied) */
    const char *const *paths; /* non-NULL: each backend's own path by table index (its pool's;
                                 NULL or "": that backend is not checked), instead of path */
    uint32_t interval_ms; /* from one check's start to the next one's */
    uint32_t timeout_ms;  /* connect, send and a complete response head within this */
    unsigned nworkers;    /* backends i with i % nworkers == w->id are this checker's */
};

/* A checker for worker w's share of w->table's backends, reporting to h. The first checks are
 * due at once. Returns NULL on ENOMEM or when the request does not fit in its buffer (a path
 * over CONFIG_MAX_HEALTH_PATH bytes). */
struct checker *checker_create(struct worker *w, struct health *h,
                               const struct checker_config *cfg);

/* Closes any check in flight (its result is not reported) and frees c. NULL is fine. */
void checker_destroy(struct checker *c);

/* The earliest time (clock_mono_ms()) at which checker_run_due() has work, or TIMER_NONE (also
 * for c NULL: no checks). */
uint64_t checker_next_deadline(const struct checker *c);

/* The epoll_wait() timeout that also wakes for c's next deadline: max_ms (-1: none) or less, 0
 * when a check is due. c NULL: max_ms. */
int checker_wait_ms(const struct checker *c, uint64_t now_ms, int max_ms);

/* Starts the checks that are due at now_ms and fails those whose timeout has passed. c NULL: a
 * no-op. */
void checker_run_due(struct checker *c, uint64_t now_ms);

/* epoll reported events on ep, a check's socket (kind ENDPOINT_CHECK). Uses w->now_ms. */
void checker_event(struct checker *c, struct endpoint *ep, uint32_t events);

/* How many checks this checker has started, and how many backends it checks (for tests). */
uint64_t checker_started(const struct checker *c);
unsigned checker_backends(const struct checker *c);

#endif
