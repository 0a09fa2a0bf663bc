/*
 * pair.c - the pairing engine: waiting lists of finished exchanges per leg, a queue of paired
 * records lingering until their connections close, and the connection map for tcp mode.
 *
 * Lists are plain linked lists scanned linearly: an exchange waits only until its partner
 * arrives (lb forwards the backend's response as it comes, so the partner is normally one
 * response time away), and every list is bounded, so they stay short.
 */
#include "pair.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAIR_DEFAULT_GRACE 2000000000ull
#define PAIR_DEFAULT_LINGER 200000000ull
#define PAIR_BACKEND_GRACE_FACTOR 5 /* a backend leg may finish long before a slow client's */
#define PAIR_MAX_WAITING 65536
#define PAIR_MAX_OPEN 1024
#define PAIR_PRUNE_EVERY 100000000ull /* 100 ms */
#define PAIR_RESOLVE_EVERY 20000000ull /* 20 ms: retrying encrypted legs against lb's ring */

struct waiting {
    struct waiting *next;
    struct flow *flow; /* held */
    struct l7_exchange *ex;
    const char *key; /* request id or "" */
    uint64_t since;
};

struct ready {
    struct ready *next;
    struct pair_record rec;
    uint64_t since;
};

/* One recently opened flow, for the connection pairing. */
struct opened {
    struct opened *next;
    struct flow *flow;    /* held */
    struct flow *partner; /* the other leg once mapped (not held: its own entry holds it) */
};

struct pair_engine {
    struct flow_table *flows;
    pair_emit_fn emit;
    void *ctx;
    uint64_t grace, linger;
    struct pair_ring_ops ring;
    bool have_ring;

    struct waiting *clients, *backends; /* oldest first */
    size_t nwaiting;
    struct ready *ready, *ready_tail;
    struct opened *open_clients, *open_backends; /* newest first */
    size_t nopen_clients, nopen_backends;

    uint64_t emitted, paired;
    uint64_t last_prune, last_resolve;
    size_t nencrypted; /* waiting exchanges that are encrypted */
};

struct pair_engine *pair_new(struct flow_table *flows, pair_emit_fn emit, void *ctx,
                             uint64_t grace_ns, uint64_t linger_ns)
{
    struct pair_engine *pe = calloc(1, sizeof(*pe));
    if (pe == NULL)
        return NULL;
    pe->flows = flows;
    pe->emit = emit;
    pe->ctx = ctx;
    pe->grace = grace_ns ? grace_ns : PAIR_DEFAULT_GRACE;
    pe->linger = linger_ns ? linger_ns : PAIR_DEFAULT_LINGER;
    return pe;
}

void pair_set_ring(struct pair_engine *pe, const struct pair_ring_ops *ops)
{
    if (ops == NULL) {
        memset(&pe->ring, 0, sizeof(pe->ring));
        pe->have_ring = false;
        return;
    }
    pe->ring = *ops;
    pe->have_ring = true;
}

uint64_t pair_emitted(const struct pair_engine *pe)
{
    return pe->emitted;
}

uint64_t pair_paired(const struct pair_engine *pe)
{
    return pe->paired;
}

/* --- output ------------------------------------------------------------------------------ */

static void leg_free(struct pair_engine *pe, struct pair_leg *leg)
{
    free(leg->ex);
    flow_release(pe->flows, leg->flow);
    leg->ex = NULL;
    leg->flow = NULL;
}

static bool same_stream(const struct flow *a, const struct flow *b)
{
    for (int d = 0; d < 2; d++)
        if (a->dir[d].reasm.delivered != b->dir[d].reasm.delivered ||
            a->dir[d].stream_hash != b->dir[d].stream_hash || a->dir[d].reasm.gaps ||
            b->dir[d].reasm.gaps)
            return false;
    return true;
}

