/*
 * resolver.c - the resolver thread (see resolver.h).
 *
 * Its inbox is a lock-free stack: workers push with compare-and-swap, the resolver takes the
 * whole stack with one exchange (no ABA problem, since nobody pops single nodes). It sleeps in
 * poll() on its own eventfd, with a timeout that brings the next periodic refresh. A refresh that
 * fails keeps the previous addresses (a backend does not vanish because DNS hiccuped) and is
 * retried after a few seconds.
 */
#include "resolver.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"

#define RETRY_FAILED_MS 2000

struct resolver {
    /* under lock: the table refreshed (resolver_set_table() replaces it) and when each of its
     * backends is due */
    pthread_mutex_t lock;
    struct backend_table *table;
    uint64_t *next_refresh_ms; /* per backend */

    /* immutable after start-up */
    uint32_t ttl_s;
    int efd;
    pthread_t thread;
    bool started;

    /* atomic */
    _Atomic(struct resolve_req *) inbox;
    atomic_bool stop;
};

static void push(_Atomic(struct resolve_req *) *head, struct resolve_req *req)
{
    struct resolve_req *old = atomic_load_explicit(head, memory_order_relaxed);
    do {
        req->next = old;
    } while (!atomic_compare_exchange_weak_explicit(head, &old, req, memory_order_release,
                                                    memory_order_relaxed));
}

