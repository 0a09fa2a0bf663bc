/*
 * dial.c - getting a backend connection (see dial.h).
 *
 * The address tried first is the one that last worked for this backend (backend->preferred,
 * shared by every worker), so a backend with an unreachable IPv6 address and a good IPv4 one
 * costs one failed connect, not one per request.
 */
#include "dial.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "events.h"
#include "health.h"

void dial_init(struct dial *d, struct worker *w, struct endpoint *owner)
{
    *d = (struct dial){.w = w, .owner = owner, .state = DIAL_IDLE};
}

struct routing *dial_use(struct dial *d)
{
    if (d->rt == NULL) {
        d->rt = routing_hold(d->w->routing);
        d->pool = routing_default(d->rt);
    }
    return d->rt;
}

void dial_finish(struct dial *d)
{
    routing_release(d->rt);
    d->rt = NULL;
    d->pool = NULL;
}

/* d->backend's index in d->pool. */
static size_t pool_index(const struct dial *d)
{
    return (size_t)(d->backend - d->pool->view.backends);
}

void dial_release(struct dial *d)
{
    if (d->acquired) {
        policy_released(&d->pool->policy, pool_index(d));
        d->acquired = false;
    }
}

void dial_drop(struct dial *d)
{
    upstream_close(d->w->upstreams, d->up, false);
    d->up = NULL;
    if (d->resolving != NULL) {
        d->resolving->owner = NULL; /* the answer is freed when it comes */
        d->resolving = NULL;
    }
}

int dial_pick(struct dial *d, const char *key, size_t key_len, int preferred)
{
    struct routing_pool *pool = d->pool;
    struct health *h = d->w->health;
    if (d->backend != NULL) {
        policy_mark_tried(d->tried, pool_index(d));
        dial_release(d);
    }
    if (pool == NULL)
        return -1;
    int idx = preferred;
    if (idx >= 0 && h != NULL && !health_take(h, pool->view.backends[idx].index, d->w->now_ms))
        idx = -1; /* chosen otherwise, but its one trial request is taken: the policy decides */
    struct policy_request pr = {.key = key, .key_len = key_len, .tried = d->tried};
    while (idx < 0) {
        idx = policy_pick(&pool->policy, &pr);
        if (idx < 0)
            return -1;
        /* a backend whose ejection is over takes one trial request at a time: when another
         * request holds the trial, this one counts it as tried and asks again */
        if (h != NULL && !health_take(h, pool->view.backends[idx].index, d->w->now_ms)) {
            policy_mark_tried(d->tried, (size_t)idx);
            idx = -1;
        }
    }
    d->backend = &pool->view.backends[idx];
    policy_acquired(&pool->policy, (size_t)idx);
    d->acquired = true;
    d->state = DIAL_IDLE;
    return idx;
}

static void begin_attempt(struct dial *d)
{
    d->start_ms = d->w->now_ms;
    d->t_start_ns = clock_mono_ns();
}

/* The backend could not be reached on any address. */
static void fail(struct dial *d, int err)
{
    dial_drop(d);
    d->state = DIAL_FAILED;
    d->err = err;
    d->failed++;
    events_backend_connect_failed(d->w, d->backend, err); /* it rests, unless err is lb's own */
}

static void ready(struct dial *d)
{
    d->state = DIAL_READY;
    if (d->up->reused) {
        d->connect_ns = 0;
        events_backend_connected(d->w, d->backend, 0, true);
        return;
    }
    d->connect_ns = clock_mono_ns() - d->t_start_ns;
    size_t which = d->num_addrs ? (d->addr_first + d->addr_tried) % d->num_addrs : 0;
    atomic_store_explicit(&d->backend->preferred, (unsigned)which, memory_order_relaxed);
    events_backend_connected(d->w, d->backend, d->connect_ns, false);
}

/* Connects to the current address; on an immediate failure moves to the next one. */
static void try_address(struct dial *d)
{
    for (;;) {
        const struct backend_addr *a = &d->addrs[(d->addr_first + d->addr_tried) % d->num_addrs];
        struct sockaddr_storage ss;
        socklen_t sl = backend_addr_to_sockaddr(a, &ss);
        begin_attempt(d);
        d->state = DIAL_CONNECTING;
        int err = upstream_connect(d->w->upstreams, d->backend, (struct sockaddr *)&ss, sl,
                                   d->owner, &d->up);
        if (err == 0) {
            if (d->up->state == UPSTREAM_READY)
                ready(d);
            return;
        }
        d->up = NULL;
        if (++d->addr_tried >= d->num_addrs) {
            fail(d, err);
            return;
        }
    }
}

/* The current address failed with err: the next one, or FAILED. */
static void next_address(struct dial *d, int err)
{
    dial_drop(d);
    if (d->num_addrs > 0 && ++d->addr_tried < d->num_addrs)
        try_address(d);
    else
        fail(d, err);
}

void dial_start(struct dial *d, bool allow_pool)
{
    struct worker *w = d->w;
    struct backend *b = d->backend;

    d->num_addrs = d->addr_tried = 0;
    if (allow_pool && (d->up = upstream_take_idle(w->upstreams, b, d->owner)) != NULL) {
        ready(d);
        return;
    }
    if (b->on_demand) {
        struct resolve_req *req = calloc(1, sizeof(*req));
        if (req == NULL) {
            fail(d, -ENOMEM);
            return;
        }
        req->backend = b;
        req->rt = routing_hold(d->rt);
        req->reply = &w->replies;
        req->owner = d->owner;
        d->resolving = req;
        d->state = DIAL_RESOLVING;
        begin_attempt(d);
        resolver_submit(w->resolver, req);
        return;
    }
    d->num_addrs = backend_get_addrs(b, d->addrs, BACKEND_MAX_ADDRS);
    if (d->num_addrs == 0) {
        fail(d, -EHOSTUNREACH);
        return;
    }
    d->addr_first = atomic_load_explicit(&b->preferred, memory_order_relaxed) % d->num_addrs;
    try_address(d);
}

void dial_free_resolve(struct resolve_req *req)
{
    routing_release(req->rt);
    free(req);
}

bool dial_resolved(struct dial *d, struct resolve_req *req)
{
    if (d->resolving != req) {
        dial_free_resolve(req);
        return false;
    }
    d->resolving = NULL;
    int err = req->err;
    d->num_addrs = req->num_addrs;
    memcpy(d->addrs, req->addrs, req->num_addrs * sizeof(req->addrs[0]));
    dial_free_resolve(req);
    if (err != 0 || d->num_addrs == 0) {
        d->num_addrs = 0;
        fail(d, err ? err : -EHOSTUNREACH);
    } else {
        d->addr_first = 0;
        d->addr_tried = 0;
        try_address(d);
    }
    return true;
}

void dial_poll(struct dial *d)
{
    if (d->state != DIAL_CONNECTING || d->up == NULL)
        return;
    int rc = upstream_finish_connect(d->up);
    if (rc == 0)
        ready(d);
    else if (rc != -EINPROGRESS)
        next_address(d, rc);
}

void dial_timed_out(struct dial *d)
{
    if (d->state == DIAL_RESOLVING || d->state == DIAL_CONNECTING)
        next_address(d, -ETIMEDOUT);
}
