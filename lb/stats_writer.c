/*
 * stats_writer.c - lb's statistics writer (see stats_writer.h for the design).
 *
 * Counters a worker owns are updated with "load relaxed, add, store relaxed": no lock prefix, no
 * contention, and still a data-race-free access for readers in other processes, which load them
 * relaxed. Histograms take one such update per bucket. The heartbeat thread is the only thread
 * this module starts; it sleeps on a condition variable so stats_close() ends it at once.
 */
#include "stats_writer.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "clock.h"
#include "config.h"
#include "net.h"
#include "health.h"
#include "routing.h"
#include "stats_shm.h"

#define HEARTBEAT_PERIOD_NS (250 * UINT64_C(1000000))

struct stats_thread {
    const struct stats_shm *shm; /* the writer's mapping, for whole readings (admin endpoint) */
    struct stats_segment *seg;  /* immutable after stats_open() */
    struct stats_worker *block; /* this worker's counters: written by this worker only */
    _Atomic uint32_t nbackends; /* grows when a reload adds backends (stats_follow_routing()) */
    uint16_t worker;
};

struct stats {
    struct stats_shm shm; /* immutable after stats_open() */
    struct stats_thread *threads;
    unsigned nthreads;
    pthread_t heartbeat;
    bool heartbeat_started;

    pthread_mutex_t lock; /* guards stop */
    pthread_cond_t wake;
    bool stop;
};

/* ---- counter primitives -------------------------------------------------------------------- */

