/*
 * model.c - turning snapshots into rates, sparkline histories, percentiles and row orders.
 *
 * Rates come from a small ring of counter samples (LBTOP_WINDOW + 1 of them): the rate is the
 * difference between the newest and the oldest sample over the time between them, which smooths
 * one-second jitter without hiding a change for long. Counters that go backwards are treated as
 * zero progress (they only do so when the segment is corrupt; a restarted lb clears the model).
 */
#include "model.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int lbtop_model_init(struct lbtop_model *m)
{
    memset(m, 0, sizeof(*m));
    m->cur = calloc(1, sizeof(*m->cur));
    m->base = calloc(1, sizeof(*m->base));
    if (m->cur == NULL || m->base == NULL) {
        lbtop_model_free(m);
        return -ENOMEM;
    }
    return 0;
}

void lbtop_model_free(struct lbtop_model *m)
{
    free(m->cur);
    free(m->base);
    memset(m, 0, sizeof(*m));
}

void lbtop_model_clear(struct lbtop_model *m)
{
    struct stats_snapshot *cur = m->cur, *base = m->base;

    memset(m, 0, sizeof(*m));
    m->cur = cur;
    m->base = base;
}

static uint64_t delta(uint64_t from, uint64_t to)
{
    return to >= from ? to - from : 0;
}

static void sample_from(struct lbtop_sample *s, const struct stats_snapshot *snap)
{
    memset(s, 0, sizeof(*s));
    s->t_ns = snap->taken_mono_ns;
    s->global.requests = snap->requests;
    s->global.conns = snap->clients_accepted;
    s->global.bytes_in = snap->bytes_in;
    s->global.bytes_out = snap->bytes_out;
    s->loop = snap->loop;
    s->splice = snap->splice;
    for (uint32_t w = 0; w < snap->nworkers && w < STATS_SNAPSHOT_WORKERS; w++) {
        const struct stats_snapshot_worker *ws = &snap->workers[w];
        struct lbtop_worker_counts *c = &s->worker[w];
        c->requests = ws->requests;
        c->conns = ws->clients_accepted;
        c->loop = ws->loop;
    }
    for (uint32_t b = 0; b < snap->nbackends && b < STATS_MAX_BACKENDS; b++) {
        const struct stats_snapshot_backend *bs = &snap->backends[b];
        s->backend[b].requests = bs->requests;
        s->backend[b].conns = bs->conns_opened;
        s->backend[b].bytes_in = bs->bytes_in;
        s->backend[b].bytes_out = bs->bytes_out;
    }
}

static void rates_between(struct lbtop_rates *r, const struct lbtop_counts *a,
                          const struct lbtop_counts *b, double secs)
{
    if (secs <= 0) {
        memset(r, 0, sizeof(*r));
        return;
    }
    r->req_s = (double)delta(a->requests, b->requests) / secs;
    r->conn_s = (double)delta(a->conns, b->conns) / secs;
    r->in_s = (double)delta(a->bytes_in, b->bytes_in) / secs;
    r->out_s = (double)delta(a->bytes_out, b->bytes_out) / secs;
}

static void splice_between(struct lbtop_splice *sp, const struct lbtop_sample *a,
                           const struct lbtop_sample *b, double secs)
{
    memset(sp, 0, sizeof(*sp));
    uint64_t bytes = delta(a->splice.bytes, b->splice.bytes);
    uint64_t moved = delta(a->global.bytes_in, b->global.bytes_in) +
                     delta(a->global.bytes_out, b->global.bytes_out);
    uint64_t transfers = delta(a->splice.transfers, b->splice.transfers);
    uint64_t made = delta(a->splice.pipes_made, b->splice.pipes_made);
    if (secs > 0) {
        sp->bytes_s = (double)bytes / secs;
        sp->transfers_s = (double)transfers / secs;
    }
    if (moved > 0)
        sp->share = bytes < moved ? (double)bytes / (double)moved : 1.0;
    if (transfers > 0)
        sp->cached_share = made < transfers ? (double)(transfers - made) / (double)transfers : 0;
}

