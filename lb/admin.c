/*
 * admin.c - lb's admin endpoint (see admin.h).
 *
 * Each connection reads one request head into a small buffer (the shared parser decides when it
 * is complete or malformed), answers it and closes. Connections are few and short, so they live
 * on a plain list and each round the loop closes the ones past their deadline; no timer heap.
 */
#include "admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "events.h"
#include "health.h"
#include "http.h"
#include "json.h"

#define ADMIN_REQUEST_MAX 4096   /* a request head larger than this is refused */
#define ADMIN_DEADLINE_MS 5000   /* a request must arrive within this */
#define ADMIN_MAX_CONNS 64       /* beyond this, new admin connections are closed at once */

struct admin_conn {
    struct endpoint ep; /* first: epoll data */
    struct admin_conn *next;
    int fd;
    uint64_t deadline_ms;
    size_t len;
    char buf[ADMIN_REQUEST_MAX];
};

struct admin {
    struct endpoint listen_ep; /* first */
    struct worker *w;
    int listen_fd;
    struct admin_conn *conns;
    size_t nconns;
};

static void conn_close(struct admin *a, struct admin_conn *c)
{
    struct admin_conn **p = &a->conns;
    while (*p != NULL && *p != c)
        p = &(*p)->next;
    if (*p == c)
        *p = c->next;
    close(c->fd); /* also takes it out of the epoll set */
    free(c);
    a->nconns--;
}

struct admin *admin_create(struct worker *w, int listen_fd)
{
    struct admin *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->listen_ep.kind = ENDPOINT_ADMIN;
    a->w = w;
    a->listen_fd = listen_fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &a->listen_ep};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0) {
        int e = errno;
        free(a);
        errno = e;
        return NULL;
    }
    return a;
}

void admin_destroy(struct admin *a)
{
    if (a == NULL)
        return;
    while (a->conns != NULL)
        conn_close(a, a->conns);
    epoll_ctl(a->w->epfd, EPOLL_CTL_DEL, a->listen_fd, NULL); /* main() closes the socket */
    free(a);
}