static void emit_record(struct pair_engine *pe, struct pair_record *rec)
{
    rec->number = ++pe->emitted;
    if (rec->how != PAIR_NONE)
        pe->paired++;
    rec->confirmed = -1;
    rec->bytes_identical = -1;
    if (rec->how == PAIR_REQUEST_ID && pe->have_ring && pe->ring.by_id != NULL) {
        struct flow_addr cli, bl;
        if (pe->ring.by_id(pe->ring.ctx, rec->request_id, &cli, &bl))
            rec->confirmed = flow_addr_equal(&cli, &rec->client.flow->cli) &&
                             flow_addr_equal(&bl, &rec->backend.flow->cli);
    }
    if (rec->how == PAIR_LB_RING)
        rec->confirmed = 1;
    if (rec->how == PAIR_CONNECTION && rec->client.flow->closed && rec->backend.flow->closed)
        rec->bytes_identical = same_stream(rec->client.flow, rec->backend.flow);
    struct flow *bf = rec->backend.flow;
    if (bf != NULL && bf->name[0] == '\0' && pe->have_ring && pe->ring.backend_name != NULL &&
        !pe->ring.backend_name(pe->ring.ctx, rec->request_id, &bf->srv, bf->name,
                               sizeof(bf->name)))
        bf->name[0] = '\0';
    if (pe->emit)
        pe->emit(pe->ctx, rec);
    leg_free(pe, &rec->client);
    leg_free(pe, &rec->backend);
}

/* True when the ring is absent (nothing to wait for) or already has the record's request. */
static bool ring_knows(struct pair_engine *pe, const struct pair_record *rec)
{
    struct flow_addr cli, bl;
    if (rec->how != PAIR_REQUEST_ID || !pe->have_ring || pe->ring.by_id == NULL)
        return true;
    return pe->ring.by_id(pe->ring.ctx, rec->request_id, &cli, &bl);
}

static void emit_alone(struct pair_engine *pe, struct waiting *w, bool client)
{
    struct pair_record rec = {.how = PAIR_NONE, .request_id = w->key};
    struct pair_leg *leg = client ? &rec.client : &rec.backend;
    leg->flow = w->flow;
    leg->ex = w->ex;
    emit_record(pe, &rec);
    free(w);
}

static void queue_ready(struct pair_engine *pe, struct waiting *c, struct waiting *b,
                        enum pair_how how, uint64_t now)
{
    struct ready *r = calloc(1, sizeof(*r));
    struct pair_record rec = {.how = how, .request_id = c->key[0] ? c->key : b->key,
                              .client = {c->flow, c->ex}, .backend = {b->flow, b->ex}};
    free(c);
    free(b);
    if (r == NULL) {
        emit_record(pe, &rec);
        return;
    }
    r->rec = rec;
    r->since = now;
    if (pe->ready_tail)
        pe->ready_tail->next = r;
    else
        pe->ready = r;
    pe->ready_tail = r;
}

/* --- the connection map ------------------------------------------------------------------ */

/* Nobody may point at f as a partner any more (it is being forgotten). */
static void forget_partner(struct pair_engine *pe, const struct flow *f)
{
    for (struct opened *x = pe->open_clients; x; x = x->next)
        if (x->partner == f)
            x->partner = NULL;
    for (struct opened *x = pe->open_backends; x; x = x->next)
        if (x->partner == f)
            x->partner = NULL;
}

static void opened_push(struct opened **list, size_t *n, struct flow *f, struct pair_engine *pe)
{
    struct opened *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return;
    flow_hold(f);
    o->flow = f;
    o->next = *list;
    *list = o;
    if (++*n > PAIR_MAX_OPEN) { /* forget the oldest */
        struct opened **pp = list;
        while ((*pp)->next != NULL)
            pp = &(*pp)->next;
        struct opened *old = *pp;
        *pp = NULL;
        forget_partner(pe, old->flow);
        flow_release(pe->flows, old->flow);
        free(old);
        (*n)--;
    }
}

static struct opened *opened_find(struct opened *list, const struct flow *f)
{
    for (; list != NULL; list = list->next)
        if (list->flow == f)
            return list;
    return NULL;
}

