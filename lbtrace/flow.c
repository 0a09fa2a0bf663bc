/*
 * flow.c - the connection table: a chained hash on the 4-tuple plus a list in creation order
 * (for expiry and eviction, oldest first).
 *
 * Design notes. A closed flow stays in the hash for a linger time so that the last ACK or a
 * retransmitted FIN does not look like a new connection; a new SYN on the same 4-tuple (port
 * reuse) retires it at once. FIN handling waits until the bytes before the FIN are in, so the
 * end hook always follows the last data hook of its direction. Memory is bounded by max_flows
 * and by each reassembler's bound.
 */
#include "flow.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define FLOW_HASH_SIZE 4096 /* buckets; power of two */
#define FLOW_DEFAULT_MAX 65536
#define FLOW_DEFAULT_LINGER 2000000000ull
#define FLOW_DEFAULT_IDLE 300000000000ull
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

struct flow_table {
    struct flow_config cfg;
    struct flow_hooks hooks;
    struct flow *buckets[FLOW_HASH_SIZE];
    struct flow *oldest, *newest; /* creation order, linked flows only */
    size_t live;
    uint64_t total;
    uint64_t next_id;
};

/* --- addresses --------------------------------------------------------------------------- */

static size_t addr_len(int family)
{
    return family == AF_INET6 ? 16 : 4;
}

bool flow_addr_equal(const struct flow_addr *a, const struct flow_addr *b)
{
    return a->family == b->family && a->port == b->port &&
           memcmp(a->addr, b->addr, addr_len(a->family)) == 0;
}

char *flow_ip_str(const struct flow_addr *a, char *buf, size_t len)
{
    if (inet_ntop(a->family == AF_INET6 ? AF_INET6 : AF_INET, a->addr, buf, (socklen_t)len) ==
        NULL)
        snprintf(buf, len, "?");
    return buf;
}

char *flow_addr_str(const struct flow_addr *a, char *buf, size_t len)
{
    char ip[64];
    flow_ip_str(a, ip, sizeof(ip));
    if (a->family == AF_INET6)
        snprintf(buf, len, "[%s]:%u", ip, (unsigned)a->port);
    else
        snprintf(buf, len, "%s:%u", ip, (unsigned)a->port);
    return buf;
}

static void addr_from_packet(struct flow_addr *a, const struct decode_packet *p, bool src)
{
    memset(a, 0, sizeof(*a));
    a->family = p->family;
    memcpy(a->addr, src ? p->src : p->dst, addr_len(p->family));
    a->port = src ? p->sport : p->dport;
}

static uint64_t hash_endpoint(uint64_t h, const struct flow_addr *a)
{
    for (size_t i = 0; i < addr_len(a->family); i++)
        h = (h ^ a->addr[i]) * FNV_PRIME;
    h = (h ^ (a->port >> 8)) * FNV_PRIME;
    return (h ^ (a->port & 0xff)) * FNV_PRIME;
}

/* Symmetric: both directions of a connection land in the same bucket. */
static size_t bucket_of(const struct flow_addr *a, const struct flow_addr *b)
{
    uint64_t ha = hash_endpoint(FNV_OFFSET, a), hb = hash_endpoint(FNV_OFFSET, b);
    return (size_t)((ha ^ hb) & (FLOW_HASH_SIZE - 1));
}

/* --- configuration ----------------------------------------------------------------------- */

enum flow_leg flow_classify_port(const struct flow_config *cfg, uint16_t port)
{
    if (cfg->lb_port != 0 && port == cfg->lb_port)
        return FLOW_LEG_CLIENT;
    for (size_t i = 0; i < cfg->num_more_lb_ports && i < FLOW_MAX_LB_PORTS; i++)
        if (cfg->more_lb_ports[i] != 0 && cfg->more_lb_ports[i] == port)
            return FLOW_LEG_CLIENT;
    for (size_t i = 0; i < cfg->num_backend_ports && i < FLOW_MAX_BACKEND_PORTS; i++)
        if (cfg->backend_ports[i] == port)
            return FLOW_LEG_BACKEND;
    return FLOW_LEG_OTHER;
}

