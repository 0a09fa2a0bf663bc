/*
 * admin.c - lb's admin endpoint (see admin.h).
 *
 * Each connection reads one request head into a small buffer (the shared parser decides when it
 * is complete or malformed), answers it and closes. Connections are few and short, so they live
 * on a plain list and each round the loop closes the ones past their deadline; no timer heap.
 *
 * An answer is built whole in memory (GET /metrics with 64 backends is about 750 KB, GET /stats
 * about 60 KB), then written without ever waiting: what the socket does not take now is kept and
 * written when epoll says the socket is writable again, so a slow or stalled client costs memory
 * until its deadline, never the worker's time. Building it costs worker 0 a few milliseconds at
 * most (3.6 ms for /metrics with 64 backends, -O2).
 */
#include "admin.h"

#include <errno.h>
#include <stdbool.h>
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
#include "metrics.h"
#include "reloads.h"
#include "stats_json.h"
#include "stats_snapshot.h"
#include "stats_writer.h"

#define ADMIN_REQUEST_MAX 4096   /* a request head larger than this is refused */
#define ADMIN_DEADLINE_MS 5000   /* a request must arrive, and each part of an answer be taken,
                                  * within this */
#define ADMIN_MAX_CONNS 64       /* beyond this, new admin connections are closed at once */
#define ADMIN_SNDBUF 65536      /* an admin connection's send buffer (the kernel doubles it) */
#define ADMIN_RECENT 20          /* recent requests in GET /stats, as many as lbtop --json has */
#define ADMIN_RELOAD_DEADLINE_MS 60000 /* POST /reload waits this long for the reload at most */

struct admin_conn {
    struct endpoint ep; /* first: epoll data */
    struct admin_conn *next;
    int fd;
    uint64_t deadline_ms;
    size_t len;
    char *out;       /* the answer being written (malloc'd), NULL while reading the request */
    size_t out_len;  /* its bytes */
    size_t out_sent; /* of those, written */
    uint64_t reload_ticket; /* POST /reload waiting for main()'s outcome (reloads.h); 0: none */
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
    free(c->out);
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

/* Writes what the socket takes of c's answer; closes c when all is written or the peer is
 * gone, else waits for writability (EPOLLOUT) with a fresh deadline. */
static void write_out(struct admin *a, struct admin_conn *c)
{
    while (c->out_sent < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->deadline_ms = clock_mono_ms() + ADMIN_DEADLINE_MS;
            return; /* EPOLLOUT (edge-triggered, watched since the answer began) brings us back */
        }
        if (n <= 0)
            break; /* the peer is gone: its answer with it */
        c->out_sent += (size_t)n;
    }
    conn_close(a, c);
}

/* Starts writing the answer: a head with status, content type and the extra header lines (each
 * ending in CRLF), then body[0..body_len) unless head_only (HEAD). Takes nothing from body. */
static void answer_with(struct admin *a, struct admin_conn *c, int status, const char *type,
                        const char *extra, const char *body, size_t body_len, bool head_only)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "%sConnection: close\r\n\r\n",
                     status, http_status_reason(status), type, body_len, extra);
    if (n < 0 || (size_t)n >= sizeof(head)) {
        conn_close(a, c);
        return;
    }
    size_t len = (size_t)n + (head_only ? 0 : body_len);
    c->out = malloc(len);
    if (c->out == NULL) {
        conn_close(a, c); /* out of memory: the client sees the connection close */
        return;
    }
    memcpy(c->out, head, (size_t)n);
    if (!head_only)
        memcpy(c->out + n, body, body_len);
    c->out_len = len;
    c->out_sent = 0;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = &c->ep};
    if (epoll_ctl(a->w->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
        conn_close(a, c);
        return;
    }
    write_out(a, c);
}

/* A JSON answer. */
static void answer(struct admin *a, struct admin_conn *c, int status, const char *extra,
                   const char *body)
{
    answer_with(a, c, status, "application/json", extra, body, strlen(body), false);
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

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes %XX escapes of s[0..n) into out[out_len] (NUL-terminated): lbtop sends a name's '#'
 * as %23. False when it does not fit, or an escape is malformed or %00. */
static bool percent_decode(const char *s, size_t n, char *out, size_t out_len)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            int hi = i + 2 < n ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return false;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        if (k + 1 >= out_len)
            return false;
        out[k++] = ch;
    }
    out[k] = '\0';
    return true;
}

