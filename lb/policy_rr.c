/*
 * policy_rr.c - round robin, per request: one shared atomic counter, so consecutive requests go
 * to consecutive backends whichever worker thread handles them (three `curl`s on three new
 * connections still visit b1, b2, b3). Backends already tried for this request, unusable,
 * resting after a failed connect, or backups are skipped by taking the next turn, so the live
 * backends keep equal shares (skipping by scanning would give the one after a dead backend its
 * turns too). Only when no such backend can be picked do the next tiers of policy.h (backups,
 * then resting ones) take turns, on a second counter.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "clock.h"
#include "policy.h"

struct rr_state {
    _Atomic uint64_t next;  /* atomic: the turn counter, wraps harmlessly */
    _Atomic uint64_t spare; /* atomic: the turns when no UP backend can be picked */
};

static int rr_create(struct policy *p)
{
    struct rr_state *st = malloc(sizeof(*st));
    if (st == NULL)
        return -ENOMEM;
    atomic_init(&st->next, 0);
    atomic_init(&st->spare, 0);
    p->state = st;
    return 0;
}

static int rr_pick(struct policy *p, const struct policy_request *req)
{
    struct rr_state *st = p->state;
    size_t n = p->table->count;
    if (n == 0)
        return -1;
    const uint64_t *tried = req ? req->tried : NULL;
    uint64_t now = clock_mono_ms();
    for (size_t k = 0; k < n; k++) {
        size_t i = (size_t)(atomic_fetch_add_explicit(&st->next, 1, memory_order_relaxed) % n);
        if (policy_tier(p, i, tried, now) == POLICY_TIER_UP)
            return (int)i;
    }
    /* other threads took turns meanwhile, or no backend is UP: the best tier takes turns */
    uint8_t tiers[POLICY_MAX_BACKENDS];
    enum policy_tier best = policy_tiers(p, tried, now, tiers);
    if (best == POLICY_TIER_NONE)
        return -1;
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += tiers[i] == best;
    size_t nth = (size_t)(atomic_fetch_add_explicit(&st->spare, 1, memory_order_relaxed) % count);
    for (size_t i = 0; i < n; i++)
        if (tiers[i] == best && nth-- == 0)
            return (int)i;
    return -1;
}

const struct policy_ops policy_rr_ops = {
    .name = "rr",
    .summary = "round robin, one request at a time",
    .create = rr_create,
    .pick = rr_pick,
};
