/*
 * trace.c - wiring: flow hooks create an l7 parser per connection and feed it, unless the
 * connection's first bytes are a TLS record: then a tlsrec reader gets its bytes instead, and
 * its guessed request/response flights become exchanges marked encrypted; finished exchanges go
 * to the pairing engine; pair records and (with --view l4) segment and connection events go to
 * the output. Time only moves with capture timestamps, or with trace_tick() when a live capture
 * is quiet, so an offline run is deterministic.
 */
#include "trace.h"

#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "l7.h"
#include "tlsrec.h"

#define TICK_EVERY_NS 50000000ull /* at most one expiry pass per 50 ms of capture time */
#define TLS_IDLE_NS 200000000ull  /* a TLS response flight silent this long has ended */

struct leg_ctx;

struct trace {
    struct trace_config cfg;
    struct leg_ctx *tls_legs; /* the connections carrying TLS, for tlsrec_idle() */
    int link;
    struct flow_table *flows;
    struct pair_engine *pairs;
    struct connpair *conns;   /* lb -m tcp: whole connections */
    bool noted_tcp;           /* the tcp-mode note was printed */
    struct trace_stats st;
    struct pair_ring_ops ring; /* lb's ring, when there is one: backend names for --view l4 */
    bool have_ring;
    uint64_t now, last_tick;
    bool done;
    char last_error[128];
};

/* What a connection's bytes are: undecided until its first bytes are seen. */
enum leg_kind { LEG_SNIFF, LEG_PLAIN, LEG_TLS };

struct leg_ctx {
    struct trace *t;
    struct flow *f;
    struct l7_conn *l7;
    bool named; /* --view l4: the backend's name was looked up for the first segment */
    bool tcp;   /* lb was in tcp mode when the connection opened: connpair pairs it */
    enum leg_kind kind;
    /* LEG_SNIFF: the first bytes, held until there are enough to tell TLS from HTTP */
    uint8_t held[8];
    size_t nheld;
    int held_dir;
    struct leg_ctx *tls_prev, *tls_next; /* on t->tls_legs while LEG_TLS */
};

/* lb's mode for a connection opening now. */
static bool tcp_mode_now(struct trace *t)
{
    if (t->cfg.mode != TRACE_MODE_AUTO)
        return t->cfg.mode == TRACE_MODE_TCP;
    return t->have_ring && t->ring.mode != NULL && t->ring.mode(t->ring.ctx) == PAIR_LB_TCP;
}

/* --view l4: names backend flow f from lb's ring when not yet known (records get theirs in the
 * pairing engine, which also knows the request id). */
static void name_backend(struct trace *t, struct flow *f)
{
    if (f->leg != FLOW_LEG_BACKEND || f->name[0] != '\0' || !t->have_ring ||
        t->ring.backend_name == NULL)
        return;
    if (!t->ring.backend_name(t->ring.ctx, "", &f->srv, f->name, sizeof(f->name)))
        f->name[0] = '\0';
}

static void on_exchange(void *ctx, struct l7_exchange *ex)
{
    struct leg_ctx *lc = ctx;
    struct trace *t = lc->t;
    t->st.exchanges++;
    if (lc->tcp)
        connpair_add(t->conns, lc->f, ex);
    else
        pair_add(t->pairs, lc->f, ex, t->now);
}

/* A guessed request and response on a TLS connection: an exchange marked encrypted, paired
 * like the others (by lb's ring or by timing, pair.h). In tcp mode there is nothing to list. */
static void on_tls_exchange(void *ctx, const struct tlsrec_exchange *x)
{
    struct leg_ctx *lc = ctx;
    struct trace *t = lc->t;
    t->st.tls_exchanges++;
    if (lc->tcp)
        return;
    struct l7_exchange *ex = calloc(1, sizeof(*ex));
    if (ex == NULL)
        return;
    ex->flow_id = lc->f->id;
    ex->index = x->index;
    ex->encrypted = true;
    ex->t_request = x->t_request;
    ex->t_request_end = x->t_request_end;
    ex->t_response = x->t_response;
    ex->t_response_end = x->t_response_end;
    ex->request_records = x->request_records;
    ex->request_bytes = x->request_bytes;
    ex->response_records = x->response_records;
    ex->response_bytes = x->response_bytes;
    t->st.exchanges++;
    pair_add(t->pairs, lc->f, ex, t->now);
}