void pair_flow_opened(struct pair_engine *pe, struct flow *f)
{
    if (f->leg == FLOW_LEG_CLIENT)
        opened_push(&pe->open_clients, &pe->nopen_clients, f, pe);
    else if (f->leg == FLOW_LEG_BACKEND)
        opened_push(&pe->open_backends, &pe->nopen_backends, f, pe);
}

/* The backend flow that carries client flow c (tcp mode), mapping it on first use. */
static struct flow *backend_of(struct pair_engine *pe, struct flow *c)
{
    struct opened *oc = opened_find(pe->open_clients, c);
    if (oc == NULL)
        return NULL;
    if (oc->partner != NULL)
        return oc->partner;

    struct opened *pick = NULL;
    struct flow_addr bl;
    if (pe->have_ring && pe->ring.by_client != NULL && pe->ring.by_client(pe->ring.ctx, &c->cli, &bl)) {
        for (struct opened *o = pe->open_backends; o != NULL; o = o->next)
            if (o->partner == NULL && flow_addr_equal(&o->flow->cli, &bl))
                pick = o;
    } else {
        /* the first unmapped backend connection opened after c (the list is newest first) */
        for (struct opened *o = pe->open_backends; o != NULL; o = o->next)
            if (o->partner == NULL && o->flow->first_ts >= c->first_ts &&
                o->flow->first_ts - c->first_ts <= pe->grace)
                pick = o;
    }
    if (pick == NULL)
        return NULL;
    pick->partner = c;
    oc->partner = pick->flow;
    return pick->flow;
}

static struct flow *client_of(struct pair_engine *pe, struct flow *b)
{
    struct opened *ob = opened_find(pe->open_backends, b);
    return ob ? ob->partner : NULL;
}

/* --- adding exchanges -------------------------------------------------------------------- */

static const char *key_of(const struct l7_exchange *ex, bool client)
{
    /* lb echoes the id on the client-side response and sends it on the backend-side request */
    const char *first = client ? ex->response_id : ex->request_id;
    const char *second = client ? ex->request_id : ex->response_id;
    return first[0] ? first : second;
}

static struct waiting *take(struct waiting **list, struct waiting *w)
{
    for (struct waiting **pp = list; *pp != NULL; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            w->next = NULL;
            return w;
        }
    return NULL;
}

static void append(struct waiting **list, struct waiting *w)
{
    struct waiting **pp = list;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = w;
}

/* --- encrypted legs ---------------------------------------------------------------------- */

/* The backend exchange b lies inside the client exchange c in time: lb sent the request after
 * the client's began and before the client's response ended, and the backend's response began
 * before that end too. (Not "before the client's response began": a TLS 1.3 server's session
 * tickets may open the server's flight before lb has even read the request.) Times not seen
 * (0) do not count against. */
static bool inside(const struct l7_exchange *c, const struct l7_exchange *b)
{
    if (c->t_request == 0 || b->t_request == 0 || b->t_request < c->t_request)
        return false;
    if (c->t_response_end != 0 && b->t_request > c->t_response_end)
        return false;
    return c->t_response_end == 0 || b->t_response == 0 || b->t_response <= c->t_response_end;
}

/* What lb's ring holds for a client exchange c: for an encrypted one, its entry by connection
 * and request number; for a plain one, its entry by request id. Looked up once per c. */
struct ring_view {
    bool looked, found;
    char id[L7_ID_LEN];
    struct flow_addr cli, bl;
};

static void ring_look(struct pair_engine *pe, struct waiting *c, struct ring_view *v)
{
    if (v->looked)
        return;
    v->looked = true;
    if (!pe->have_ring)
        return;
    if (c->ex->encrypted)
        v->found = pe->ring.by_conn_request != NULL &&
                   pe->ring.by_conn_request(pe->ring.ctx, &c->flow->cli, c->ex->index, v->id,
                                            sizeof(v->id), &v->bl);
    else
        v->found = c->key[0] != '\0' && pe->ring.by_id != NULL &&
                   pe->ring.by_id(pe->ring.ctx, c->key, &v->cli, &v->bl);
}