uint64_t flow_handshake_ns(const struct flow *f)
{
    if (f->syn_ts == 0 || f->established_ts == 0 || f->established_ts < f->syn_ts)
        return 0;
    return f->established_ts - f->syn_ts;
}

struct flow_table *flow_table_new(const struct flow_config *cfg, const struct flow_hooks *hooks)
{
    struct flow_table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->cfg = *cfg;
    if (t->cfg.num_backend_ports > FLOW_MAX_BACKEND_PORTS)
        t->cfg.num_backend_ports = FLOW_MAX_BACKEND_PORTS;
    if (t->cfg.max_flows == 0)
        t->cfg.max_flows = FLOW_DEFAULT_MAX;
    if (t->cfg.linger_ns == 0)
        t->cfg.linger_ns = FLOW_DEFAULT_LINGER;
    if (t->cfg.idle_ns == 0)
        t->cfg.idle_ns = FLOW_DEFAULT_IDLE;
    if (hooks != NULL)
        t->hooks = *hooks;
    t->next_id = 1;
    return t;
}

uint64_t flow_table_total(const struct flow_table *t)
{
    return t->total;
}

size_t flow_table_live(const struct flow_table *t)
{
    return t->live;
}

/* --- lifetime ---------------------------------------------------------------------------- */

static void flow_destroy(struct flow_table *t, struct flow *f)
{
    if (t->hooks.destroy)
        t->hooks.destroy(t->hooks.ctx, f);
    reasm_free(&f->dir[0].reasm);
    reasm_free(&f->dir[1].reasm);
    free(f);
}

void flow_hold(struct flow *f)
{
    f->refs++;
}

void flow_release(struct flow_table *t, struct flow *f)
{
    if (f == NULL)
        return;
    if (f->refs > 0)
        f->refs--;
    if (f->refs == 0 && !f->linked)
        flow_destroy(t, f);
}

static void unlink_flow(struct flow_table *t, struct flow *f)
{
    struct flow **pp = &t->buckets[bucket_of(&f->cli, &f->srv)];
    while (*pp != NULL && *pp != f)
        pp = &(*pp)->hash_next;
    if (*pp == f)
        *pp = f->hash_next;
    if (f->prev)
        f->prev->next = f->next;
    else
        t->oldest = f->next;
    if (f->next)
        f->next->prev = f->prev;
    else
        t->newest = f->prev;
    f->prev = f->next = f->hash_next = NULL;
    f->linked = false;
    t->live--;
}

/* --- stream delivery --------------------------------------------------------------------- */

struct deliver_ctx {
    struct flow_table *t;
    struct flow *f;
    int dir;
};

static void deliver(void *ctx, const uint8_t *data, size_t len, uint64_t ts)
{
    struct deliver_ctx *d = ctx;
    struct flow_dir *fd = &d->f->dir[d->dir];
    if (data != NULL)
        for (size_t i = 0; i < len; i++)
            fd->stream_hash = (fd->stream_hash ^ data[i]) * FNV_PRIME;
    if (d->t->hooks.data)
        d->t->hooks.data(d->t->hooks.ctx, d->f, d->dir, data, len, ts);
}

static void end_dir(struct flow_table *t, struct flow *f, int dir, bool rst, uint64_t ts)
{
    struct flow_dir *fd = &f->dir[dir];
    struct deliver_ctx dc = {t, f, dir};
    if (fd->ended)
        return;
    reasm_finish(&fd->reasm, deliver, &dc);
    fd->ended = true;
    fd->fin_pending = false;
    if (t->hooks.end)
        t->hooks.end(t->hooks.ctx, f, dir, rst, ts);
}

static void close_flow(struct flow_table *t, struct flow *f, bool rst, uint64_t ts)
{
    if (f->closed)
        return;
    end_dir(t, f, FLOW_C2S, rst, ts);
    end_dir(t, f, FLOW_S2C, rst, ts);
    f->closed = true;
    f->closed_ts = ts;
    if (t->hooks.closed)
        t->hooks.closed(t->hooks.ctx, f, ts);
}

/* Closes f if still open, unlinks it, frees it unless referenced. */
static void retire(struct flow_table *t, struct flow *f, uint64_t ts)
{
    close_flow(t, f, false, ts);
    unlink_flow(t, f);
    if (f->refs == 0)
        flow_destroy(t, f);
}