static void loop_between(struct lbtop_loop *l, const struct stats_snapshot_loop *a,
                         const struct stats_snapshot_loop *b, double secs)
{
    memset(l, 0, sizeof(*l));
    uint64_t wakeups = delta(a->wakeups, b->wakeups), writes = delta(a->held_writes, b->held_writes);
    uint64_t uring = delta(a->uring_calls, b->uring_calls);
    uint64_t calls = uring + delta(a->sendmsg_calls, b->sendmsg_calls);
    if (secs > 0) {
        l->wakeups_s = (double)wakeups / secs;
        l->held_writes_s = (double)writes / secs;
    }
    if (wakeups > 0)
        l->events_per_wakeup = (double)delta(a->events, b->events) / (double)wakeups;
    if (calls > 0) {
        l->writes_per_call = (double)writes / (double)calls;
        l->uring_share = (double)uring / (double)calls;
    }
}

static void workers_between(struct lbtop_model *m, const struct lbtop_sample *a,
                            const struct lbtop_sample *b, double secs)
{
    for (unsigned w = 0; w < STATS_SNAPSHOT_WORKERS; w++) {
        const struct lbtop_worker_counts *x = &a->worker[w], *y = &b->worker[w];
        struct lbtop_worker_rates *r = &m->worker_rate[w];
        r->req_s = secs > 0 ? (double)delta(x->requests, y->requests) / secs : 0;
        r->conn_s = secs > 0 ? (double)delta(x->conns, y->conns) / secs : 0;
        loop_between(&r->loop, &x->loop, &y->loop, secs);
    }
}

static void history_push(struct lbtop_history *h, double v)
{
    if (h->n == LBTOP_HISTORY) {
        memmove(h->v, h->v + 1, (LBTOP_HISTORY - 1) * sizeof(h->v[0]));
        h->n--;
    }
    h->v[h->n++] = (float)v;
}

static const struct lbtop_sample *window_at(const struct lbtop_model *m, unsigned age)
{
    /* age 0: newest */
    unsigned cap = LBTOP_WINDOW + 1;
    return &m->window[(m->window_next + cap - 1 - age) % cap];
}

/* Whether snap comes from another lb run than the current snapshot. */
static bool another_run(const struct lbtop_model *m, const struct stats_snapshot *snap)
{
    const struct stats_snapshot *c = m->cur;

    return c->pid != snap->pid || c->start_mono_ns != snap->start_mono_ns ||
           c->nbackends != snap->nbackends || snap->requests < c->requests ||
           snap->clients_accepted < c->clients_accepted;
}

void lbtop_model_push(struct lbtop_model *m, const struct stats_snapshot *snap)
{
    unsigned cap = LBTOP_WINDOW + 1;
    uint32_t nb;

    if (m->have_cur && another_run(m, snap))
        lbtop_model_clear(m);
    if (snap != m->cur)
        memcpy(m->cur, snap, sizeof(*snap));
    m->have_cur = true;
    nb = m->cur->nbackends < STATS_MAX_BACKENDS ? m->cur->nbackends : STATS_MAX_BACKENDS;

    struct lbtop_sample *s = &m->window[m->window_next];
    sample_from(s, m->cur);
    m->window_next = (m->window_next + 1) % cap;
    if (m->window_n < cap)
        m->window_n++;

    if (m->window_n >= 2) {
        /* The last interval feeds the sparklines. */
        const struct lbtop_sample *prev = window_at(m, 1);
        double secs = (double)delta(prev->t_ns, s->t_ns) / 1e9;
        struct lbtop_rates r;
        rates_between(&r, &prev->global, &s->global, secs);
        history_push(&m->req_history, r.req_s);
        for (uint32_t b = 0; b < nb; b++) {
            rates_between(&r, &prev->backend[b], &s->backend[b], secs);
            history_push(&m->backend_req_history[b], r.req_s);
            history_push(&m->backend_conn_history[b], r.conn_s);
        }
        /* The whole window feeds the rates. */
        const struct lbtop_sample *old = window_at(m, m->window_n - 1);
        secs = (double)delta(old->t_ns, s->t_ns) / 1e9;
        m->rate_span_s = secs;
        m->rates_since_start = false;
        rates_between(&m->rate, &old->global, &s->global, secs);
        loop_between(&m->loop, &old->loop, &s->loop, secs);
        splice_between(&m->splice, old, s, secs);
        workers_between(m, old, s, secs);
        for (uint32_t b = 0; b < nb; b++)
            rates_between(&m->backend_rate[b], &old->backend[b], &s->backend[b], secs);
    } else if (!m->have_base) {
        /* One sample: averages since lb started. */
        struct lbtop_sample zero;
        double secs = (double)delta(m->cur->start_mono_ns, m->cur->taken_mono_ns) / 1e9;
        memset(&zero, 0, sizeof(zero));
        m->rate_span_s = secs;
        m->rates_since_start = true;
        rates_between(&m->rate, &zero.global, &s->global, secs);
        loop_between(&m->loop, &zero.loop, &s->loop, secs);
        splice_between(&m->splice, &zero, s, secs);
        workers_between(m, &zero, s, secs);
        for (uint32_t b = 0; b < nb; b++)
            rates_between(&m->backend_rate[b], &zero.backend[b], &s->backend[b], secs);
    }
}

