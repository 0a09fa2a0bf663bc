/*
 * shmring.c - attach, cache and look up lb's recent-requests ring.
 *
 * The cache mirrors the ring's positions: position p lives in cache[p % capacity], filled by
 * reading every position between the last one read and the ring's head (at most a ring's worth;
 * older ones are gone anyway). A slot still being written (-EAGAIN) stops the pass; it is read on
 * the next lookup. Lookups scan the cache newest first, so a request id reused after a restart
 * of lb matches its latest use.
 */
#include "shmring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "net.h"
#include "stats.h"
#include "stats_shm.h"
#include "stats_snapshot.h"

#define REATTACH_NS 1000000000ull

struct shmring {
    uint16_t lb_port;
    char name[STATS_SHM_NAME_MAX];
    struct stats_shm shm;
    bool attached;
    uint64_t last_attempt;
    uint64_t next_pos;  /* the next ring position to copy */
    uint64_t seen;
    bool valid[STATS_RING_CAPACITY];
    uint64_t pos_of[STATS_RING_CAPACITY];
    struct stats_ring_entry cache[STATS_RING_CAPACITY];
};

struct shmring *shmring_new(uint16_t lb_port)
{
    struct shmring *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->lb_port = lb_port;
    stats_shm_name(lb_port, r->name, sizeof(r->name));
    return r;
}

static void detach(struct shmring *r)
{
    if (r->attached)
        stats_shm_detach(&r->shm);
    r->attached = false;
    memset(r->valid, 0, sizeof(r->valid));
    r->next_pos = 0;
}

bool shmring_attached(struct shmring *r)
{
    uint64_t now = clock_mono_ns();
    if (r->attached && stats_shm_replaced(&r->shm))
        detach(r); /* lb restarted: a new segment, a new ring */
    if (r->attached)
        return true;
    if (r->last_attempt != 0 && now - r->last_attempt < REATTACH_NS)
        return false;
    r->last_attempt = now;
    char err[256];
    if (stats_shm_attach(&r->shm, r->name, NULL, err, sizeof(err)) == 0) {
        r->attached = true;
        uint64_t head = stats_ring_head(&r->shm);
        r->next_pos = head > STATS_RING_CAPACITY ? head - STATS_RING_CAPACITY : 0;
    }
    return r->attached;
}

size_t shmring_backend_ports(struct shmring *r, uint16_t *ports, size_t max)
{
    size_t n = 0;
    if (!shmring_attached(r))
        return 0;
    for (uint32_t i = 0; i < r->shm.nbackends && n < max; i++) {
        struct stats_addr a;
        uint16_t port = r->shm.seg->backends[i].port;
        if (stats_backend_load_resolved(&r->shm, i, &a) == 0 && a.family != 0 && a.port != 0)
            port = a.port;
        if (port == 0)
            continue;
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup = dup || ports[k] == port;
        if (!dup)
            ports[n++] = port;
    }
    return n;
}

uint16_t shmring_tls_port(struct shmring *r)
{
    char text[STATS_TEXT_LEN];
    uint16_t port = 0;
    if (!shmring_attached(r))
        return 0;
    /* "127.0.0.1:3443", "[::1]:3443": the port follows the last colon (untrusted: checked) */
    stats_text_get(text, sizeof(text), r->shm.seg->header.tls_listen_text,
                   sizeof(r->shm.seg->header.tls_listen_text));
    const char *colon = strrchr(text, ':');
    if (colon == NULL || net_parse_port(colon + 1, &port) < 0)
        return 0;
    return port;
}

/* Copies the entries written since the last pass into the cache. */
static void refresh(struct shmring *r)
{
    if (!shmring_attached(r))
        return;
    uint64_t head = stats_ring_head(&r->shm);
    if (head < r->next_pos) { /* cannot go back: a different ring */
        detach(r);
        return;
    }
    if (head - r->next_pos > STATS_RING_CAPACITY)
        r->next_pos = head - STATS_RING_CAPACITY;
    while (r->next_pos < head) {
        size_t slot = (size_t)(r->next_pos % STATS_RING_CAPACITY);
        int rc = stats_ring_read(&r->shm, r->next_pos, &r->cache[slot]);
        if (rc == -EAGAIN)
            break;
        r->valid[slot] = rc == 0;
        r->pos_of[slot] = r->next_pos;
        if (rc == 0)
            r->seen++;
        r->next_pos++;
    }
}

