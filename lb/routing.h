/*
 * routing.h - what lb serves right now: the backends, the pools they are grouped in and the
 * routes to those pools, as one immutable snapshot the workers share.
 *
 * A snapshot owns its backend table (backend.h), in which each pool's backends are together:
 * a pool is a slice of it (its "view", a struct backend_table of its own) with its own policy
 * over that slice. A policy's indexes are the pool's (0..view.count). A backend's index
 * (backend->index) is its slot: what health, statistics, idle connections and log lines know it
 * by. A reload (lb/main.c) builds a new snapshot in which a backend keeps the slot of the
 * backend of the same name in the previous one, so its health, its counters and its idle
 * connections follow it; a new name gets a slot no backend ever had (while there are any).
 *
 * Snapshots are reference-counted: main() holds the current one, each worker holds the one it
 * starts new requests on, and each request or relayed connection holds the one it started on,
 * so a request in flight finishes on the configuration it began with while new ones use the new
 * one; the last holder to let go frees it. Everything in a snapshot is immutable once made,
 * except what its modules say is shared (the policies' atomic counters, the backends' published
 * addresses).
 */
#ifndef LB_ROUTING_H
#define LB_ROUTING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "config.h"
#include "http.h"
#include "policy.h"
#include "sticky.h"

struct health;

#define ROUTING_MAX_SLOTS CONFIG_MAX_BACKENDS /* slots: backends over the life of the process */

struct routing_pool {
    char name[CONFIG_MAX_NAME_LEN + 1];
    struct backend_table view; /* its backends: a slice of the snapshot's table */
    struct policy policy;      /* its policy, over view */
    char health_path[CONFIG_MAX_HEALTH_PATH + 1]; /* "": its backends are not checked */
};

struct routing {
    atomic_uint refs;
    uint64_t generation;         /* 1 at start-up, one more at each reload */
    struct backend_table *table; /* every pool's backends, pool by pool */
    struct routing_pool *pools;
    size_t num_pools;
    struct config_route routes[CONFIG_MAX_ROUTES]; /* tried in order */
    size_t num_routes;
    int default_pool; /* where requests no route matches go; -1: lb answers them 404 */
    struct sticky sticky;        /* --sticky-cookie ids of table's backends (by position) */
    const char **health_paths;   /* by position: the pool's health path ("": none) */
    bool any_checks;             /* some backend is checked actively */
    struct backend *by_slot[ROUTING_MAX_SLOTS]; /* the backend in each slot; NULL: none */
};

/* Where slots come from: the next one never used. main() keeps one for the process's life. */
struct routing_slots {
    size_t next;
};

/* Builds a snapshot of cfg (its backends grouped by pool: config_group_backends() ran) with one
 * reference, for main(). Backends take the slots of prev's backends of the same name (prev may
 * be NULL: start-up), others new slots from slots; a backend that keeps its host and port keeps
 * the addresses prev resolved for it. Policies report to health (may be NULL); sticky ids are
 * keyed with sticky_key. Returns NULL with a message in err (no slot left, a CA file lb cannot
 * use, out of memory). */
struct routing *routing_create(const struct config *cfg, const struct routing *prev,
                               struct routing_slots *slots, struct health *health,
                               uint64_t sticky_key, char *err, size_t err_len);

/* Takes one more reference to rt (NULL: NULL) and returns it. Any thread. */
struct routing *routing_hold(struct routing *rt);

/* Lets go of one reference; the last one frees rt. NULL is fine. Any thread. */
void routing_release(struct routing *rt);

/* The pool request r goes to (route.h), or NULL: no route matches and there is no default. */
struct routing_pool *routing_pick(const struct routing *rt, const struct http_request *r);

/* The default pool (every connection's in -m tcp), or NULL. */
struct routing_pool *routing_default(const struct routing *rt);

/* b's index in pool, or -1 when b is not one of pool's backends. */
int routing_pool_index(const struct routing_pool *pool, const struct backend *b);

/* b's position in rt's table, or -1 when b is not one of rt's backends. */
int routing_position(const struct routing *rt, const struct backend *b);

/* The backend in rt named name (name[0..len)), or NULL. */
struct backend *routing_find(const struct routing *rt, const char *name, size_t len);

#endif