/* What lb's ring says of the client exchange c and the backend exchange b, one of them (at
 * least) encrypted: 1 they are one request, 0 they are not, -1 it does not say (yet). */
static int ring_says(struct pair_engine *pe, struct waiting *c, struct waiting *b, struct ring_view *v)
{
    ring_look(pe, c, v);
    if (!v->found)
        return -1;
    if (c->ex->encrypted && !b->ex->encrypted)
        return v->id[0] != '\0' && strcmp(v->id, b->key) == 0;
    if (c->ex->encrypted)
        return v->bl.family != 0 && flow_addr_equal(&v->bl, &b->flow->cli) && inside(c->ex, b->ex);
    return flow_addr_equal(&v->cli, &c->flow->cli) && flow_addr_equal(&v->bl, &b->flow->cli) &&
           inside(c->ex, b->ex);
}

/* How the client exchange c and the backend exchange b pair when one is encrypted, at capture
 * time now, or PAIR_NONE. lb's ring decides when it knows the request; while it does not, and
 * for a linger time (lb writes its entry after the last byte), timing waits. */
static enum pair_how opaque_match(struct pair_engine *pe, struct waiting *c, struct waiting *b,
                                  struct ring_view *v, uint64_t now)
{
    if (!c->ex->encrypted && !b->ex->encrypted)
        return PAIR_NONE;
    /* a plain leg of lb's carries lb's request id: one without is not lb relaying a request */
    if ((!c->ex->encrypted && c->key[0] == '\0') || (!b->ex->encrypted && b->key[0] == '\0'))
        return PAIR_NONE;
    int said = ring_says(pe, c, b, v);
    if (said == 1)
        return PAIR_LB_RING;
    if (said == 0)
        return PAIR_NONE;
    if (pe->have_ring && pe->ring.mode != NULL && pe->ring.mode(pe->ring.ctx) != PAIR_LB_UNKNOWN) {
        uint64_t since = c->since > b->since ? c->since : b->since;
        if (now < since + pe->linger)
            return PAIR_NONE; /* lb's ring may still name it */
    }
    /* a plain leg with an id may still meet its partner by that id (an encrypted exchange
     * nearby can be another request, a health check over TLS): timing only once it waited */
    const struct waiting *plain = c->ex->encrypted ? b : c;
    if (!plain->ex->encrypted && now < plain->since + pe->linger)
        return PAIR_NONE;
    return inside(c->ex, b->ex) ? PAIR_TIMING : PAIR_NONE;
}

/* The first exchange on list others that pairs with w (client when client) when one of them is
 * encrypted; *how gets how. */
static struct waiting *find_opaque(struct pair_engine *pe, struct waiting *w, bool client,
                                   struct waiting *others, uint64_t now, enum pair_how *how)
{
    struct ring_view mine = {0}; /* w's, when w is the client exchange */
    for (struct waiting *o = others; o != NULL; o = o->next) {
        if (!w->ex->encrypted && !o->ex->encrypted)
            continue;
        struct ring_view theirs = {0};
        enum pair_how h = client ? opaque_match(pe, w, o, &mine, now)
                                 : opaque_match(pe, o, w, &theirs, now);
        if (h != PAIR_NONE) {
            *how = h;
            return o;
        }
    }
    return NULL;
}

/* When lb's ring named an encrypted client exchange's request, the record shows its id. */
static void note_ring_id(struct pair_engine *pe, struct waiting *c)
{
    struct flow_addr bl;
    char id[L7_ID_LEN];
    if (!c->ex->encrypted || c->ex->request_id[0] != '\0' || !pe->have_ring ||
        pe->ring.by_conn_request == NULL ||
        !pe->ring.by_conn_request(pe->ring.ctx, &c->flow->cli, c->ex->index, id, sizeof(id), &bl))
        return;
    snprintf(c->ex->request_id, sizeof(c->ex->request_id), "%s", id);
    c->key = c->ex->request_id;
}

