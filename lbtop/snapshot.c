/*
 * snapshot.c - copying lb's statistics segment into a struct lbtop_snapshot: every counter is a
 * relaxed atomic load, worker blocks are summed, and only the worker and backend counts
 * validated at attach time are used as bounds.
 */
#include "snapshot.h"

#include <string.h>

static inline uint64_t ld(_Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

static void hist_add(struct lbtop_hist *dst, struct stats_hist *src)
{
    uint64_t max = ld(&src->max_ns);

    dst->count += ld(&src->count);
    dst->sum_ns += ld(&src->sum_ns);
    if (max > dst->max_ns)
        dst->max_ns = max;
    for (unsigned i = 0; i < STATS_HIST_BUCKETS; i++)
        dst->buckets[i] += ld(&src->buckets[i]);
}

static void backend_add(struct lbtop_backend_snap *d, struct stats_backend_counters *c)
{
    d->conns_opened += ld(&c->conns_opened);
    d->conns_closed += ld(&c->conns_closed);
    d->conns_reused += ld(&c->conns_reused);
    uint64_t req = ld(&c->requests), done = ld(&c->requests_done);
    d->requests += req;
    d->requests_done += done;
    /* Per worker, so a worker's own order of events holds; never below zero. */
    d->inflight += req > done ? req - done : 0;
    for (unsigned i = 0; i < STATS_STATUS_CLASSES; i++)
        d->responses[i] += ld(&c->responses[i]);
    d->resp_502 += ld(&c->resp_502);
    d->resp_503 += ld(&c->resp_503);
    d->resp_504 += ld(&c->resp_504);
    d->connect_errors += ld(&c->connect_errors);
    d->timeouts += ld(&c->timeouts);
    d->retries += ld(&c->retries);
    d->bytes_in += ld(&c->bytes_in);
    d->bytes_out += ld(&c->bytes_out);
    hist_add(&d->connect, &c->connect);
    hist_add(&d->ttfb, &c->ttfb);
    hist_add(&d->total, &c->total);
}

void lbtop_snapshot_take(const struct stats_shm *shm, struct lbtop_snapshot *out,
                         uint64_t now_mono_ns, uint64_t now_wall_ns)
{
    struct stats_segment *seg = shm->seg;
    struct stats_header *h;

    memset(out, 0, sizeof(*out));
    out->taken_mono_ns = now_mono_ns;
    out->taken_wall_ns = now_wall_ns;
    stats_text_get(out->shm_name, sizeof(out->shm_name), shm->name, sizeof(shm->name));
    if (seg == NULL)
        return;
    h = &seg->header;
    out->pid = h->writer_pid;
    out->mode = h->mode;
    out->nworkers = shm->nworkers;
    out->nbackends = shm->nbackends;
    out->start_wall_ns = h->start_wall_ns;
    out->start_mono_ns = h->start_mono_ns;
    out->heartbeat_mono_ns = ld(&h->heartbeat_mono_ns);
    out->listen_port = h->listen_port;
    out->checks = (h->features & STATS_FEATURE_CHECKS) != 0;
    out->tls = (h->features & STATS_FEATURE_TLS) != 0;
    stats_text_get(out->tls_listen_text, sizeof(out->tls_listen_text), h->tls_listen_text,
                   sizeof(h->tls_listen_text));
    stats_text_get(out->listen_text, sizeof(out->listen_text), h->listen_text,
                   sizeof(h->listen_text));
    stats_text_get(out->policy, sizeof(out->policy), h->policy, sizeof(h->policy));
    stats_text_get(out->lb_version, sizeof(out->lb_version), h->lb_version,
                   sizeof(h->lb_version));
    out->admin_addr = h->admin_addr;
    if (out->admin_addr.family != 4 && out->admin_addr.family != 6)
        memset(&out->admin_addr, 0, sizeof(out->admin_addr));
    out->clients_active = ld(&h->clients_active);
    out->clients_peak = ld(&h->clients_peak);

    for (uint32_t b = 0; b < shm->nbackends; b++) {
        struct stats_backend *src = &seg->backends[b];
        struct lbtop_backend_snap *d = &out->backends[b];
        stats_text_get(d->name, sizeof(d->name), src->name, sizeof(src->name));
        stats_text_get(d->host, sizeof(d->host), src->host, sizeof(src->host));
        stats_text_get(d->pool, sizeof(d->pool), src->pool, sizeof(src->pool));
        d->port = src->port;
        d->state = atomic_load_explicit(&src->state, memory_order_relaxed);
        d->weight = atomic_load_explicit(&src->weight, memory_order_relaxed);
        d->last_change_wall_ns = ld(&src->last_change_wall_ns);
        d->active = ld(&src->active_conns);
        d->peak = ld(&src->peak_conns);
        d->checks_total = ld(&src->checks_total);
        d->checks_failed = ld(&src->checks_failed);
        stats_backend_load_reason(shm, b, d->reason, sizeof(d->reason));
        if (stats_backend_load_resolved(shm, b, &d->resolved) < 0)
            memset(&d->resolved, 0, sizeof(d->resolved));
    }

    for (uint32_t w = 0; w < shm->nworkers; w++) {
        struct stats_worker *wk = &seg->workers[w];
        struct stats_global_counters *g = &wk->global;
        out->clients_accepted += ld(&g->clients_accepted);
        out->clients_closed += ld(&g->clients_closed);
        out->clients_closed_requests += ld(&g->clients_closed_requests);
        uint64_t req = ld(&g->requests), done = 0;
        for (unsigned i = 0; i < STATS_STATUS_CLASSES; i++) {
            uint64_t v = ld(&g->responses[i]);
            out->responses[i] += v;
            done += v;
        }
        out->requests += req;
        out->inflight += req > done ? req - done : 0;
        out->bytes_in += ld(&g->bytes_in);
        out->bytes_out += ld(&g->bytes_out);
        out->client_timeouts += ld(&g->client_timeouts);
        out->bad_requests += ld(&g->bad_requests);
        out->no_backend += ld(&g->no_backend);
        out->tls_handshakes += ld(&g->tls_handshakes);
        out->tls_handshake_failures += ld(&g->tls_handshake_failures);
        out->tls_v12 += ld(&g->tls_v12);
        out->tls_v13 += ld(&g->tls_v13);
        for (uint32_t b = 0; b < shm->nbackends; b++)
            backend_add(&out->backends[b], &wk->backends[b]);
    }

    out->ring_head = stats_ring_head(shm);
    out->nrecent = stats_ring_recent(shm, out->recent, LBTOP_RECENT_MAX);
}

uint64_t lbtop_responses_total(const uint64_t responses[STATS_STATUS_CLASSES])
{
    uint64_t n = 0;

    for (unsigned i = 0; i < STATS_STATUS_CLASSES; i++)
        n += responses[i];
    return n;
}

const char *lbtop_state_name(uint32_t state)
{
    switch (state) {
    case STATS_BACKEND_UP:
        return "UP";
    case STATS_BACKEND_DOWN:
        return "DOWN";
    case STATS_BACKEND_DRAINING:
        return "DRAIN";
    default:
        return "?";
    }
}

const char *lbtop_mode_name(uint32_t mode)
{
    switch (mode) {
    case STATS_MODE_HTTP:
        return "http";
    case STATS_MODE_TCP:
        return "tcp";
    default:
        return "?";
    }
}
