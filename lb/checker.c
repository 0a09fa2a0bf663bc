/*
 * checker.c - active HTTP health checks driven by a worker's event loop (see checker.h).
 *
 * One struct check per backend this worker checks, allocated once with its request text and
 * its response buffer: a check cycles IDLE -> CONNECTING -> (HANDSHAKING ->) SENDING -> READING
 * -> IDLE. Bytes move through the transport seam (transport.h), so a backend reached with
 * -b ...,tls is checked over TLS like its requests: HANDSHAKING drives the TLS handshake, and a
 * failed one (a certificate that does not verify) fails the check with OpenSSL's reason. Its
 * one timer is the next start while IDLE and the timeout while in flight. A check only needs
 * the response head, so it reads until the parser says the head is complete (or broken), then
 * closes; the backend's body, if any, is never read.
 */
#include "checker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "events.h"
#include "http.h"
#include "loglimit.h"
#include "timer.h"
#include "transport.h"
#include "transport_tls.h"
#include "worker.h"

/* the request: a path (config.h's limit), a host name, a port and the fixed fields */
#define CHECK_REQ_MAX (CONFIG_MAX_HEALTH_PATH + NET_HOST_LEN + 128)
#define CHECK_BUF 4096     /* a response head larger than this fails the check */
#define CHECK_HEADERS 32

enum check_state {
    CHECK_IDLE,
    CHECK_CONNECTING,
    CHECK_HANDSHAKING, /* -b ...,tls: connected, the TLS handshake is under way */
    CHECK_SENDING,
    CHECK_READING,
};

struct check {
    struct endpoint ep; /* first: epoll's data points here */
    struct checker *c;
    struct backend *b;
    enum check_state state;
    struct transport tr; /* fd -1 while no check is in flight */
    char tls_why[128];   /* why the TLS handshake failed, "" when it did not */
    struct timer timer;
    uint64_t started_ms;
    size_t req_len, sent, len;
    char req[CHECK_REQ_MAX];
    char buf[CHECK_BUF];
};

struct checker {
    struct worker *w;
    struct health *h;
    uint32_t interval_ms, timeout_ms;
    struct timer_heap timers;
    unsigned n;
    uint64_t started;
    struct check *checks; /* n of them */
};

/* The path backend i is checked with, or NULL when it is not checked. */
static const char *checked_path(const struct checker_config *cfg, size_t i)
{
    const char *path = cfg->paths != NULL ? cfg->paths[i] : cfg->path;
    return path != NULL && path[0] != '\0' ? path : NULL;
}

struct checker *checker_create(struct worker *w, struct health *h,
                               const struct checker_config *cfg)
{
    struct checker *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->w = w;
    c->h = h;
    c->interval_ms = cfg->interval_ms ? cfg->interval_ms : 1;
    c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 1;
    timer_heap_init(&c->timers);
    unsigned nworkers = cfg->nworkers ? cfg->nworkers : 1;
    const struct backend_table *table = w->routing->table;
    for (size_t i = 0; i < table->count; i++)
        if (i % nworkers == w->id && checked_path(cfg, i) != NULL)
            c->n++;
    c->checks = calloc(c->n ? c->n : 1, sizeof(*c->checks));
    if (c->checks == NULL)
        goto out_free;
    unsigned k = 0;
    for (size_t i = 0; i < table->count; i++) {
        const char *path = checked_path(cfg, i);
        if (i % nworkers != w->id || path == NULL)
            continue;
        struct check *ck = &c->checks[k++];
        struct backend *b = &table->backends[i];
        ck->ep.kind = ENDPOINT_CHECK;
        ck->c = c;
        ck->b = b;
        ck->tr.fd = -1;
        ck->state = CHECK_IDLE;
        timer_init(&ck->timer, ck);
        const char *lb = strchr(b->host, ':') ? "[" : "", *rb = *lb ? "]" : "";
        int len = snprintf(ck->req, sizeof(ck->req),
                           "GET %s HTTP/1.1\r\nHost: %s%s%s:%u\r\nUser-Agent: lblab-health\r\n"
                           "Connection: close\r\n\r\n",
                           path, lb, b->host, rb, (unsigned)b->port);
        if (len < 0 || (size_t)len >= sizeof(ck->req))
            goto out_free; /* the configuration refuses such paths first */
        ck->req_len = (size_t)len;
        if (timer_set(&c->timers, &ck->timer, w->now_ms) != 0)
            goto out_free;
    }
    return c;

out_free:
    checker_destroy(c);
    return NULL;
}

