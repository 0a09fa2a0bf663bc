/*
 * policy_iphash.c - source hashing: the same client address always goes to the same backend,
 * so whatever a backend keeps about a client (a session in memory, a warm cache) is found again,
 * without cookies. HAProxy calls it `balance source`, nginx `ip_hash`.
 *
 * The key (policy_request.key, the client address as text for lb's HTTP sessions; any bytes
 * will do) is hashed and taken modulo the total weight of the non-backup backends, over a table
 * where each backend appears weight times. This is the simple "map-based" hashing on purpose:
 * it is even and cheap, but changing the number of backends moves almost every key (a key stays
 * only if hash mod N and hash mod N-1 agree) - the contrast that policy_hash.c's consistent
 * hashing answers. Backends that rest or fail do not change the table: only the keys of a
 * backend that cannot be picked move, deterministically, to another backend of the best tier of
 * policy.h chosen by a second hash of the key in proportion to weight; the other keys stay put.
 * A request without a key hashes as the empty key.
 */
#include <errno.h>
#include <stdlib.h>

#include "clock.h"
#include "policy.h"

struct iphash_state {
    size_t len;    /* immutable: entries in map */
    uint8_t map[]; /* immutable: backend indexes, each non-backup one weight times */
};

static int iphash_create(struct policy *p)
{
    size_t n = p->table->count, len = 0;
    for (size_t i = 0; i < n; i++)
        if (!p->table->backends[i].backup)
            len += p->table->backends[i].weight;
    struct iphash_state *st = malloc(sizeof(*st) + (len ? len : 1));
    if (st == NULL)
        return -ENOMEM;
    st->len = 0;
    for (size_t i = 0; i < n; i++)
        for (unsigned w = 0; !p->table->backends[i].backup && w < p->table->backends[i].weight;
             w++)
            st->map[st->len++] = (uint8_t)i;
    p->state = st;
    return 0;
}

static int iphash_pick(struct policy *p, const struct policy_request *req)
{
    struct iphash_state *st = p->state;
    size_t n = p->table->count;
    if (n == 0)
        return -1;
    const uint64_t *tried = req ? req->tried : NULL;
    uint64_t now = clock_mono_ms();
    uint64_t h = req && req->key ? policy_hash(req->key, req->key_len, 0) : policy_hash("", 0, 0);
    if (st->len > 0) {
        size_t i = st->map[h % st->len];
        if (policy_tier(p, i, tried, now) == POLICY_TIER_UP)
            return (int)i;
    }
    return policy_weighted_pick(p, tried, now, policy_mix64(h));
}

const struct policy_ops policy_iphash_ops = {
    .name = "iphash",
    .summary = "the client address, hashed modulo the weights: a client stays on one backend",
    .create = iphash_create,
    .pick = iphash_pick,
};