static void kick(int efd)
{
    uint64_t one = 1;
    while (write(efd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

static void drain(int efd)
{
    uint64_t v;
    while (read(efd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
}

int resolver_lookup(const char *host, uint16_t port, struct backend_addr *out, size_t max,
                    char *err, size_t err_len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_protocol = IPPROTO_TCP};
    struct addrinfo *res = NULL;
    size_t n = 0;

    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(err, err_len, "cannot resolve '%s': %s", host,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -EHOSTUNREACH;
    }
    /* IPv4 first: a "localhost" backend usually listens on 127.0.0.1 only */
    for (int pass = 0; pass < 2; pass++) {
        for (struct addrinfo *ai = res; ai != NULL && n < max; ai = ai->ai_next) {
            struct backend_addr a;
            if ((pass == 0) != (ai->ai_family == AF_INET))
                continue;
            if (backend_addr_from_sockaddr(ai->ai_addr, &a) != 0)
                continue;
            a.port = port;
            bool dup = false;
            for (size_t k = 0; k < n; k++)
                dup |= memcmp(&out[k], &a, sizeof(a)) == 0;
            if (!dup)
                out[n++] = a;
        }
    }
    freeaddrinfo(res);
    if (n == 0) {
        snprintf(err, err_len, "cannot resolve '%s': no TCP address", host);
        return -EHOSTUNREACH;
    }
    return (int)n;
}

struct resolver *resolver_create(struct backend_table *table, uint32_t ttl_s, char *err,
                                 size_t err_len)
{
    struct resolver *r = calloc(1, sizeof(*r));
    if (r == NULL)
        goto out_nomem;
    r->next_refresh_ms = calloc(table->count ? table->count : 1, sizeof(uint64_t));
    if (r->next_refresh_ms == NULL)
        goto out_free;
    r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->efd < 0) {
        snprintf(err, err_len, "resolver: eventfd: %s", strerror(errno));
        goto out_free_refresh;
    }
    r->table = table;
    r->ttl_s = ttl_s;
    atomic_init(&r->inbox, NULL);
    atomic_init(&r->stop, false);
    pthread_mutex_init(&r->lock, NULL);
    for (size_t i = 0; i < table->count; i++)
        table->backends[i].on_demand = ttl_s == 0 && !table->backends[i].numeric;
    return r;

out_free_refresh:
    free(r->next_refresh_ms);
out_free:
    free(r);
    return NULL;
out_nomem:
    snprintf(err, err_len, "resolver: out of memory");
    return NULL;
}

/* Resolves backend i and publishes the result; schedules its next refresh. */
static int refresh_one(struct resolver *r, size_t i, char *err, size_t err_len)
{
    struct backend *b = &r->table->backends[i];
    struct backend_addr addrs[BACKEND_MAX_ADDRS];
    uint64_t now = clock_mono_ms();

    int n = resolver_lookup(b->host, b->port, addrs, BACKEND_MAX_ADDRS, err, err_len);
    if (n < 0) {
        r->next_refresh_ms[i] = now + RETRY_FAILED_MS;
        return n;
    }
    backend_publish_addrs(b, addrs, (size_t)n);
    r->next_refresh_ms[i] = now + (uint64_t)r->ttl_s * 1000u;
    return 0;
}

int resolver_set_table(struct resolver *r, struct backend_table *table)
{
    uint64_t *due = calloc(table->count ? table->count : 1, sizeof(*due)); /* all due now */
    if (due == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < table->count; i++)
        table->backends[i].on_demand = r->ttl_s == 0 && !table->backends[i].numeric;
    pthread_mutex_lock(&r->lock);
    uint64_t *old = r->next_refresh_ms;
    r->table = table;
    r->next_refresh_ms = due;
    pthread_mutex_unlock(&r->lock);
    free(old);
    return 0;
}

size_t resolver_resolve_all(struct resolver *r, void (*warn)(const char *msg))
{
    size_t failed = 0;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->table->count; i++) {
        char err[512], msg[1024];
        if (r->table->backends[i].numeric)
            continue;
        if (refresh_one(r, i, err, sizeof(err)) != 0) {
            failed++;
            if (warn != NULL) {
                snprintf(msg, sizeof(msg), "backend %s: %s", r->table->backends[i].name, err);
                warn(msg);
            }
        }
    }
    pthread_mutex_unlock(&r->lock);
    return failed;
}

static void answer(struct resolver *r, struct resolve_req *req)
{
    char err[512];
    struct backend *b = req->backend;
    int n = resolver_lookup(b->host, b->port, req->addrs, BACKEND_MAX_ADDRS, err, sizeof(err));
    if (n < 0) {
        req->err = n;
        req->num_addrs = 0;
    } else {
        req->err = 0;
        req->num_addrs = (size_t)n;
        backend_publish_addrs(b, req->addrs, (size_t)n);
    }
    (void)r;
    struct resolve_reply *q = req->reply;
    push(&q->head, req);
    kick(q->efd);
}

static void *resolver_main(void *arg)
{
    struct resolver *r = arg;

    while (!atomic_load(&r->stop)) {
        uint64_t now = clock_mono_ms(), next = UINT64_MAX;
        if (r->ttl_s > 0) {
            pthread_mutex_lock(&r->lock);
            for (size_t i = 0; i < r->table->count; i++) {
                if (r->table->backends[i].numeric)
                    continue;
                if (r->next_refresh_ms[i] <= now) {
                    char err[512];
                    if (refresh_one(r, i, err, sizeof(err)) != 0)
                        fprintf(stderr, "lb: backend %s: %s (keeping the previous addresses)\n",
                                r->table->backends[i].name, err);
                    now = clock_mono_ms();
                }
                if (r->next_refresh_ms[i] < next)
                    next = r->next_refresh_ms[i];
            }
            pthread_mutex_unlock(&r->lock);
        }
        struct resolve_req *list = atomic_exchange_explicit(&r->inbox, NULL, memory_order_acquire);
        if (list != NULL) {
            while (list != NULL) {
                struct resolve_req *req = list;
                list = list->next;
                answer(r, req);
            }
            continue; /* look again before sleeping: more may have come */
        }
        int timeout = next == UINT64_MAX ? -1 : next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
        struct pollfd pfd = {.fd = r->efd, .events = POLLIN};
        int rc = poll(&pfd, 1, timeout);
        if (rc > 0)
            drain(r->efd);
    }
    return NULL;
}

int resolver_start(struct resolver *r)
{
    int rc = pthread_create(&r->thread, NULL, resolver_main, r);
    if (rc != 0)
        return -rc;
    r->started = true;
    return 0;
}

void resolver_submit(struct resolver *r, struct resolve_req *req)
{
    push(&r->inbox, req);
    kick(r->efd);
}

void resolver_stop(struct resolver *r)
{
    if (r == NULL)
        return;
    if (r->started) {
        atomic_store(&r->stop, true);
        kick(r->efd);
        pthread_join(r->thread, NULL);
        r->started = false;
    }
    struct resolve_req *list = atomic_exchange(&r->inbox, NULL);
    while (list != NULL) {
        struct resolve_req *next = list->next;
        free(list);
        list = next;
    }
}

void resolver_destroy(struct resolver *r)
{
    if (r == NULL)
        return;
    resolver_stop(r);
    close(r->efd);
    free(r->next_refresh_ms);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

int resolve_reply_init(struct resolve_reply *q)
{
    atomic_init(&q->head, NULL);
    q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return q->efd < 0 ? -errno : 0;
}

void resolve_reply_fini(struct resolve_reply *q)
{
    struct resolve_req *list = resolve_reply_take(q);
    while (list != NULL) {
        struct resolve_req *next = list->next;
        free(list);
        list = next;
    }
    if (q->efd >= 0)
        close(q->efd);
    q->efd = -1;
}

struct resolve_req *resolve_reply_take(struct resolve_reply *q)
{
    drain(q->efd);
    return atomic_exchange_explicit(&q->head, NULL, memory_order_acquire);
}