/* A TLS connection that closed without carrying a request (a refused or unfinished handshake,
 * a client that went away): reported as a leg of its own, with what went wrong. */
static void tls_handshake_only(struct leg_ctx *lc, uint64_t ts)
{
    struct trace *t = lc->t;
    const struct tlsrec_info *in = tlsrec_info(lc->f->tls);
    if (lc->tcp)
        return;
    struct l7_exchange *ex = calloc(1, sizeof(*ex));
    if (ex == NULL)
        return;
    ex->flow_id = lc->f->id;
    ex->encrypted = true;
    ex->t_request = in->client_hello_ts ? in->client_hello_ts : lc->f->first_ts;
    ex->t_request_end = ex->t_response_end = ts;
    if (in->alert_desc >= 0)
        ex->problem = in->alert_level == 2 ? "no request: a fatal TLS alert in clear"
                                           : "no request: a TLS alert in clear";
    else if (in->finished_ts == 0 && !in->midstream)
        ex->problem = "no request: the TLS handshake did not finish";
    else
        ex->problem = "no request: no application data after the TLS handshake";
    t->st.exchanges++;
    pair_add(t->pairs, lc->f, ex, t->now);
}

/* Hands bytes of a decided connection to its reader: TLS records or HTTP. */
static void dispatch(struct leg_ctx *lc, int dir, const uint8_t *data, size_t len, uint64_t ts)
{
    if (lc->kind == LEG_TLS)
        tlsrec_feed(lc->f->tls, dir, data, len, ts);
    else if (lc->l7 != NULL)
        l7_feed(lc->l7, dir, data, len, ts);
}

/* Decides what the connection carries: TLS when its first bytes are a TLS record header. */
static void decide(struct leg_ctx *lc, bool tls)
{
    lc->kind = LEG_PLAIN;
    if (tls) {
        lc->f->tls = tlsrec_new(on_tls_exchange, lc);
        if (lc->f->tls != NULL) {
            lc->kind = LEG_TLS;
            lc->t->st.tls_connections++;
            lc->tls_next = lc->t->tls_legs;
            if (lc->tls_next != NULL)
                lc->tls_next->tls_prev = lc;
            lc->t->tls_legs = lc;
        }
    }
}

/* The first bytes of a connection: held (at most a record header's worth) until they tell TLS
 * from anything else, then given with what follows to the reader chosen. */
static void sniff(struct leg_ctx *lc, int dir, const uint8_t *data, size_t len, uint64_t ts)
{
    if (data == NULL || (lc->nheld > 0 && dir != lc->held_dir)) {
        decide(lc, false); /* a gap, or the other side speaks first: not a TLS client */
    } else {
        uint8_t look[sizeof(lc->held)];
        size_t n = lc->nheld;
        memcpy(look, lc->held, n);
        while (n < 5 && n - lc->nheld < len) {
            look[n] = data[n - lc->nheld];
            n++;
        }
        enum tlsrec_sniff verdict = tlsrec_sniff(look, n);
        if (verdict == TLSREC_MORE) { /* fewer than 5 bytes in all: keep them */
            memcpy(lc->held + lc->nheld, data, len);
            lc->nheld += len;
            lc->held_dir = dir;
            return;
        }
        decide(lc, verdict == TLSREC_YES);
    }
    if (lc->nheld > 0)
        dispatch(lc, lc->held_dir, lc->held, lc->nheld, ts);
    lc->nheld = 0;
    dispatch(lc, dir, data, len, ts);
}

static void on_opened(void *ctx, struct flow *f)
{
    struct trace *t = ctx;
    struct leg_ctx *lc = calloc(1, sizeof(*lc));
    if (lc != NULL) {
        lc->t = t;
        lc->f = f;
        lc->l7 = l7_conn_new(f->id, on_exchange, lc);
        if (lc->l7 == NULL) {
            free(lc);
            lc = NULL;
        }
    }
    f->user = lc;
    if (tcp_mode_now(t)) {
        if (lc != NULL)
            lc->tcp = true;
        connpair_flow_opened(t->conns, f);
    } else {
        pair_flow_opened(t->pairs, f);
    }
}

