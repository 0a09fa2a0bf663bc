/*
 * resolver.h - backend names resolved off the worker threads.
 *
 * getaddrinfo() blocks (for seconds when DNS is slow), so no worker ever calls it. One resolver
 * thread re-resolves every named backend each --dns-ttl seconds and publishes the addresses in
 * the backend table (backend.h), where workers read them without waiting. With --dns-ttl 0 a
 * worker instead submits a struct resolve_req before each new backend connection and goes on
 * serving others; the resolver answers it through the worker's struct resolve_reply (a lock-free
 * list plus an eventfd the worker polls). Numeric backends are never resolved.
 */
#ifndef LB_RESOLVER_H
#define LB_RESOLVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

struct routing;

/* Where answers for one worker go: pushed by the resolver, taken all at once by the worker. */
struct resolve_reply {
    _Atomic(struct resolve_req *) head; /* atomic: lock-free stack */
    int efd;                            /* eventfd the resolver writes 1 to after a push */
};

/* One on-demand question. Allocated by a worker, owned by the resolver from resolver_submit()
 * until it comes back through reply, then by the worker again (which frees it). */
struct resolve_req {
    struct resolve_req *next; /* private: list link */
    struct backend *backend;  /* in */
    struct routing *rt;       /* in: the snapshot backend is in, held until req is freed
                                 (dial_free_resolve()), so backend outlives the question */
    struct resolve_reply *reply; /* in */
    void *owner;                 /* the worker's: who waits (NULL once they gave up) */
    int err;                     /* out: 0, or -errno (-EHOSTUNREACH when the name failed) */
    size_t num_addrs;            /* out */
    struct backend_addr addrs[BACKEND_MAX_ADDRS]; /* out */
};

struct resolver;

/* Creates the resolver for table, re-resolving every ttl_s seconds (0: on demand only). Returns
 * NULL on failure with a message in err. */
struct resolver *resolver_create(struct backend_table *table, uint32_t ttl_s, char *err,
                                 size_t err_len);

/* Resolves every named backend now, on the calling thread (start-up, and a reload before its
 * backends take requests).
 * Names that fail are reported one per line through warn (may be NULL) and stay without
 * addresses. Returns how many failed. */
size_t resolver_resolve_all(struct resolver *r, void (*warn)(const char *msg));

/* A reload: from now on the resolver refreshes table's backends (all at once first) instead of
 * the previous table's, which keep the addresses they had. Any thread. Returns 0 or -ENOMEM. */
int resolver_set_table(struct resolver *r, struct backend_table *table);

/* Starts the resolver thread. Returns 0 or -errno. */
int resolver_start(struct resolver *r);

/* Hands req to the resolver (any thread). Never blocks. */
void resolver_submit(struct resolver *r, struct resolve_req *req);

/* Stops and joins the thread (waits for a lookup in progress), then frees req still queued.
 * Safe to call when never started. */
void resolver_stop(struct resolver *r);
void resolver_destroy(struct resolver *r);

/* Initialises / releases a reply queue (its eventfd). Returns 0 or -errno. */
int resolve_reply_init(struct resolve_reply *q);
void resolve_reply_fini(struct resolve_reply *q);

/* Takes every answer queued for the worker (and clears the eventfd). Returns a list linked by
 * ->next, possibly empty (NULL). */
struct resolve_req *resolve_reply_take(struct resolve_reply *q);

/* Resolves host:port with getaddrinfo (blocking), keeping up to max TCP addresses, IPv4 first.
 * Returns the count (>0), or -EHOSTUNREACH with the reason in err. */
int resolver_lookup(const char *host, uint16_t port, struct backend_addr *out, size_t max,
                    char *err, size_t err_len);

#endif