static void close_fd(struct check *ck)
{
    transport_close(&ck->tr, false); /* also takes it out of the epoll set */
}

void checker_destroy(struct checker *c)
{
    if (c == NULL)
        return;
    for (unsigned k = 0; c->checks != NULL && k < c->n; k++)
        close_fd(&c->checks[k]);
    timer_heap_fini(&c->timers);
    free(c->checks);
    free(c);
}

uint64_t checker_next_deadline(const struct checker *c)
{
    return c != NULL ? timer_next_deadline(&c->timers) : TIMER_NONE;
}

int checker_wait_ms(const struct checker *c, uint64_t now_ms, int max_ms)
{
    return c != NULL ? timer_wait_ms(&c->timers, now_ms, max_ms) : max_ms;
}

uint64_t checker_started(const struct checker *c)
{
    return c->started;
}

unsigned checker_backends(const struct checker *c)
{
    return c->n;
}

/* The check is over at now: report it and schedule the next one. */
static void finish(struct check *ck, uint64_t now, bool ok, const char *why)
{
    struct checker *c = ck->c;
    struct health_change chg;

    close_fd(ck);
    ck->state = CHECK_IDLE;
    bool changed = health_report_check(c->h, ck->b->index, ok, why, now, &chg);
    events_health_check(c->w, c->h, ck->b, ok, changed ? &chg : NULL);
    uint64_t next = ck->started_ms + c->interval_ms;
    if (timer_set(&c->timers, &ck->timer, next > now ? next : now) != 0)
        fprintf(stderr, "lb: health checks of %s stop: out of memory\n", ck->b->name);
}

/* Errors that are lb's own (out of descriptors, memory or local ports) say nothing about the
 * backend: the round is skipped, not failed. */
static bool lbs_own(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOMEM || err == ENOBUFS ||
           err == EADDRNOTAVAIL || err == EAGAIN;
}

/* No check this round (nothing is reported); the next one is an interval away. */
static void skip(struct check *ck, uint64_t now, const char *why, int err)
{
    struct checker *c = ck->c;

    close_fd(ck);
    ck->state = CHECK_IDLE;
    c->started--;
    if (why != NULL) /* lb's own shortage, which lasts: one line a second for every backend */
        loglimit_printf(c->w->warnings, "health-skipped", now,
                        "lb: health check of %s skipped: %s: %s", ck->b->name, why,
                        strerror(err));
    if (timer_set(&c->timers, &ck->timer, now + c->interval_ms) != 0)
        fprintf(stderr, "lb: health checks of %s stop: out of memory\n", ck->b->name);
}

static void start(struct check *ck, uint64_t now)
{
    struct checker *c = ck->c;
    struct backend_addr addrs[BACKEND_MAX_ADDRS];
    struct sockaddr_storage ss;

    ck->started_ms = now;
    ck->len = ck->sent = 0;
    c->started++;
    size_t n = backend_get_addrs(ck->b, addrs, BACKEND_MAX_ADDRS);
    if (n == 0) {
        skip(ck, now, NULL, 0); /* a name not resolved yet: nothing to check */
        return;
    }
    unsigned pref = atomic_load_explicit(&ck->b->preferred, memory_order_relaxed);
    socklen_t sl = backend_addr_to_sockaddr(&addrs[pref < n ? pref : 0], &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        skip(ck, now, "socket", errno);
        return;
    }
    transport_init(&ck->tr, &transport_plain, fd);
    ck->tls_why[0] = '\0';
    int rc;
    do {
        rc = connect(fd, (struct sockaddr *)&ss, sl);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0 && errno != EINPROGRESS) {
        if (lbs_own(errno))
            skip(ck, now, "connect", errno);
        else
            finish(ck, now, false, health_connect_why(errno));
        return;
    }
    rc = worker_watch(c->w, fd, &ck->ep);
    if (rc != 0) {
        skip(ck, now, "epoll", -rc);
        return;
    }
    timer_set(&c->timers, &ck->timer, now + c->timeout_ms);
    ck->state = CHECK_CONNECTING;
}

/* The status a check passes with. */
static bool status_ok(int status)
{
    return status >= 200 && status < 400;
}

