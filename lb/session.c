/*
 * session.c - the per-client-connection proxy state machine (see session.h).
 *
 * States of a session:
 *   HEAD     waiting for / reading a request head (keep-alive idle time, or the absolute
 *            --client-timeout deadline counted from the head's first byte)
 *   CONNECT  a backend was picked: waiting for a name (--dns-ttl 0) or a nonblocking connect
 *   PROXY    request head and body flow to the backend, the response flows back
 *   TUNNEL   after a 101 answer to an Upgrade request: bytes both ways until both sides close
 *   CLOSING  a final response (often an error) is flushed, then the write side is shut and the
 *            input drained briefly, so the client reads the response instead of a reset
 *
 * Sockets are edge-triggered: an event only sets a session's "readable"/"writable" flags, which
 * stay set until a read or write returns EAGAIN. run() then calls the state's step function
 * until nothing moves. Each step tries at most one read and one write per direction, so all
 * directions make progress together; a session that keeps moving for many rounds yields and is
 * run again after the worker has served the others (fairness under big transfers).
 *
 * Buffers: `req` holds bytes from the client (the head being parsed, then body bytes, then
 * perhaps the next pipelined requests); `res` holds bytes from the backend; `hout` holds a
 * rewritten head (first the request head for the backend, then the response head for the
 * client) or an error response. Body bytes go out straight from req/res with writev() next to a
 * head, never copied. Positions are offsets from each buffer's start, so compacting a buffer
 * (memmove to the front when it reaches its end) never invalidates them.
 */
#include "session.h"

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "access_log.h"
#include "clock.h"
#include "errors.h"
#include "events.h"
#include "headers.h"
#include "http.h"
#include "net.h"
#include "policy.h"

#define RUN_BUDGET 64         /* step rounds before a busy session yields to the others */
#define LINGER_MS 2000        /* how long a closing connection's input is drained */

struct buf {
    uint32_t start, end; /* unread bytes are data[start..end) */
    char data[SESSION_BUF];
};

/* A connection to a backend: belongs to a session, or sits idle in the worker's pool. */
struct upstream {
    struct endpoint ep; /* first: epoll data */
    int fd;
    struct session *s; /* NULL while idle in the pool */
    struct backend *backend;
    struct upstream *prev, *next; /* pool list; next also links the dead list */
    uint64_t idle_since_ms;
    int err;        /* read or write error (-errno), 0 if none */
    bool readable, writable;
    bool connected;
    bool reused;    /* taken from the pool for the current request */
    bool eof;       /* read 0 or an error: no more bytes will come */
    bool wfailed;   /* writing failed: do not write again */
    bool shut_wr;
    bool in_pool;
    bool dead;
    char addr[NET_ADDRSTR_LEN];
    struct sockaddr_storage server; /* the backend's address */
    struct sockaddr_storage local;  /* lb's end of the connection */
};

enum state { S_HEAD, S_CONNECT, S_PROXY, S_TUNNEL, S_CLOSING };

/* The buffers a session needs only while a request is in progress. An idle keep-alive connection
 * gives them back to its worker's cache, so it costs its req buffer and little else. */
struct xbuf {
    struct xbuf *next; /* the worker's cache */
    struct buf res;
    char hout[SESSION_HEAD_OUT];
};

#define XBUF_CACHE_MAX 64 /* spare xbufs a worker keeps */
enum hout_use { HOUT_FREE, HOUT_REQUEST, HOUT_RESPONSE };

struct session {
    struct endpoint ep; /* first: epoll data */
    struct worker *w;
    struct session *prev, *next; /* the worker's list of sessions */
    struct session *run_next;    /* the worker's run queue or dead list */
    int fd;
    enum state state;
    struct timer timer;
    bool queued, dead;
    char client_addr[NET_ADDRSTR_LEN];
    char client_ip[NET_ADDRSTR_LEN];
    struct sockaddr_storage peer;  /* the client */
    struct sockaddr_storage front; /* lb's end of the client connection */
    uint64_t conn_id;
    uint32_t requests; /* requests begun on this connection */

    /* the client socket */
    bool c_readable, c_writable, c_eof, c_err, c_shut_wr;

    /* times, in worker milliseconds */
    uint64_t idle_since_ms, head_start_ms, activity_ms, connect_start_ms, closing_deadline_ms;
    uint64_t client_activity_ms; /* last byte from the client (a stalled request body) */
    uint32_t parsed_len; /* bytes available at the last "incomplete" parse */

    /* the current request */
    bool in_request;
    bool close_after; /* the client connection closes after this response */
    bool head_req, upgrade_req, idempotent;
    bool expect_continue; /* the client may wait for 100 Continue before sending its body */
    int client_minor;
    char id[HEADERS_MAX_REQUEST_ID + 1];
    size_t id_len;
    char method[24];
    size_t method_len;
    char path[ACCESS_LOG_MAX_PATH + 4];
    size_t path_len;
    enum http_framing req_framing;
    uint64_t req_left; /* HTTP_BODY_LENGTH: body bytes not yet sent */
    struct http_chunked req_dec;
    uint32_t req_ready; /* body bytes at req.start checked and ready to send */
    bool req_done, req_bad;
    uint64_t req_bytes;

    /* the backend for the current request */
    struct backend *backend;
    bool acquired; /* policy_acquired() was called for backend */
    uint64_t tried[POLICY_TRIED_WORDS];
    struct upstream *up;
    struct backend_addr addrs[BACKEND_MAX_ADDRS];
    size_t num_addrs, addr_first, addr_tried;
    struct resolve_req *resolving;
    bool stale_retried;
    bool reused;    /* served on a pooled connection */
    bool generated; /* lb answered itself */
    bool complete;  /* the response was relayed whole */
    bool sent;      /* in flight at s->backend: events_request_sent() reported it */
    uint32_t retries;
    char backend_addr[NET_ADDRSTR_LEN];

    /* the response */
    bool res_started;  /* a byte came from the backend */
    bool res_head_done; /* the final response head was parsed and rewritten */
    bool interim;       /* hout holds a 1xx being relayed */
    bool tunnel_pending;
    bool backend_keepalive;
    bool res_decode; /* chunked from the backend, plain to an HTTP/1.0 client */
    int status;
    enum http_framing res_framing;
    uint64_t res_left;
    struct http_chunked res_dec;
    uint32_t res_ready;
    bool res_done;
    uint64_t bytes_out;

    /* timings, clock_mono_ns() */
    uint64_t t_start, t_first_byte, t_connect_start, t_sent;
    int64_t connect_us;

    enum hout_use hout_use;
    uint32_t hout_len, hout_sent;
    struct xbuf *x; /* res and hout: only while a request is in progress */
    struct buf req;
};

static void run(struct session *s);
static void start_connect(struct session *s, bool allow_pool);
static void connect_next(struct session *s, int err);

/* --- small helpers ----------------------------------------------------------------------------- */

static uint32_t buf_len(const struct buf *b)
{
    return b->end - b->start;
}