/* After new bytes in dir: a FIN waiting for them may now end the direction. */
static void check_fin(struct flow_table *t, struct flow *f, int dir, uint64_t ts)
{
    struct flow_dir *fd = &f->dir[dir];
    if (fd->fin_pending && !reasm_has_hole(&fd->reasm) &&
        (!fd->reasm.started || (int32_t)(fd->reasm.next - fd->fin_seq) >= 0))
        end_dir(t, f, dir, false, ts);
    if (f->dir[0].ended && f->dir[1].ended && !f->closed)
        close_flow(t, f, false, ts);
}

/* --- lookup and creation ----------------------------------------------------------------- */

static struct flow *lookup(struct flow_table *t, const struct flow_addr *s, const struct flow_addr *d,
                           int *dir)
{
    for (struct flow *f = t->buckets[bucket_of(s, d)]; f != NULL; f = f->hash_next) {
        if (flow_addr_equal(&f->cli, s) && flow_addr_equal(&f->srv, d)) {
            *dir = FLOW_C2S;
            return f;
        }
        if (flow_addr_equal(&f->cli, d) && flow_addr_equal(&f->srv, s)) {
            *dir = FLOW_S2C;
            return f;
        }
    }
    return NULL;
}

static struct flow *create(struct flow_table *t, const struct decode_packet *p, uint64_t ts,
                           int *dir)
{
    struct flow_addr s, d;
    bool sender_is_client;
    addr_from_packet(&s, p, true);
    addr_from_packet(&d, p, false);

    if ((p->flags & (DECODE_TCP_SYN | DECODE_TCP_ACK)) == DECODE_TCP_SYN)
        sender_is_client = true;
    else if ((p->flags & (DECODE_TCP_SYN | DECODE_TCP_ACK)) == (DECODE_TCP_SYN | DECODE_TCP_ACK))
        sender_is_client = false;
    else if (flow_classify_port(&t->cfg, p->dport) != FLOW_LEG_OTHER)
        sender_is_client = true;
    else if (flow_classify_port(&t->cfg, p->sport) != FLOW_LEG_OTHER)
        sender_is_client = false;
    else
        sender_is_client = p->sport >= p->dport; /* the ephemeral port is the higher one */

    while (t->live >= t->cfg.max_flows && t->oldest != NULL)
        retire(t, t->oldest, ts);

    struct flow *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->id = t->next_id++;
    f->cli = sender_is_client ? s : d;
    f->srv = sender_is_client ? d : s;
    f->leg = flow_classify_port(&t->cfg, f->srv.port);
    f->first_ts = ts;
    f->midstream = (p->flags & DECODE_TCP_SYN) == 0;
    reasm_init(&f->dir[0].reasm, t->cfg.reasm_max_bytes);
    reasm_init(&f->dir[1].reasm, t->cfg.reasm_max_bytes);
    f->dir[0].stream_hash = f->dir[1].stream_hash = FNV_OFFSET;

    size_t b = bucket_of(&f->cli, &f->srv);
    f->hash_next = t->buckets[b];
    t->buckets[b] = f;
    f->prev = t->newest;
    if (t->newest)
        t->newest->next = f;
    else
        t->oldest = f;
    t->newest = f;
    f->linked = true;
    t->live++;
    t->total++;
    *dir = sender_is_client ? FLOW_C2S : FLOW_S2C;
    if (t->hooks.opened)
        t->hooks.opened(t->hooks.ctx, f);
    return f;
}

/* --- the per-packet state machine -------------------------------------------------------- */

