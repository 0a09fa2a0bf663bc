/*
 * policy_wrr.c - smooth weighted round robin, as nginx does it: each backend gets turns in
 * proportion to its weight, and the turns are spread out rather than bunched (weights 5, 1, 1
 * give a a b a c a a, never a a a a a b c), so a heavy backend never sees a burst.
 *
 * nginx's algorithm keeps a "current weight" per backend: at each pick every backend's current
 * weight grows by its weight, the largest wins (the first one on ties) and loses the sum of all
 * weights. That state changes on every pick, which would need a lock when every worker thread
 * picks at once. But with fixed weights the picks repeat with a period of the sum of the weights,
 * so we run nginx's algorithm once at start-up and keep one period as a table: a pick is then one
 * atomic counter into the table, exactly as cheap as round robin, and the threads together walk
 * nginx's sequence. Backups are left out of the table.
 *
 * A backend that cannot be picked (tried, unusable, resting) is skipped by taking the next turn,
 * as round robin does, so its turns go to the backends after it in the sequence. After a bounded
 * number of turns, or when no non-backup backend is UP, the best tier of policy.h is served in
 * proportion to weight on a second counter.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "clock.h"
#include "policy.h"

/* Turns taken on the table before giving up on it for one pick. */
#define WRR_EXTRA_TURNS 8

struct wrr_state {
    _Atomic uint64_t next;  /* atomic: the turn counter into seq */
    _Atomic uint64_t spare; /* atomic: the turns of the fallback */
    size_t len;             /* immutable: entries in seq, the sum of the non-backup weights */
    uint8_t seq[];          /* immutable: one period of smooth WRR, backend indexes */
};

static int wrr_create(struct policy *p)
{
    size_t n = p->table->count, len = 0;
    for (size_t i = 0; i < n; i++)
        if (!p->table->backends[i].backup)
            len += p->table->backends[i].weight;
    struct wrr_state *st = malloc(sizeof(*st) + (len ? len : 1));
    long *cur = calloc(n ? n : 1, sizeof(*cur));
    if (st == NULL || cur == NULL) {
        free(st);
        free(cur);
        return -ENOMEM;
    }
    atomic_init(&st->next, 0);
    atomic_init(&st->spare, 0);
    st->len = len;
    for (size_t k = 0; k < len; k++) {
        size_t best = n;
        for (size_t i = 0; i < n; i++) {
            if (p->table->backends[i].backup)
                continue;
            cur[i] += (long)p->table->backends[i].weight;
            if (best == n || cur[i] > cur[best])
                best = i;
        }
        cur[best] -= (long)len;
        st->seq[k] = (uint8_t)best;
    }
    free(cur);
    p->state = st;
    return 0;
}

static int wrr_pick(struct policy *p, const struct policy_request *req)
{
    struct wrr_state *st = p->state;
    size_t n = p->table->count;
    if (n == 0)
        return -1;
    const uint64_t *tried = req ? req->tried : NULL;
    uint64_t now = clock_mono_ms();
    size_t turns = st->len < n + WRR_EXTRA_TURNS ? st->len : n + WRR_EXTRA_TURNS;
    for (size_t k = 0; k < turns; k++) {
        uint64_t t = atomic_fetch_add_explicit(&st->next, 1, memory_order_relaxed);
        size_t i = st->seq[t % st->len];
        if (policy_tier(p, i, tried, now) == POLICY_TIER_UP)
            return (int)i;
    }
    return policy_weighted_pick(p, tried, now,
                                atomic_fetch_add_explicit(&st->spare, 1, memory_order_relaxed));
}

const struct policy_ops policy_wrr_ops = {
    .name = "wrr",
    .summary = "smooth weighted round robin (nginx's): turns in proportion to weight, spread out",
    .create = wrr_create,
    .pick = wrr_pick,
};