static void on_segment(void *ctx, struct flow *f, int dir, const struct decode_packet *p,
                       enum reasm_verdict verdict, uint64_t ts)
{
    struct trace *t = ctx;
    struct leg_ctx *lc = f->user;
    if (t->cfg.out.view != OUTPUT_L4 || t->done)
        return;
    if (lc != NULL && !lc->named) {
        lc->named = true; /* once: a lookup scans lb's ring, and a segment comes often */
        name_backend(t, f);
    }
    output_segment(&t->cfg.out, f, dir, p, verdict, ts);
    t->st.printed++;
    if (t->cfg.count && t->st.printed >= t->cfg.count)
        t->done = true;
}

static void on_data(void *ctx, struct flow *f, int dir, const uint8_t *data, size_t len,
                    uint64_t ts)
{
    struct trace *t = ctx;
    struct leg_ctx *lc = f->user;
    if (data == NULL)
        t->st.gaps++;
    if (lc != NULL && lc->tcp) {
        size_t skip = connpair_data(t->conns, f, dir, data, len); /* a PROXY header */
        data = data != NULL ? data + skip : NULL;
        len -= skip;
        if (len == 0)
            return;
    }
    if (lc == NULL)
        return;
    if (lc->kind == LEG_SNIFF)
        sniff(lc, dir, data, len, ts);
    else
        dispatch(lc, dir, data, len, ts);
}

static void on_end(void *ctx, struct flow *f, int dir, bool rst, uint64_t ts)
{
    (void)ctx;
    struct leg_ctx *lc = f->user;
    if (lc != NULL && lc->kind == LEG_SNIFF && lc->nheld > 0) {
        decide(lc, false); /* a few bytes, then the end: not a TLS record */
        dispatch(lc, lc->held_dir, lc->held, lc->nheld, ts);
        lc->nheld = 0;
    }
    if (lc != NULL && lc->l7 != NULL)
        l7_end(lc->l7, dir, rst, ts);
}

static void on_closed(void *ctx, struct flow *f, uint64_t ts)
{
    struct trace *t = ctx;
    struct leg_ctx *lc = f->user;
    unsigned requests = 0;
    if (f->tls != NULL) {
        tlsrec_finish(f->tls); /* the last exchange, while f is alive */
        if (lc != NULL && tlsrec_info(f->tls)->exchanges == 0)
            tls_handshake_only(lc, ts);
    }
    if (lc != NULL && lc->l7 != NULL) {
        requests = l7_requests(lc->l7);
        t->st.requests += requests;
        t->st.responses += l7_responses(lc->l7);
        l7_conn_free(lc->l7, ts); /* emits what was left, while f is alive */
        lc->l7 = NULL;
    }
    if (t->cfg.out.view == OUTPUT_L4 && !t->done) {
        name_backend(t, f); /* lb has logged its requests by now */
        output_flow_closed(&t->cfg.out, f, requests);
    }
    if (lc != NULL && lc->tcp)
        connpair_flow_closed(t->conns, f, ts);
    else
        pair_flow_closed(t->pairs, f, ts);
}

static void on_destroy(void *ctx, struct flow *f)
{
    (void)ctx;
    struct leg_ctx *lc = f->user;
    if (lc != NULL) {
        l7_conn_drop(lc->l7); /* normally already gone in on_closed */
        if (lc->kind == LEG_TLS) {
            if (lc->tls_prev != NULL)
                lc->tls_prev->tls_next = lc->tls_next;
            else
                lc->t->tls_legs = lc->tls_next;
            if (lc->tls_next != NULL)
                lc->tls_next->tls_prev = lc->tls_prev;
        }
        free(lc);
    }
    tlsrec_free(f->tls);
    f->tls = NULL;
    f->user = NULL;
}

/* Counts one record in the run's statistics: paired or not, confirmed by lb's ring (1),
 * contradicted by it (0), or neither (-1). */
static void count_record(struct trace *t, bool paired, int confirmed)
{
    t->st.records++;
    if (paired)
        t->st.paired++;
    if (confirmed == 1)
        t->st.confirmed++;
    else if (confirmed == 0)
        t->st.contradicted++;
}

static void on_record(void *ctx, const struct pair_record *r)
{
    struct trace *t = ctx;
    count_record(t, r->how != PAIR_NONE, r->confirmed);
    if (t->cfg.out.view == OUTPUT_L4 || t->done)
        return;
    output_record(&t->cfg.out, r);
    if (r->client.ex != NULL) {
        t->st.printed++;
        if (t->cfg.count && t->st.printed >= t->cfg.count)
            t->done = true;
    }
}