void lbtop_model_reset(struct lbtop_model *m)
{
    if (!m->have_cur)
        return;
    memcpy(m->base, m->cur, sizeof(*m->cur));
    m->have_base = true;
    m->reset_mono_ns = m->cur->taken_mono_ns;
    m->window_n = 0;
    m->window_next = 0;
    memset(&m->rate, 0, sizeof(m->rate));
    memset(&m->loop, 0, sizeof(m->loop));
    memset(&m->splice, 0, sizeof(m->splice));
    memset(m->worker_rate, 0, sizeof(m->worker_rate));
    memset(m->backend_rate, 0, sizeof(m->backend_rate));
    memset(&m->req_history, 0, sizeof(m->req_history));
    memset(m->backend_req_history, 0, sizeof(m->backend_req_history));
    memset(m->backend_conn_history, 0, sizeof(m->backend_conn_history));
    m->rate_span_s = 0;
    m->rates_since_start = false;
    /* The current snapshot starts the new window. */
    sample_from(&m->window[0], m->cur);
    m->window_next = 1;
    m->window_n = 1;
}

/* ---- percentiles --------------------------------------------------------------------------- */

static const struct stats_snapshot_hist *pick(const struct stats_snapshot_backend *b,
                                              unsigned which)
{
    return which == 0 ? &b->connect : which == 1 ? &b->ttfb : &b->total;
}

void lbtop_model_backend_percentiles(const struct lbtop_model *m, unsigned b, unsigned which,
                                     struct stats_percentiles *out)
{
    memset(out, 0, sizeof(*out));
    if (!m->have_cur || b >= m->cur->nbackends || b >= STATS_MAX_BACKENDS)
        return;
    stats_hist_percentiles(pick(&m->cur->backends[b], which),
                           m->have_base ? pick(&m->base->backends[b], which) : NULL, out);
}


void lbtop_model_total_percentiles(const struct lbtop_model *m, struct stats_percentiles *out)
{
    struct stats_snapshot_hist cur, base;

    memset(out, 0, sizeof(*out));
    if (!m->have_cur)
        return;
    memset(&cur, 0, sizeof(cur));
    memset(&base, 0, sizeof(base));
    for (uint32_t b = 0; b < m->cur->nbackends && b < STATS_MAX_BACKENDS; b++) {
        stats_hist_merge(&cur, &m->cur->backends[b].total);
        if (m->have_base)
            stats_hist_merge(&base, &m->base->backends[b].total);
    }
    stats_hist_percentiles(&cur, m->have_base ? &base : NULL, out);
}

/* ---- sorting ------------------------------------------------------------------------------- */

static const char *const sort_names[LBTOP_SORT_COUNT] = {
    [LBTOP_SORT_INDEX] = "#",          [LBTOP_SORT_NAME] = "NAME",
    [LBTOP_SORT_STATE] = "STATE",      [LBTOP_SORT_WEIGHT] = "WEIGHT",
    [LBTOP_SORT_ACTIVE] = "ACT",       [LBTOP_SORT_PEAK] = "PEAK",
    [LBTOP_SORT_INFLIGHT] = "INFL",    [LBTOP_SORT_CONNS] = "CONNS",
    [LBTOP_SORT_REQUESTS] = "REQS",    [LBTOP_SORT_REQ_RATE] = "REQ/S",
    [LBTOP_SORT_CONN_RATE] = "CONN/S", [LBTOP_SORT_BYTES_IN] = "IN",
    [LBTOP_SORT_BYTES_OUT] = "OUT",    [LBTOP_SORT_2XX] = "2XX",
    [LBTOP_SORT_4XX] = "4XX",          [LBTOP_SORT_5XX] = "5XX",
    [LBTOP_SORT_ERRORS] = "ERRORS",    [LBTOP_SORT_P50] = "P50",
    [LBTOP_SORT_P99] = "P99",
};

