/*
 * routing.c - snapshots of the backends, pools and routes lb serves (see routing.h).
 */
#include "routing.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "tls_context.h"

/* Frees everything rt holds (also a half-built one). */
static void destroy(struct routing *rt)
{
    for (size_t p = 0; p < rt->num_pools; p++)
        if (rt->pools[p].policy.ops != NULL)
            policy_fini(&rt->pools[p].policy);
    free(rt->pools);
    sticky_fini(&rt->sticky);
    free(rt->health_paths);
    for (size_t i = 0; rt->table != NULL && i < rt->table->count; i++)
        tls_client_ctx_free(rt->table->backends[i].tls_ctx);
    backend_table_destroy(rt->table);
    free(rt);
}

/* The backend table of cfg's backends, each with what the configuration says about it. */
static struct backend_table *make_table(const struct config *cfg, char *err, size_t err_len)
{
    size_t n = cfg->num_backends;
    const char **hosts = calloc(n ? n : 1, sizeof(*hosts));
    uint16_t *ports = calloc(n ? n : 1, sizeof(*ports));
    struct backend_table *t = NULL;

    if (hosts == NULL || ports == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        hosts[i] = cfg->backends[i].host;
        ports[i] = cfg->backends[i].port;
    }
    t = backend_table_create(hosts, ports, n);
    if (t == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        const struct config_backend *cb = &cfg->backends[i];
        backend_set_options(&t->backends[i], cb->name, cb->weight, cb->backup);
        backend_set_send_proxy(&t->backends[i], cb->send_proxy);
        if (cb->tls && backend_set_tls(&t->backends[i], cb->tls_ca, cb->tls_sni, err,
                                       err_len) != 0) {
            for (size_t k = 0; k < i; k++)
                tls_client_ctx_free(t->backends[k].tls_ctx);
            backend_table_destroy(t);
            t = NULL;
            goto out;
        }
    }
    goto out;
nomem:
    snprintf(err, err_len, "out of memory");
out:
    free(hosts);
    free(ports);
    return t;
}

/* The backend of prev named name whose slot rt has not given yet, or NULL. (The same
 * "host:port" may be a backend of two pools: the k-th of a name keeps the k-th's slot.) */
static struct backend *previous(const struct routing *prev, const struct routing *rt,
                                const char *name)
{
    if (prev == NULL)
        return NULL;
    for (size_t i = 0; i < prev->table->count; i++) {
        struct backend *b = &prev->table->backends[i];
        if (strcmp(b->name, name) == 0 && rt->by_slot[b->index] == NULL)
            return b;
    }
    return NULL;
}

/* Gives each backend of rt->table its slot: prev's of the same name, else a new one. */
static int assign_slots(struct routing *rt, const struct routing *prev,
                        struct routing_slots *slots, char *err, size_t err_len)
{
    struct backend_table *t = rt->table;
    for (size_t i = 0; i < t->count; i++) {
        struct backend *b = &t->backends[i];
        struct backend *old = previous(prev, rt, b->name);
        size_t slot;
        if (old != NULL) {
            slot = old->index;
            /* the same host and port: the addresses found for it still hold */
            if (strcmp(old->host, b->host) == 0 && old->port == b->port) {
                struct backend_addr addrs[BACKEND_MAX_ADDRS];
                size_t n = backend_get_addrs(old, addrs, BACKEND_MAX_ADDRS);
                if (n > 0 && !b->numeric)
                    backend_publish_addrs(b, addrs, n);
            }
        } else {
            /* a slot no backend ever had; when all were used, one that nobody has now */
            slot = slots->next;
            for (size_t s = 0; slot >= ROUTING_MAX_SLOTS && s < ROUTING_MAX_SLOTS; s++)
                if (rt->by_slot[s] == NULL && (prev == NULL || prev->by_slot[s] == NULL))
                    slot = s;
            if (slot >= ROUTING_MAX_SLOTS) {
                snprintf(err, err_len, "no slot left for backend %s (at most %d at once)",
                         b->name, ROUTING_MAX_SLOTS);
                return -ENOSPC;
            }
            if (slot == slots->next)
                slots->next++;
        }
        b->index = slot;
        rt->by_slot[slot] = b;
    }
    return 0;
}

