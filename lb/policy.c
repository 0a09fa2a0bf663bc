/*
 * policy.c - the registry of scheduling policies and the thin wrappers around their ops.
 * Adding a policy: write policy_NAME.c with a struct policy_ops, declare it in policy.h, list it
 * in policy_registry below.
 */
#include "policy.h"

#include "health.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct policy_ops *const policy_registry[] = {
    &policy_rr_ops,
    &policy_wrr_ops,
    &policy_leastconn_ops,
    &policy_p2c_ops,
    &policy_iphash_ops,
    &policy_hash_ops,
    NULL,
};

const struct policy_ops *policy_find(const char *name)
{
    for (size_t i = 0; policy_registry[i] != NULL; i++)
        if (strcmp(policy_registry[i]->name, name) == 0)
            return policy_registry[i];
    return NULL;
}

const char *policy_names(void)
{
    static char names[256];
    size_t off = 0;
    names[0] = '\0';
    for (size_t i = 0; policy_registry[i] != NULL && off < sizeof(names); i++)
        off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s", i ? ", " : "",
                                policy_registry[i]->name);
    return names;
}

int policy_init(struct policy *p, const struct policy_ops *ops, struct backend_table *table)
{
    p->ops = ops;
    p->table = table;
    p->health = NULL; /* main() sets it after init */
    p->state = NULL;
    if (table->count > POLICY_MAX_BACKENDS)
        return -E2BIG;
    return ops->create ? ops->create(p) : 0;
}

void policy_fini(struct policy *p)
{
    if (p->ops != NULL && p->ops->destroy != NULL)
        p->ops->destroy(p);
    else
        free(p->state); /* a state that is one malloc()ed block needs no destroy op */
    p->ops = NULL;
    p->state = NULL;
}

int policy_pick(struct policy *p, const struct policy_request *req)
{
    return p->ops->pick(p, req);
}

void policy_acquired(struct policy *p, size_t index)
{
    if (p->ops->acquired != NULL)
        p->ops->acquired(p, index);
}

void policy_released(struct policy *p, size_t index)
{
    if (p->ops->released != NULL)
        p->ops->released(p, index);
}

bool policy_backend_usable(const struct policy *p, size_t i)
{
    struct backend *b = &p->table->backends[i];
    /* with --dns-ttl 0 a name is resolved when needed, so it is worth a try */
    return backend_has_addrs(b) || b->on_demand;
}

bool policy_backend_down(const struct policy *p, size_t i, uint64_t now_ms)
{
    /* health knows a backend by its index in the whole table, the policy by its pool's */
    return p->health != NULL && !health_usable(p->health, p->table->backends[i].index, now_ms);
}

enum policy_tier policy_tier(const struct policy *p, size_t i, const uint64_t *tried,
                             uint64_t now_ms)
{
    if (policy_tried(tried, i) || !policy_backend_usable(p, i))
        return POLICY_TIER_NONE;
    if (p->health != NULL &&
        health_state(p->health, p->table->backends[i].index) == HEALTH_DRAINING)
        return POLICY_TIER_NONE;
    bool backup = p->table->backends[i].backup;
    if (policy_backend_down(p, i, now_ms))
        return backup ? POLICY_TIER_BACKUP_RESTING : POLICY_TIER_RESTING;
    return backup ? POLICY_TIER_BACKUP : POLICY_TIER_UP;
}

enum policy_tier policy_tiers(const struct policy *p, const uint64_t *tried, uint64_t now_ms,
                              uint8_t tiers[])
{
    enum policy_tier best = POLICY_TIER_NONE;
    for (size_t i = 0; i < p->table->count; i++) {
        enum policy_tier t = policy_tier(p, i, tried, now_ms);
        tiers[i] = (uint8_t)t;
        if (t < best)
            best = t;
    }
    return best;
}

int policy_weighted_pick(const struct policy *p, const uint64_t *tried, uint64_t now_ms,
                         uint64_t r)
{
    uint8_t tiers[POLICY_MAX_BACKENDS];
    enum policy_tier best = policy_tiers(p, tried, now_ms, tiers);
    if (best == POLICY_TIER_NONE)
        return -1;
    size_t n = p->table->count;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        if (tiers[i] == best)
            sum += p->table->backends[i].weight;
    uint64_t w = r % sum;
    for (size_t i = 0; i < n; i++) {
        if (tiers[i] != best)
            continue;
        if (w < p->table->backends[i].weight)
            return (int)i;
        w -= p->table->backends[i].weight;
    }
    return -1;
}

uint64_t policy_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

uint64_t policy_hash(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *b = data;
    uint64_t h = 0xcbf29ce484222325ull ^ policy_mix64(seed);
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return policy_mix64(h ^ len);
}