/* Writes the whole answer (small: it fits an empty socket buffer) and closes. */
static void answer(struct admin *a, struct admin_conn *c, int status, const char *extra,
                   const char *body)
{
    char out[1200];
    int n = snprintf(out, sizeof(out),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "%sConnection: close\r\n\r\n%s",
                     status, http_status_reason(status), strlen(body), extra, body);
    if (n > 0 && (size_t)n < sizeof(out)) {
        /* a peer that reads nothing loses its answer, nothing else: one try, never a wait */
        (void)send(c->fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    conn_close(a, c);
}

static void error_answer(struct admin *a, struct admin_conn *c, int status, const char *extra,
                         const char *what)
{
    char body[160];
    snprintf(body, sizeof(body), "{\"error\": \"%s\"}\n", what);
    answer(a, c, status, extra, body);
}

/* A small answer body being built (cut, never overrun, at its size). */
struct text {
    size_t len;
    char buf[600];
};

static void text_add(struct text *t, const char *p, size_t n)
{
    if (n > sizeof(t->buf) - 1 - t->len)
        n = sizeof(t->buf) - 1 - t->len;
    memcpy(t->buf + t->len, p, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

static void text_add_sink(void *ctx, const char *p, size_t n)
{
    text_add(ctx, p, n);
}

/* POST /backends/NAME/ACTION */
static void route(struct admin *a, struct admin_conn *c, const struct http_request *r)
{
    static const char prefix[] = "/backends/";
    struct worker *w = a->w;
    const char *p = r->path;
    size_t n = r->path_len;
    const char *q = memchr(p, '?', n);
    if (q != NULL)
        n = (size_t)(q - p);
    if (n <= sizeof(prefix) - 1 || memcmp(p, prefix, sizeof(prefix) - 1) != 0) {
        error_answer(a, c, 404, "", "no such path: POST /backends/NAME/drain|enable|disable");
        return;
    }
    const char *name = p + sizeof(prefix) - 1, *end = p + n;
    const char *slash = memchr(name, '/', (size_t)(end - name));
    if (slash == NULL) {
        error_answer(a, c, 404, "", "no such path: POST /backends/NAME/drain|enable|disable");
        return;
    }
    size_t name_len = (size_t)(slash - name), action_len = (size_t)(end - slash - 1);
    const char *action = slash + 1;
    enum health_state to;
    if (action_len == 5 && memcmp(action, "drain", 5) == 0)
        to = HEALTH_DRAINING;
    else if (action_len == 6 && memcmp(action, "enable", 6) == 0)
        to = HEALTH_UP;
    else if (action_len == 7 && memcmp(action, "disable", 7) == 0)
        to = HEALTH_DOWN;
    else {
        error_answer(a, c, 404, "", "no such action: drain, enable or disable");
        return;
    }
    if (!(r->method_len == 4 && memcmp(r->method, "POST", 4) == 0)) {
        error_answer(a, c, 405, "Allow: POST\r\n", "use POST");
        return;
    }
    struct backend *b = NULL;
    for (size_t i = 0; i < w->table->count && b == NULL; i++)
        if (strlen(w->table->backends[i].name) == name_len &&
            memcmp(w->table->backends[i].name, name, name_len) == 0)
            b = &w->table->backends[i];
    if (b == NULL || w->health == NULL) {
        error_answer(a, c, 404, "", "no backend of that name");
        return;
    }
    struct health_change chg;
    if (health_admin(w->health, b->index, to, clock_mono_ms(), &chg))
        events_backend_health(w, w->health, b, &chg);
    struct text t = {.len = 0};
    text_str(&t, "{\"backend\": \"");
    json_escape(b->name, strlen(b->name), text_add_sink, &t);
    text_str(&t, "\", \"state\": \"");
    text_str(&t, health_state_name(health_state(w->health, b->index)));
    text_str(&t, "\"}\n");
    answer(a, c, 200, "", t.buf);
}

static void conn_readable(struct admin *a, struct admin_conn *c)
{
    for (;;) {
        if (c->len == sizeof(c->buf)) {
            error_answer(a, c, 431, "", "request too large");
            return;
        }
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; /* more later */
        if (n <= 0) {
            conn_close(a, c);
            return;
        }
        c->len += (size_t)n;
        struct http_header hs[32];
        struct http_request r = {.headers = hs, .num_headers = 32};
        int rc = http_parse_request(c->buf, c->len, &r, NULL);
        if (rc == HTTP_INCOMPLETE)
            continue;
        if (rc == HTTP_ERROR) {
            error_answer(a, c, r.error ? r.error : 400, "", "malformed request");
            return;
        }
        route(a, c, &r); /* a body, if any, is not needed: the path says it all */
        return;
    }
}

static void accept_conns(struct admin *a)
{
    for (;;) {
        int fd = accept4(a->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or out of descriptors: the listener stays readable, tried again */
        struct admin_conn *c = a->nconns < ADMIN_MAX_CONNS ? malloc(sizeof(*c)) : NULL;
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->ep.kind = ENDPOINT_ADMIN;
        c->fd = fd;
        c->len = 0;
        c->deadline_ms = clock_mono_ms() + ADMIN_DEADLINE_MS;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = &c->ep};
        if (epoll_ctl(a->w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
            continue;
        }
        c->next = a->conns;
        a->conns = c;
        a->nconns++;
        conn_readable(a, c); /* the request may be there already */
    }
}

void admin_event(struct admin *a, struct endpoint *ep, uint32_t events)
{
    (void)events;
    if (ep == &a->listen_ep)
        accept_conns(a);
    else
        conn_readable(a, (struct admin_conn *)ep);
}

int admin_run_due(struct admin *a, uint64_t now_ms, int timeout)
{
    if (a == NULL)
        return timeout;
    struct admin_conn *c = a->conns;
    while (c != NULL) {
        struct admin_conn *next = c->next;
        if (c->deadline_ms <= now_ms) {
            conn_close(a, c);
        } else {
            uint64_t left = c->deadline_ms - now_ms;
            if (timeout < 0 || left < (uint64_t)timeout)
                timeout = (int)left;
        }
        c = next;
    }
    return timeout;
}