const char *lbtop_sort_name(enum lbtop_sort key)
{
    return (unsigned)key < LBTOP_SORT_COUNT ? sort_names[key] : "?";
}

bool lbtop_model_tcp(const struct lbtop_model *m)
{
    return m->have_cur && m->cur->mode == STATS_MODE_TCP;
}

bool lbtop_sort_applies(enum lbtop_sort key, bool tcp)
{
    if ((unsigned)key >= LBTOP_SORT_COUNT)
        return false;
    if (!tcp)
        return true;
    switch (key) {
    case LBTOP_SORT_INFLIGHT:
    case LBTOP_SORT_REQUESTS:
    case LBTOP_SORT_REQ_RATE:
    case LBTOP_SORT_2XX:
    case LBTOP_SORT_4XX:
    case LBTOP_SORT_5XX:
        return false;
    default:
        return true;
    }
}

uint64_t lbtop_backend_errors(const struct stats_snapshot_backend *b)
{
    return b->connect_errors + b->timeouts + b->responses[5];
}


static double sort_value(const struct lbtop_model *m, unsigned b, enum lbtop_sort key)
{
    const struct stats_snapshot_backend *s = &m->cur->backends[b];
    struct stats_percentiles p;

    switch (key) {
    case LBTOP_SORT_STATE:
        return s->state;
    case LBTOP_SORT_WEIGHT:
        return s->weight;
    case LBTOP_SORT_ACTIVE:
        return (double)s->active;
    case LBTOP_SORT_PEAK:
        return (double)s->peak;
    case LBTOP_SORT_INFLIGHT:
        return (double)s->inflight;
    case LBTOP_SORT_CONNS:
        return (double)s->conns_opened;
    case LBTOP_SORT_REQUESTS:
        return (double)s->requests;
    case LBTOP_SORT_REQ_RATE:
        return m->backend_rate[b].req_s;
    case LBTOP_SORT_CONN_RATE:
        return m->backend_rate[b].conn_s;
    case LBTOP_SORT_BYTES_IN:
        return (double)s->bytes_in;
    case LBTOP_SORT_BYTES_OUT:
        return (double)s->bytes_out;
    case LBTOP_SORT_2XX:
        return (double)s->responses[2];
    case LBTOP_SORT_4XX:
        return (double)s->responses[4];
    case LBTOP_SORT_5XX:
        return (double)s->responses[5];
    case LBTOP_SORT_ERRORS:
        return (double)lbtop_backend_errors(s);
    case LBTOP_SORT_P50:
        lbtop_model_backend_percentiles(m, b, 2, &p);
        return p.p50_ms;
    case LBTOP_SORT_P99:
        lbtop_model_backend_percentiles(m, b, 2, &p);
        return p.p99_ms;
    default:
        return -(double)b;
    }
}

/* Whether row a goes before row b. */
static bool before(const struct lbtop_model *m, enum lbtop_sort key, unsigned a, double va,
                   unsigned b, double vb)
{
    if (key == LBTOP_SORT_NAME) {
        int c = strcmp(m->cur->backends[a].name, m->cur->backends[b].name);
        return c != 0 ? c < 0 : a < b;
    }
    if (key == LBTOP_SORT_INDEX)
        return a < b;
    if (key == LBTOP_SORT_STATE)
        return va != vb ? va < vb : a < b;
    return va != vb ? va > vb : a < b;
}

size_t lbtop_model_order(const struct lbtop_model *m, enum lbtop_sort key,
                         unsigned order[STATS_MAX_BACKENDS])
{
    double val[STATS_MAX_BACKENDS];
    size_t n;

    if (!m->have_cur)
        return 0;
    n = m->cur->nbackends < STATS_MAX_BACKENDS ? m->cur->nbackends : STATS_MAX_BACKENDS;
    for (size_t i = 0; i < n; i++)
        val[i] = sort_value(m, (unsigned)i, key);
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && before(m, key, (unsigned)i, val[i], order[j - 1], val[order[j - 1]])) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = (unsigned)i;
    }
    return n;
}