/* Retries the waiting encrypted exchanges (lb's ring may have written their entries since). */
static void resolve_opaque(struct pair_engine *pe, uint64_t now)
{
    struct waiting *w = pe->clients;
    while (w != NULL && pe->nencrypted > 0) {
        struct waiting *next = w->next;
        enum pair_how how;
        struct waiting *o = find_opaque(pe, w, true, pe->backends, now, &how);
        if (o != NULL) {
            take(&pe->clients, w);
            take(&pe->backends, o);
            pe->nwaiting -= 2;
            pe->nencrypted -= (size_t)w->ex->encrypted + (size_t)o->ex->encrypted;
            if (how == PAIR_LB_RING)
                note_ring_id(pe, w);
            queue_ready(pe, w, o, how, now);
        }
        w = next;
    }
}

void pair_add(struct pair_engine *pe, struct flow *f, struct l7_exchange *ex, uint64_t now)
{
    struct waiting *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        free(ex);
        return;
    }
    bool client = f->leg == FLOW_LEG_CLIENT;
    flow_hold(f);
    w->flow = f;
    w->ex = ex;
    w->since = now;
    w->key = key_of(ex, client);

    if (f->leg == FLOW_LEG_OTHER) {
        emit_alone(pe, w, true);
        return;
    }

    struct waiting **others = client ? &pe->backends : &pe->clients;
    struct waiting *match = NULL;
    enum pair_how how = PAIR_REQUEST_ID;
    if (ex->encrypted) {
        match = find_opaque(pe, w, client, *others, now, &how);
    } else if (w->key[0] != '\0') {
        /* the same id twice on backend legs is lb retrying a request: pair the attempt that got
         * a response; the failed one is reported alone, so the retry shows */
        for (struct waiting *o = *others; o != NULL; o = o->next)
            if (strcmp(o->key, w->key) == 0 && (match == NULL || (match->ex->status == 0 && o->ex->status != 0)))
                match = o;
        if (match == NULL && pe->nencrypted > 0)
            match = find_opaque(pe, w, client, *others, now, &how);
    } else {
        struct flow *partner = client ? backend_of(pe, f) : client_of(pe, f);
        how = PAIR_CONNECTION;
        for (struct waiting *o = *others; partner && o != NULL && match == NULL; o = o->next)
            if (o->flow == partner && o->key[0] == '\0' && o->ex->index == ex->index)
                match = o;
    }
    if (match != NULL) {
        take(others, match);
        pe->nwaiting--;
        if (match->ex->encrypted)
            pe->nencrypted--;
        if (how == PAIR_LB_RING)
            note_ring_id(pe, client ? w : match);
        if (client)
            queue_ready(pe, w, match, how, now);
        else
            queue_ready(pe, match, w, how, now);
        return;
    }
    if (pe->nwaiting >= PAIR_MAX_WAITING) {
        emit_alone(pe, w, client);
        return;
    }
    append(client ? &pe->clients : &pe->backends, w);
    pe->nwaiting++;
    if (ex->encrypted)
        pe->nencrypted++;
}

/* --- time -------------------------------------------------------------------------------- */

void pair_flow_closed(struct pair_engine *pe, struct flow *f, uint64_t now)
{
    (void)f;
    pair_tick(pe, now);
}

static void prune_opened(struct pair_engine *pe, struct opened **list, size_t *n, uint64_t now)
{
    struct opened **pp = list;
    while (*pp != NULL) {
        struct opened *o = *pp;
        /* keep a closed flow while a partner may still look for it */
        bool old = o->flow->closed && now > o->flow->closed_ts + pe->grace * PAIR_BACKEND_GRACE_FACTOR;
        if (old) {
            *pp = o->next;
            forget_partner(pe, o->flow);
            flow_release(pe->flows, o->flow);
            free(o);
            (*n)--;
        } else {
            pp = &o->next;
        }
    }
}