static void on_connection(void *ctx, const struct connpair_record *r)
{
    struct trace *t = ctx;
    t->st.tcp_connections++;
    count_record(t, r->how != CONNPAIR_NONE, r->confirmed);
    if (t->cfg.out.view == OUTPUT_L4 || t->done)
        return;
    if (!t->noted_tcp) {
        t->noted_tcp = true;
        output_tcp_mode_note(&t->cfg.out);
    }
    output_connection(&t->cfg.out, r);
    if (r->client != NULL) {
        t->st.printed++;
        if (t->cfg.count && t->st.printed >= t->cfg.count)
            t->done = true;
    }
}

struct trace *trace_new(const struct trace_config *cfg, int link)
{
    struct trace *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->cfg = *cfg;
    t->link = link;
    struct flow_hooks hooks = {
        .ctx = t, .opened = on_opened, .segment = on_segment, .data = on_data, .end = on_end,
        .closed = on_closed, .destroy = on_destroy,
    };
    t->flows = flow_table_new(&cfg->flows, &hooks);
    if (t->flows != NULL) {
        t->pairs = pair_new(t->flows, on_record, t, cfg->grace_ns, cfg->linger_ns);
        t->conns = connpair_new(t->flows, on_connection, t, cfg->grace_ns, cfg->linger_ns);
    }
    if (t->flows == NULL || t->pairs == NULL || t->conns == NULL) {
        pair_free(t->pairs);
        connpair_free(t->conns);
        flow_table_free(t->flows);
        free(t);
        return NULL;
    }
    return t;
}

void trace_set_ring(struct trace *t, const struct pair_ring_ops *ops)
{
    t->have_ring = ops != NULL;
    if (ops != NULL)
        t->ring = *ops;
    pair_set_ring(t->pairs, ops);
    connpair_set_ring(t->conns, ops);
}

void trace_tick(struct trace *t, uint64_t now)
{
    if (now < t->now)
        now = t->now; /* never go back: a live clock and capture stamps may disagree slightly */
    t->now = now;
    t->last_tick = now;
    flow_table_expire(t->flows, now);
    for (struct leg_ctx *lc = t->tls_legs; lc != NULL; lc = lc->tls_next)
        if (!lc->f->closed)
            tlsrec_idle(lc->f->tls, now, TLS_IDLE_NS);
    pair_tick(t->pairs, now);
    connpair_tick(t->conns, now); /* here only: it may look in lb's ring */
}

void trace_frame(struct trace *t, uint64_t ts, const uint8_t *data, size_t caplen)
{
    struct decode_packet p;
    char err[128];

    t->st.frames++;
    if (ts > t->now)
        t->now = ts;
    switch (decode_frame(t->link, data, caplen, &p, err, sizeof(err))) {
    case DECODE_OK:
        t->st.tcp_segments++;
        flow_table_packet(t->flows, &p, t->now);
        break;
    case DECODE_NOT_TCP:
        t->st.not_tcp++;
        break;
    case DECODE_FRAGMENT:
        t->st.fragments++;
        break;
    case DECODE_UNSUPPORTED:
        t->st.unsupported++;
        break;
    case DECODE_MALFORMED:
        t->st.malformed++;
        snprintf(t->last_error, sizeof(t->last_error), "%s", err);
        break;
    }
    if (t->now >= t->last_tick + TICK_EVERY_NS)
        trace_tick(t, t->now);
    else
        pair_tick(t->pairs, t->now);
}

void trace_finish(struct trace *t)
{
    flow_table_flush(t->flows, t->now);
    pair_flush(t->pairs);
    connpair_flush(t->conns);
}

bool trace_done(const struct trace *t)
{
    return t->done;
}

uint64_t trace_connections(const struct trace *t)
{
    return flow_table_total(t->flows);
}

const struct trace_stats *trace_get_stats(const struct trace *t)
{
    return &t->st;
}

const char *trace_last_error(const struct trace *t)
{
    return t->last_error;
}

void trace_free(struct trace *t)
{
    if (t == NULL)
        return;
    pair_free(t->pairs); /* releases the flows it held */
    connpair_free(t->conns);
    flow_table_free(t->flows);
    free(t);
}