/* Reads what is there; returns true when the check finished. */
static bool read_answer(struct check *ck, uint64_t now)
{
    char why[64];

    for (;;) {
        if (ck->len == sizeof(ck->buf)) {
            finish(ck, now, false, "response head too large");
            return true;
        }
        ssize_t r = transport_read(&ck->tr, ck->buf + ck->len, sizeof(ck->buf) - ck->len);
        if (r < 0) {
            if (r == -EAGAIN)
                return false;
            snprintf(why, sizeof(why), "read: %s", strerror((int)-r));
            finish(ck, now, false, why);
            return true;
        }
        if (r == 0) {
            finish(ck, now, false, ck->len == 0 ? "closed without answering" : "incomplete answer");
            return true;
        }
        ck->len += (size_t)r;
        struct http_header headers[CHECK_HEADERS];
        struct http_response res = {.headers = headers, .num_headers = CHECK_HEADERS};
        int rc = http_parse_response(ck->buf, ck->len, &res, NULL, false);
        if (rc == HTTP_INCOMPLETE)
            continue;
        if (rc == HTTP_ERROR) {
            finish(ck, now, false, "malformed answer");
            return true;
        }
        if (res.status < 200)
            continue; /* 1xx interim answers are not the answer; unlikely to a GET */
        snprintf(why, sizeof(why), "status %d", res.status);
        finish(ck, now, status_ok(res.status), why);
        return true;
    }
}

/* How the TLS handshake of a check ended: a failure's reason is kept for the check's result. */
static void tls_report(void *arg, const struct transport_tls_outcome *o)
{
    struct check *ck = arg;
    if (o->version == 0 && o->why != NULL)
        snprintf(ck->tls_why, sizeof(ck->tls_why), "%s", o->why);
}

/* Moves a check as far as its socket allows. */
static void step(struct check *ck, uint64_t now)
{
    char why[192];

    if (ck->state == CHECK_CONNECTING) {
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (getsockopt(ck->tr.fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
            soerr = errno;
        if (soerr != 0) {
            finish(ck, now, false, health_connect_why(soerr));
            return;
        }
        ck->state = CHECK_SENDING;
        if (ck->b->tls_ctx != NULL) {
            int fd = ck->tr.fd;
            if (transport_tls_connect(&ck->tr, ck->b->tls_ctx, fd, ck->b->tls_sni,
                                      ck->b->tls_verify, NULL, tls_report, ck) != 0) {
                skip(ck, now, "TLS", ENOMEM);
                return;
            }
            ck->state = CHECK_HANDSHAKING;
        }
    }
    if (ck->state == CHECK_HANDSHAKING) {
        int rc = transport_handshake(&ck->tr);
        if (rc == -EAGAIN)
            return;
        if (rc != 0) {
            snprintf(why, sizeof(why), "TLS handshake failed: %s",
                     ck->tls_why[0] ? ck->tls_why : strerror(-rc));
            finish(ck, now, false, why);
            return;
        }
        ck->state = CHECK_SENDING;
    }
    if (ck->state == CHECK_SENDING) {
        while (ck->sent < ck->req_len) {
            struct iovec iov = {.iov_base = ck->req + ck->sent, .iov_len = ck->req_len - ck->sent};
            ssize_t w = transport_writev(&ck->tr, &iov, 1);
            if (w < 0) {
                if (w == -EAGAIN)
                    return;
                snprintf(why, sizeof(why), "send: %s", strerror((int)-w));
                finish(ck, now, false, why);
                return;
            }
            ck->sent += (size_t)w;
        }
        ck->state = CHECK_READING;
    }
    if (ck->state == CHECK_READING)
        read_answer(ck, now);
}

void checker_event(struct checker *c, struct endpoint *ep, uint32_t events)
{
    struct check *ck = (struct check *)ep;
    if (ck->state == CHECK_IDLE || ck->tr.fd < 0)
        return; /* an event for a socket closed earlier in this round */
    if (ck->state == CHECK_CONNECTING && !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        return;
    step(ck, c->w->now_ms);
}

void checker_run_due(struct checker *c, uint64_t now_ms)
{
    struct timer *t;
    if (c == NULL)
        return;
    while ((t = timer_pop_expired(&c->timers, now_ms)) != NULL) {
        struct check *ck = t->owner;
        if (ck->state == CHECK_IDLE) {
            start(ck, now_ms);
        } else {
            finish(ck, now_ms, false, "timeout");
        }
    }
}
