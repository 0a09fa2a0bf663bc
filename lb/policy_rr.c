/*
 * policy_rr.c - round robin, per request: one shared atomic counter, so consecutive requests go
 * to consecutive backends whichever worker thread handles them (three `curl`s on three new
 * connections still visit b1, b2, b3). Backends already tried for this request, or unusable, are
 * skipped in order, so a retry lands on the next backend.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

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
    uint64_t start = atomic_fetch_add_explicit(&st->next, 1, memory_order_relaxed) % n;
    for (size_t k = 0; k < n; k++) {
        size_t i = (size_t)((start + k) % n);
        if (!policy_tried(req ? req->tried : NULL, i) && policy_backend_usable(p, i))
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