static void to_flow_addr(const struct stats_addr *a, struct flow_addr *out)
{
    memset(out, 0, sizeof(*out));
    out->port = a->port;
    if (a->family == 4) {
        out->family = AF_INET;
        memcpy(out->addr, a->addr, 4);
    } else if (a->family == 6 && net_is_v4mapped(a->addr)) {
        out->family = AF_INET;
        memcpy(out->addr, a->addr + 12, 4);
    } else if (a->family == 6) {
        out->family = AF_INET6;
        memcpy(out->addr, a->addr, 16);
    }
}

/* Newest-first scan of the cache; returns the entry for which match() holds, or NULL. */
static const struct stats_ring_entry *find(struct shmring *r,
                                           bool (*match)(const struct stats_ring_entry *,
                                                         const void *),
                                           const void *key)
{
    refresh(r);
    if (!r->attached)
        return NULL;
    for (uint64_t k = 0; k < STATS_RING_CAPACITY && k < r->next_pos; k++) {
        uint64_t pos = r->next_pos - 1 - k;
        size_t slot = (size_t)(pos % STATS_RING_CAPACITY);
        if (r->valid[slot] && r->pos_of[slot] == pos && match(&r->cache[slot], key))
            return &r->cache[slot];
    }
    return NULL;
}

static bool match_id(const struct stats_ring_entry *e, const void *key)
{
    return e->kind == STATS_ENTRY_HTTP && e->request_id[0] != '\0' &&
           strncmp(e->request_id, key, sizeof(e->request_id)) == 0;
}

static bool match_client(const struct stats_ring_entry *e, const void *key)
{
    struct flow_addr a;
    to_flow_addr(&e->client, &a);
    return e->lb_back.family != 0 && flow_addr_equal(&a, key);
}

static bool by_id(void *ctx, const char *id, struct flow_addr *client,
                  struct flow_addr *backend_local)
{
    const struct stats_ring_entry *e = find(ctx, match_id, id);
    if (e == NULL)
        return false;
    to_flow_addr(&e->client, client);
    to_flow_addr(&e->lb_back, backend_local);
    return true;
}

static bool by_client(void *ctx, const struct flow_addr *client, struct flow_addr *backend_local)
{
    const struct stats_ring_entry *e = find(ctx, match_client, client);
    if (e == NULL)
        return false;
    to_flow_addr(&e->lb_back, backend_local);
    return true;
}

struct backend_key {
    const char *id;
    const struct flow_addr *server;
};

static bool match_backend(const struct stats_ring_entry *e, const void *key)
{
    const struct backend_key *k = key;
    struct flow_addr a;
    to_flow_addr(&e->backend, &a);
    return e->backend_index >= 0 && flow_addr_equal(&a, k->server) &&
           (k->id == NULL || strncmp(e->request_id, k->id, sizeof(e->request_id)) == 0);
}

/* Copies backend b's name out of the segment (untrusted: bounded, control bytes replaced), as
 * lbtop and lb's /stats and /metrics show it: the k-th backend of a name several share (the same
 * host:port given twice) is "name#k" (stats_unique_name()). */
static bool name_of(struct shmring *r, int64_t b, char *name, size_t len)
{
    char raw[STATS_TEXT_LEN], other[STATS_TEXT_LEN];
    unsigned k = 1;

    if (b < 0 || (uint64_t)b >= r->shm.nbackends || b >= STATS_MAX_BACKENDS)
        return false;
    const struct stats_backend *sb = &r->shm.seg->backends[b];
    stats_text_get(raw, sizeof(raw), sb->name, sizeof(sb->name));
    for (int64_t j = 0; j < b; j++) {
        const struct stats_backend *o = &r->shm.seg->backends[j];
        if (strcmp(stats_text_get(other, sizeof(other), o->name, sizeof(o->name)), raw) == 0)
            k++;
    }
    stats_unique_name(name, len, raw, k);
    return name[0] != '\0';
}

