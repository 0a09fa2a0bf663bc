/*
 * connpair.c - the connection pairing engine for lb's tcp mode: two lists of open connections
 * (client legs, backend legs), oldest first, each entry holding its flow and the exchanges
 * parsed on it. A backend leg is given to a client leg by timing when it opens (lb dials as it
 * accepts), and lb's ring, when readable, corrects that guess once the client connection has
 * ended and lb has written its entry. Lists are scanned linearly: they hold the connections
 * open now, and are bounded.
 */
#include "connpair.h"

#include <stdlib.h>
#include <string.h>

#define CONNPAIR_DEFAULT_GRACE 2000000000ull
#define CONNPAIR_DEFAULT_LINGER 200000000ull
#define CONNPAIR_MAX_OPEN 4096 /* per list; beyond it the oldest entry is reported as it is */
#define FNV_OFFSET 0xcbf29ce484222325ull /* the same FNV-1a 64 as flow.c's stream_hash */
#define FNV_PRIME 0x100000001b3ull
#define PROXY_V1_MAX 107 /* the longest v1 header, CRLF included */

struct entry {
    struct entry *next;
    struct flow *flow;      /* held */
    struct entry *partner;  /* the other leg, or NULL */
    enum connpair_how how;  /* how partner was found */
    struct l7_exchange *ex[CONNPAIR_MAX_REQUESTS];
    size_t nex;
    uint64_t more;
    /* a backend leg, lb to backend: the bytes after a PROXY header (all of them when none) */
    bool started;           /* the first bytes were looked at */
    size_t proxy_len;       /* the PROXY header's length, 0: none */
    uint64_t up_bytes, up_hash;
};

struct connpair {
    struct flow_table *flows;
    connpair_emit_fn emit;
    void *ctx;
    uint64_t grace, linger;
    struct pair_ring_ops ring;
    bool have_ring;
    struct entry *clients, *backends; /* oldest first */
    size_t nclients, nbackends;
    uint64_t emitted, paired;
};

struct connpair *connpair_new(struct flow_table *flows, connpair_emit_fn emit, void *ctx,
                              uint64_t grace_ns, uint64_t linger_ns)
{
    struct connpair *cp = calloc(1, sizeof(*cp));
    if (cp == NULL)
        return NULL;
    cp->flows = flows;
    cp->emit = emit;
    cp->ctx = ctx;
    cp->grace = grace_ns ? grace_ns : CONNPAIR_DEFAULT_GRACE;
    cp->linger = linger_ns ? linger_ns : CONNPAIR_DEFAULT_LINGER;
    return cp;
}

void connpair_set_ring(struct connpair *cp, const struct pair_ring_ops *ops)
{
    memset(&cp->ring, 0, sizeof(cp->ring));
    cp->have_ring = ops != NULL && ops->tcp_conn != NULL;
    if (ops != NULL)
        cp->ring = *ops;
}

uint64_t connpair_emitted(const struct connpair *cp)
{
    return cp->emitted;
}

uint64_t connpair_paired(const struct connpair *cp)
{
    return cp->paired;
}

/* --- lists ------------------------------------------------------------------------------- */

static void unlink_entry(struct connpair *cp, struct entry *e)
{
    bool client = e->flow->leg == FLOW_LEG_CLIENT;
    struct entry **pp = client ? &cp->clients : &cp->backends;
    for (; *pp != NULL; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            e->next = NULL;
            if (client)
                cp->nclients--;
            else
                cp->nbackends--;
            return;
        }
}

static void entry_free(struct connpair *cp, struct entry *e)
{
    for (size_t i = 0; i < e->nex; i++)
        free(e->ex[i]);
    flow_release(cp->flows, e->flow);
    free(e);
}

static struct entry *find_flow(struct entry *list, const struct flow *f)
{
    for (; list != NULL; list = list->next)
        if (list->flow == f)
            return list;
    return NULL;
}

/* --- records ----------------------------------------------------------------------------- */

/* 1 when both legs carried the same bytes in their direction d, 0 when not, -1 when the
 * capture missed some (a hole given up on) */
static int same_dir(const struct flow *a, const struct flow *b, int d)
{
    if (a->dir[d].reasm.gaps || b->dir[d].reasm.gaps)
        return -1;
    return a->dir[d].reasm.delivered == b->dir[d].reasm.delivered &&
           a->dir[d].stream_hash == b->dir[d].stream_hash;
}

/* The same for the way up, where lb may have put a PROXY header in front of the client's
 * bytes: what follows it must be what the client sent. */
static int same_up(const struct entry *c, const struct entry *b)
{
    const struct flow_dir *cd = &c->flow->dir[FLOW_C2S], *bd = &b->flow->dir[FLOW_C2S];
    if (cd->reasm.gaps || bd->reasm.gaps)
        return -1;
    return cd->reasm.delivered == b->up_bytes && cd->stream_hash == b->up_hash;
}