struct routing *routing_create(const struct config *cfg, const struct routing *prev,
                               struct routing_slots *slots, struct health *health,
                               uint64_t sticky_key, char *err, size_t err_len)
{
    struct routing *rt = calloc(1, sizeof(*rt));
    if (rt == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    atomic_init(&rt->refs, 1);
    rt->generation = prev != NULL ? prev->generation + 1 : 1;
    rt->table = make_table(cfg, err, err_len);
    if (rt->table == NULL)
        goto fail;
    if (assign_slots(rt, prev, slots, err, err_len) != 0)
        goto fail;
    rt->pools = calloc(cfg->num_pools ? cfg->num_pools : 1, sizeof(*rt->pools));
    rt->health_paths = calloc(cfg->num_backends ? cfg->num_backends : 1,
                              sizeof(*rt->health_paths));
    if (rt->pools == NULL || rt->health_paths == NULL)
        goto nomem;
    rt->num_pools = cfg->num_pools;
    for (size_t p = 0; p < cfg->num_pools; p++) {
        struct routing_pool *pool = &rt->pools[p];
        size_t first = 0, count = 0;
        snprintf(pool->name, sizeof(pool->name), "%s", cfg->pools[p].name);
        snprintf(pool->health_path, sizeof(pool->health_path), "%s",
                 config_pool_health_path(cfg, p));
        for (size_t i = 0; i < cfg->num_backends; i++) {
            if (cfg->backends[i].pool != p)
                continue;
            if (count > 0 && i != first + count) {
                snprintf(err, err_len, "pool %s: its backends are not together in the table",
                         pool->name);
                goto fail;
            }
            if (count++ == 0)
                first = i;
            rt->health_paths[i] = pool->health_path;
            rt->any_checks = rt->any_checks || pool->health_path[0] != '\0';
        }
        pool->view.count = count;
        pool->view.backends = &rt->table->backends[first];
        const char *policy = config_pool_policy(cfg, p);
        int rc = policy_init(&pool->policy, policy_find(policy), &pool->view);
        if (rc != 0) {
            snprintf(err, err_len, "pool %s: policy %s: %s", pool->name, policy, strerror(-rc));
            goto fail;
        }
        pool->policy.health = health;
    }
    int rc = sticky_init_with_key(&rt->sticky, rt->table, cfg->sticky_cookie, sticky_key);
    if (rc != 0) {
        snprintf(err, err_len, "--sticky-cookie: %s", strerror(-rc));
        goto fail;
    }
    memcpy(rt->routes, cfg->routes, cfg->num_routes * sizeof(cfg->routes[0]));
    rt->num_routes = cfg->num_routes;
    rt->default_pool = config_default_pool(cfg);
    return rt;

nomem:
    snprintf(err, err_len, "out of memory");
fail:
    destroy(rt);
    return NULL;
}

struct routing *routing_hold(struct routing *rt)
{
    if (rt != NULL)
        atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);
    return rt;
}

void routing_release(struct routing *rt)
{
    if (rt != NULL && atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_acq_rel) == 1)
        destroy(rt);
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
    for (size_t i = 0; i < pool->view.count; i++)
        if (&pool->view.backends[i] == b)
            return (int)i;
    return -1;
}

int routing_position(const struct routing *rt, const struct backend *b)
{
    if (b->index >= ROUTING_MAX_SLOTS || rt->by_slot[b->index] != b)
        return -1;
    for (size_t i = 0; i < rt->table->count; i++)
        if (&rt->table->backends[i] == b)
            return (int)i;
    return -1;
}

struct backend *routing_find(const struct routing *rt, const char *name, size_t len)
{
    for (size_t i = 0; i < rt->table->count; i++)
        if (strlen(rt->table->backends[i].name) == len &&
            memcmp(rt->table->backends[i].name, name, len) == 0)
            return &rt->table->backends[i];
    return NULL;
}