/* The backend called name: its name, or for the k-th backend of a name used more than once
 * (k >= 2; the same host:port given twice) "name#k", as lbtop, /stats and /metrics show it
 * (stats_snapshot.h). NULL when none is. */
static struct backend *find_backend(struct backend_table *t, const char *name)
{
    for (size_t i = 0; i < t->count; i++) {
        unsigned k = 1; /* counted in slot order, the statistics' order */
        for (size_t j = 0; j < t->count; j++)
            if (t->backends[j].index < t->backends[i].index &&
                strcmp(t->backends[j].name, t->backends[i].name) == 0)
                k++;
        char shown[sizeof(t->backends[i].name) + 16];
        stats_unique_name(shown, sizeof(shown), t->backends[i].name, k);
        if (strcmp(shown, name) == 0)
            return &t->backends[i];
    }
    return NULL;
}

/* POST /backends/NAME/ACTION (path: the part before any query) */
static void backend_action(struct admin *a, struct admin_conn *c, const struct http_request *r,
                           const char *path, size_t n)
{
    static const char prefix[] = "/backends/";
    struct worker *w = a->w;
    const char *name = path + sizeof(prefix) - 1, *end = path + n;
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
    char wanted[sizeof(((struct backend *)0)->name) + 16];
    struct backend *b = NULL;
    if (percent_decode(name, name_len, wanted, sizeof(wanted)))
        b = find_backend(w->routing->table, wanted);
    if (b == NULL || w->health == NULL) {
        error_answer(a, c, 404, "", "no backend of that name");
        return;
    }
    struct health_change chg;
    if (health_admin(w->health, b->index, to, clock_mono_ms(), &chg))
        events_backend_health(w, w->health, b, &chg);
    struct text t = {.len = 0};
    text_str(&t, "{\"backend\": \"");
    json_escape(wanted, strlen(wanted), text_add_sink, &t);
    text_str(&t, "\", \"state\": \"");
    text_str(&t, health_state_name(health_state(w->health, b->index)));
    text_str(&t, "\"}\n");
    answer(a, c, 200, "", t.buf);
}

/* GET /metrics (Prometheus text format) or GET /stats (JSON): a fresh reading of lb's
 * statistics, written by metrics_write() or stats_json_write(). */
static void reading(struct admin *a, struct admin_conn *c, bool metrics, bool head_only)
{
    const struct stats_shm *shm = stats_thread_shm(a->w->stats);
    if (shm == NULL) {
        error_answer(a, c, 503, "", "lb runs without statistics");
        return;
    }
    struct stats_snapshot *snap = malloc(sizeof(*snap));
    char *body = NULL;
    size_t len = 0;
    FILE *f = snap != NULL ? open_memstream(&body, &len) : NULL;
    int rc = -ENOMEM;
    if (f != NULL) {
        stats_snapshot_take(shm, snap, clock_mono_ns(), clock_wall_ns());
        if (metrics) {
            rc = metrics_write(f, snap);
        } else {
            struct stats_json_doc d = {.producer = "lb_admin",
                                       .cur = snap,
                                       .recent = ADMIN_RECENT,
                                       .now_wall_ns = snap->taken_wall_ns};
            rc = stats_json_write(f, &d);
        }
        if (fclose(f) != 0)
            rc = -EIO;
    }
    if (rc == 0)
        answer_with(a, c, 200, metrics ? METRICS_CONTENT_TYPE : "application/json", "", body, len,
                    head_only);
    else
        error_answer(a, c, 500, "", "out of memory");
    free(body);
    free(snap);
}

static void file_sink(void *ctx, const char *p, size_t n)
{
    fwrite(p, 1, n, ctx);
}

/* The answer to a POST /reload whose outcome came: 200 {"reloaded": true, "generation": N,
 * "report": "..."}, or 422 {"reloaded": false, "errors": "..."} with the file's errors. */
