/*
 * policy_hash.c - consistent hashing on a key (--hash-key: the path, a header, a cookie; the
 * client address by default): a key keeps its backend, and when a backend goes away only the
 * keys it had move - about 1/N of them with N backends - instead of nearly all of them as with
 * hash modulo N (policy_iphash.c). Caches behind a balancer keep their hit rate that way.
 *
 * We use a ring of virtual nodes (Karger et al.; ketama): each backend puts POINTS_PER_WEIGHT x
 * weight points on a 64-bit circle, at hashes of its name, and a key belongs to the first point
 * at or after the key's hash. We chose the ring over Maglev (Google's lookup table) because:
 *  - removing a backend moves only that backend's keys, exactly; Maglev's table rebuild also
 *    moves a few keys between the backends that stay, which is harder to explain and to test;
 *  - "the next point clockwise" is a natural, deterministic fall-over when a key's backend is
 *    down, and since a backend's points are scattered, its keys spread over all the others;
 *  - weights are just more points.
 * Maglev's strengths - O(1) lookup and a slightly more even spread for the same memory - matter
 * little here: a lookup is a binary search over at most RING_MAX_POINTS points (18 steps).
 *
 * Points are hashes of backend names (name= or "host:port"), never of indexes, so a backend
 * keeps its points when another one is removed from the command line.
 *
 * Fall-over: when the key's own backend cannot be picked as UP, the key goes to the next point
 * clockwise whose backend is in the best tier of policy.h (an UP one, else a backup, ...).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "policy.h"

/* Points per unit of weight: 160 (ketama's number) keeps each backend's share within about
 * 10% of its fair share; fewer are used when the total would exceed RING_MAX_POINTS. */
#define POINTS_PER_WEIGHT 160
#define RING_MAX_POINTS (1u << 18)

/* The seed of key hashes, apart from the seeds 0.. of the points. */
#define KEY_SEED 0x6b6579u

struct ring_point {
    uint64_t hash;
    uint32_t index; /* backend index */
};

struct hash_state {
    size_t len;                 /* immutable: points on the ring */
    struct ring_point points[]; /* immutable: sorted by hash, then index */
};

static int point_cmp(const void *a, const void *b)
{
    const struct ring_point *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int hash_create(struct policy *p)
{
    size_t n = p->table->count, total = 0;
    for (size_t i = 0; i < n; i++)
        total += p->table->backends[i].weight;
    size_t per = POINTS_PER_WEIGHT;
    if (total > 0 && total * per > RING_MAX_POINTS)
        per = RING_MAX_POINTS / total; /* total <= 256 x 256, so per >= 4 */
    struct hash_state *st = malloc(sizeof(*st) + (total ? total * per : 1) * sizeof(st->points[0]));
    if (st == NULL)
        return -ENOMEM;
    st->len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = p->table->backends[i].name;
        size_t points = per * p->table->backends[i].weight;
        for (size_t k = 0; k < points; k++)
            st->points[st->len++] =
                (struct ring_point){.hash = policy_hash(name, strlen(name), k), .index = (uint32_t)i};
    }
    qsort(st->points, st->len, sizeof(st->points[0]), point_cmp);
    p->state = st;
    return 0;
}

/* The position of the first point at or after h, wrapping to 0. */
static size_t ring_find(const struct hash_state *st, uint64_t h)
{
    size_t lo = 0, hi = st->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->points[mid].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == st->len ? 0 : lo;
}

static int hash_pick(struct policy *p, const struct policy_request *req)
{
    struct hash_state *st = p->state;
    if (p->table->count == 0 || st->len == 0)
        return -1;
    const uint64_t *tried = req ? req->tried : NULL;
    uint64_t now = clock_mono_ms();
    uint64_t h = req && req->key ? policy_hash(req->key, req->key_len, KEY_SEED)
                                 : policy_hash("", 0, KEY_SEED);
    size_t pos = ring_find(st, h);
    if (policy_tier(p, st->points[pos].index, tried, now) == POLICY_TIER_UP)
        return (int)st->points[pos].index;
    uint8_t tiers[POLICY_MAX_BACKENDS];
    enum policy_tier best = policy_tiers(p, tried, now, tiers);
    if (best == POLICY_TIER_NONE)
        return -1;
    for (size_t k = 0; k < st->len; k++) {
        const struct ring_point *pt = &st->points[(pos + k) % st->len];
        if (tiers[pt->index] == best)
            return (int)pt->index;
    }
    return -1;
}

const struct policy_ops policy_hash_ops = {
    .name = "hash",
    .summary = "consistent hashing (a ring of virtual nodes) on --hash-key",
    .create = hash_create,
    .pick = hash_pick,
};