void flow_table_packet(struct flow_table *t, const struct decode_packet *p, uint64_t ts)
{
    struct flow_addr s, d;
    int dir = FLOW_C2S;
    addr_from_packet(&s, p, true);
    addr_from_packet(&d, p, false);

    struct flow *f = lookup(t, &s, &d, &dir);
    bool pure_syn = (p->flags & (DECODE_TCP_SYN | DECODE_TCP_ACK | DECODE_TCP_RST)) ==
                    DECODE_TCP_SYN;
    if (f != NULL && pure_syn && (f->closed || (dir == FLOW_C2S && f->dir[0].syn &&
                                                f->dir[0].isn != p->seq))) {
        /* port reuse: a new connection on the same 4-tuple */
        retire(t, f, ts);
        f = NULL;
    }
    if (f == NULL) {
        if (p->flags & DECODE_TCP_RST)
            return; /* a RST for a connection we never saw: nothing to track */
        f = create(t, p, ts, &dir);
        if (f == NULL)
            return;
    }

    struct flow_dir *fd = &f->dir[dir];
    struct deliver_ctx dc = {t, f, dir};
    enum reasm_verdict verdict = REASM_EMPTY;
    uint32_t data_seq = p->seq;

    f->last_ts = ts;
    fd->segments++;
    fd->bytes += p->wire_payload_len;

    if (p->flags & DECODE_TCP_SYN) {
        if (fd->syn && fd->isn == p->seq)
            fd->retransmissions++;
        if (!fd->syn) {
            fd->syn = true;
            fd->isn = p->seq;
            if (!fd->reasm.started)
                reasm_start(&fd->reasm, p->seq + 1);
            if (dir == FLOW_C2S && f->syn_ts == 0)
                f->syn_ts = ts;
            if (dir == FLOW_S2C && f->synack_ts == 0)
                f->synack_ts = ts;
        }
        data_seq = p->seq + 1;
    } else if (dir == FLOW_C2S && (p->flags & DECODE_TCP_ACK) && f->synack_ts != 0 &&
               f->established_ts == 0) {
        f->established_ts = ts;
    }

    if (!f->closed && !fd->ended && p->payload_len > 0) {
        verdict = reasm_add(&fd->reasm, data_seq, p->payload, p->payload_len, ts, deliver, &dc);
        if (verdict == REASM_RETRANSMIT || verdict == REASM_OVERLAP)
            fd->retransmissions++;
        else if (verdict == REASM_OUT_OF_ORDER)
            fd->out_of_order++;
    } else if (p->payload_len > 0) {
        verdict = REASM_RETRANSMIT;
        fd->retransmissions++;
    }
    if (p->wire_payload_len > p->payload_len && !fd->ended && !f->closed && fd->reasm.started) {
        /* the snapshot length cut the payload: the rest is a hole nobody will fill */
        uint32_t end = data_seq + (uint32_t)p->wire_payload_len;
        if ((int32_t)(end - fd->reasm.next) > 0 && !reasm_has_hole(&fd->reasm)) {
            uint32_t missing = end - fd->reasm.next;
            fd->reasm.gaps++;
            fd->reasm.gap_bytes += missing;
            deliver(&dc, NULL, missing, ts);
            fd->reasm.next = end;
        }
    }

    if (p->flags & DECODE_TCP_RST) {
        fd->rst = true;
        f->reset = true;
    }
    if ((p->flags & DECODE_TCP_FIN) && !(p->flags & DECODE_TCP_RST)) {
        if (!fd->fin) {
            fd->fin = true;
            fd->fin_pending = true;
            fd->fin_seq = data_seq + (uint32_t)p->wire_payload_len;
        }
    }

    if (t->hooks.segment)
        t->hooks.segment(t->hooks.ctx, f, dir, p, verdict, ts);

    if (p->flags & DECODE_TCP_RST)
        close_flow(t, f, true, ts);
    else if (!f->closed)
        check_fin(t, f, dir, ts);
}

void flow_table_expire(struct flow_table *t, uint64_t now)
{
    struct flow *f = t->oldest;
    while (f != NULL) {
        struct flow *next = f->next;
        if (f->closed ? now > f->closed_ts + t->cfg.linger_ns && now > f->last_ts + t->cfg.linger_ns
                      : now > f->last_ts + t->cfg.idle_ns)
            retire(t, f, now);
        f = next;
    }
}

void flow_table_flush(struct flow_table *t, uint64_t now)
{
    for (struct flow *f = t->oldest; f != NULL; f = f->next)
        close_flow(t, f, false, now > f->last_ts ? now : f->last_ts);
}

void flow_table_free(struct flow_table *t)
{
    if (t == NULL)
        return;
    while (t->oldest != NULL) {
        struct flow *f = t->oldest;
        unlink_flow(t, f);
        flow_destroy(t, f);
    }
    free(t);
}