/* The ring names the backend of a request by its index: the entry for id when it went to server
 * (a retried request's entry names the backend that served it, not one tried before), else the
 * newest entry that went to server; else the backend whose resolved address is server. */
static bool backend_name(void *ctx, const char *id, const struct flow_addr *server, char *name,
                         size_t len)
{
    struct shmring *r = ctx;
    struct backend_key k = {id != NULL && id[0] != '\0' ? id : NULL, server};
    const struct stats_ring_entry *e = NULL;

    if (len == 0)
        return false;
    if (k.id != NULL)
        e = find(r, match_backend, &k);
    if (e == NULL) {
        k.id = NULL;
        e = find(r, match_backend, &k);
    }
    if (e != NULL)
        return name_of(r, e->backend_index, name, len);
    if (!r->attached)
        return false;
    for (uint32_t i = 0; i < r->shm.nbackends && i < STATS_MAX_BACKENDS; i++) {
        struct stats_addr a;
        struct flow_addr fa;
        if (stats_backend_load_resolved(&r->shm, i, &a) != 0 || a.family == 0)
            continue;
        to_flow_addr(&a, &fa);
        if (flow_addr_equal(&fa, server))
            return name_of(r, i, name, len);
    }
    return false;
}

static enum pair_lb_mode mode(void *ctx)
{
    struct shmring *r = ctx;
    if (!shmring_attached(r))
        return PAIR_LB_UNKNOWN;
    switch (r->shm.seg->header.mode) { /* written once before magic: a plain read */
    case STATS_MODE_HTTP: return PAIR_LB_HTTP;
    case STATS_MODE_TCP: return PAIR_LB_TCP;
    default: return PAIR_LB_UNKNOWN;
    }
}

static bool match_tcp_client(const struct stats_ring_entry *e, const void *key)
{
    struct flow_addr a;
    to_flow_addr(&e->client, &a);
    return e->kind == STATS_ENTRY_TCP && flow_addr_equal(&a, key);
}

static bool tcp_conn(void *ctx, const struct flow_addr *client, struct pair_ring_conn *out)
{
    const struct stats_ring_entry *e = find(ctx, match_tcp_client, client);
    if (e == NULL)
        return false;
    memset(out, 0, sizeof(*out));
    to_flow_addr(&e->client, &out->client);
    to_flow_addr(&e->lb_front, &out->lb_front);
    to_flow_addr(&e->lb_back, &out->lb_back);
    to_flow_addr(&e->backend, &out->server);
    out->conn_id = e->client_conn_id;
    out->worker = e->worker;
    out->backend_index = e->backend_index;
    out->bytes_in = e->bytes_in;
    out->bytes_out = e->bytes_out;
    out->connect_ns = e->connect_ns;
    out->total_ns = e->total_ns;
    return true;
}

struct conn_request_key {
    const struct flow_addr *client;
    unsigned n;
};

static bool match_conn_request(const struct stats_ring_entry *e, const void *key)
{
    const struct conn_request_key *k = key;
    struct flow_addr a;
    to_flow_addr(&e->client, &a);
    return e->kind == STATS_ENTRY_HTTP && e->conn_request == k->n && flow_addr_equal(&a, k->client);
}

static bool by_conn_request(void *ctx, const struct flow_addr *client, unsigned n, char *id,
                            size_t id_len, struct flow_addr *backend_local)
{
    struct conn_request_key k = {client, n};
    const struct stats_ring_entry *e = find(ctx, match_conn_request, &k);
    if (e == NULL)
        return false;
    if (id_len > 0)
        stats_text_get(id, id_len, e->request_id, sizeof(e->request_id));
    to_flow_addr(&e->lb_back, backend_local);
    return true;
}

struct pair_ring_ops shmring_ops(struct shmring *r)
{
    struct pair_ring_ops ops = {
        .ctx = r, .by_id = by_id, .by_client = by_client, .backend_name = backend_name,
        .mode = mode, .tcp_conn = tcp_conn, .by_conn_request = by_conn_request};
    return ops;
}

uint64_t shmring_entries_seen(const struct shmring *r)
{
    return r->seen;
}

void shmring_free(struct shmring *r)
{
    if (r == NULL)
        return;
    detach(r);
    free(r);
}
