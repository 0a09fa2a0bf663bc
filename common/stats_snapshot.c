/*
 * stats_snapshot.c - copying lb's statistics segment into a struct stats_snapshot: every
 * counter is a relaxed atomic load, worker blocks are summed, and only the worker and backend
 * counts validated at attach time are used as bounds. Also the percentiles of the histograms.
 */
#include "stats_snapshot.h"

#include <stdio.h>
#include <string.h>

static inline uint64_t ld(_Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

static void hist_add(struct stats_snapshot_hist *dst, struct stats_hist *src)
{
    uint64_t max = ld(&src->max_ns);

    dst->count += ld(&src->count);
    dst->sum_ns += ld(&src->sum_ns);
    if (max > dst->max_ns)
        dst->max_ns = max;
    for (unsigned i = 0; i < STATS_HIST_BUCKETS; i++)
        dst->buckets[i] += ld(&src->buckets[i]);
}

/* Reads the counters of one worker's block that a snapshot also keeps per worker. */
static void worker_read(struct stats_snapshot_worker *d, struct stats_global_counters *g)
{
    d->clients_accepted = ld(&g->clients_accepted);
    d->clients_closed = ld(&g->clients_closed);
    d->requests = ld(&g->requests);
    d->bytes_in = ld(&g->bytes_in);
    d->bytes_out = ld(&g->bytes_out);
    d->loop.wakeups = ld(&g->loop_wakeups);
    d->loop.events = ld(&g->loop_events);
    d->loop.held_writes = ld(&g->held_writes);
    d->loop.uring_calls = ld(&g->held_uring_calls);
    d->loop.sendmsg_calls = ld(&g->held_sendmsg_calls);
}

static void backend_add(struct stats_snapshot_backend *d, struct stats_backend_counters *c)
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

char *stats_unique_name(char *out, size_t len, const char *name, unsigned k)
{
    char suffix[16] = "";
    if (k >= 2)
        snprintf(suffix, sizeof(suffix), "#%u", k);
    size_t room = len > strlen(suffix) ? len - strlen(suffix) - 1 : 0;
    snprintf(out, len, "%.*s%s", (int)(strlen(name) < room ? strlen(name) : room), name, suffix);
    return out;
}

/* Gives each backend of a snapshot a name of its own (stats_unique_name()); from the last, so
 * the names counted before each are still the ones lb gave. */
static void unique_names(struct stats_snapshot *s)
{
    uint32_t n = s->nbackends < STATS_MAX_BACKENDS ? s->nbackends : STATS_MAX_BACKENDS;
    for (uint32_t i = n; i-- > 1;) {
        unsigned k = 1;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(s->backends[j].name, s->backends[i].name) == 0)
                k++;
        if (k > 1) {
            char shown[STATS_TEXT_LEN];
            stats_unique_name(shown, sizeof(shown), s->backends[i].name, k);
            memcpy(s->backends[i].name, shown, sizeof(shown));
        }
    }
}

void stats_snapshot_take(const struct stats_shm *shm, struct stats_snapshot *out,
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
    uint32_t nb = stats_shm_backends(shm); /* a reload may have added some */
    out->nbackends = nb;
    out->start_wall_ns = h->start_wall_ns;
    out->start_mono_ns = h->start_mono_ns;
    out->heartbeat_mono_ns = ld(&h->heartbeat_mono_ns);
    out->listen_port = h->listen_port;
    out->checks = (h->features & STATS_FEATURE_CHECKS) != 0;
    out->tls = (h->features & STATS_FEATURE_TLS) != 0;
    out->splice_on = (h->features & STATS_FEATURE_SPLICE) != 0;
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

    for (uint32_t b = 0; b < nb; b++) {
        struct stats_backend *src = &seg->backends[b];
        struct stats_snapshot_backend *d = &out->backends[b];
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
        struct stats_snapshot_worker one; /* read once: the totals are the sums of these */
        worker_read(&one, g);
        if (w < STATS_SNAPSHOT_WORKERS)
            out->workers[w] = one;
        out->clients_accepted += one.clients_accepted;
        out->clients_closed += one.clients_closed;
        out->clients_closed_requests += ld(&g->clients_closed_requests);
        uint64_t req = one.requests, done = 0;
        for (unsigned i = 0; i < STATS_STATUS_CLASSES; i++) {
            uint64_t v = ld(&g->responses[i]);
            out->responses[i] += v;
            done += v;
        }
        out->requests += req;
        out->inflight += req > done ? req - done : 0;
        out->bytes_in += one.bytes_in;
        out->bytes_out += one.bytes_out;
        out->client_timeouts += ld(&g->client_timeouts);
        out->bad_requests += ld(&g->bad_requests);
        out->no_backend += ld(&g->no_backend);
        out->tls_handshakes += ld(&g->tls_handshakes);
        out->tls_handshake_failures += ld(&g->tls_handshake_failures);
        out->tls_v12 += ld(&g->tls_v12);
        out->tls_v13 += ld(&g->tls_v13);
        out->tls_resumed += ld(&g->tls_resumed);
        out->loop.wakeups += one.loop.wakeups;
        out->loop.events += one.loop.events;
        out->loop.held_writes += one.loop.held_writes;
        out->loop.uring_calls += one.loop.uring_calls;
        out->loop.sendmsg_calls += one.loop.sendmsg_calls;
        out->splice.bytes += ld(&g->spliced_bytes);
        out->splice.transfers += ld(&g->splice_transfers);
        out->splice.pipes_made += ld(&g->splice_pipes_made);
        for (uint32_t b = 0; b < nb; b++)
            backend_add(&out->backends[b], &wk->backends[b]);
    }

    unique_names(out);
    out->ring_head = stats_ring_head(shm);
    out->nrecent = stats_ring_recent(shm, out->recent, STATS_SNAPSHOT_RECENT);
}