static bool same_request(const struct l7_exchange *a, const struct l7_exchange *b)
{
    return a->request_seen && b->request_seen && strcmp(a->method, b->method) == 0 &&
           strcmp(a->path, b->path) == 0;
}

/* lb's ring names the backend connection of client entry c: move c's partner there (the timing
 * guess may have crossed two connections opened at once) and note what lb recorded. */
static void apply_ring(struct connpair *cp, struct entry *c, struct connpair_record *rec)
{
    if (!cp->have_ring || !cp->ring.tcp_conn(cp->ring.ctx, &c->flow->cli, &rec->lb))
        return;
    rec->have_lb = true;
    if (rec->lb.lb_back.family == 0)
        return; /* lb reached no backend */
    struct entry *b = NULL;
    for (struct entry *x = cp->backends; x != NULL && b == NULL; x = x->next)
        if (flow_addr_equal(&x->flow->cli, &rec->lb.lb_back))
            b = x;
    if (b == NULL) {
        rec->confirmed = c->partner == NULL ? -1 : 0; /* not captured: cannot check better */
        return;
    }
    if (b != c->partner) {
        struct entry *old = c->partner, *other = b->partner;
        if (old != NULL)
            old->partner = other;
        if (other != NULL)
            other->partner = old;
        b->partner = c;
        c->partner = b;
    }
    c->how = b->how = CONNPAIR_RING;
    rec->confirmed = 1;
}

/* Reports client entry c with its partner (either may be NULL) and frees them. */
static void emit_pair(struct connpair *cp, struct entry *c, struct entry *b, bool ring_done,
                      struct connpair_record *rec_in)
{
    struct connpair_record rec = {.confirmed = -1, .same_up = -1, .same_down = -1};
    struct connpair_request reqs[CONNPAIR_MAX_REQUESTS];

    if (ring_done)
        rec = *rec_in;
    else if (c != NULL)
        apply_ring(cp, c, &rec);
    if (c != NULL)
        b = c->partner;
    if (b != NULL && b->flow->name[0] == '\0' && cp->ring.backend_name != NULL &&
        !cp->ring.backend_name(cp->ring.ctx, "", &b->flow->srv, b->flow->name,
                               sizeof(b->flow->name)))
        b->flow->name[0] = '\0';
    rec.number = ++cp->emitted;
    rec.client = c ? c->flow : NULL;
    rec.backend = b ? b->flow : NULL;
    rec.how = c && b ? c->how : CONNPAIR_NONE;
    if (c != NULL && b != NULL) {
        cp->paired++;
        rec.client_to_lb = c->flow->dir[FLOW_C2S].reasm.delivered;
        rec.lb_to_client = c->flow->dir[FLOW_S2C].reasm.delivered;
        rec.lb_to_backend = b->up_bytes;
        rec.backend_to_lb = b->flow->dir[FLOW_S2C].reasm.delivered;
        rec.proxy_header = b->proxy_len;
        rec.same_up = same_up(c, b);
        rec.same_down = same_dir(c->flow, b->flow, FLOW_S2C);
    } else if (c != NULL) {
        rec.client_to_lb = c->flow->dir[FLOW_C2S].reasm.delivered;
        rec.lb_to_client = c->flow->dir[FLOW_S2C].reasm.delivered;
    } else if (b != NULL) {
        rec.lb_to_backend = b->up_bytes;
        rec.proxy_header = b->proxy_len;
        rec.backend_to_lb = b->flow->dir[FLOW_S2C].reasm.delivered;
    }
    /* the requests: the client leg's, or a lone backend leg's */
    struct entry *src = c ? c : b;
    for (size_t i = 0; i < src->nex; i++) {
        reqs[i].ex = src->ex[i];
        reqs[i].on_backend = c == NULL || (b != NULL && i < b->nex && same_request(c->ex[i], b->ex[i]));
    }
    rec.requests = reqs;
    rec.nrequests = src->nex;
    rec.more_requests = src->more;
    rec.backend_requests = b ? (unsigned)(b->nex + b->more) : 0;

    if (cp->emit)
        cp->emit(cp->ctx, &rec);
    if (c != NULL) {
        unlink_entry(cp, c);
        entry_free(cp, c);
    }
    if (b != NULL) {
        unlink_entry(cp, b);
        entry_free(cp, b);
    }
}

/* --- events ------------------------------------------------------------------------------ */

static struct entry *oldest_unpaired_client(struct connpair *cp, const struct flow *b)
{
    for (struct entry *c = cp->clients; c != NULL; c = c->next)
        if (c->partner == NULL && !c->flow->closed && c->flow->first_ts <= b->first_ts &&
            b->first_ts - c->flow->first_ts <= cp->grace)
            return c;
    return NULL;
}