/* Room at the end of b, moving the unread bytes to the front when the end is reached. */
static uint32_t buf_room(struct buf *b)
{
    if (b->start == b->end) {
        b->start = b->end = 0;
    } else if (b->end == SESSION_BUF && b->start > 0) {
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
    }
    return SESSION_BUF - b->end;
}

static ssize_t sock_read(int fd, char *p, size_t n)
{
    for (;;) {
        ssize_t r = recv(fd, p, n, 0);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

static ssize_t sock_writev(int fd, struct iovec *iov, int cnt)
{
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
    for (;;) {
        ssize_t r = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

static uint64_t now_ms(const struct session *s)
{
    return s->w->now_ms;
}

static bool is_idempotent(const char *m, size_t n)
{
    static const char *const safe[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
    for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
        if (strlen(safe[i]) == n && memcmp(safe[i], m, n) == 0)
            return true;
    return false;
}

/* --- backend connections and the idle pool ------------------------------------------------- */

static void pool_unlink(struct worker *w, struct upstream *u)
{
    struct upstream_pool *p = &w->pools[u->backend->index];
    if (u->prev)
        u->prev->next = u->next;
    else
        p->head = u->next;
    if (u->next)
        u->next->prev = u->prev;
    u->prev = u->next = NULL;
    u->in_pool = false;
    p->count--;
}

static void upstream_close(struct worker *w, struct upstream *u)
{
    if (u == NULL || u->dead)
        return;
    if (u->in_pool)
        pool_unlink(w, u);
    if (u->s != NULL && u->s->up == u)
        u->s->up = NULL;
    u->s = NULL;
    if (u->connected)
        events_backend_closed(w, u->backend);
    close(u->fd);
    u->fd = -1;
    u->dead = true;
    u->next = w->dead_upstreams;
    w->dead_upstreams = u;
}

static void pool_put(struct worker *w, struct upstream *u)
{
    struct upstream_pool *p = &w->pools[u->backend->index];
    if (p->count >= WORKER_POOL_MAX_IDLE || w->draining) {
        upstream_close(w, u);
        return;
    }
    u->s = NULL;
    u->reused = false;
    u->idle_since_ms = w->now_ms;
    u->prev = NULL;
    u->next = p->head;
    if (p->head)
        p->head->prev = u;
    p->head = u;
    p->count++;
    u->in_pool = true;
}

static struct upstream *pool_take(struct worker *w, struct backend *b)
{
    struct upstream_pool *p = &w->pools[b->index];
    while (p->head != NULL) {
        struct upstream *u = p->head;
        pool_unlink(w, u);
        if (u->eof || u->wfailed || w->now_ms - u->idle_since_ms > WORKER_POOL_MAX_AGE_MS) {
            upstream_close(w, u);
            continue;
        }
        return u;
    }
    return NULL;
}

void session_pool_flush(struct worker *w)
{
    for (size_t i = 0; i < w->table->count; i++)
        while (w->pools[i].head != NULL)
            upstream_close(w, w->pools[i].head);
}

/* --- per-request buffers ----------------------------------------------------------------------- */

/* Gives s its res and hout buffers (from the worker's cache when it has one). Returns 0 or
 * -ENOMEM. */
static int xbuf_acquire(struct session *s)
{
    struct worker *w = s->w;
    if (s->x != NULL)
        return 0;
    struct xbuf *x = w->xbuf_cache;
    if (x != NULL) {
        w->xbuf_cache = x->next;
        w->xbuf_cached--;
    } else {
        x = malloc(sizeof(*x));
        if (x == NULL)
            return -ENOMEM;
    }
    x->next = NULL;
    x->res.start = x->res.end = 0;
    s->x = x;
    return 0;
}

static void xbuf_release(struct session *s)
{
    struct worker *w = s->w;
    struct xbuf *x = s->x;
    if (x == NULL)
        return;
    s->x = NULL;
    if (w->xbuf_cached >= XBUF_CACHE_MAX) {
        free(x);
        return;
    }
    x->next = w->xbuf_cache;
    w->xbuf_cache = x;
    w->xbuf_cached++;
}

void session_cache_flush(struct worker *w)
{
    while (w->xbuf_cache != NULL) {
        struct xbuf *x = w->xbuf_cache;
        w->xbuf_cache = x->next;
        free(x);
    }
    w->xbuf_cached = 0;
}

/* --- session life ----------------------------------------------------------------------------- */

static void log_request(struct session *s)
{
    struct worker *w = s->w;
    uint64_t now = clock_mono_ns();
    struct upstream *u = s->up;
    struct request_record r = {
        .method = s->method,
        .method_len = s->method_len,
        .path = s->path,
        .path_len = s->path_len,
        .id = s->id,
        .id_len = s->id_len,
        .bytes_in = s->req_bytes,
        .status = s->status,
        .bytes_out = s->bytes_out,
        .generated = s->generated,
        .backend = s->backend ? (int)s->backend->index : -1,
        .sent = s->sent,
        .reused = s->reused,
        .retries = s->retries,
        .wall_ns = clock_wall_ns(),
        .connect_ns = s->connect_us > 0 ? (uint64_t)s->connect_us * 1000u : 0,
        .first_byte_ns = s->t_first_byte ? s->t_first_byte - s->t_start : 0,
        .ttfb_ns = s->t_first_byte && s->t_sent && s->t_first_byte > s->t_sent
                       ? s->t_first_byte - s->t_sent
                       : 0,
        .total_ns = s->t_start ? now - s->t_start : 0,
        .client_text = s->client_addr,
        .server_text = s->backend_addr[0] ? s->backend_addr : NULL,
        .client = (const struct sockaddr *)&s->peer,
        .lb_front = (const struct sockaddr *)&s->front,
        .lb_back = u ? (const struct sockaddr *)&u->local : NULL,
        .server = u ? (const struct sockaddr *)&u->server : NULL,
        .client_conn_id = s->conn_id,
        .conn_request = s->requests,
    };
    events_request_done(w, &r);
    s->in_request = false;
}

static void release_backend(struct session *s)
{
    if (s->acquired) {
        policy_released(s->w->policy, s->backend->index);
        s->acquired = false;
    }
}

static void session_close(struct session *s, bool reset)
{
    struct worker *w = s->w;
    if (s->dead)
        return;
    if (s->in_request)
        log_request(s);
    if (s->resolving != NULL) {
        s->resolving->owner = NULL; /* the answer will be freed when it comes */
        s->resolving = NULL;
    }
    upstream_close(w, s->up);
    release_backend(s);
    timer_cancel(&w->timers, &s->timer);
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(s->fd);
    s->fd = -1;
    if (s->prev)
        s->prev->next = s->next;
    else
        w->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    w->num_sessions--;
    s->dead = true;
    events_client_closed(w, s->requests);
    if (!s->queued) {
        s->run_next = w->dead_sessions;
        w->dead_sessions = s;
    }
}

void session_reap(struct worker *w)
{
    while (w->dead_sessions != NULL) {
        struct session *s = w->dead_sessions;
        w->dead_sessions = s->run_next;
        xbuf_release(s);
        free(s);
    }
    while (w->dead_upstreams != NULL) {
        struct upstream *u = w->dead_upstreams;
        w->dead_upstreams = u->next;
        free(u);
    }
}

static void reset_request(struct session *s)
{
    s->in_request = false;
    s->close_after = false;
    s->head_req = s->upgrade_req = s->idempotent = s->expect_continue = false;
    s->id_len = s->method_len = s->path_len = 0;
    s->req_framing = HTTP_BODY_NONE;
    s->req_left = 0;
    s->req_ready = 0;
    s->req_done = s->req_bad = false;
    s->req_bytes = 0;
    s->backend = NULL;
    s->acquired = false;
    memset(s->tried, 0, sizeof(s->tried));
    s->num_addrs = s->addr_first = s->addr_tried = 0;
    s->stale_retried = false;
    s->reused = s->generated = s->complete = s->sent = false;
    s->retries = 0;
    s->backend_addr[0] = '\0';
    s->res_started = s->res_head_done = s->interim = s->tunnel_pending = false;
    s->backend_keepalive = s->res_decode = s->res_done = false;
    s->status = 0;
    s->res_framing = HTTP_BODY_NONE;
    s->res_left = 0;
    s->res_ready = 0;
    s->bytes_out = 0;
    s->t_start = s->t_first_byte = s->t_connect_start = s->t_sent = 0;
    s->connect_us = -1;
    s->hout_use = HOUT_FREE;
    s->hout_len = s->hout_sent = 0;
    xbuf_release(s);
    s->head_start_ms = 0;
    s->parsed_len = 0;
}

int session_open(struct worker *w, int fd, const struct sockaddr *peer, socklen_t peer_len)
{
    struct sockaddr_in v4;
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)peer;
    if (peer->sa_family == AF_INET6 && peer_len >= sizeof(*v6) &&
        IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
        /* a dual-stack listener: show IPv4 clients as 1.2.3.4, not ::ffff:1.2.3.4 */
        memset(&v4, 0, sizeof(v4));
        v4.sin_family = AF_INET;
        v4.sin_port = v6->sin6_port;
        memcpy(&v4.sin_addr, &v6->sin6_addr.s6_addr[12], 4);
        peer = (const struct sockaddr *)&v4;
    }
    struct session *s = malloc(sizeof(*s));
    if (s == NULL) {
        close(fd);
        return -ENOMEM;
    }
    /* only the header part needs zeroing; the buffers are written before they are read */
    memset(s, 0, offsetof(struct session, req));
    s->req.start = s->req.end = 0;
    s->x = NULL;
    s->ep.kind = ENDPOINT_CLIENT;
    s->w = w;
    s->fd = fd;
    timer_init(&s->timer);
    socklen_t front_len = sizeof(s->front);
    memcpy(&s->peer, peer, peer->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                      : sizeof(struct sockaddr_in6));
    if (getsockname(fd, (struct sockaddr *)&s->front, &front_len) != 0)
        s->front.ss_family = AF_UNSPEC;
    s->conn_id = ++w->conn_serial;
    net_format_addr(peer, s->client_addr, sizeof(s->client_addr));
    net_format_ip(peer, s->client_ip, sizeof(s->client_ip));
    net_set_nodelay(fd);
    reset_request(s);
    s->idle_since_ms = w->now_ms;
    s->activity_ms = w->now_ms;
    s->state = S_HEAD;

    int rc = worker_watch(w, fd, &s->ep);
    if (rc != 0) {
        close(fd);
        free(s);
        return rc;
    }
    s->next = w->sessions;
    if (w->sessions)
        w->sessions->prev = s;
    w->sessions = s;
    w->num_sessions++;
    events_client_opened(w);
    if (w->draining)
        s->close_after = true;
    run(s); /* the request may already be there */
    return 0;
}

/* Enters CLOSING: flush what hout holds for the client (if anything), then close gracefully. */
static void enter_closing(struct session *s)
{
    upstream_close(s->w, s->up);
    release_backend(s);
    s->state = S_CLOSING;
    s->closing_deadline_ms = now_ms(s) + LINGER_MS +
                             (s->hout_use == HOUT_RESPONSE ? s->w->cfg->client_timeout_ms : 0);
}

/* Answers the current request with lb's own error response, then closes the connection. */
static void send_error(struct session *s, int status, const char *detail)
{
    if (xbuf_acquire(s) != 0) {
        session_close(s, false);
        return;
    }
    if (s->id_len == 0) {
        worker_request_id(s->w, s->id);
        s->id_len = 32;
    }
    if (s->t_start == 0)
        s->t_start = clock_mono_ns();
    ssize_t n = errors_response(s->x->hout, sizeof(s->x->hout), status, detail, s->id, s->id_len,
                                s->head_req);
    upstream_close(s->w, s->up);
    s->status = status;
    s->generated = true;
    if (n > 0) {
        s->hout_use = HOUT_RESPONSE;
        s->hout_len = (uint32_t)n;
        s->hout_sent = 0;
        s->bytes_out += (uint64_t)n;
    } else {
        s->hout_use = HOUT_FREE;
    }
    s->res_head_done = false;
    s->res_ready = 0;
    s->in_request = true;
    log_request(s);
    enter_closing(s);
}

/* The backend broke the response after it started: the client must not see a complete one.
 * While not one byte of the response head has gone to the client it can still get a 502. */
static void abort_truncated(struct session *s, const char *why)
{
    if (s->backend)
        events_backend_broke(s->w, s->backend, why);
    if (s->res_head_done && s->hout_use == HOUT_RESPONSE && s->hout_sent == 0)
        send_error(s, 502, why);
    else
        session_close(s, true);
}

/* --- request head ---------------------------------------------------------------------------- */

static void copy_field(char *dst, size_t cap, size_t *len, const char *src, size_t n)
{
    if (n > cap - 1)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    *len = n;
}

static void begin_request(struct session *s, const struct http_request *r, size_t head_len)
{
    struct worker *w = s->w;
    const char *id;
    size_t id_len;

    if (xbuf_acquire(s) != 0) {
        session_close(s, false);
        return;
    }
    s->in_request = true;
    s->requests++;
    s->client_activity_ms = now_ms(s);
    events_request_received(w);
    copy_field(s->method, sizeof(s->method), &s->method_len, r->method, r->method_len);
    /* keep one byte more than the log shows, so it knows to mark the cut */
    copy_field(s->path, sizeof(s->path), &s->path_len, r->target, r->target_len);
    if (headers_client_request_id(r, &id, &id_len)) {
        copy_field(s->id, sizeof(s->id), &s->id_len, id, id_len);
    } else {
        worker_request_id(w, s->id);
        s->id_len = 32;
    }
    s->head_req = r->method_len == 4 && memcmp(r->method, "HEAD", 4) == 0;
    s->idempotent = is_idempotent(r->method, r->method_len);
    s->client_minor = r->minor_version;
    s->upgrade_req = r->upgrade;
    s->expect_continue = r->expect_continue;
    s->close_after = !r->keep_alive || w->draining;
    s->req_framing = r->framing;
    s->req_left = r->content_length;
    http_chunked_init(&s->req_dec);
    s->req_done = r->framing == HTTP_BODY_NONE ||
                  (r->framing == HTTP_BODY_LENGTH && r->content_length == 0);

    if (r->method_len == 7 && memcmp(r->method, "CONNECT", 7) == 0) {
        s->req.start += (uint32_t)head_len;
        send_error(s, 501, "CONNECT is not supported: lb is a reverse proxy");
        return;
    }

    struct policy_request pr = {.key = s->client_ip, .key_len = strlen(s->client_ip),
                                .tried = s->tried};
    int idx = policy_pick(w->policy, &pr);
    if (idx < 0) {
        s->req.start += (uint32_t)head_len;
        send_error(s, 503, "no backend is available");
        return;
    }
    s->backend = &w->table->backends[idx];
    policy_acquired(w->policy, (size_t)idx);
    s->acquired = true;

    struct headers_request_opts o = {
        .client_ip = s->client_ip,
        .proto = "http",
        .request_id = s->id,
        .request_id_len = s->id_len,
        .default_host = s->backend->name,
        .close = false,
    };
    ssize_t n = headers_rewrite_request(r, &o, s->x->hout, sizeof(s->x->hout));
    s->req.start += (uint32_t)head_len;
    if (n < 0) {
        send_error(s, 431, "the request head is too large");
        return;
    }
    if (r->num_headers + 3 > w->limits.max_headers) {
        /* the field limit holds for the head the backend gets, with lb's fields added */
        size_t lines = 0;
        for (const char *p = s->x->hout; (p = memchr(p, '\n', (size_t)(s->x->hout + n - p))); p++)
            lines++;
        if (lines - 2 > w->limits.max_headers) {
            send_error(s, 431, "too many header fields with X-Forwarded-For, X-Forwarded-Proto "
                               "and X-Request-ID added");
            return;
        }
    }
    s->hout_use = HOUT_REQUEST;
    s->hout_len = (uint32_t)n;
    s->hout_sent = 0;
    start_connect(s, true);
}

static bool step_head(struct session *s);

/* Reads from the client into req. Returns true when something happened (bytes, EOF, error). */
static bool client_read(struct session *s)
{
    if (!s->c_readable || s->c_eof || s->c_err)
        return false;
    uint32_t room = buf_room(&s->req);
    if (room == 0)
        return false;
    ssize_t n = sock_read(s->fd, s->req.data + s->req.end, room);
    if (n > 0) {
        s->req.end += (uint32_t)n;
        s->activity_ms = s->client_activity_ms = now_ms(s);
        return true;
    }
    if (n == 0) {
        s->c_eof = true;
        return true;
    }
    if (n == -EAGAIN) {
        s->c_readable = false;
        return false;
    }
    s->c_err = true;
    return true;
}

static bool step_head(struct session *s)
{
    struct worker *w = s->w;
    bool progress = client_read(s);
    uint32_t avail = buf_len(&s->req);

    if (avail > 0 && s->head_start_ms == 0) {
        s->head_start_ms = now_ms(s);
        s->t_start = clock_mono_ns();
    }
    if (avail > 0 && avail != s->parsed_len) {
        struct http_request r = {.headers = w->scratch, .num_headers = HTTP_LIMITS_DEFAULT_HEADERS};
        int rc = http_parse_request(s->req.data + s->req.start, avail, &r, &w->limits);
        if (rc > 0) {
            begin_request(s, &r, (size_t)rc);
            return true;
        }
        if (rc == HTTP_ERROR) {
            send_error(s, r.error ? r.error : 400, r.error_reason);
            return true;
        }
        s->parsed_len = avail;
        if (buf_room(&s->req) == 0) {
            bool line_done = memchr(s->req.data + s->req.start, '\n', avail) != NULL;
            send_error(s, line_done ? 431 : 414,
                       line_done ? "the request head is too large" : "the request line is too long");
            return true;
        }
    }
    if (s->c_err) {
        session_close(s, false);
        return true;
    }
    if (s->c_eof) {
        if (avail == 0)
            session_close(s, false);
        else
            send_error(s, 400, "the connection closed in the middle of a request head");
        return true;
    }
    if (avail == 0 && w->draining) {
        session_close(s, false);
        return true;
    }
    return progress;
}

/* --- connecting ------------------------------------------------------------------------------- */

static struct upstream *upstream_new(struct session *s, int fd)
{
    struct upstream *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->ep.kind = ENDPOINT_BACKEND;
    u->fd = fd;
    u->s = s;
    u->backend = s->backend;
    return u;
}

static void on_connected(struct session *s)
{
    struct upstream *u = s->up;
    uint64_t connect_ns = clock_mono_ns() - s->t_connect_start;
    socklen_t sl = sizeof(u->local);
    u->connected = true;
    u->writable = true;
    if (getsockname(u->fd, (struct sockaddr *)&u->local, &sl) != 0)
        u->local.ss_family = AF_UNSPEC;
    s->connect_us = (int64_t)(connect_ns / 1000);
    atomic_store_explicit(&s->backend->preferred,
                          (unsigned)((s->addr_first + s->addr_tried) % (s->num_addrs ? s->num_addrs : 1)),
                          memory_order_relaxed);
    snprintf(s->backend_addr, sizeof(s->backend_addr), "%s", u->addr);
    events_backend_connected(s->w, s->backend, connect_ns, false);
    events_request_sent(s->w, s->backend);
    s->sent = true;
    s->state = S_PROXY;
    s->activity_ms = now_ms(s);
}

/* Tries the next address of the current backend (s->addr_tried counts the failed ones). */
static void try_address(struct session *s)
{
    struct worker *w = s->w;
    const struct backend_addr *a = &s->addrs[(s->addr_first + s->addr_tried) % s->num_addrs];
    struct sockaddr_storage ss;
    socklen_t sl = backend_addr_to_sockaddr(a, &ss);
    int err;

    s->state = S_CONNECT;
    s->connect_start_ms = now_ms(s);
    s->t_connect_start = clock_mono_ns();
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        connect_next(s, -errno);
        return;
    }
    net_set_nodelay(fd);
    int rc;
    do {
        rc = connect(fd, (struct sockaddr *)&ss, sl);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0 && errno != EINPROGRESS) {
        err = -errno;
        close(fd);
        connect_next(s, err);
        return;
    }
    struct upstream *u = upstream_new(s, fd);
    if (u == NULL) {
        close(fd);
        connect_next(s, -ENOMEM);
        return;
    }
    net_format_addr((struct sockaddr *)&ss, u->addr, sizeof(u->addr));
    memcpy(&u->server, &ss, sizeof(ss));
    err = worker_watch(w, fd, &u->ep);
    if (err != 0) {
        close(fd);
        free(u);
        connect_next(s, err);
        return;
    }
    s->up = u;
    if (rc == 0)
        on_connected(s);
}

/* Connects the current request to s->backend: an idle pooled connection if allowed and there is
 * one, else a new connection (after resolving the name first with --dns-ttl 0). */
static void start_connect(struct session *s, bool allow_pool)
{
    struct worker *w = s->w;
    struct backend *b = s->backend;

    s->num_addrs = s->addr_tried = 0;
    if (allow_pool) {
        struct upstream *u = pool_take(w, b);
        if (u != NULL) {
            u->s = s;
            u->reused = true;
            s->up = u;
            s->reused = true;
            s->connect_us = 0;
            snprintf(s->backend_addr, sizeof(s->backend_addr), "%s", u->addr);
            events_backend_connected(w, b, 0, true);
            events_request_sent(w, b);
            s->sent = true;
            s->state = S_PROXY;
            s->activity_ms = now_ms(s);
            return;
        }
    }
    if (b->on_demand) {
        struct resolve_req *req = calloc(1, sizeof(*req));
        if (req == NULL) {
            connect_next(s, -ENOMEM);
            return;
        }
        req->backend = b;
        req->reply = &w->replies;
        req->owner = s;
        s->resolving = req;
        s->state = S_CONNECT;
        s->connect_start_ms = now_ms(s);
        s->t_connect_start = clock_mono_ns();
        resolver_submit(w->resolver, req);
        return;
    }
    s->num_addrs = backend_get_addrs(b, s->addrs, BACKEND_MAX_ADDRS);
    if (s->num_addrs == 0) {
        connect_next(s, -EHOSTUNREACH);
        return;
    }
    s->addr_first = atomic_load_explicit(&b->preferred, memory_order_relaxed) % s->num_addrs;
    try_address(s);
}

void session_resolved(struct worker *w, struct resolve_req *req)
{
    struct session *s = req->owner;
    (void)w;
    if (s == NULL || s->dead || s->resolving != req) {
        free(req);
        return;
    }
    s->resolving = NULL;
    int err = req->err;
    s->num_addrs = req->num_addrs;
    memcpy(s->addrs, req->addrs, req->num_addrs * sizeof(req->addrs[0]));
    free(req);
    if (err != 0 || s->num_addrs == 0) {
        s->num_addrs = 0;
        connect_next(s, err ? err : -EHOSTUNREACH);
    } else {
        s->addr_first = 0;
        s->addr_tried = 0;
        try_address(s);
    }
    if (!s->dead)
        run(s);
}

/* The current connection attempt failed with err: next address, else next backend, else 503. */
static void connect_next(struct session *s, int err)
{
    struct worker *w = s->w;
    upstream_close(w, s->up);
    if (s->resolving != NULL) {
        s->resolving->owner = NULL;
        s->resolving = NULL;
    }
    if (s->num_addrs > 0 && ++s->addr_tried < s->num_addrs) {
        try_address(s);
        return;
    }
    events_backend_connect_failed(w, s->backend, err);
    policy_mark_tried(s->tried, s->backend->index);
    release_backend(s);
    struct policy_request pr = {.key = s->client_ip, .key_len = strlen(s->client_ip),
                                .tried = s->tried};
    int idx = policy_pick(w->policy, &pr);
    if (idx < 0) {
        /* no backend could take the request: 503 (502 is for a backend that broke a response) */
        send_error(s, 503, err == -ETIMEDOUT ? "connecting to the backends timed out"
                                             : "no backend accepted the connection");
        return;
    }
    s->retries++;
    events_retry(w, s->backend, false, "connect failed");
    s->backend = &w->table->backends[idx];
    policy_acquired(w->policy, (size_t)idx);
    s->acquired = true;
    start_connect(s, true);
}

static bool step_connect(struct session *s)
{
    bool progress = client_read(s);
    struct upstream *u = s->up;

    if (s->c_err) {
        session_close(s, false);
        return true;
    }
    if (u != NULL && !u->connected && (u->writable || u->readable)) {
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
            soerr = errno;
        if (soerr == 0) {
            on_connected(s);
        } else {
            connect_next(s, -soerr);
        }
        return true;
    }
    return progress;
}

/* --- proxying --------------------------------------------------------------------------------- */

/* Finds request body bytes at req.start ready to send (s->req_ready). Returns 0 or -1 when the
 * chunked framing is malformed. */
static int req_body_prepare(struct session *s)
{
    uint32_t avail = buf_len(&s->req);
    if (s->state == S_TUNNEL) {
        s->req_ready = avail;
        return 0;
    }
    if (s->req_done)
        return 0;
    switch (s->req_framing) {
    case HTTP_BODY_LENGTH:
        s->req_ready = s->req_left < avail ? (uint32_t)s->req_left : avail;
        return 0;
    case HTTP_BODY_CHUNKED:
        while (!s->req_dec.done && s->req_ready < avail) {
            const char *d;
            size_t dl;
            ssize_t n = http_chunked_feed(&s->req_dec, s->req.data + s->req.start + s->req_ready,
                                          avail - s->req_ready, &d, &dl);
            if (n < 0)
                return -1;
            if (n == 0)
                break;
            s->req_ready += (uint32_t)n;
        }
        return 0;
    default:
        return 0;
    }
}

static void req_check_done(struct session *s)
{
    if (s->req_done || s->state == S_TUNNEL)
        return;
    if (s->req_framing == HTTP_BODY_LENGTH)
        s->req_done = s->req_left == 0;
    else if (s->req_framing == HTTP_BODY_CHUNKED)
        s->req_done = s->req_dec.done && s->req_ready == 0;
    else
        s->req_done = true;
}

static bool backend_write(struct session *s)
{
    struct upstream *u = s->up;
    struct iovec iov[2];
    int cnt = 0;
    uint32_t head_left = 0;

    if (u == NULL || !u->connected || !u->writable || u->wfailed || u->shut_wr)
        return false;
    if (s->hout_use == HOUT_REQUEST && s->hout_sent < s->hout_len) {
        head_left = s->hout_len - s->hout_sent;
        iov[cnt].iov_base = s->x->hout + s->hout_sent;
        iov[cnt++].iov_len = head_left;
    }
    if (req_body_prepare(s) < 0) {
        s->req_bad = true;
        return true;
    }
    if (s->req_ready > 0) {
        iov[cnt].iov_base = s->req.data + s->req.start;
        iov[cnt++].iov_len = s->req_ready;
    }
    if (cnt == 0)
        return false;
    ssize_t n = sock_writev(u->fd, iov, cnt);
    if (n == -EAGAIN) {
        u->writable = false;
        return false;
    }
    if (n < 0) {
        u->wfailed = true;
        u->err = (int)n;
        return true;
    }
    s->activity_ms = now_ms(s);
    size_t k = (size_t)n, take = k < head_left ? k : head_left;
    s->hout_sent += (uint32_t)take;
    if (take > 0 && s->hout_sent == s->hout_len && s->hout_use == HOUT_REQUEST)
        s->t_sent = clock_mono_ns();
    k -= take;
    if (k > 0) {
        s->req.start += (uint32_t)k;
        s->req_ready -= (uint32_t)k;
        s->req_bytes += k;
        if (s->req_framing == HTTP_BODY_LENGTH && s->state != S_TUNNEL)
            s->req_left -= k;
    }
    req_check_done(s);
    return true;
}

static bool backend_read(struct session *s)
{
    struct upstream *u = s->up;
    if (u == NULL || !u->connected || !u->readable || u->eof)
        return false;
    uint32_t room = buf_room(&s->x->res);
    if (room == 0)
        return false;
    ssize_t n = sock_read(u->fd, s->x->res.data + s->x->res.end, room);
    if (n > 0) {
        s->x->res.end += (uint32_t)n;
        s->activity_ms = now_ms(s);
        if (!s->res_started) {
            s->res_started = true;
            s->t_first_byte = clock_mono_ns();
        }
        return true;
    }
    if (n == -EAGAIN) {
        u->readable = false;
        return false;
    }
    u->eof = true;
    if (n < 0)
        u->err = (int)n;
    return true;
}

/* Parses the backend's response head once it is complete and writes the rewritten one to hout. */
static bool response_head(struct session *s)
{
    struct worker *w = s->w;
    uint32_t avail = buf_len(&s->x->res);

    if (s->res_head_done || avail == 0 || s->state != S_PROXY)
        return false;
    if (s->hout_use == HOUT_RESPONSE || (s->hout_use == HOUT_REQUEST && s->hout_sent < s->hout_len))
        return false; /* hout is still busy */

    struct http_response r = {.headers = w->scratch, .num_headers = HTTP_LIMITS_DEFAULT_HEADERS};
    int rc = http_parse_response(s->x->res.data + s->x->res.start, avail, &r, &w->limits, s->head_req);
    if (rc == HTTP_INCOMPLETE) {
        if (buf_room(&s->x->res) == 0) {
            send_error(s, 502, "the backend's response head is too large");
            return true;
        }
        return false;
    }
    if (rc == HTTP_ERROR) {
        if (s->backend)
            events_backend_broke(w, s->backend, r.error_reason ? r.error_reason : "malformed response");
        send_error(s, 502, "the backend sent a malformed response");
        return true;
    }
    s->hout_use = HOUT_FREE; /* the request head is gone: no retry is possible now */
    if (r.status >= 100 && r.status < 200 && r.status != 101) {
        if (s->client_minor >= 1) {
            memcpy(s->x->hout, s->x->res.data + s->x->res.start, (size_t)rc);
            s->hout_use = HOUT_RESPONSE;
            s->hout_len = (uint32_t)rc;
            s->hout_sent = 0;
            s->interim = true;
        }
        s->x->res.start += (uint32_t)rc;
        return true;
    }
    if (r.status == 101 && !s->upgrade_req) {
        send_error(s, 502, "the backend switched protocols without being asked");
        return true;
    }
    s->status = r.status;
    s->res_framing = r.framing;
    s->res_left = r.content_length;
    http_chunked_init(&s->res_dec);
    s->res_decode = r.framing == HTTP_BODY_CHUNKED && s->client_minor == 0;
    s->backend_keepalive = r.keep_alive && r.framing != HTTP_BODY_UNTIL_CLOSE && r.status != 101;
    if (r.framing == HTTP_BODY_UNTIL_CLOSE || s->res_decode || w->draining)
        s->close_after = true;
    s->tunnel_pending = r.status == 101;

    struct headers_response_opts o = {
        .request_id = s->id,
        .request_id_len = s->id_len,
        .keep_chunked = (r.framing == HTTP_BODY_CHUNKED && !s->res_decode) ||
                        r.framing == HTTP_BODY_UNTIL_CLOSE,
        .connection = s->tunnel_pending  ? HEADERS_CONN_UPGRADE
                      : s->close_after   ? HEADERS_CONN_CLOSE
                      : s->client_minor == 0 ? HEADERS_CONN_KEEP_ALIVE
                                             : HEADERS_CONN_NONE,
    };
    ssize_t n = headers_rewrite_response(&r, &o, s->x->hout, sizeof(s->x->hout));
    if (n < 0) {
        send_error(s, 502, "the backend's response head is too large");
        return true;
    }
    s->x->res.start += (uint32_t)rc;
    s->hout_use = HOUT_RESPONSE;
    s->hout_len = (uint32_t)n;
    s->hout_sent = 0;
    s->res_head_done = true;
    s->res_ready = 0;
    return true;
}

/* Finds response body bytes at res.start ready for the client (s->res_ready). Returns 0 or -1
 * when the backend's chunked framing is malformed. */
static int res_body_prepare(struct session *s)
{
    uint32_t avail = buf_len(&s->x->res);
    if (s->state == S_TUNNEL) {
        s->res_ready = avail;
        return 0;
    }
    if (!s->res_head_done || s->res_done || s->state != S_PROXY)
        return 0;
    switch (s->res_framing) {
    case HTTP_BODY_LENGTH:
        s->res_ready = s->res_left < avail ? (uint32_t)s->res_left : avail;
        return 0;
    case HTTP_BODY_UNTIL_CLOSE:
        s->res_ready = avail;
        return 0;
    case HTTP_BODY_CHUNKED:
        if (s->res_decode) {
            while (s->res_ready == 0 && !s->res_dec.done && buf_len(&s->x->res) > 0) {
                const char *p = s->x->res.data + s->x->res.start, *d;
                size_t dl;
                ssize_t n = http_chunked_feed(&s->res_dec, p, buf_len(&s->x->res), &d, &dl);
                if (n < 0)
                    return -1;
                if (n == 0)
                    break;
                if (dl > 0) {
                    s->x->res.start += (uint32_t)(d - p);
                    s->res_ready = (uint32_t)dl;
                } else {
                    s->x->res.start += (uint32_t)n;
                }
            }
            return 0;
        }
        while (!s->res_dec.done && s->res_ready < avail) {
            const char *d;
            size_t dl;
            ssize_t n = http_chunked_feed(&s->res_dec, s->x->res.data + s->x->res.start + s->res_ready,
                                          avail - s->res_ready, &d, &dl);
            if (n < 0)
                return -1;
            if (n == 0)
                break;
            s->res_ready += (uint32_t)n;
        }
        return 0;
    default:
        return 0;
    }
}

static bool client_write(struct session *s)
{
    struct iovec iov[2];
    int cnt = 0;
    uint32_t head_left = 0;

    if (!s->c_writable || s->c_err)
        return false;
    if (s->hout_use == HOUT_RESPONSE && s->hout_sent < s->hout_len) {
        head_left = s->hout_len - s->hout_sent;
        iov[cnt].iov_base = s->x->hout + s->hout_sent;
        iov[cnt++].iov_len = head_left;
    }
    if (!s->interim) {
        if (res_body_prepare(s) < 0) {
            abort_truncated(s, "malformed chunked body");
            return true;
        }
        if (s->res_ready > 0) {
            iov[cnt].iov_base = s->x->res.data + s->x->res.start;
            iov[cnt++].iov_len = s->res_ready;
        }
    }
    if (cnt == 0)
        return false;
    ssize_t n = sock_writev(s->fd, iov, cnt);
    if (n == -EAGAIN) {
        s->c_writable = false;
        return false;
    }
    if (n < 0) {
        s->c_err = true;
        return true;
    }
    s->activity_ms = now_ms(s);
    size_t k = (size_t)n, take = k < head_left ? k : head_left;
    s->hout_sent += (uint32_t)take;
    k -= take;
    if (s->hout_use == HOUT_RESPONSE && s->hout_sent == s->hout_len) {
        s->hout_use = HOUT_FREE;
        s->interim = false;
    }
    if (k > 0) {
        s->x->res.start += (uint32_t)k;
        s->res_ready -= (uint32_t)k;
        if (s->res_framing == HTTP_BODY_LENGTH && s->state == S_PROXY)
            s->res_left -= k;
    }
    if (s->state != S_CLOSING)
        s->bytes_out += (uint64_t)n;
    return true;
}

static void res_check_done(struct session *s)
{
    if (!s->res_head_done || s->res_done)
        return;
    switch (s->res_framing) {
    case HTTP_BODY_NONE:
        s->res_done = true;
        break;
    case HTTP_BODY_LENGTH:
        s->res_done = s->res_left == 0;
        break;
    case HTTP_BODY_CHUNKED:
        s->res_done = s->res_dec.done && s->res_ready == 0;
        break;
    case HTTP_BODY_UNTIL_CLOSE:
        s->res_done = s->up != NULL && s->up->eof && s->up->err == 0 && buf_len(&s->x->res) == 0;
        break;
    }
}

/* A reused keep-alive connection failed before any response byte: the backend had closed it
 * while it sat idle. Safe requests without a body are sent again on a fresh connection. */
static bool retry_stale(struct session *s)
{
    struct upstream *u = s->up;
    if (u == NULL || !u->reused || s->res_started || s->stale_retried || !s->idempotent ||
        s->req_bytes > 0 || !(s->req_framing == HTTP_BODY_NONE || s->req_done))
        return false;
    if (s->hout_use != HOUT_REQUEST)
        return false;
    events_retry(s->w, s->backend, true, "idle connection was closed by the backend");
    s->sent = false;
    s->stale_retried = true;
    s->reused = false;
    s->t_sent = 0;
    upstream_close(s->w, u);
    s->hout_sent = 0;
    start_connect(s, false);
    return true;
}

static void enter_tunnel(struct session *s)
{
    s->state = S_TUNNEL;
    s->req_ready = 0;
    s->res_ready = 0;
    s->complete = true;
    log_request(s); /* the request is answered; what follows is another protocol */
}

/* The response is complete: log it, keep or close the backend connection, and either wait for
 * the next request on this client connection or close it. */
static void finish_request(struct session *s)
{
    struct worker *w = s->w;
    struct upstream *u = s->up;

    s->complete = true;
    log_request(s);
    release_backend(s);
    if (u != NULL) {
        u->s = NULL;
        s->up = NULL;
        if (s->backend_keepalive && s->req_done && buf_len(&s->x->res) == 0 && !u->eof &&
            !u->wfailed && !w->draining)
            pool_put(w, u);
        else
            upstream_close(w, u);
    }
    /* a client that half-closed still gets an answer to every complete request it sent */
    if (s->close_after || !s->req_done || (s->c_eof && buf_len(&s->req) == 0) || w->draining) {
        s->hout_use = HOUT_FREE;
        /* Nothing unread from the client (its last read hit EAGAIN or EOF): a plain close sends
         * the response and a FIN. Unread input would turn the close into a reset that can
         * destroy the response, so then close gracefully (CLOSING drains the input). */
        if (s->c_eof || (s->req_done && buf_len(&s->req) == 0 && !s->c_readable))
            session_close(s, false);
        else
            enter_closing(s);
        return;
    }
    reset_request(s);
    s->state = S_HEAD;
    s->idle_since_ms = now_ms(s);
}

static bool step_proxy(struct session *s)
{
    bool progress = false;

    progress |= client_read(s);
    progress |= backend_write(s);
    progress |= backend_read(s);
    progress |= response_head(s);
    if (s->state != S_PROXY)
        return true;
    progress |= client_write(s);
    if (s->dead || s->state != S_PROXY)
        return true;

    struct upstream *u = s->up;
    if (s->c_err) {
        session_close(s, false);
        return true;
    }
    if (s->req_bad) {
        if (!s->res_head_done)
            send_error(s, 400, "malformed chunked request body");
        else
            session_close(s, true);
        return true;
    }
    if (s->c_eof && !s->req_done) {
        /* the client can no longer finish its body: give up */
        if (req_body_prepare(s) < 0 ||
            (s->req_framing == HTTP_BODY_LENGTH ? buf_len(&s->req) < s->req_left
                                                : !s->req_dec.done)) {
            session_close(s, false);
            return true;
        }
    }
    if (u != NULL && u->eof && !s->res_head_done) {
        if (retry_stale(s))
            return true;
        if (buf_len(&s->x->res) > 0 && !u->err && response_head(s))
            return true;
        send_error(s, 502, s->res_started ? "the backend closed the connection mid-head"
                                          : "the backend closed the connection without answering");
        return true;
    }
    /* A failed write to the backend (u->wfailed) is not an error by itself: the backend may have
     * answered early (413, 401...) and the answer is still readable; else its close or the
     * server timeout ends the request. */
    res_check_done(s);
    if (s->res_head_done && !s->res_done && u != NULL && u->eof) {
        if (res_body_prepare(s) < 0) {
            abort_truncated(s, "malformed chunked body");
            return true;
        }
        res_check_done(s);
        if (!s->res_done && s->res_ready == 0) {
            abort_truncated(s, "backend closed the connection mid-body");
            return true;
        }
    }
    if (s->res_head_done && s->res_done && s->hout_use == HOUT_FREE) {
        if (s->tunnel_pending)
            enter_tunnel(s);
        else
            finish_request(s);
        return true;
    }
    return progress;
}

static bool step_tunnel(struct session *s)
{
    bool progress = false;
    struct upstream *u = s->up;

    progress |= client_read(s);
    progress |= backend_write(s);
    progress |= backend_read(s);
    progress |= client_write(s);
    if (s->dead)
        return true;
    u = s->up;
    if (u == NULL || s->c_err || u->err || u->wfailed) {
        session_close(s, u == NULL || u->err != 0);
        return true;
    }
    if (s->c_eof && buf_len(&s->req) == 0 && !u->shut_wr) {
        shutdown(u->fd, SHUT_WR);
        u->shut_wr = true;
        progress = true;
    }
    if (u->eof && buf_len(&s->x->res) == 0 && !s->c_shut_wr) {
        shutdown(s->fd, SHUT_WR);
        s->c_shut_wr = true;
        progress = true;
    }
    if (s->c_eof && u->eof && buf_len(&s->req) == 0 && buf_len(&s->x->res) == 0) {
        session_close(s, false);
        return true;
    }
    return progress;
}

static bool step_closing(struct session *s)
{
    bool progress = false;

    if (s->hout_use == HOUT_RESPONSE)
        progress |= client_write(s);
    if (s->dead)
        return true;
    if (s->c_err) {
        session_close(s, false);
        return true;
    }
    if (s->hout_use == HOUT_RESPONSE)
        return progress;
    if (s->c_eof) {
        session_close(s, false);
        return true;
    }
    if (!s->c_shut_wr) {
        shutdown(s->fd, SHUT_WR);
        s->c_shut_wr = true;
        progress = true;
    }
    /* drain and discard what the client still sends, until it closes */
    s->req.start = s->req.end = 0;
    progress |= client_read(s);
    s->req.start = s->req.end = 0;
    if (s->c_eof || s->c_err) {
        session_close(s, false);
        return true;
    }
    return progress;
}

/* --- running and timers --------------------------------------------------------------------- */

static uint64_t session_deadline(const struct session *s)
{
    const struct config *c = s->w->cfg;
    switch (s->state) {
    case S_HEAD:
        if (s->head_start_ms != 0)
            return s->head_start_ms + c->client_timeout_ms;
        /* a new connection must start its first request within --client-timeout; between
         * keep-alive requests it may idle for --idle-timeout */
        return s->idle_since_ms + (s->requests == 0 ? c->client_timeout_ms : c->idle_timeout_ms);
    case S_CONNECT:
        return s->connect_start_ms + c->connect_timeout_ms;
    case S_PROXY:
        /* While the backend has everything the client sent and the client owes the rest of its
         * body, only --client-timeout runs: the backend is not late, the client is. */
        if (!s->req_done && (s->client_activity_ms + c->client_timeout_ms <
                                 s->activity_ms + c->server_timeout_ms ||
                             (buf_len(&s->req) == 0 &&
                              !(s->hout_use == HOUT_REQUEST && s->hout_sent < s->hout_len) &&
                              !(s->expect_continue && s->req_bytes == 0))))
            return s->client_activity_ms + c->client_timeout_ms; /* the body stalled */
        return s->activity_ms + c->server_timeout_ms;
    case S_TUNNEL:
        return s->activity_ms + (c->idle_timeout_ms > c->server_timeout_ms ? c->idle_timeout_ms
                                                                           : c->server_timeout_ms);
    case S_CLOSING:
        return s->closing_deadline_ms;
    }
    return TIMER_NONE;
}

/* Lazy re-arming: the heap entry only moves when the deadline gets earlier; a later deadline is
 * noticed when the old one fires (see session_timer_expired). */
static void arm_timer(struct session *s)
{
    uint64_t d = session_deadline(s);
    if (!timer_armed(&s->timer) || d < s->timer.deadline)
        timer_set(&s->w->timers, &s->timer, d);
}

static void run(struct session *s)
{
    for (int round = 0; round < RUN_BUDGET; round++) {
        bool progress = false;
        if (s->dead)
            return;
        switch (s->state) {
        case S_HEAD:
            progress = step_head(s);
            break;
        case S_CONNECT:
            progress = step_connect(s);
            break;
        case S_PROXY:
            progress = step_proxy(s);
            break;
        case S_TUNNEL:
            progress = step_tunnel(s);
            break;
        case S_CLOSING:
            progress = step_closing(s);
            break;
        }
        if (s->dead)
            return;
        if (!progress) {
            arm_timer(s);
            return;
        }
    }
    arm_timer(s);
    if (!s->queued) {
        s->queued = true;
        s->run_next = s->w->run_queue;
        s->w->run_queue = s;
    }
}

void session_run_deferred(struct worker *w)
{
    struct session *list = w->run_queue;
    w->run_queue = NULL;
    while (list != NULL) {
        struct session *s = list;
        list = s->run_next;
        s->queued = false;
        if (s->dead) {
            s->run_next = w->dead_sessions;
            w->dead_sessions = s;
            continue;
        }
        run(s);
    }
}

void session_client_event(struct endpoint *ep, uint32_t events)
{
    struct session *s = (struct session *)ep;
    if (s->dead)
        return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        s->c_readable = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        s->c_writable = true;
    run(s);
}

void session_backend_event(struct worker *w, struct endpoint *ep, uint32_t events)
{
    struct upstream *u = (struct upstream *)ep;
    if (u->dead)
        return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        u->readable = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        u->writable = true;
    if (u->s == NULL) {
        /* idle in the pool: the backend closed it, or sent bytes nobody asked for */
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            upstream_close(w, u);
        return;
    }
    run(u->s);
}

void session_timer_expired(struct worker *w, struct timer *t)
{
    struct session *s = (struct session *)((char *)t - offsetof(struct session, timer));
    if (s->dead)
        return;
    uint64_t d = session_deadline(s);
    if (d > w->now_ms) {
        timer_set(&w->timers, &s->timer, d);
        return;
    }
    switch (s->state) {
    case S_HEAD:
        if (s->head_start_ms != 0) {
            events_timeout(w, EVENTS_TIMEOUT_CLIENT_HEAD, NULL);
            send_error(s, 408, "the request head did not arrive in time");
        } else {
            events_timeout(w, EVENTS_TIMEOUT_CLIENT_IDLE, NULL);
            session_close(s, false);
        }
        break;
    case S_CONNECT:
        events_timeout(w, EVENTS_TIMEOUT_CONNECT, s->backend);
        connect_next(s, -ETIMEDOUT);
        break;
    case S_PROXY: {
        bool can_answer = !s->res_head_done && !(s->hout_use == HOUT_RESPONSE && s->hout_sent > 0);
        if (!s->req_done && s->client_activity_ms + w->cfg->client_timeout_ms <= w->now_ms) {
            /* the client stopped sending its request body */
            events_timeout(w, EVENTS_TIMEOUT_CLIENT_BODY, s->backend);
            if (can_answer) {
                send_error(s, 408, "the request body did not arrive in time");
            } else {
                session_close(s, false);
            }
            break;
        }
        events_timeout(w, EVENTS_TIMEOUT_SERVER, s->backend);
        if (can_answer)
            send_error(s, 504, "the backend did not answer in time");
        else
            abort_truncated(s, "timed out mid-response");
        break;
    }
    case S_TUNNEL:
        events_timeout(w, EVENTS_TIMEOUT_TUNNEL, s->backend);
        session_close(s, false);
        break;
    case S_CLOSING:
        session_close(s, false);
        break;
    }
    if (!s->dead)
        run(s);
}

void session_drain_all(struct worker *w, bool force)
{
    struct session *s = w->sessions;
    while (s != NULL) {
        struct session *next = s->next;
        if (force) {
            /* a response cut short must not look complete: reset instead of a clean close */
            session_close(s, s->state == S_PROXY && s->res_head_done);
        } else if (s->state == S_HEAD && buf_len(&s->req) == 0) {
            session_close(s, false);
        } else {
            s->close_after = true;
        }
        s = next;
    }
    session_pool_flush(w);
}
