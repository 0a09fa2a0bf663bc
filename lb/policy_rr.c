/*
 * policy_rr.c - round robin, per request: one shared atomic counter, so consecutive requests go
 * to consecutive backends whichever worker thread handles them (three `curl`s on three new
 * connections still visit b1, b2, b3). Backends already tried for this request, unusable, or
 * resting after a failed connect are skipped by taking the next turn, so the live backends keep
 * equal shares (skipping by scanning would give the one after a dead backend its turns too).
 * Only when no other backend can be picked is a resting one tried.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "clock.h"
#include "policy.h"

struct rr_state {
    _Atomic uint64_t next; /* atomic: the turn counter, wraps harmlessly */
};

static int rr_create(struct policy *p)
{
    struct rr_state *st = malloc(sizeof(*st));
    if (st == NULL)
        return -ENOMEM;
    atomic_init(&st->next, 0);
    p->state = st;
    return 0;
}

static void rr_destroy(struct policy *p)
{
    free(p->state);
}

static int rr_pick(struct policy *p, const struct policy_request *req)
{
    struct rr_state *st = p->state;
    size_t n = p->table->count;
    if (n == 0)
        return -1;
    const uint64_t *tried = req ? req->tried : NULL;
    uint64_t now = clock_mono_ms(), start = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = (size_t)(atomic_fetch_add_explicit(&st->next, 1, memory_order_relaxed) % n);
        if (k == 0)
            start = i;
        if (!policy_tried(tried, i) && policy_backend_usable(p, i) && !policy_backend_down(p, i, now))
            return (int)i;
    }
    /* other threads took turns meanwhile, or every candidate rests: look at each one in order */
    for (int rested = 0; rested < 2; rested++)
        for (size_t k = 0; k < n; k++) {
            size_t i = (size_t)((start + k) % n);
            if (!policy_tried(tried, i) && policy_backend_usable(p, i) &&
                (rested || !policy_backend_down(p, i, now)))
                return (int)i;
        }
    return -1;
}

const struct policy_ops policy_rr_ops = {
    .name = "rr",
    .summary = "round robin, one request at a time",
    .create = rr_create,
    .destroy = rr_destroy,
    .pick = rr_pick,
};