uint64_t stats_responses_total(const uint64_t responses[STATS_STATUS_CLASSES])
{
    uint64_t n = 0;

    for (unsigned i = 0; i < STATS_STATUS_CLASSES; i++)
        n += responses[i];
    return n;
}

const char *stats_state_name(uint32_t state)
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

const char *stats_mode_name(uint32_t mode)
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

/* ---- percentiles --------------------------------------------------------------------------- */

static uint64_t delta(uint64_t from, uint64_t to)
{
    return to >= from ? to - from : 0;
}

static uint64_t bucket_count(const struct stats_snapshot_hist *h,
                             const struct stats_snapshot_hist *base, unsigned i)
{
    return base ? delta(base->buckets[i], h->buckets[i]) : h->buckets[i];
}

static uint64_t hist_total(const struct stats_snapshot_hist *h,
                           const struct stats_snapshot_hist *base)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < STATS_HIST_BUCKETS; i++)
        n += bucket_count(h, base, i);
    return n;
}

uint64_t stats_hist_quantile_us(const struct stats_snapshot_hist *h,
                                const struct stats_snapshot_hist *base, double p)
{
    uint64_t total = hist_total(h, base), cum = 0, rank, max_us = (h->max_ns + 999) / 1000;

    if (total == 0)
        return 0;
    if (!(p > 0))
        p = 0;
    if (p > 1)
        p = 1;
    double exact = p * (double)total;
    rank = (uint64_t)exact; /* rounded up below: the smallest rank covering p */
    if ((double)rank < exact)
        rank++;
    if (rank == 0)
        rank = 1;
    if (rank > total)
        rank = total;
    for (unsigned i = 0; i < STATS_HIST_BUCKETS; i++) {
        cum += bucket_count(h, base, i);
        if (cum >= rank) {
            uint64_t v = i + 1 < STATS_HIST_BUCKETS ? stats_hist_bucket_high(i) - 1 : max_us;
            return v < max_us ? v : max_us;
        }
    }
    return max_us;
}

void stats_hist_percentiles(const struct stats_snapshot_hist *h,
                            const struct stats_snapshot_hist *base, struct stats_percentiles *out)
{
    uint64_t n = hist_total(h, base);
    uint64_t sum = base ? delta(base->sum_ns, h->sum_ns) : h->sum_ns;

    memset(out, 0, sizeof(*out));
    out->count = n;
    if (n == 0)
        return;
    out->p50_ms = (double)stats_hist_quantile_us(h, base, 0.50) / 1000.0;
    out->p90_ms = (double)stats_hist_quantile_us(h, base, 0.90) / 1000.0;
    out->p99_ms = (double)stats_hist_quantile_us(h, base, 0.99) / 1000.0;
    out->max_ms = (double)h->max_ns / 1e6;
    if (base != NULL) {
        /* The lifetime maximum may predate the reset: bound it by the highest bucket used. */
        for (unsigned i = STATS_HIST_BUCKETS; i-- > 0;) {
            if (bucket_count(h, base, i) > 0) {
                double top = i + 1 < STATS_HIST_BUCKETS
                                 ? (double)stats_hist_bucket_high(i) / 1000.0
                                 : out->max_ms;
                if (top < out->max_ms)
                    out->max_ms = top;
                break;
            }
        }
    }
    if (out->max_ms < out->p99_ms)
        out->max_ms = out->p99_ms;
    out->mean_ms = (double)sum / (double)n / 1e6;
}

void stats_hist_merge(struct stats_snapshot_hist *dst, const struct stats_snapshot_hist *src)
{
    dst->count += src->count;
    dst->sum_ns += src->sum_ns;
    if (src->max_ns > dst->max_ns)
        dst->max_ns = src->max_ns;
    for (unsigned i = 0; i < STATS_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
}

double stats_requests_per_conn(const struct stats_snapshot *s)
{
    if (s->clients_closed > 0)
        return (double)s->clients_closed_requests / (double)s->clients_closed;
    if (s->clients_accepted > 0)
        return (double)s->requests / (double)s->clients_accepted;
    return 0;
}
