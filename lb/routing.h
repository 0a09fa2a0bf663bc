/*
 * routing.h - the pools lb serves and the routes to them, as the workers use them.
 *
 * Every backend of every pool is in the one backend table (backend.h), grouped by pool: a pool
 * is a slice of it (its "view", a struct backend_table of its own) with its own policy over that
 * slice. A policy's indexes are the pool's (0..view.count); a backend's index in the whole table
 * (backend->index) is what health, statistics, idle connections and sticky cookies know it by.
 *
 * A struct routing is immutable once made and shared by every worker: the policies' own state
 * (counters) is atomic, as policy.h requires.
 */
#ifndef LB_ROUTING_H
#define LB_ROUTING_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "config.h"
#include "http.h"
#include "policy.h"

struct health;

struct routing_pool {
    char name[CONFIG_MAX_NAME_LEN + 1];
    size_t first;              /* the table index of its first backend */
    struct backend_table view; /* its backends: table->backends[first .. first + view.count) */
    struct policy policy;      /* its policy, over view */
};

struct routing {
    struct routing_pool *pools;
    size_t num_pools;
    struct config_route routes[CONFIG_MAX_ROUTES]; /* tried in order */
    size_t num_routes;
    int default_pool; /* where requests no route matches go; -1: lb answers them 404 */
};

/* Builds the pools and routes of cfg over table, which holds cfg's backends in cfg's order
 * (config_group_backends() ran first, so each pool's backends are together). Policies report to
 * health (may be NULL). Returns NULL with a message in err. */
struct routing *routing_create(const struct config *cfg, struct backend_table *table,
                               struct health *health, char *err, size_t err_len);
void routing_destroy(struct routing *rt);

/* The pool request r goes to (route.h), or NULL: no route matches and there is no default. */
struct routing_pool *routing_pick(const struct routing *rt, const struct http_request *r);

/* The default pool (every connection's in -m tcp), or NULL. */
struct routing_pool *routing_default(const struct routing *rt);

/* b's index in pool, or -1 when b is not one of pool's backends. */
int routing_pool_index(const struct routing_pool *pool, const struct backend *b);

#endif