void connpair_flow_opened(struct connpair *cp, struct flow *f)
{
    if (f->leg != FLOW_LEG_CLIENT && f->leg != FLOW_LEG_BACKEND)
        return;
    bool client = f->leg == FLOW_LEG_CLIENT;
    if ((client ? cp->nclients : cp->nbackends) >= CONNPAIR_MAX_OPEN) {
        struct entry *old = client ? cp->clients : cp->backends;
        if (client || old->partner == NULL)
            emit_pair(cp, client ? old : NULL, client ? NULL : old, false, NULL);
        else
            emit_pair(cp, old->partner, NULL, false, NULL);
    }
    struct entry *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return;
    flow_hold(f);
    e->flow = f;
    e->up_hash = FNV_OFFSET;
    struct entry **pp = client ? &cp->clients : &cp->backends;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = e;
    if (client) {
        cp->nclients++;
        return;
    }
    cp->nbackends++;
    struct entry *c = oldest_unpaired_client(cp, f);
    if (c != NULL) {
        c->partner = e;
        e->partner = c;
        c->how = e->how = CONNPAIR_TIMING;
    }
}

void connpair_add(struct connpair *cp, struct flow *f, struct l7_exchange *ex)
{
    struct entry *e = find_flow(f->leg == FLOW_LEG_CLIENT ? cp->clients : cp->backends, f);
    if (!ex->request_seen) { /* bytes that are not HTTP (lb relays anything): not a request */
        free(ex);
        return;
    }
    if (e == NULL || e->nex == CONNPAIR_MAX_REQUESTS) {
        if (e != NULL)
            e->more++;
        free(ex);
        return;
    }
    e->ex[e->nex++] = ex;
}

/* The length of the PROXY protocol header (v1 or v2) data starts with, or 0. */
static size_t proxy_header_len(const uint8_t *data, size_t len)
{
    static const uint8_t v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                       0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
    if (len >= 8 && memcmp(data, "PROXY ", 6) == 0) {
        for (size_t i = 6; i + 1 < len && i + 1 < PROXY_V1_MAX; i++)
            if (data[i] == '\r' && data[i + 1] == '\n')
                return i + 2;
        return 0;
    }
    if (len >= 16 && memcmp(data, v2_sig, sizeof(v2_sig)) == 0) {
        size_t total = 16 + ((size_t)data[14] << 8 | data[15]);
        return total <= len ? total : 0;
    }
    return 0;
}

size_t connpair_data(struct connpair *cp, struct flow *f, int dir, const uint8_t *data, size_t len)
{
    if (f->leg != FLOW_LEG_BACKEND || dir != FLOW_C2S || data == NULL)
        return 0;
    struct entry *e = find_flow(cp->backends, f);
    if (e == NULL)
        return 0;
    size_t skip = 0;
    if (!e->started) {
        e->started = true;
        e->up_hash = FNV_OFFSET;
        skip = e->proxy_len = proxy_header_len(data, len);
    }
    for (size_t i = skip; i < len; i++)
        e->up_hash = (e->up_hash ^ data[i]) * FNV_PRIME;
    e->up_bytes += len - skip;
    return skip;
}

void connpair_flow_closed(struct connpair *cp, struct flow *f, uint64_t now)
{
    (void)f;
    connpair_tick(cp, now);
}

/* True when client entry c can be reported now: it and its backend leg closed, and lb's ring
 * has its entry (or there is no ring, or it waited long enough); rec gets what the ring said. */
static bool ready(struct connpair *cp, struct entry *c, uint64_t now, struct connpair_record *rec)
{
    if (!c->flow->closed || (c->partner != NULL && !c->partner->flow->closed))
        return false;
    *rec = (struct connpair_record){.confirmed = -1, .same_up = -1, .same_down = -1};
    apply_ring(cp, c, rec);
    if (c->partner != NULL && !c->partner->flow->closed)
        return false; /* the ring moved it to a connection still open */
    /* lb writes its entry just after the last byte: wait a little for it */
    return rec->have_lb || !cp->have_ring || now >= c->flow->closed_ts + cp->linger;
}

void connpair_tick(struct connpair *cp, uint64_t now)
{
    struct connpair_record rec;
    bool again = true;
    while (again) { /* emitting changes the lists: start over after each */
        again = false;
        for (struct entry *c = cp->clients; c != NULL && !again; c = c->next)
            if (ready(cp, c, now, &rec)) {
                emit_pair(cp, c, NULL, true, &rec);
                again = true;
            }
    }
    struct entry *b = cp->backends;
    while (b != NULL) {
        struct entry *next = b->next;
        if (b->partner == NULL && b->flow->closed && now >= b->flow->closed_ts + cp->grace)
            emit_pair(cp, NULL, b, false, NULL);
        b = next;
    }
}

void connpair_flush(struct connpair *cp)
{
    while (cp->clients != NULL)
        emit_pair(cp, cp->clients, NULL, false, NULL);
    while (cp->backends != NULL)
        emit_pair(cp, NULL, cp->backends, false, NULL);
}

void connpair_free(struct connpair *cp)
{
    if (cp == NULL)
        return;
    struct entry *lists[2] = {cp->clients, cp->backends};
    for (int i = 0; i < 2; i++)
        while (lists[i] != NULL) {
            struct entry *e = lists[i];
            lists[i] = e->next;
            entry_free(cp, e);
        }
    free(cp);
}