static void reload_answer(struct admin *a, struct admin_conn *c, bool ok, uint64_t generation,
                          const char *report)
{
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    if (f == NULL) {
        error_answer(a, c, 500, "", "out of memory");
        return;
    }
    if (ok)
        fprintf(f, "{\"reloaded\": true, \"generation\": %llu, \"report\": \"",
                (unsigned long long)generation);
    else
        fprintf(f, "{\"reloaded\": false, \"errors\": \"");
    json_escape(report, strlen(report), file_sink, f);
    fprintf(f, "\"}\n");
    if (fclose(f) != 0) {
        free(body);
        error_answer(a, c, 500, "", "out of memory");
        return;
    }
    answer_with(a, c, ok ? 200 : 422, "application/json", "", body, len, false);
    free(body);
}

void admin_reloads_done(struct admin *a)
{
    if (a == NULL || a->w->reloads == NULL)
        return;
    static char report[RELOADS_REPORT_MAX]; /* worker 0's only */
    struct admin_conn *c = a->conns;
    while (c != NULL) {
        struct admin_conn *next = c->next; /* the answer may close c */
        bool ok;
        uint64_t generation;
        if (c->reload_ticket != 0 && c->out == NULL &&
            reloads_outcome(a->w->reloads, c->reload_ticket, &ok, &generation, report,
                            sizeof(report)))
            reload_answer(a, c, ok, generation, report);
        c = next;
    }
}

/* POST /reload: asks main() for a reload; the answer comes with its outcome. */
static void reload_request(struct admin *a, struct admin_conn *c, const struct http_request *r)
{
    if (!(r->method_len == 4 && memcmp(r->method, "POST", 4) == 0)) {
        error_answer(a, c, 405, "Allow: POST\r\n", "use POST");
        return;
    }
    if (a->w->reloads == NULL) {
        error_answer(a, c, 503, "", "reloads are not served here");
        return;
    }
    c->reload_ticket = reloads_ask(a->w->reloads);
    c->deadline_ms = clock_mono_ms() + ADMIN_RELOAD_DEADLINE_MS;
}

/* Sends each request where it goes: GET (or HEAD) /metrics and /stats, POST /backends/...;
 * anything else is 404, or 405 with the methods the path takes. */
static void route(struct admin *a, struct admin_conn *c, const struct http_request *r)
{
    static const char prefix[] = "/backends/";
    const char *p = r->path;
    size_t n = r->path_len;
    const char *q = memchr(p, '?', n);
    if (q != NULL)
        n = (size_t)(q - p);
    bool get = r->method_len == 3 && memcmp(r->method, "GET", 3) == 0;
    bool head = r->method_len == 4 && memcmp(r->method, "HEAD", 4) == 0;
    bool is_metrics = n == 8 && memcmp(p, "/metrics", 8) == 0;
    if (is_metrics || (n == 6 && memcmp(p, "/stats", 6) == 0)) {
        if (get || head)
            reading(a, c, is_metrics, head);
        else
            error_answer(a, c, 405, "Allow: GET, HEAD\r\n", "use GET");
        return;
    }
    if (n > sizeof(prefix) - 1 && memcmp(p, prefix, sizeof(prefix) - 1) == 0) {
        backend_action(a, c, r, p, n);
        return;
    }
    if (n == 7 && memcmp(p, "/reload", 7) == 0) {
        reload_request(a, c, r);
        return;
    }
    error_answer(a, c, 404, "",
                 "no such path: GET /metrics, GET /stats, POST /reload, "
                 "POST /backends/NAME/drain|enable|disable");
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
        /* A modest send buffer: a large answer then waits in lb's memory, written as the client
         * reads, instead of the kernel's buffer growing to megabytes per connection. A failure
         * only leaves the kernel's default, which serves as well. */
        int sndbuf = ADMIN_SNDBUF;
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        c->ep.kind = ENDPOINT_ADMIN;
        c->fd = fd;
        c->len = 0;
        c->out = NULL;
        c->out_len = c->out_sent = 0;
        c->reload_ticket = 0;
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
    struct admin_conn *c = (struct admin_conn *)ep;
    if (ep == &a->listen_ep)
        accept_conns(a);
    else if (c->out != NULL)
        write_out(a, c); /* writable again: more of its answer */
    else if (c->reload_ticket != 0) {
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            conn_close(a, c); /* the client gave up waiting (the reload still happens) */
    } else
        conn_readable(a, c);
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