void pair_tick(struct pair_engine *pe, uint64_t now)
{
    if (pe->nencrypted > 0 && now >= pe->last_resolve + PAIR_RESOLVE_EVERY) {
        pe->last_resolve = now;
        resolve_opaque(pe, now);
    }
    while (pe->ready != NULL) {
        struct ready *r = pe->ready;
        bool closed = r->rec.client.flow->closed && r->rec.backend.flow->closed;
        if (now < r->since + pe->linger) {
            /* early only when final: both connections closed and, if lb's ring is there, the
             * ring already holds the request (lb may write it just after the last byte) */
            if (!closed || !ring_knows(pe, &r->rec))
                break;
        }
        pe->ready = r->next;
        if (pe->ready == NULL)
            pe->ready_tail = NULL;
        emit_record(pe, &r->rec);
        free(r);
    }
    while (pe->clients != NULL && now >= pe->clients->since + pe->grace) {
        struct waiting *w = pe->clients;
        pe->clients = w->next;
        pe->nwaiting--;
        if (w->ex->encrypted)
            pe->nencrypted--;
        emit_alone(pe, w, true);
    }
    while (pe->backends != NULL) {
        struct waiting *w = pe->backends;
        /* a backend exchange nobody can pair (no id, no mapped client: a health check) goes
         * after the plain grace time, the others get longer: a slow client finishes late */
        uint64_t wait = pe->grace;
        if (w->key[0] != '\0' || client_of(pe, w->flow) != NULL)
            wait *= PAIR_BACKEND_GRACE_FACTOR;
        if (now < w->since + wait)
            break;
        pe->backends = w->next;
        pe->nwaiting--;
        if (w->ex->encrypted)
            pe->nencrypted--;
        emit_alone(pe, w, false);
    }
    if (now >= pe->last_prune + PAIR_PRUNE_EVERY) { /* a scan of the lists: not per packet */
        pe->last_prune = now;
        prune_opened(pe, &pe->open_clients, &pe->nopen_clients, now);
        prune_opened(pe, &pe->open_backends, &pe->nopen_backends, now);
    }
}

void pair_flush(struct pair_engine *pe)
{
    if (pe->nencrypted > 0)
        resolve_opaque(pe, UINT64_MAX); /* the end: nothing more will come to wait for */
    /* everything, in the order it finished: paired records first, then lone legs */
    while (pe->ready != NULL) {
        struct ready *r = pe->ready;
        pe->ready = r->next;
        emit_record(pe, &r->rec);
        free(r);
    }
    pe->ready_tail = NULL;
    while (pe->clients != NULL || pe->backends != NULL) {
        bool client = pe->backends == NULL ||
                      (pe->clients != NULL && pe->clients->since <= pe->backends->since);
        struct waiting **list = client ? &pe->clients : &pe->backends;
        struct waiting *w = *list;
        *list = w->next;
        pe->nwaiting--;
        if (w->ex->encrypted)
            pe->nencrypted--;
        emit_alone(pe, w, client);
    }
}

void pair_free(struct pair_engine *pe)
{
    if (pe == NULL)
        return;
    while (pe->ready != NULL) {
        struct ready *r = pe->ready;
        pe->ready = r->next;
        leg_free(pe, &r->rec.client);
        leg_free(pe, &r->rec.backend);
        free(r);
    }
    struct waiting *lists[2] = {pe->clients, pe->backends};
    for (int i = 0; i < 2; i++)
        while (lists[i] != NULL) {
            struct waiting *w = lists[i];
            lists[i] = w->next;
            free(w->ex);
            flow_release(pe->flows, w->flow);
            free(w);
        }
    struct opened *olists[2] = {pe->open_clients, pe->open_backends};
    for (int i = 0; i < 2; i++)
        while (olists[i] != NULL) {
            struct opened *o = olists[i];
            olists[i] = o->next;
            flow_release(pe->flows, o->flow);
            free(o);
        }
    free(pe);
}
