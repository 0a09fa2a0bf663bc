/*
 * routing.c - the pools and routes as the workers use them (see routing.h).
 */
#include "routing.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

struct routing *routing_create(const struct config *cfg, struct backend_table *table,
                               struct health *health, char *err, size_t err_len)
{
    struct routing *rt = calloc(1, sizeof(*rt));
    if (rt == NULL || (rt->pools = calloc(cfg->num_pools, sizeof(*rt->pools))) == NULL) {
        snprintf(err, err_len, "out of memory");
        free(rt);
        return NULL;
    }
    rt->num_pools = cfg->num_pools;
    for (size_t p = 0; p < cfg->num_pools; p++) {
        struct routing_pool *pool = &rt->pools[p];
        size_t first = table->count, count = 0;
        for (size_t i = 0; i < cfg->num_backends && i < table->count; i++) {
            if (cfg->backends[i].pool != p)
                continue;
            if (count > 0 && i != first + count) {
                snprintf(err, err_len, "pool %s: its backends are not together in the table",
                         cfg->pools[p].name);
                goto fail;
            }
            if (count == 0)
                first = i;
            count++;
        }
        snprintf(pool->name, sizeof(pool->name), "%s", cfg->pools[p].name);
        pool->first = first;
        pool->view.count = count;
        pool->view.backends = count ? &table->backends[first] : table->backends;
        const char *policy = config_pool_policy(cfg, p);
        int rc = policy_init(&pool->policy, policy_find(policy), &pool->view);
        if (rc != 0) {
            snprintf(err, err_len, "pool %s: policy %s: %s", pool->name, policy, strerror(-rc));
            goto fail;
        }
        pool->policy.health = health;
    }
    memcpy(rt->routes, cfg->routes, cfg->num_routes * sizeof(cfg->routes[0]));
    rt->num_routes = cfg->num_routes;
    rt->default_pool = config_default_pool(cfg);
    return rt;

fail:
    routing_destroy(rt);
    return NULL;
}

void routing_destroy(struct routing *rt)
{
    if (rt == NULL)
        return;
    for (size_t p = 0; p < rt->num_pools; p++)
        if (rt->pools[p].policy.ops != NULL)
            policy_fini(&rt->pools[p].policy);
    free(rt->pools);
    free(rt);
}

struct routing_pool *routing_pick(const struct routing *rt, const struct http_request *r)
{
    int p = route_pick(rt->routes, rt->num_routes, rt->default_pool, r);
    return p >= 0 && (size_t)p < rt->num_pools ? &rt->pools[p] : NULL;
}

struct routing_pool *routing_default(const struct routing *rt)
{
    return rt->default_pool >= 0 && (size_t)rt->default_pool < rt->num_pools
               ? &rt->pools[rt->default_pool]
               : NULL;
}

int routing_pool_index(const struct routing_pool *pool, const struct backend *b)
{
    if (b->index < pool->first || b->index - pool->first >= pool->view.count)
        return -1;
    return (int)(b->index - pool->first);
}