static inline void bump(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void hist_record(struct stats_hist *h, uint64_t ns)
{
    bump(&h->buckets[stats_hist_bucket(ns / 1000)], 1);
    bump(&h->count, 1);
    bump(&h->sum_ns, ns);
    if (ns > atomic_load_explicit(&h->max_ns, memory_order_relaxed))
        atomic_store_explicit(&h->max_ns, ns, memory_order_relaxed);
}

/* A gauge shared by all threads: up by one, raising peak if passed. */
static void gauge_up(_Atomic uint64_t *active, _Atomic uint64_t *peak)
{
    uint64_t now = atomic_fetch_add_explicit(active, 1, memory_order_relaxed) + 1;
    uint64_t p = atomic_load_explicit(peak, memory_order_relaxed);

    while (now > p &&
           !atomic_compare_exchange_weak_explicit(peak, &p, now, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

/* Down by one, never below zero (an unmatched close must not wrap it around). */
static void gauge_down(_Atomic uint64_t *active)
{
    uint64_t v = atomic_load_explicit(active, memory_order_relaxed);

    while (v > 0 &&
           !atomic_compare_exchange_weak_explicit(active, &v, v - 1, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

static inline struct stats_backend_counters *backend_counters(struct stats_thread *t, int b)
{
    if (b < 0 || (uint32_t)b >= atomic_load_explicit(&t->nbackends, memory_order_relaxed))
        return NULL;
    return &t->block->backends[b];
}

static inline unsigned status_class(int status)
{
    return status >= 100 && status <= 599 ? (unsigned)status / 100 : 0;
}

/* ---- heartbeat ----------------------------------------------------------------------------- */

static void *heartbeat_main(void *arg)
{
    struct stats *s = arg;
    struct stats_header *h = &s->shm.seg->header;
    struct timespec until;

    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        atomic_store_explicit(&h->heartbeat_mono_ns, clock_mono_ns(), memory_order_relaxed);
        atomic_store_explicit(&h->heartbeat_wall_ns, clock_wall_ns(), memory_order_relaxed);
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)HEARTBEAT_PERIOD_NS;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!s->stop && pthread_cond_timedwait(&s->wake, &s->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Starts the heartbeat with every signal blocked, so lb's signals go to lb's own threads. */
static int heartbeat_start(struct stats *s)
{
    pthread_condattr_t ca;
    sigset_t all, old;
    int rc;

    if ((rc = pthread_condattr_init(&ca)) != 0)
        return -rc;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&s->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        return -rc;
    if ((rc = pthread_mutex_init(&s->lock, NULL)) != 0) {
        pthread_cond_destroy(&s->wake);
        return -rc;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&s->heartbeat, NULL, heartbeat_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->wake);
        return -rc;
    }
    s->heartbeat_started = true;
    return 0;
}

static void heartbeat_stop(struct stats *s)
{
    if (!s->heartbeat_started)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->heartbeat, NULL);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    s->heartbeat_started = false;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static void put_text(char *dst, size_t len, const char *src)
{
    stats_text_put(dst, len, src, src ? strlen(src) : 0);
}

struct stats *stats_open(const struct stats_config *cfg, char *err, size_t err_len)
{
    char name[STATS_SHM_NAME_MAX];
    struct stats *s;
    size_t nb = cfg->nbackends;
    int rc;

    if (nb > STATS_MAX_BACKENDS)
        nb = STATS_MAX_BACKENDS; /* the rest count in the global totals only */
    if (cfg->nworkers == 0 || cfg->nworkers > STATS_MAX_WORKERS) {
        snprintf(err, err_len, "statistics support 1 to %d workers, not %u", STATS_MAX_WORKERS,
                 cfg->nworkers);
        return NULL;
    }
    if (cfg->private_memory)
        name[0] = '\0';
    else if (cfg->shm_name != NULL)
        snprintf(name, sizeof(name), "%s", cfg->shm_name);
    else
        stats_shm_name(cfg->listen_port, name, sizeof(name));

    s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto out_nomem;
    s->nthreads = cfg->nworkers;
    s->threads = calloc(cfg->nworkers, sizeof(*s->threads));
    if (s->threads == NULL) {
        snprintf(err, err_len, "statistics: out of memory");
        goto out_free;
    }
    if (cfg->private_memory)
        rc = stats_shm_create_private(&s->shm, cfg->nworkers, (uint32_t)nb, err, err_len);
    else
        rc = stats_shm_create(&s->shm, name, cfg->nworkers, (uint32_t)nb, err, err_len);
    if (rc < 0)
        goto out_free;

    struct stats_segment *seg = s->shm.seg;
    struct stats_header *h = &seg->header;
    uint64_t now_wall = clock_wall_ns();
    h->mode = cfg->mode ? cfg->mode : STATS_MODE_HTTP;
    h->listen_port = cfg->listen_port;
    h->features = cfg->features;
    stats_addr_from_sockaddr(&h->listen_addr, cfg->listen_addr);
    put_text(h->listen_text, sizeof(h->listen_text), cfg->listen_text);
    put_text(h->tls_listen_text, sizeof(h->tls_listen_text), cfg->tls_listen_text);
    put_text(h->policy, sizeof(h->policy), cfg->policy);
    if (cfg->admin_addr != NULL)
        stats_addr_from_sockaddr(&h->admin_addr, cfg->admin_addr);
    for (size_t i = 0; i < nb; i++) {
        struct stats_backend *b = &seg->backends[i];
        const char *bname = cfg->backend_names ? cfg->backend_names[i] : NULL;
        const char *host = cfg->backend_hosts ? cfg->backend_hosts[i] : bname;
        put_text(b->name, sizeof(b->name), bname);
        put_text(b->host, sizeof(b->host), host);
        put_text(b->pool, sizeof(b->pool), cfg->backend_pools ? cfg->backend_pools[i] : NULL);
        b->port = cfg->backend_ports ? cfg->backend_ports[i] : 0;
        atomic_store_explicit(&b->weight, cfg->backend_weights ? cfg->backend_weights[i] : 1,
                              memory_order_relaxed);
        atomic_store_explicit(&b->state, STATS_BACKEND_UP, memory_order_relaxed);
        atomic_store_explicit(&b->last_change_wall_ns, now_wall, memory_order_relaxed);
    }
    for (unsigned w = 0; w < cfg->nworkers; w++) {
        s->threads[w].shm = &s->shm;
        s->threads[w].seg = seg;
        s->threads[w].block = &seg->workers[w];
        atomic_init(&s->threads[w].nbackends, (uint32_t)nb);
        s->threads[w].worker = (uint16_t)w;
    }
    stats_shm_publish(&s->shm);

    rc = heartbeat_start(s);
    if (rc < 0) {
        snprintf(err, err_len, "statistics heartbeat thread: %s", strerror(-rc));
        goto out_destroy;
    }
    return s;

out_destroy:
    stats_shm_destroy(&s->shm);
out_free:
    free(s->threads);
    free(s);
    return NULL;
out_nomem:
    snprintf(err, err_len, "statistics: out of memory");
    return NULL;
}

/* True when some pool's backends are checked actively. */
static bool any_checks(const struct config *cfg)
{
    for (size_t p = 0; p < cfg->num_pools; p++)
        if (config_pool_health_path(cfg, p)[0] != '\0')
            return true;
    return false;
}

struct stats *stats_open_lb(const struct config *cfg, const struct backend_table *table, int lfd,
                            int admin_fd, unsigned nworkers, bool private_memory, char *err,
                            size_t err_len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char listen[NET_ADDRSTR_LEN];
    size_t nb = table->count < STATS_MAX_BACKENDS ? table->count : STATS_MAX_BACKENDS;
    const char *names[STATS_MAX_BACKENDS], *hosts[STATS_MAX_BACKENDS];
    const char *pools[STATS_MAX_BACKENDS];
    uint16_t ports[STATS_MAX_BACKENDS];
    uint32_t weights[STATS_MAX_BACKENDS];
    struct sockaddr_storage admin;
    socklen_t admin_len = sizeof(admin);
    bool have_admin = admin_fd >= 0 &&
                      getsockname(admin_fd, (struct sockaddr *)&admin, &admin_len) == 0;
    struct stats *s;

    memset(&ss, 0, sizeof(ss));
    if (getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0)
        net_format_addr((struct sockaddr *)&ss, listen, sizeof(listen));
    else
        snprintf(listen, sizeof(listen), "*:%u", (unsigned)cfg->listen_port);
    char tls_listen[NET_HOST_LEN + 16] = "";
    if (config_tls(cfg)) {
        bool v6 = strchr(cfg->tls_listen_host, ':') != NULL;
        snprintf(tls_listen, sizeof(tls_listen), "%s%s%s:%u", v6 ? "[" : "",
                 cfg->tls_listen_host[0] ? cfg->tls_listen_host : "*", v6 ? "]" : "",
                 (unsigned)cfg->tls_listen_port);
    }
    for (size_t i = 0; i < nb; i++) {
        names[i] = table->backends[i].name;
        hosts[i] = table->backends[i].host;
        ports[i] = table->backends[i].port;
        weights[i] = table->backends[i].weight;
        /* the table holds cfg's backends in cfg's order (config_group_backends()) */
        pools[i] = i < cfg->num_backends ? cfg->pools[cfg->backends[i].pool].name : NULL;
    }
    struct stats_config sc = {
        .private_memory = private_memory,
        .listen_port = cfg->listen_port,
        .listen_addr = (struct sockaddr *)&ss,
        .listen_text = listen,
        .mode = cfg->mode == CONFIG_MODE_TCP ? STATS_MODE_TCP : STATS_MODE_HTTP,
        .policy = cfg->policy,
        .nworkers = nworkers,
        .nbackends = nb,
        .backend_names = names,
        .backend_hosts = hosts,
        .backend_ports = ports,
        .backend_weights = weights,
        .backend_pools = pools,
        .admin_addr = have_admin ? (struct sockaddr *)&admin : NULL,
        .features = (any_checks(cfg) ? STATS_FEATURE_CHECKS : 0) |
                    (tls_listen[0] != '\0' ? STATS_FEATURE_TLS : 0) |
                    (cfg->no_splice ? 0 : STATS_FEATURE_SPLICE),
        .tls_listen_text = tls_listen,
    };
    s = stats_open(&sc, err, err_len);
    if (s == NULL)
        return NULL;
    /* The addresses the first resolution found (later ones follow the requests). */
    for (size_t i = 0; i < nb; i++) {
        struct backend_addr a;
        struct sockaddr_storage bs;
        if (backend_get_addrs(&table->backends[i], &a, 1) == 1 &&
            backend_addr_to_sockaddr(&a, &bs) > 0)
            stats_backend_resolved(s, (int)i, (struct sockaddr *)&bs);
    }
    return s;
}

void stats_close(struct stats *s)
{
    if (s == NULL)
        return;
    heartbeat_stop(s);
    stats_shm_destroy(&s->shm);
    free(s->threads);
    free(s);
}

struct stats_thread *stats_for_worker(struct stats *s, unsigned w)
{
    if (s == NULL || w >= s->nthreads)
        return NULL;
    return &s->threads[w];
}

const struct stats_shm *stats_thread_shm(const struct stats_thread *t)
{
    return t ? t->shm : NULL;
}

const char *stats_name(const struct stats *s)
{
    return s ? s->shm.name : "";
}

int stats_chown(struct stats *s, uid_t uid, gid_t gid, char *err, size_t err_len)
{
    return s != NULL ? stats_shm_chown(&s->shm, uid, gid, err, err_len) : 0;
}

/* ---- client side --------------------------------------------------------------------------- */

void stats_client_accepted(struct stats_thread *t)
{
    if (t == NULL)
        return;
    bump(&t->block->global.clients_accepted, 1);
    gauge_up(&t->seg->header.clients_active, &t->seg->header.clients_peak);
}

void stats_client_closed(struct stats_thread *t, uint64_t requests)
{
    if (t == NULL)
        return;
    bump(&t->block->global.clients_closed, 1);
    bump(&t->block->global.clients_closed_requests, requests);
    gauge_down(&t->seg->header.clients_active);
}

void stats_request_received(struct stats_thread *t)
{
    if (t != NULL)
        bump(&t->block->global.requests, 1);
}

void stats_tls_handshake(struct stats_thread *t, int version, bool resumed)
{
    if (t == NULL)
        return;
    struct stats_global_counters *g = &t->block->global;
    if (version == 0) {
        bump(&g->tls_handshake_failures, 1);
        return;
    }
    bump(&g->tls_handshakes, 1);
    if (resumed)
        bump(&g->tls_resumed, 1);
    if (version == 0x0303)
        bump(&g->tls_v12, 1);
    else if (version == 0x0304)
        bump(&g->tls_v13, 1);
}

void stats_loop_wakeup(struct stats_thread *t, unsigned events)
{
    if (t == NULL)
        return;
    bump(&t->block->global.loop_wakeups, 1);
    bump(&t->block->global.loop_events, events);
}

void stats_held_writes(struct stats_thread *t, uint64_t writes, uint64_t uring_calls,
                       uint64_t sendmsg_calls)
{
    if (t == NULL)
        return;
    struct stats_global_counters *g = &t->block->global;
    atomic_store_explicit(&g->held_writes, writes, memory_order_relaxed);
    atomic_store_explicit(&g->held_uring_calls, uring_calls, memory_order_relaxed);
    atomic_store_explicit(&g->held_sendmsg_calls, sendmsg_calls, memory_order_relaxed);
}

void stats_splices(struct stats_thread *t, uint64_t bytes, uint64_t transfers, uint64_t made)
{
    if (t == NULL)
        return;
    struct stats_global_counters *g = &t->block->global;
    atomic_store_explicit(&g->spliced_bytes, bytes, memory_order_relaxed);
    atomic_store_explicit(&g->splice_transfers, transfers, memory_order_relaxed);
    atomic_store_explicit(&g->splice_pipes_made, made, memory_order_relaxed);
}

void stats_client_timeout(struct stats_thread *t)
{
    if (t != NULL)
        bump(&t->block->global.client_timeouts, 1);
}

/* ---- backend side -------------------------------------------------------------------------- */

void stats_backend_conn_opened(struct stats_thread *t, int b, uint64_t connect_ns)
{
    struct stats_backend_counters *c;

    if (t == NULL || (c = backend_counters(t, b)) == NULL)
        return;
    bump(&c->conns_opened, 1);
    hist_record(&c->connect, connect_ns);
    gauge_up(&t->seg->backends[b].active_conns, &t->seg->backends[b].peak_conns);
}

void stats_backend_conn_closed(struct stats_thread *t, int b)
{
    struct stats_backend_counters *c;

    if (t == NULL || (c = backend_counters(t, b)) == NULL)
        return;
    bump(&c->conns_closed, 1);
    gauge_down(&t->seg->backends[b].active_conns);
}

void stats_backend_conn_reused(struct stats_thread *t, int b)
{
    struct stats_backend_counters *c;

    if (t != NULL && (c = backend_counters(t, b)) != NULL)
        bump(&c->conns_reused, 1);
}

void stats_connect_error(struct stats_thread *t, int b)
{
    struct stats_backend_counters *c;

    if (t != NULL && (c = backend_counters(t, b)) != NULL)
        bump(&c->connect_errors, 1);
}

void stats_request_sent(struct stats_thread *t, int b)
{
    struct stats_backend_counters *c;

    if (t != NULL && (c = backend_counters(t, b)) != NULL)
        bump(&c->requests, 1);
}

void stats_retry(struct stats_thread *t, int b, bool was_sent)
{
    struct stats_backend_counters *c;

    if (t == NULL || (c = backend_counters(t, b)) == NULL)
        return;
    bump(&c->retries, 1);
    if (was_sent)
        bump(&c->requests_done, 1); /* no longer in flight there */
}

void stats_timeout(struct stats_thread *t, int b)
{
    struct stats_backend_counters *c;

    if (t != NULL && (c = backend_counters(t, b)) != NULL)
        bump(&c->timeouts, 1);
}

/* Keeps a backend's published address current: stores it only when it changed (a re-resolution
 * moved the backend), so the shared line is normally only read. */
static void note_address(struct stats_backend *b, const struct sockaddr *sa)
{
    union {
        struct stats_addr a;
        uint64_t w[3];
    } u;
    bool same = true;

    stats_addr_from_sockaddr(&u.a, sa);
    if (u.a.family == 0)
        return;
    for (int i = 0; i < 3; i++)
        if (atomic_load_explicit(&b->resolved_words[i], memory_order_relaxed) != u.w[i])
            same = false;
    if (!same)
        stats_backend_store_resolved(b, &u.a);
}

static void fill_entry(struct stats_thread *t, const struct request_record *r,
                       struct stats_ring_entry *e)
{
    bool fits = true;

    memset(e, 0, sizeof(*e));
    uint64_t end = r->wall_ns ? r->wall_ns : clock_wall_ns();
    e->start_wall_ns = end > r->total_ns ? end - r->total_ns : end;
    e->connect_ns = r->connect_ns;
    e->ttfb_ns = r->ttfb_ns;
    e->total_ns = r->total_ns;
    e->bytes_in = r->bytes_in;
    e->bytes_out = r->bytes_out;
    e->client_conn_id = r->client_conn_id;
    stats_addr_from_sockaddr(&e->client, r->client);
    stats_addr_from_sockaddr(&e->lb_front, r->lb_front);
    stats_addr_from_sockaddr(&e->lb_back, r->lb_back);
    stats_addr_from_sockaddr(&e->backend, r->server);
    e->status = (uint16_t)(r->status >= 0 && r->status <= 999 ? r->status : 0);
    e->worker = t->worker;
    e->backend_index = (int16_t)(backend_counters(t, r->backend) ? r->backend : -1);
    e->kind = r->tcp ? STATS_ENTRY_TCP : STATS_ENTRY_HTTP;
    e->conn_request = r->conn_request;
    e->retries = r->retries;
    if (r->retries > 0)
        e->flags |= STATS_ENTRY_RETRIED;
    if (r->reused)
        e->flags |= STATS_ENTRY_REUSED;
    if (r->generated)
        e->flags |= STATS_ENTRY_GENERATED;
    stats_text_put(e->method, sizeof(e->method), r->method, r->method ? r->method_len : 0);
    fits &= stats_text_put(e->request_id, sizeof(e->request_id), r->id, r->id ? r->id_len : 0);
    fits &= stats_text_put(e->path, sizeof(e->path), r->path, r->path ? r->path_len : 0);
    if (!fits)
        e->flags |= STATS_ENTRY_TRUNCATED;
    if (r->client_tls)
        e->flags |= STATS_ENTRY_CLIENT_TLS;
    if (r->backend_tls)
        e->flags |= STATS_ENTRY_BACKEND_TLS;
    if (r->spliced > 0)
        e->flags |= STATS_ENTRY_SPLICED;
}

void stats_request_done(struct stats_thread *t, const struct request_record *r)
{
    struct stats_global_counters *g;
    struct stats_backend_counters *c;
    struct stats_ring_entry e;
    unsigned cls;

    if (t == NULL || r == NULL)
        return;
    g = &t->block->global;
    cls = status_class(r->status);
    bump(&g->responses[cls], 1);
    bump(&g->bytes_in, r->bytes_in);
    bump(&g->bytes_out, r->bytes_out);
    if (r->generated && (r->status == 400 || r->status == 414 || r->status == 431 ||
                         r->status == 501))
        bump(&g->bad_requests, 1);
    if (r->status == 503 && r->backend < 0)
        bump(&g->no_backend, 1);

    if ((c = backend_counters(t, r->backend)) != NULL) {
        if (r->sent)
            bump(&c->requests_done, 1);
        bump(&c->responses[cls], 1);
        if (r->status == 502)
            bump(&c->resp_502, 1);
        else if (r->status == 503)
            bump(&c->resp_503, 1);
        else if (r->status == 504)
            bump(&c->resp_504, 1);
        bump(&c->bytes_in, r->bytes_in);
        bump(&c->bytes_out, r->bytes_out);
        if (r->ttfb_ns > 0)
            hist_record(&c->ttfb, r->ttfb_ns);
        hist_record(&c->total, r->total_ns);
        if (r->server != NULL)
            note_address(&t->seg->backends[r->backend], r->server);
    }

    fill_entry(t, r, &e);
    stats_ring_write(&t->seg->ring, &e);
}

/* ---- backend state ------------------------------------------------------------------------- */

void stats_backend_health(struct stats_thread *t, int b, uint32_t state, uint64_t changed_wall_ns,
                          const char *reason, uint64_t checks_total, uint64_t checks_failed)
{
    struct stats_backend *be;

    if (t == NULL || backend_counters(t, b) == NULL)
        return;
    be = &t->seg->backends[b];
    if (reason != NULL)
        stats_backend_store_reason(be, reason);
    if (changed_wall_ns != 0)
        atomic_store_explicit(&be->last_change_wall_ns, changed_wall_ns, memory_order_relaxed);
    atomic_store(&be->state, state);
    atomic_store_explicit(&be->checks_total, checks_total, memory_order_relaxed);
    atomic_store_explicit(&be->checks_failed, checks_failed, memory_order_relaxed);
}

void stats_backend_resolved(struct stats *s, int b, const struct sockaddr *sa)
{
    struct stats_addr a;

    if (s == NULL || b < 0 || (uint32_t)b >= stats_shm_backends(&s->shm))
        return;
    stats_addr_from_sockaddr(&a, sa);
    stats_backend_store_resolved(&s->shm.seg->backends[b], &a);
}

/* ---- reload ------------------------------------------------------------------------------- */

/* Writes what the configuration says about backend slot b into its entry, never published yet. */
static void configure_entry(struct stats *s, size_t b, const struct backend *be,
                            const char *pool)
{
    struct stats_backend *e = &s->shm.seg->backends[b];
    put_text(e->name, sizeof(e->name), be->name);
    put_text(e->host, sizeof(e->host), be->host);
    put_text(e->pool, sizeof(e->pool), pool);
    e->port = be->port;
    atomic_store_explicit(&e->weight, be->weight, memory_order_relaxed);
    atomic_store_explicit(&e->state, STATS_BACKEND_UP, memory_order_relaxed);
    atomic_store_explicit(&e->last_change_wall_ns, clock_wall_ns(), memory_order_relaxed);
}

struct removed {
    struct stats_thread *t;
    int slot;
};

/* Under the backend's health lock (health_publish()): the one writer of its state right now. */
static void publish_removed(const struct health_snapshot *snap, void *arg)
{
    const struct removed *r = arg;
    stats_backend_health(r->t, r->slot, STATS_BACKEND_DOWN, clock_wall_ns(),
                         "removed from the configuration by a reload", snap->checks_total,
                         snap->checks_failed);
}

void stats_follow_routing(struct stats *s, struct health *h, const struct routing *old,
                          const struct routing *rt)
{
    if (s == NULL || s->nthreads == 0)
        return;
    struct stats_thread *t = &s->threads[0]; /* any worker's handle writes a backend's state */
    uint32_t published = stats_shm_backends(&s->shm), grown = published;
    /* backends in slots never published yet (a reload added them): their entries first */
    for (size_t p = 0; p < rt->num_pools; p++) {
        const struct routing_pool *pool = &rt->pools[p];
        for (size_t i = 0; i < pool->view.count; i++) {
            const struct backend *b = &pool->view.backends[i];
            if (b->index >= published && b->index < STATS_MAX_BACKENDS) {
                configure_entry(s, b->index, b, pool->name);
                if (b->index + 1 > grown)
                    grown = (uint32_t)b->index + 1;
            }
        }
    }
    if (grown > published) {
        for (uint32_t b = published; b < grown; b++)
            if (rt->by_slot[b] == NULL) /* a slot used and left between two reloads */
                atomic_store_explicit(&s->shm.seg->backends[b].state, STATS_BACKEND_DOWN,
                                      memory_order_relaxed);
        stats_shm_grow_backends(&s->shm, grown);
        for (unsigned w = 0; w < s->nthreads; w++)
            atomic_store_explicit(&s->threads[w].nbackends, grown, memory_order_relaxed);
    }
    for (size_t slot = 0; slot < ROUTING_MAX_SLOTS && slot < published; slot++) {
        struct stats_backend *be = &t->seg->backends[slot];
        const struct backend *b = rt->by_slot[slot];
        if (b != NULL) {
            atomic_store_explicit(&be->weight, b->weight, memory_order_relaxed);
        } else if (old != NULL && old->by_slot[slot] != NULL) {
            struct removed r = {.t = t, .slot = (int)slot};
            if (h != NULL)
                health_publish(h, slot, publish_removed, &r);
            else
                stats_backend_health(t, (int)slot, STATS_BACKEND_DOWN, clock_wall_ns(),
                                     "removed from the configuration by a reload", 0, 0);
        }
    }
}
