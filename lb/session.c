/*
 * session.c - one client connection's life in lb: the HTTP/1.x proxy state machine (session.h).
 *
 * A session has named parts:
 *   - the client's side (side.h): its socket, read through the session's request buffer;
 *   - the current exchange (struct exchange): everything about one request and its response,
 *     reset by one assignment when the next request begins;
 *   - the backend connection serving the exchange (upstream.h), new or taken from the pool;
 *   - two halves of the exchange, one per direction, each with its own state: the request half
 *     (client -> backend) and the response half (backend -> client). Bytes in both directions
 *     go out through the same function, send_pending(): the rest of a head lb wrote, then the
 *     body bytes that the half's body tracker (common/http.h) has checked.
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
 * Sockets are edge-triggered: an event only marks a side readable or writable until a read or
 * write returns -EAGAIN. run() then calls the state's step function until nothing moves. Each
 * step tries at most one read and one write per direction, so all directions make progress
 * together; a session that keeps moving for many rounds yields and is run again after the worker
 * has served the others (fairness under big transfers).
 *
 * Writes to clients wait for the end of the worker's batch of events (worker_hold_client_write):
 * the worker first reads everything the batch brought, then the queued sessions write their
 * responses one after the other. Written as they came, the answers of one batch reached a
 * client (wrk, with 50 connections) spread over the batch, and it went to sleep and was woken
 * again between them; written together, they find it awake. Measured with 50 keep-alive
 * clients: the client's context switches per request 0.10-0.13 to 0.06-0.07, its CPU per
 * request -7%, lb's requests/s +2 to +4% (scripts/compare-lb.sh, 7 rounds).
 * session_run_deferred() then makes the held writes together (write_held(): one
 * io_uring_enter() for all, sendbatch.h) before the sessions run, and with io_uring the
 * requests to the backends are held too, to go out in the same call (without it, holding them
 * was measured no better than writing them at once). Measured against --no-io-uring, 50
 * keep-alive clients: 1.27x requests/s and 0.70x lb's CPU per request for the client writes,
 * 1.05x and 0.90x more for the requests.
 *
 * Memory: an idle keep-alive connection holds only its struct session (a few hundred bytes).
 *   - `req` (in the session) holds bytes from the client: the head being parsed, then body
 *     bytes, then perhaps the next pipelined requests; `res` (in the exchange) holds bytes from
 *     the backend. Both are buffer.h buffers: they take a block from the worker's pool to read
 *     into and give it back when they are empty, checked once per run (settle_buffers()).
 *   - The exchange is taken from the sessions' pool when the first byte of a request head
 *     arrives and given back when the response is done; an idle connection has none (s->x NULL).
 *   - `head` holds a head lb wrote (first the request head for the backend, then the response
 *     head for the client) or an error response. lb writes it into the worker's scratch area,
 *     then keeps it in a pooled block that fits (1, 4 or 20 KiB: head_sizes) only until
 *     it is sent (the request head: until the response begins, a retry may resend it).
 * Body bytes go out straight from req/res with writev() next to a head, never copied.
 *
 * A large body does not pass through lb's memory at all, in either direction: once the head
 * before it and whatever came with the head have gone on, the rest of a body framed by
 * Content-Length (64 KiB or more still to come, plain sockets on both sides) is spliced from
 * one socket through a pipe into the other (pipebuf.h, one pipe per half: splice_in(),
 * splice_out()), never past the body's end, so the next request on the client's connection and
 * the backend connection's next response are untouched. lb has nothing to look at in those
 * bytes: the length is all it counts. Measured against --no-splice (which turns it off), 50
 * keep-alive clients, 7 interleaved rounds: with 1 MiB responses 0.63 times lb's CPU per
 * request, with 128 KiB ones 0.84, with 1 MiB uploads 0.72; the requests/s level (1.01 to 1.06:
 * the clients and the backends set the pace on two cores).
 */
#include "session.h"

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "access_log.h"
#include "buffer.h"
#include "clock.h"
#include "dial.h"
#include "errors.h"
#include "events.h"
#include "hashkey.h"
#include "health.h"
#include "headers.h"
#include "http.h"
#include "net.h"
#include "pipebuf.h"
#include "policy.h"
#include "request_record.h"
#include "sendbatch.h"
#include "side.h"
#include "sticky.h"
#include "transport_tls.h"
#include "upstream.h"

#define RUN_BUDGET 64  /* step rounds before a busy session yields to the others */
#define SESSION_MAX_KEY 256 /* a longer --hash-key value is hashed by its first 256 bytes */
#define LINGER_MS 2000 /* how long a closing connection's input is drained */
#define HEAD_CLASSES 3 /* head blocks come in head_sizes: most heads fit the smallest */
#define EXCHANGE_POOL_KEEP 8 /* idle exchanges and head blocks a trim leaves per pool */

enum session_state { S_HEAD, S_CONNECT, S_PROXY, S_TUNNEL, S_CLOSING };

/* The request half: the request's body on its way from the client to the backend. */
enum req_state {
    REQ_BODY, /* the client still owes body bytes, or some are not at the backend yet */
    REQ_DONE, /* every body byte is at the backend (or there was no body) */
    REQ_BAD,  /* the client's chunked framing broke: the request cannot go on */
};

/* The response half: the backend's answer on its way to the client. */
enum res_state {
    RES_WAIT,    /* no final response head yet */
    RES_INTERIM, /* a 1xx head (in head[]) is going to the client; then RES_WAIT again */
    RES_BODY,    /* the final head was rewritten into head[]; it and the body go out */
    RES_DONE,    /* the whole response reached the client's socket */
};

/* Who the head block (exchange.head) holds a head for. */
enum head_use { HEAD_FREE, HEAD_REQUEST, HEAD_RESPONSE };

/* One direction of an exchange: body bytes in a buffer, checked by a tracker before they go, or
 * for the rest of a large body, in a pipe (splice_wanted()). */
struct half {
    struct http_body body; /* where the body ends in the bytes received */
    uint32_t ready;        /* bytes at the buffer's start checked and ready to send */
    uint64_t bytes;        /* request: body bytes sent; response: bytes sent, head included */
    bool splicing;         /* the body goes through pipe now; the buffer stays empty */
    bool no_splice;        /* splice() could not be used for this body: it is copied */
    struct pipebuf pipe;   /* bytes received, not yet sent on (spliced) */
};

/* Everything about the current request: taken from the sessions' pool when a request head
 * begins (exchange_take), given back when the exchange is over (exchange_end). */
struct exchange {
    bool active; /* a request is in progress (its record not yet written) */
    char client_addr[NET_ADDRSTR_LEN]; /* the client, as logs show it */
    char client_ip[NET_ADDRSTR_LEN];   /* ... and as X-Forwarded-For and --hash-key see it */

    /* what the client asked, as the logs show it */
    char id[HEADERS_MAX_REQUEST_ID + 1];
    size_t id_len;
    char method[24];
    size_t method_len;
    char path[ACCESS_LOG_MAX_PATH + 4]; /* one byte more than the log shows: it marks the cut */
    size_t path_len;

    /* what lb derived from the request head */
    int client_minor; /* HTTP/1.client_minor */
    bool head_req;    /* HEAD: the response has no body */
    bool upgrade_req; /* an Upgrade request: a 101 answer makes a tunnel */
    bool idempotent;  /* safe to send twice (only before any answer, without a body) */
    bool expect_continue; /* the client may wait for 100 Continue before sending its body */
    bool own_host;    /* the request named a Host (else lb added the backend's name) */
    bool close_after; /* the client connection closes after this response */

    /* reading the head */
    uint64_t head_start_ms; /* first byte of the head (0: none yet) */
    uint32_t parsed_len;    /* bytes available at the last "incomplete" parse */

    /* the backend: picked, connected to, and every one tried before it */
    char key[SESSION_MAX_KEY]; /* what the policy looks at: --hash-key's part, or the client */
    size_t key_len;
    int cookie_backend; /* the backend the sticky cookie named (-1: none; set per request) */
    struct dial d;      /* the backend picked, its connection, the ones tried before */
    uint32_t retries;    /* attempts that failed before this one (connects, and resends) */
    uint32_t resent;     /* times the request was sent again to another backend (--retries) */
    bool stale_retried;  /* a stale pooled connection was replaced once already */
    bool reused;         /* served on a pooled connection */
    bool sent;           /* in flight at backend: events_request_sent() reported it */
    char backend_addr[NET_ADDRSTR_LEN];

    /* the two halves */
    enum req_state rq_state;
    struct half rq;
    uint64_t client_activity_ms; /* last byte from the client (a stalled request body) */
    enum res_state rs_state;
    struct half rs;
    uint64_t client_progress_ms; /* last progress of the response towards the client: a write,
                                    or the client reading what its socket held (a shrinking
                                    send queue) */
    int client_outq;        /* bytes in the client socket's send queue when lb last found it
                               full, -1: not measured since lb last wrote to it */
    const char *end;        /* how lb cut the exchange short (access log end=), NULL: it did not */
    int status;             /* sent to the client, 0 if none yet */
    bool res_decode;        /* chunked from the backend, plain to an HTTP/1.0 client */
    bool backend_keepalive; /* the backend connection may serve another request */
    bool generated;         /* lb answered itself */

    /* bytes from the backend */
    struct buf res;

    /* the head lb wrote: a pooled block of head_cap bytes while head_use != HEAD_FREE */
    enum head_use head_use;
    char *head;
    uint32_t head_cap, head_len, head_sent;

    /* timings, clock_mono_ns() */
    uint64_t t_start, t_first_byte, t_sent;
};

/* A TCP address, IPv4 or IPv6, in the few bytes it needs (not a whole sockaddr_storage). */
union tcp_addr {
    struct sockaddr sa;
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
};

/* What an idle keep-alive connection costs: keep it small (see the memory notes above). */
struct session {
    struct endpoint ep; /* first: epoll data */
    uint8_t state;      /* enum session_state */
    bool queued, dead;
    bool write_held;   /* queued with a client write held for the end of the batch */
    bool backend_write_held; /* ... and one to its backend */
    uint32_t requests; /* requests begun on this connection */
    struct worker *w;
    struct session *prev, *next; /* the worker's live sessions */
    struct session *run_next;    /* the worker's deferred or closed list */
    struct timer timer;

    /* the client connection */
    struct side client;
    union tcp_addr peer;  /* the client */
    union tcp_addr front; /* lb's end of the client connection */
    uint64_t conn_id;
    uint64_t activity_ms; /* worker milliseconds */
    union {
        uint64_t idle_since_ms;       /* S_HEAD: the last response ended (or the connection began) */
        uint64_t closing_deadline_ms; /* S_CLOSING: give up on a graceful close */
    };

    struct exchange *x; /* the current request, NULL between requests */
    struct buf req;     /* bytes from the client */
};

/* One worker's sessions, and the pools their requests take memory from. */
struct sessions {
    struct session *live;     /* every open session */
    size_t count;
    struct session *deferred; /* used up their turn, or held their client writes */
    struct session *closed;   /* closed this round, freed by session_reap() */
    struct pool exchanges;    /* struct exchange blocks */
    struct pool heads[HEAD_CLASSES]; /* head blocks of head_sizes[i] bytes */
    char head_scratch[BUF_HEAD_OUT]; /* where a head is written before it is kept */
};

static void run(struct session *s);
static void start_connect(struct session *s, bool allow_pool);

/* Queues s to be run again by session_run_deferred(), once. */
static void defer(struct session *s)
{
    if (!s->queued) {
        s->queued = true;
        s->run_next = s->w->sessions->deferred;
        s->w->sessions->deferred = s;
    }
}

/* --- small helpers ----------------------------------------------------------------------------- */

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

static void copy_field(char *dst, size_t cap, size_t *len, const char *src, size_t n)
{
    if (n > cap - 1)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    *len = n;
}

/* The head lb wrote still has bytes to go to the backend. */
static bool request_head_pending(const struct session *s)
{
    return s->x->head_use == HEAD_REQUEST && s->x->head_sent < s->x->head_len;
}

/* --- per-request memory ------------------------------------------------------------------------ */

/* The sizes of head blocks: a head takes the smallest that holds it (a rewritten GET's head is a
 * few hundred bytes; the largest holds any head lb can write). */
static const uint32_t head_sizes[HEAD_CLASSES] = {1024, 4096, BUF_HEAD_OUT};

static struct pool *head_pool(struct session *s, uint32_t cap)
{
    size_t i = 0;
    while (i + 1 < HEAD_CLASSES && head_sizes[i] != cap)
        i++;
    return &s->w->sessions->heads[i];
}

/* Gives the head block back: no head is kept. */
static void head_free(struct session *s)
{
    struct exchange *x = s->x;
    if (x->head != NULL)
        pool_give(head_pool(s, x->head_cap), x->head);
    x->head = NULL;
    x->head_cap = 0;
    x->head_use = HEAD_FREE;
}

/* Keeps the n bytes of a head lb wrote (at src, often the scratch area) in a block that fits
 * them, for use. Returns 0, or -ENOMEM (then no head is kept). */
static int head_store(struct session *s, const char *src, size_t n, enum head_use use)
{
    struct exchange *x = s->x;
    size_t i = 0;
    while (i + 1 < HEAD_CLASSES && n > head_sizes[i])
        i++;
    uint32_t cap = head_sizes[i];
    head_free(s);
    char *block = pool_take(head_pool(s, cap));
    if (block == NULL)
        return -ENOMEM;
    memcpy(block, src, n);
    x->head = block;
    x->head_cap = cap;
    x->head_use = use;
    x->head_len = (uint32_t)n;
    x->head_sent = 0;
    return 0;
}

/* Gives an empty buffer's block back to the worker's pool (once per run: see run()). */
static void settle_buffers(struct session *s)
{
    buf_settle(&s->req, &s->w->blocks);
    if (s->x != NULL)
        buf_settle(&s->x->res, &s->w->blocks);
}

/* Reads what side has into b, taking a block for b first if it has none. */
static ssize_t read_into(struct session *s, struct side *side, struct buf *b)
{
    if (!side->readable || side->eof)
        return 0;
    if (buf_reserve(b, &s->w->blocks) != 0) {
        side->eof = true; /* out of memory: this connection cannot go on */
        if (side->err == 0)
            side->err = -ENOMEM;
        return -1;
    }
    return side_read(side, b);
}

/* --- the exchange's record --------------------------------------------------------------------- */

/* Writes the finished request's record (access log, statistics) once. */
static void log_request(struct session *s)
{
    struct exchange *x = s->x;
    uint64_t now = clock_mono_ns();
    struct upstream *u = x->d.up;
    struct request_record r = {
        .method = x->method,
        .method_len = x->method_len,
        .path = x->path,
        .path_len = x->path_len,
        .id = x->id,
        .id_len = x->id_len,
        .bytes_in = x->rq.bytes,
        .status = x->status,
        .bytes_out = x->rs.bytes,
        .spliced = x->rq.pipe.moved + x->rs.pipe.moved,
        .generated = x->generated,
        .backend = x->d.backend ? (int)x->d.backend->index : -1,
        .sent = x->sent,
        .reused = x->reused,
        .retries = x->retries,
        .wall_ns = clock_wall_ns(),
        .connect_ns = x->d.connect_ns,
        .first_byte_ns = x->t_first_byte ? x->t_first_byte - x->t_start : 0,
        .ttfb_ns = x->t_first_byte && x->t_sent && x->t_first_byte > x->t_sent
                       ? x->t_first_byte - x->t_sent
                       : 0,
        .total_ns = x->t_start ? now - x->t_start : 0,
        .client_text = x->client_addr,
        .backend_name = x->d.backend ? x->d.backend->name : NULL,
        .server_text = x->backend_addr[0] ? x->backend_addr : NULL,
        .client = &s->peer.sa,
        .lb_front = &s->front.sa,
        .lb_back = u ? (const struct sockaddr *)&u->local : NULL,
        .server = u ? (const struct sockaddr *)&u->server : NULL,
        .client_conn_id = s->conn_id,
        .conn_request = s->requests,
        .end = x->end,
        .client_tls = s->client.tr.ops == &transport_tls,
        .backend_tls = u != NULL && u->side.tr.ops == &transport_tls,
    };
    events_request_done(s->w, &r);
    x->active = false;
}

/* Writes the client's address into x as text: the IP (X-Forwarded-For, --hash-key), and IP:PORT
 * ([IP]:PORT for IPv6) for the logs, from one inet_ntop() (this runs once per request). */
static void format_client(const struct session *s, struct exchange *x)
{
    char port[8];
    net_format_ip(&s->peer.sa, x->client_ip, sizeof(x->client_ip));
    unsigned p = net_addr_port(&s->peer.sa), n = 0;
    do
        port[n++] = (char)('0' + p % 10);
    while ((p /= 10) != 0);
    size_t ip_len = strlen(x->client_ip), at = 0;
    bool v6 = s->peer.sa.sa_family == AF_INET6;
    if (ip_len + n + 4 > sizeof(x->client_addr)) { /* cannot happen: INET6_ADDRSTRLEN + 8 fit */
        snprintf(x->client_addr, sizeof(x->client_addr), "%s", x->client_ip);
        return;
    }
    if (v6)
        x->client_addr[at++] = '[';
    memcpy(x->client_addr + at, x->client_ip, ip_len);
    at += ip_len;
    if (v6)
        x->client_addr[at++] = ']';
    x->client_addr[at++] = ':';
    while (n > 0)
        x->client_addr[at++] = port[--n];
    x->client_addr[at] = '\0';
}

/* A new exchange for the request whose head begins now. Returns 0 or -ENOMEM. */
static int exchange_take(struct session *s)
{
    struct exchange *x = pool_take(&s->w->sessions->exchanges);
    if (x == NULL)
        return -ENOMEM;
    *x = (struct exchange){.client_outq = -1};
    pipebuf_init(&x->rq.pipe, &s->w->pipes);
    pipebuf_init(&x->rs.pipe, &s->w->pipes);
    dial_init(&x->d, s->w, &s->ep);
    format_client(s, x);
    s->x = x;
    return 0;
}

/* The exchange is over (its record written, its backend connection released or dropped): its
 * memory goes back to the pools; the next request starts from nothing. */
static void exchange_end(struct session *s)
{
    if (s->x == NULL)
        return;
    dial_finish(&s->x->d); /* the request is logged: its routing snapshot may go */
    head_free(s);
    buf_release(&s->x->res, &s->w->blocks);
    pipebuf_close(&s->x->rq.pipe);
    pipebuf_close(&s->x->rs.pipe);
    pool_give(&s->w->sessions->exchanges, s->x);
    s->x = NULL;
}

/* --- session life ------------------------------------------------------------------------------ */

struct sessions *sessions_create(void)
{
    struct sessions *set = calloc(1, sizeof(struct sessions));
    if (set == NULL)
        return NULL;
    pool_init(&set->exchanges, sizeof(struct exchange), EXCHANGE_POOL_KEEP);
    for (size_t i = 0; i < HEAD_CLASSES; i++)
        pool_init(&set->heads[i], head_sizes[i], EXCHANGE_POOL_KEEP);
    return set;
}

void sessions_destroy(struct sessions *set)
{
    if (set == NULL)
        return;
    pool_fini(&set->exchanges);
    for (size_t i = 0; i < HEAD_CLASSES; i++)
        pool_fini(&set->heads[i]);
    free(set);
}

size_t sessions_trim(struct sessions *set)
{
    size_t freed = pool_trim(&set->exchanges);
    for (size_t i = 0; i < HEAD_CLASSES; i++)
        freed += pool_trim(&set->heads[i]);
    return freed;
}

size_t sessions_count(const struct sessions *set)
{
    return set->count;
}

bool sessions_deferred(const struct sessions *set)
{
    return set->deferred != NULL;
}

static void session_close(struct session *s, bool reset)
{
    struct worker *w = s->w;
    if (s->dead)
        return;
    if (s->x != NULL) {
        if (s->x->active)
            log_request(s);
        dial_drop(&s->x->d); /* and a name resolution in flight: its answer is freed when it comes */
        dial_release(&s->x->d);
        exchange_end(s);
    }
    buf_release(&s->req, &w->blocks);
    timer_cancel(&w->timers, &s->timer);
    side_close(&s->client, reset);
    if (s->prev)
        s->prev->next = s->next;
    else
        w->sessions->live = s->next;
    if (s->next)
        s->next->prev = s->prev;
    w->sessions->count--;
    s->dead = true;
    events_client_closed(w, s->requests);
    if (!s->queued) {
        s->run_next = w->sessions->closed;
        w->sessions->closed = s;
    }
}

void session_reap(struct worker *w)
{
    while (w->sessions->closed != NULL) {
        struct session *s = w->sessions->closed;
        w->sessions->closed = s->run_next;
        free(s);
    }
    upstreams_reap(w->upstreams);
}

/* How a client's TLS handshake ended, for the statistics (a failure is counted, not logged:
 * any port scanner makes one). */
static void client_tls_report(void *arg, const struct transport_tls_outcome *o)
{
    events_client_tls_handshake(arg, o->version, o->resumed);
}

int session_open(struct worker *w, int fd, const struct sockaddr *peer, socklen_t peer_len,
                 bool tls)
{
    /* a dual-stack listener: show IPv4 clients as 1.2.3.4, not ::ffff:1.2.3.4 */
    struct sockaddr_storage peer_buf;
    peer_len = net_unmap_v4(peer, peer_len, &peer_buf);
    peer = (const struct sockaddr *)&peer_buf;
    struct session *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        close(fd);
        return -ENOMEM;
    }
    s->ep.kind = ENDPOINT_CLIENT;
    s->w = w;
    side_init(&s->client, &transport_plain, fd);
    if (tls && transport_tls_accept(&s->client.tr, w->tls_ctx, fd, client_tls_report, w) != 0) {
        close(fd);
        free(s);
        return -ENOMEM;
    }
    timer_init(&s->timer, &s->ep);
    memcpy(&s->peer, peer, peer_len < sizeof(s->peer) ? peer_len : sizeof(s->peer));
    worker_client_front(w, fd, tls, &s->front.sa, sizeof(s->front));
    s->conn_id = ++w->conn_serial;
    /* TCP_NODELAY: inherited from the listener (main.c), like its other options */
    s->idle_since_ms = w->now_ms;
    s->activity_ms = w->now_ms;
    s->state = S_HEAD;

    int rc = worker_watch(w, fd, &s->ep);
    if (rc != 0) {
        side_close(&s->client, false);
        free(s);
        return rc;
    }
    s->next = w->sessions->live;
    if (w->sessions->live)
        w->sessions->live->prev = s;
    w->sessions->live = s;
    w->sessions->count++;
    events_client_opened(w);
    run(s); /* the request may already be there (while draining, it is its connection's last) */
    return 0;
}

/* Enters CLOSING: flush what head[] holds for the client (if anything), then close gracefully. */
static void enter_closing(struct session *s)
{
    dial_drop(&s->x->d);
    dial_release(&s->x->d);
    s->state = S_CLOSING;
    s->closing_deadline_ms = now_ms(s) + LINGER_MS +
                             (s->x->head_use == HEAD_RESPONSE ? s->w->cfg->client_timeout_ms : 0);
}

/* Answers the current request with lb's own error response, then closes the connection. */
static void send_error(struct session *s, int status, const char *detail)
{
    struct exchange *x = s->x;
    if (x->id_len == 0) {
        worker_request_id(s->w, x->id);
        x->id_len = 32;
    }
    if (x->t_start == 0)
        x->t_start = clock_mono_ns();
    unsigned retry_after = 0;
    if (status == 503) {
        /* come back when the first resting backend may be tried again (at least 1 s) */
        uint64_t ms = s->w->health != NULL ? health_next_usable_ms(s->w->health, now_ms(s)) : 0;
        retry_after = ms > 1000 ? (unsigned)((ms + 999) / 1000) : 1;
    }
    char *scratch = s->w->sessions->head_scratch;
    ssize_t n = errors_response(scratch, BUF_HEAD_OUT, status, detail, x->id, x->id_len,
                                x->head_req, retry_after);
    dial_drop(&x->d);
    x->status = status;
    x->generated = true;
    if (n > 0 && head_store(s, scratch, (size_t)n, HEAD_RESPONSE) == 0)
        x->rs.bytes += (uint64_t)n;
    else
        head_free(s); /* nothing to send: the connection just closes */
    x->rs_state = RES_WAIT;
    x->rs.ready = 0;
    x->active = true;
    log_request(s);
    enter_closing(s);
}

/* The backend broke the response after it started: the client must not see a complete one.
 * While not one byte of the response head has gone to the client it can still get a 502. */
static void abort_truncated(struct session *s, const char *why)
{
    if (s->x->d.backend)
        events_backend_broke(s->w, s->x->d.backend, why);
    if (s->x->rs_state >= RES_BODY && s->x->head_use == HEAD_RESPONSE && s->x->head_sent == 0)
        send_error(s, 502, why);
    else
        session_close(s, true);
}

/* --- moving bytes -------------------------------------------------------------------------------- */

/* Whether the rest of half h's body goes by splice() from now on (see the top of this file): it
 * is framed by Content-Length and 64 KiB or more of it is still to come, everything received so
 * far has gone on (b, the buffer it came through, is empty), and both sockets are plain. The
 * caller checks what is its own: that no head is waiting to go before the body. */
static bool splice_wanted(const struct session *s, const struct half *h, const struct buf *b,
                          const struct side *from, const struct side *to)
{
    return !h->splicing && !h->no_splice && !s->w->cfg->no_splice && s->state == S_PROXY &&
           h->body.framing == HTTP_BODY_LENGTH && http_body_remaining(&h->body) >= PIPEBUF_BYTES &&
           buf_len(b) == 0 && from->tr.ops == &transport_plain && to->tr.ops == &transport_plain;
}

/* Moves what side sent of h's body, and never a byte past its end, into h's pipe; when the
 * socket cannot be spliced, or no pipe can be made, copies into b from then on. Returns as
 * side_read(): the bytes that came, 0 when none could be read, -1 when the read direction ended
 * now. */
static ssize_t splice_in(struct session *s, struct side *side, struct half *h, struct buf *b)
{
    uint64_t left = http_body_remaining(&h->body);
    if (!side->readable || side->eof || left == 0)
        return 0;
    ssize_t n = pipebuf_fill(&h->pipe, side->tr.fd, left < PIPEBUF_BYTES ? left : PIPEBUF_BYTES);
    if (n > 0) {
        (void)http_body_skip(&h->body, (uint64_t)n);
        return n;
    }
    if (n == -EAGAIN) {
        /* with the pipe empty the socket has nothing; with bytes in it, the pipe may be full:
         * then the socket is tried again once the pipe drains */
        if (h->pipe.held == 0)
            side->readable = false;
        return 0;
    }
    if (n < 0 && h->pipe.held == 0 && (n == -EINVAL || h->pipe.fd[0] < 0)) {
        /* the socket cannot be spliced, or out of descriptors for a pipe: the rest of this body
         * is copied as any other */
        h->splicing = false;
        h->no_splice = true;
        return read_into(s, side, b);
    }
    side->eof = true; /* end of stream before the body's end, or the socket failed */
    if (n < 0 && side->err == 0)
        side->err = (int)n;
    return -1;
}

/* Moves what h's pipe holds into sink. Returns as side_writev(). Never held for the end of the
 * batch: a send batch writes from lb's memory, and these bytes are not in it. */
static ssize_t splice_out(struct half *h, struct side *sink)
{
    if (h->pipe.held == 0 || !side_can_write(sink))
        return 0;
    size_t offered = h->pipe.held;
    return side_wrote(sink, pipebuf_drain(&h->pipe, sink->tr.fd), offered);
}

/* Reads what the client sent into req (or the pipe, for the rest of a large request body).
 * Returns true when something happened. */
static bool read_client(struct session *s)
{
    struct exchange *x = s->x;
    struct upstream *u = x != NULL ? x->d.up : NULL;
    if (x != NULL && x->rq_state == REQ_BODY && !request_head_pending(s) && u != NULL &&
        u->state == UPSTREAM_READY && splice_wanted(s, &x->rq, &s->req, &s->client, &u->side))
        x->rq.splicing = true;
    ssize_t n = x != NULL && x->rq.splicing ? splice_in(s, &s->client, &x->rq, &s->req)
                                            : read_into(s, &s->client, &s->req);
    if (n > 0) {
        s->activity_ms = now_ms(s);
        if (x != NULL)
            x->client_activity_ms = s->activity_ms;
    }
    return n != 0;
}

/* Reads what the backend sent into res (or the pipe, for the rest of a large response body).
 * Returns true when something happened. */
static bool read_backend(struct session *s)
{
    struct exchange *x = s->x;
    struct upstream *u = x->d.up;
    if (u == NULL || u->state != UPSTREAM_READY)
        return false;
    if (x->rs_state == RES_BODY && x->head_use == HEAD_FREE &&
        splice_wanted(s, &x->rs, &x->res, &u->side, &s->client))
        x->rs.splicing = true;
    ssize_t n = x->rs.splicing ? splice_in(s, &u->side, &x->rs, &x->res)
                               : read_into(s, &u->side, &x->res);
    if (n > 0) {
        s->activity_ms = now_ms(s);
        if (x->t_first_byte == 0)
            x->t_first_byte = clock_mono_ns();
    }
    return n != 0;
}

/* What one direction has to send: the unsent rest of a head lb wrote, then body bytes. */
struct pending {
    const char *head;
    uint32_t head_left;
    const char *body;
    uint32_t body_len;
};

/* Points iov at what p has to send. Returns how many of iov it used (0: nothing to send). */
static int pending_iov(const struct pending *p, struct iovec iov[2])
{
    int cnt = 0;
    if (p->head_left > 0)
        iov[cnt++] = (struct iovec){.iov_base = (void *)p->head, .iov_len = p->head_left};
    if (p->body_len > 0)
        iov[cnt++] = (struct iovec){.iov_base = (void *)p->body, .iov_len = p->body_len};
    return cnt;
}

/* How a write of n bytes of p splits between head and body. */
static void pending_split(const struct pending *p, ssize_t n, uint32_t *head_done,
                          uint32_t *body_done)
{
    *head_done = *body_done = 0;
    if (n > 0) {
        *head_done = (uint32_t)n < p->head_left ? (uint32_t)n : p->head_left;
        *body_done = (uint32_t)n - *head_done;
    }
}

/* Sends p to sink with one writev. Returns the bytes written, 0 when none could be, -1 when the
 * write failed. *head_done and *body_done say how the bytes split between head and body. */
static ssize_t send_pending(struct side *sink, const struct pending *p, uint32_t *head_done,
                            uint32_t *body_done)
{
    struct iovec iov[2];
    int cnt = pending_iov(p, iov);
    ssize_t n = cnt > 0 ? side_writev(sink, iov, cnt) : 0;
    pending_split(p, n, head_done, body_done);
    return n;
}

/* Finds request body bytes at req's start ready to send (x.rq.ready). Returns 0, or -1 when the
 * client's chunked framing is malformed. */
static int request_prepare(struct session *s)
{
    struct exchange *x = s->x;
    uint32_t avail = buf_len(&s->req);
    if (s->state == S_TUNNEL) {
        x->rq.ready = avail;
        return 0;
    }
    if (x->rq_state != REQ_BODY || x->rq.ready >= avail)
        return 0;
    ssize_t n = http_body_feed(&x->rq.body, buf_unread(&s->req) + x->rq.ready, avail - x->rq.ready);
    if (n < 0)
        return -1;
    x->rq.ready += (uint32_t)n;
    return 0;
}

/* What the backend has to get now: the rest of the request head lb wrote, then body bytes
 * ready. Returns 0, or -1 when the client's chunked framing is malformed. */
static int backend_pending(struct session *s, struct pending *p)
{
    struct exchange *x = s->x;
    *p = (struct pending){0};
    if (request_prepare(s) < 0)
        return -1;
    if (request_head_pending(s)) {
        p->head = x->head + x->head_sent;
        p->head_left = x->head_len - x->head_sent;
    }
    if (x->rq.ready > 0) {
        p->body = buf_unread(&s->req);
        p->body_len = x->rq.ready;
    }
    return 0;
}

/* The request's body is all at the backend: none left to come, none waiting in req or the pipe. */
static void request_check_done(struct session *s)
{
    struct exchange *x = s->x;
    if (x->rq_state == REQ_BODY && s->state != S_TUNNEL && x->rq.body.done && x->rq.ready == 0 &&
        x->rq.pipe.held == 0)
        x->rq_state = REQ_DONE;
}

/* Takes in a write of n bytes (or 0, -1: send_pending) of what backend_pending() found. Returns
 * true when it moved something. */
static bool backend_sent(struct session *s, ssize_t n, uint32_t head_done, uint32_t body_done)
{
    struct exchange *x = s->x;
    if (n <= 0)
        return n < 0;
    s->activity_ms = now_ms(s);
    x->head_sent += head_done;
    if (head_done > 0 && x->head_sent == x->head_len)
        x->t_sent = clock_mono_ns();
    s->req.start += body_done;
    x->rq.ready -= body_done;
    x->rq.bytes += body_done;
    request_check_done(s);
    return true;
}

/* Takes in n bytes (or 0, -1: splice_out) of a spliced request body that reached the backend. */
static bool backend_spliced(struct session *s, ssize_t n)
{
    if (n <= 0)
        return n < 0;
    s->activity_ms = now_ms(s);
    s->x->rq.bytes += (uint64_t)n;
    request_check_done(s);
    return true;
}

/* The request half: sends the request head lb wrote and body bytes to the backend. */
static bool write_backend(struct session *s)
{
    struct upstream *u = s->x->d.up;
    if (u == NULL || u->state != UPSTREAM_READY || !side_can_write(&u->side))
        return false;
    if (s->x->rq.splicing)
        return backend_spliced(s, splice_out(&s->x->rq, &u->side));
    if (u->side.tr.ops == &transport_plain && worker_hold_backend_write(s->w, s->queued)) {
        s->backend_write_held = true;
        defer(s); /* written with the held client writes: session_run_deferred() */
        return false;
    }
    struct pending p;
    if (backend_pending(s, &p) < 0) {
        s->x->rq_state = REQ_BAD;
        return true;
    }
    uint32_t head_done, body_done;
    ssize_t n = send_pending(&u->side, &p, &head_done, &body_done);
    return backend_sent(s, n, head_done, body_done);
}

/* Finds response bytes at res's start ready for the client (x.rs.ready). Returns 0, or -1 when
 * the backend's chunked framing is malformed. */
static int response_prepare(struct session *s)
{
    struct exchange *x = s->x;
    struct buf *res = &x->res;
    if (s->state == S_TUNNEL) {
        x->rs.ready = buf_len(res);
        return 0;
    }
    if (x->rs_state != RES_BODY || s->state != S_PROXY)
        return 0;
    if (x->res_decode) {
        /* to an HTTP/1.0 client: only the payload of each chunk, framing skipped */
        while (x->rs.ready == 0 && !x->rs.body.done && buf_len(res) > 0) {
            const char *p = res->data + res->start, *data;
            size_t data_len;
            ssize_t n = http_body_next(&x->rs.body, p, buf_len(res), &data, &data_len);
            if (n < 0)
                return -1;
            if (n == 0)
                break;
            if (data_len > 0) {
                res->start += (uint32_t)(data - p);
                x->rs.ready = (uint32_t)data_len;
            } else {
                res->start += (uint32_t)n;
            }
        }
        return 0;
    }
    if (x->rs.ready >= buf_len(res))
        return 0;
    ssize_t n = http_body_feed(&x->rs.body, res->data + res->start + x->rs.ready,
                               buf_len(res) - x->rs.ready);
    if (n < 0)
        return -1;
    x->rs.ready += (uint32_t)n;
    return 0;
}

/* Response bytes wait for the client: the client's socket is full (its last write would have
 * blocked) and lb holds more for it. lb then reads the backend only until its buffer is full, so
 * the backend's silence is not the backend's fault: only --client-timeout runs. */
static bool response_waits_for_client(const struct session *s)
{
    const struct exchange *x = s->x;
    return !s->client.writable &&
           ((x->head_use == HEAD_RESPONSE && x->head_sent < x->head_len) || x->rs.ready > 0 ||
            x->rs.pipe.held > 0);
}

/* Whether the client owes the rest of its request body and the backend has taken everything the
 * client sent so far: a stall is then the client's. While lb still holds request bytes for the
 * backend (in its buffer or pipe, or the head it wrote), lb reads the client no further once its
 * buffer is full, so the client's silence is not its fault: the backend's is. */
static bool body_waits_for_client(const struct session *s)
{
    const struct exchange *x = s->x;
    return x->rq_state != REQ_DONE && buf_len(&s->req) == 0 && x->rq.pipe.held == 0 &&
           !request_head_pending(s);
}

/* The client read some of what its socket held since lb last looked: progress, though lb could
 * not write (a socket buffer of megabytes takes long to half-empty for a slow reader, and only
 * then does lb hear it may write again). Remembers what it saw. */
static bool client_read_since(struct session *s)
{
    int queued = side_unacked(&s->client);
    bool moved = queued >= 0 && (s->x->client_outq < 0 || queued < s->x->client_outq);
    s->x->client_outq = queued;
    return moved;
}

/* What the client has to get now: the rest of the response head, then body bytes ready. Returns
 * 0, or -1 when the backend's chunked framing is malformed. */
static int client_pending(struct session *s, struct pending *p)
{
    struct exchange *x = s->x;
    *p = (struct pending){0};
    if (x->head_use == HEAD_RESPONSE && x->head_sent < x->head_len) {
        p->head = x->head + x->head_sent;
        p->head_left = x->head_len - x->head_sent;
    }
    if (x->rs_state != RES_INTERIM) {
        if (response_prepare(s) < 0)
            return -1;
        if (x->rs.ready > 0) {
            p->body = buf_unread(&x->res);
            p->body_len = x->rs.ready;
        }
    }
    return 0;
}

/* Takes in a write of n bytes (or 0, -1: send_pending) of what client_pending() found. Returns
 * true when it moved something. */
static bool client_sent(struct session *s, ssize_t n, uint32_t head_done, uint32_t body_done)
{
    struct exchange *x = s->x;
    if (n == 0 && !s->client.writable && x->client_outq < 0)
        x->client_outq = side_unacked(&s->client); /* full: what it holds, to see it shrink */
    if (n <= 0)
        return n < 0;
    s->activity_ms = x->client_progress_ms = now_ms(s);
    x->client_outq = -1;
    x->head_sent += head_done;
    if (x->head_use == HEAD_RESPONSE && x->head_sent == x->head_len) {
        head_free(s);
        if (x->rs_state == RES_INTERIM)
            x->rs_state = RES_WAIT;
    }
    x->res.start += body_done;
    x->rs.ready -= body_done;
    if (s->state != S_CLOSING)
        x->rs.bytes += (uint64_t)n;
    return true;
}

/* The response half: sends the response head and body bytes (or lb's own response) to the
 * client. */
static bool write_client(struct session *s)
{
    if (!s->client.writable || s->client.err)
        return false;
    if (s->x->rs.splicing)
        return client_sent(s, splice_out(&s->x->rs, &s->client), 0, 0);
    if (worker_hold_client_write(s->w, s->queued)) {
        s->write_held = true;
        defer(s); /* written once the batch has been read: session_run_deferred() */
        return false;
    }
    struct pending p;
    if (client_pending(s, &p) < 0) {
        abort_truncated(s, "malformed chunked body");
        return true;
    }
    uint32_t head_done, body_done;
    ssize_t n = send_pending(&s->client, &p, &head_done, &body_done);
    return client_sent(s, n, head_done, body_done);
}

/* The response is complete once its body is all at the client. */
static void response_check_done(struct session *s)
{
    struct exchange *x = s->x;
    if (x->rs_state != RES_BODY)
        return;
    struct upstream *u = x->d.up;
    if (u != NULL && u->side.eof && u->side.err == 0 && buf_len(&x->res) == 0)
        http_body_eof(&x->rs.body); /* ends a body framed by the connection's close */
    if (x->rs.body.done && x->rs.ready == 0 && x->rs.pipe.held == 0)
        x->rs_state = RES_DONE;
}

/* --- request head ---------------------------------------------------------------------------- */

/* With --sticky-cookie: the backend the request's cookie names, when that one can serve now
 * (up, not resting), else -1 and the policy picks (the response then carries a new cookie). */
static int sticky_backend(struct session *s, const struct http_request *r)
{
    const struct sticky *st = &s->x->d.rt->sticky;
    const char *value;
    size_t len;
    s->x->cookie_backend = -1;
    if (!sticky_enabled(st) || !headers_find_cookie(r->headers, r->num_headers, st->cookie,
                                                    &value, &len))
        return -1;
    int idx = sticky_lookup(st, value, len);
    s->x->cookie_backend = idx;
    const struct routing_pool *pool = s->x->d.pool;
    if (idx < 0 || pool == NULL)
        return -1;
    /* a cookie of a backend in another pool than the request's is no use here */
    int in_pool = routing_pool_index(pool, &s->x->d.rt->table->backends[idx]);
    if (in_pool < 0)
        return -1;
    enum policy_tier tier = policy_tier(&pool->policy, (size_t)in_pool, NULL, now_ms(s));
    return tier == POLICY_TIER_UP || tier == POLICY_TIER_BACKUP ? in_pool : -1;
}

static void begin_request(struct session *s, const struct http_request *r, size_t head_len)
{
    struct worker *w = s->w;
    struct exchange *x = s->x;
    const char *id;
    size_t id_len;

    x->active = true;
    s->requests++;
    x->client_activity_ms = now_ms(s);
    events_request_received(w);
    copy_field(x->method, sizeof(x->method), &x->method_len, r->method, r->method_len);
    copy_field(x->path, sizeof(x->path), &x->path_len, r->target, r->target_len);
    if (headers_client_request_id(r, &id, &id_len)) {
        copy_field(x->id, sizeof(x->id), &x->id_len, id, id_len);
    } else {
        worker_request_id(w, x->id);
        x->id_len = 32;
    }
    x->head_req = r->method_len == 4 && memcmp(r->method, "HEAD", 4) == 0;
    x->idempotent = is_idempotent(r->method, r->method_len);
    x->client_minor = r->minor_version;
    x->upgrade_req = r->upgrade;
    x->expect_continue = r->expect_continue;
    x->own_host = r->host != NULL;
    x->close_after = !r->keep_alive || w->draining;
    http_body_init(&x->rq.body, r->framing, r->content_length);
    x->rq_state = x->rq.body.done ? REQ_DONE : REQ_BODY;
    s->req.start += (uint32_t)head_len;

    if (r->method_len == 7 && memcmp(r->method, "CONNECT", 7) == 0) {
        send_error(s, 501, "CONNECT is not supported: lb is a reverse proxy");
        return;
    }
    x->d.pool = routing_pick(dial_use(&x->d), r);
    if (x->d.pool == NULL) {
        send_error(s, 404, "no route matches this request, and there is no default pool");
        return;
    }
    const char *key;
    hashkey_get(&w->cfg->hash_key, r, x->client_ip, strlen(x->client_ip), &key, &x->key_len);
    if (x->key_len > sizeof(x->key))
        x->key_len = sizeof(x->key);
    memcpy(x->key, key, x->key_len);
    if (dial_pick(&x->d, x->key, x->key_len, sticky_backend(s, r)) < 0) {
        send_error(s, 503, "no backend is available");
        return;
    }

    struct headers_request_opts o = {
        .client_ip = x->client_ip,
        .proto = s->client.tr.ops == &transport_tls ? "https" : "http",
        .request_id = x->id,
        .request_id_len = x->id_len,
        .default_host = x->d.backend->authority,
        .close = false,
    };
    char *head = w->sessions->head_scratch;
    ssize_t n = headers_rewrite_request(r, &o, head, BUF_HEAD_OUT);
    if (n < 0) {
        send_error(s, 431, "the request head is too large");
        return;
    }
    if (r->num_headers + 3 > w->limits.max_headers) {
        /* the field limit holds for the head the backend gets, with lb's fields added */
        size_t lines = 0;
        for (const char *p = head; (p = memchr(p, '\n', (size_t)(head + n - p))); p++)
            lines++;
        if (lines - 2 > w->limits.max_headers) {
            send_error(s, 431, "too many header fields with X-Forwarded-For, X-Forwarded-Proto "
                               "and X-Request-ID added");
            return;
        }
    }
    if (head_store(s, head, (size_t)n, HEAD_REQUEST) != 0) {
        send_error(s, 503, "lb ran out of memory");
        return;
    }
    start_connect(s, true);
}

static bool step_head(struct session *s)
{
    struct worker *w = s->w;
    bool progress = read_client(s);
    uint32_t avail = buf_len(&s->req);

    if (avail > 0 && s->x == NULL) {
        /* the first byte of a request head: the exchange begins */
        if (exchange_take(s) != 0) {
            session_close(s, true);
            return true;
        }
        s->x->head_start_ms = now_ms(s);
        s->x->t_start = clock_mono_ns();
    }
    struct exchange *x = s->x;
    if (avail > 0 && avail != x->parsed_len) {
        struct http_request r = {.headers = w->scratch, .num_headers = HTTP_LIMITS_DEFAULT_HEADERS};
        int rc = http_parse_request(buf_unread(&s->req), avail, &r, &w->limits);
        if (rc > 0) {
            begin_request(s, &r, (size_t)rc);
            return true;
        }
        if (rc == HTTP_ERROR) {
            send_error(s, r.error ? r.error : 400, r.error_reason);
            return true;
        }
        x->parsed_len = avail;
        if (buf_room(&s->req) == 0) {
            bool line_done = memchr(buf_unread(&s->req), '\n', avail) != NULL;
            send_error(s, line_done ? 431 : 414,
                       line_done ? "the request head is too large" : "the request line is too long");
            return true;
        }
    }
    if (s->client.err) {
        session_close(s, false);
        return true;
    }
    if (s->client.eof) {
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

/* The exchange has a ready backend connection: the request is in flight from now on. */
static void on_connected(struct session *s)
{
    struct exchange *x = s->x;
    x->reused = x->d.up->reused;
    size_t addr_len = strnlen(x->d.up->addr, sizeof(x->backend_addr) - 1);
    memcpy(x->backend_addr, x->d.up->addr, addr_len);
    x->backend_addr[addr_len] = '\0';
    events_request_sent(s->w, x->d.backend);
    x->sent = true;
    s->state = S_PROXY;
    s->activity_ms = now_ms(s);
}

static void backend_unreachable(struct session *s);

/* The dial moved: what the session does next depends on where it stands. */
static void after_dial(struct session *s)
{
    switch (s->x->d.state) {
    case DIAL_READY:
        on_connected(s);
        break;
    case DIAL_FAILED:
        backend_unreachable(s);
        break;
    case DIAL_IDLE:
    case DIAL_RESOLVING:
    case DIAL_CONNECTING:
        s->state = S_CONNECT;
        break;
    }
}

/* Connects the current request to its backend: an idle pooled connection if allowed and there
 * is one, else a new connection. */
static void start_connect(struct session *s, bool allow_pool)
{
    dial_start(&s->x->d, allow_pool);
    after_dial(s);
}

void session_resolved(struct worker *w, struct resolve_req *req)
{
    struct session *s = req->owner;
    (void)w;
    if (s == NULL || s->dead || s->x == NULL) {
        dial_free_resolve(req);
        return;
    }
    if (dial_resolved(&s->x->d, req))
        after_dial(s);
    if (!s->dead)
        run(s);
}

/* Moves the request to a backend not tried yet, as if the policy had picked that one first.
 * was_sent: the request was in flight at the current backend (its attempt ends there). Returns
 * false when none is left. */
static bool move_to_another_backend(struct session *s, bool was_sent, const char *why)
{
    struct exchange *x = s->x;
    struct backend *from = x->d.backend;
    if (dial_pick(&x->d, x->key, x->key_len, -1) < 0)
        return false;
    x->retries++;
    events_retry(s->w, from, was_sent, why, x->id, x->id_len);
    x->stale_retried = false;
    if (!x->own_host) {
        /* the Host lb added named the backend picked before */
        char *scratch = s->w->sessions->head_scratch;
        memcpy(scratch, x->head, x->head_len);
        ssize_t n = headers_replace_host(scratch, x->head_len, BUF_HEAD_OUT,
                                         x->d.backend->authority);
        if (n < 0) {
            send_error(s, 431, "the request head is too large");
            return true;
        }
        if (head_store(s, scratch, (size_t)n, HEAD_REQUEST) != 0) {
            send_error(s, 503, "lb ran out of memory");
            return true;
        }
    }
    start_connect(s, true);
    return true;
}

/* The request failed at its backend (passive health). */
static void health_failed(struct session *s, enum health_failure kind, const char *why)
{
    struct worker *w = s->w;
    struct health_change chg;
    if (w->health != NULL && s->x->d.backend != NULL &&
        health_report_failure(w->health, s->x->d.backend->index, kind, why, w->now_ms, &chg))
        events_backend_health(w, w->health, s->x->d.backend, &chg);
}

/* No address of the current backend took the connection: the next backend, else 503. */
static void backend_unreachable(struct session *s)
{
    int err = s->x->d.err;
    if (!move_to_another_backend(s, false, "connect failed")) {
        /* no backend could take the request: 503 (502 is for a backend that broke a response),
         * saying whose fault it was when it was lb's own */
        send_error(s, 503, err == -EMFILE || err == -ENFILE ? "lb ran out of file descriptors"
                           : err == -ENOMEM || err == -ENOBUFS ? "lb ran out of memory"
                           : err == -ETIMEDOUT ? "connecting to the backends timed out"
                                               : "no backend accepted the connection");
    }
}

/* The request failed at its backend after it was sent, before any answer (the backend closed,
 * reset, or said nothing until --server-timeout). A safe request without a body goes to another
 * backend, at most --retries times; anything else must not be sent twice. Returns true when the
 * request is on its way again. */
static bool retry_elsewhere(struct session *s, const char *why)
{
    struct exchange *x = s->x;
    if (x->resent >= s->w->cfg->retries || !x->idempotent || x->rq.bytes > 0 ||
        x->rq_state != REQ_DONE || x->t_first_byte != 0 || x->head_use != HEAD_REQUEST)
        return false;
    bool reused = x->reused;
    dial_drop(&s->x->d);
    x->sent = false;
    x->reused = false;
    x->t_sent = 0;
    x->head_sent = 0;
    if (!move_to_another_backend(s, true, why)) {
        /* it stays the failed backend's: the caller answers the client */
        x->sent = true;
        x->reused = reused;
        return false;
    }
    x->resent++;
    return true;
}

static bool step_connect(struct session *s)
{
    bool progress = read_client(s);

    if (s->client.err) {
        session_close(s, false);
        return true;
    }
    if (s->x->d.state == DIAL_CONNECTING) {
        dial_poll(&s->x->d);
        if (s->x->d.state != DIAL_CONNECTING) {
            after_dial(s);
            return true;
        }
    }
    return progress;
}

/* --- proxying --------------------------------------------------------------------------------- */

/* Parses the backend's response head once it is complete and writes the rewritten one to head[]. */
static bool response_head(struct session *s)
{
    struct worker *w = s->w;
    struct exchange *x = s->x;
    struct buf *res = &x->res;
    uint32_t avail = buf_len(res);

    if (x->rs_state != RES_WAIT || avail == 0 || s->state != S_PROXY)
        return false;
    if (x->head_use == HEAD_RESPONSE || request_head_pending(s))
        return false; /* head[] is still busy */

    struct http_response r = {.headers = w->scratch, .num_headers = HTTP_LIMITS_DEFAULT_HEADERS};
    int rc = http_parse_response(buf_unread(res), avail, &r, &w->limits, x->head_req);
    if (rc == HTTP_INCOMPLETE) {
        if (buf_room(res) == 0) {
            events_backend_broke(w, x->d.backend, "response head larger than 16 KiB");
            send_error(s, 502, "the backend's response head is too large");
            return true;
        }
        return false;
    }
    if (rc == HTTP_ERROR) {
        if (x->d.backend)
            events_backend_broke(w, x->d.backend, r.error_reason ? r.error_reason : "malformed response");
        send_error(s, 502, "the backend sent a malformed response");
        return true;
    }
    head_free(s); /* the request head is gone: no retry is possible now */
    if (r.status >= 100 && r.status < 200 && r.status != 101) {
        if (x->client_minor >= 1) {
            /* relay the interim response as it came */
            if (head_store(s, buf_unread(res), (size_t)rc, HEAD_RESPONSE) != 0) {
                session_close(s, true);
                return true;
            }
            x->client_progress_ms = now_ms(s);
            x->rs_state = RES_INTERIM;
        }
        res->start += (uint32_t)rc;
        return true;
    }
    if (r.status == 101 && !x->upgrade_req) {
        send_error(s, 502, "the backend switched protocols without being asked");
        return true;
    }
    x->status = r.status;
    if (r.status >= 500 && w->cfg->observe_5xx) {
        char why[32];
        snprintf(why, sizeof(why), "status %d", r.status);
        health_failed(s, HEALTH_FAIL_5XX, why);
    } else if (w->health != NULL) {
        struct health_change chg;
        if (health_report_success(w->health, x->d.backend->index, w->now_ms, &chg))
            events_backend_health(w, w->health, x->d.backend, &chg);
    }
    http_body_init(&x->rs.body, r.framing, r.content_length);
    x->res_decode = r.framing == HTTP_BODY_CHUNKED && x->client_minor == 0;
    x->backend_keepalive = r.keep_alive && r.framing != HTTP_BODY_UNTIL_CLOSE && r.status != 101;
    if (r.framing == HTTP_BODY_UNTIL_CLOSE || x->res_decode || w->draining)
        x->close_after = true;

    const struct sticky *st = &x->d.rt->sticky;
    int position = routing_position(x->d.rt, x->d.backend);
    bool set_cookie = sticky_enabled(st) && position >= 0 && x->cookie_backend != position;
    struct headers_response_opts o = {
        .cookie_name = set_cookie ? st->cookie : NULL,
        .cookie_value = set_cookie ? sticky_id(st, (size_t)position) : NULL,
        .request_id = x->id,
        .request_id_len = x->id_len,
        .keep_chunked = (r.framing == HTTP_BODY_CHUNKED && !x->res_decode) ||
                        r.framing == HTTP_BODY_UNTIL_CLOSE,
        .connection = r.status == 101        ? HEADERS_CONN_UPGRADE
                      : x->close_after       ? HEADERS_CONN_CLOSE
                      : x->client_minor == 0 ? HEADERS_CONN_KEEP_ALIVE
                                             : HEADERS_CONN_NONE,
    };
    char *head = w->sessions->head_scratch;
    ssize_t n = headers_rewrite_response(&r, &o, head, BUF_HEAD_OUT);
    if (n < 0) {
        events_backend_broke(w, x->d.backend, "response head too large once rewritten");
        send_error(s, 502, "the backend's response head is too large");
        return true;
    }
    if (head_store(s, head, (size_t)n, HEAD_RESPONSE) != 0) {
        session_close(s, true);
        return true;
    }
    res->start += (uint32_t)rc;
    x->client_progress_ms = now_ms(s); /* --client-timeout to read it counts from now */
    x->rs_state = RES_BODY;
    x->rs.ready = 0;
    return true;
}

/* A reused keep-alive connection failed before any response byte: the backend had closed it
 * while it sat idle. Safe requests without a body are sent again on a fresh connection. */
static bool retry_stale(struct session *s)
{
    struct exchange *x = s->x;
    struct upstream *u = x->d.up;
    if (u == NULL || !u->reused || x->t_first_byte != 0 || x->stale_retried || !x->idempotent ||
        x->rq.bytes > 0 || x->rq_state != REQ_DONE || x->head_use != HEAD_REQUEST)
        return false;
    events_retry(s->w, x->d.backend, true, "idle connection was closed by the backend", x->id,
                 x->id_len);
    x->sent = false;
    x->stale_retried = true;
    x->reused = false;
    x->t_sent = 0;
    dial_drop(&s->x->d);
    x->head_sent = 0;
    start_connect(s, false);
    return true;
}

static void enter_tunnel(struct session *s)
{
    s->state = S_TUNNEL;
    s->x->rq.ready = 0;
    s->x->rs.ready = 0;
    s->x->rs_state = RES_DONE;
    log_request(s); /* the request is answered; what follows is another protocol */
}

/* The response is complete: log it, keep or close the backend connection, and either wait for
 * the next request on this client connection or close it. */
static void finish_request(struct session *s)
{
    struct worker *w = s->w;
    struct exchange *x = s->x;
    struct upstream *u = x->d.up;

    log_request(s);
    dial_release(&s->x->d);
    if (u != NULL) {
        /* not after a hang-up: a backend that sent its FIN with (or right after) the response
         * has ended the connection, and with edge-triggered epoll no event would say so again
         * while it waits in the pool */
        bool keep = x->backend_keepalive && x->rq_state == REQ_DONE &&
                    buf_len(&x->res) == 0 && !u->side.eof && !u->side.hup && !u->side.wfailed;
        /* a spliced body was read to its exact end and not a byte further: what the backend
         * sent past it would wait in the pooled connection, to be taken for the next request's
         * response */
        if (keep && x->rs.splicing && side_has_input(&u->side))
            keep = false;
        x->d.up = NULL;
        upstream_release(w->upstreams, u, keep);
    }
    /* a client that half-closed still gets an answer to every complete request it sent */
    bool req_done = x->rq_state == REQ_DONE;
    if (x->close_after || !req_done || (s->client.eof && buf_len(&s->req) == 0) || w->draining) {
        head_free(s);
        /* Nothing unread from the client (its last read hit EAGAIN or EOF): a plain close sends
         * the response and a FIN. Unread input would turn the close into a reset that can
         * destroy the response, so then close gracefully (CLOSING drains the input). */
        if (s->client.eof || (req_done && buf_len(&s->req) == 0 && !s->client.readable))
            session_close(s, false);
        else
            enter_closing(s);
        return;
    }
    exchange_end(s);
    s->state = S_HEAD;
    s->idle_since_ms = now_ms(s);
}

static bool step_proxy(struct session *s)
{
    struct exchange *x = s->x;
    bool progress = false;

    progress |= read_client(s);
    progress |= write_backend(s);
    progress |= read_backend(s);
    progress |= response_head(s);
    if (s->state != S_PROXY)
        return true;
    progress |= write_client(s);
    if (s->dead || s->state != S_PROXY)
        return true;

    struct upstream *u = x->d.up;
    if (s->client.err) {
        session_close(s, false);
        return true;
    }
    if (x->rq_state == REQ_BAD) {
        if (x->rs_state < RES_BODY)
            send_error(s, 400, "malformed chunked request body");
        else
            session_close(s, true);
        return true;
    }
    if (s->client.eof && x->rq_state == REQ_BODY) {
        /* the client can no longer finish its body unless the rest is already here */
        if (request_prepare(s) < 0 || !x->rq.body.done) {
            session_close(s, false);
            return true;
        }
    }
    if (u != NULL && u->side.eof && x->rs_state < RES_BODY) {
        if (retry_stale(s))
            return true;
        if (buf_len(&x->res) > 0 && !u->side.err && response_head(s))
            return true;
        if (x->t_first_byte == 0 &&
            retry_elsewhere(s, u->side.err ? "the backend reset the connection without answering"
                                           : "the backend closed the connection without answering"))
            return true;
        send_error(s, 502, x->t_first_byte ? "the backend closed the connection mid-head"
                                           : "the backend closed the connection without answering");
        return true;
    }
    /* A failed write to the backend (wfailed) is not an error by itself: the backend may have
     * answered early (413, 401...) and the answer is still readable; else its close or the
     * server timeout ends the request. */
    response_check_done(s);
    if (x->rs_state == RES_BODY && u != NULL && u->side.eof) {
        if (response_prepare(s) < 0) {
            abort_truncated(s, "malformed chunked body");
            return true;
        }
        response_check_done(s);
        if (x->rs_state != RES_DONE && x->rs.ready == 0 && x->rs.pipe.held == 0) {
            abort_truncated(s, "backend closed the connection mid-body");
            return true;
        }
    }
    if (x->rs_state == RES_DONE && x->head_use == HEAD_FREE) {
        if (x->status == 101)
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

    progress |= read_client(s);
    progress |= write_backend(s);
    progress |= read_backend(s);
    progress |= write_client(s);
    if (s->dead)
        return true;
    struct upstream *u = s->x->d.up;
    if (u == NULL || s->client.err || u->side.err || u->side.wfailed) {
        session_close(s, u == NULL || u->side.err != 0);
        return true;
    }
    /* each direction ends on its own: a FIN is passed on once its bytes are all through */
    if (s->client.eof && buf_len(&s->req) == 0 && !u->side.shut) {
        side_shutdown(&u->side);
        progress = true;
    }
    if (u->side.eof && buf_len(&s->x->res) == 0 && !s->client.shut) {
        side_shutdown(&s->client);
        progress = true;
    }
    if (s->client.eof && u->side.eof && buf_len(&s->req) == 0 && buf_len(&s->x->res) == 0) {
        session_close(s, false);
        return true;
    }
    return progress;
}

static bool step_closing(struct session *s)
{
    bool progress = false;

    if (s->x->head_use == HEAD_RESPONSE)
        progress |= write_client(s);
    if (s->dead)
        return true;
    if (s->client.err) {
        session_close(s, false);
        return true;
    }
    if (s->x->head_use == HEAD_RESPONSE)
        return progress;
    if (s->client.eof) {
        session_close(s, false);
        return true;
    }
    if (!s->client.shut) {
        side_shutdown(&s->client);
        progress = true;
    }
    /* drain and discard what the client still sends, until it closes */
    buf_clear(&s->req);
    progress |= read_client(s);
    buf_clear(&s->req);
    if (s->client.eof || s->client.err) {
        session_close(s, false);
        return true;
    }
    return progress;
}

/* --- running and timers --------------------------------------------------------------------- */

static uint64_t session_deadline(const struct session *s)
{
    const struct config *c = s->w->cfg;
    const struct exchange *x = s->x;
    switch (s->state) {
    case S_HEAD:
        if (x != NULL) /* a head has begun */
            return x->head_start_ms + c->client_timeout_ms;
        /* a new connection must start its first request within --client-timeout; between
         * keep-alive requests it may idle for --idle-timeout */
        return s->idle_since_ms + (s->requests == 0 ? c->client_timeout_ms : c->idle_timeout_ms);
    case S_CONNECT:
        return x->d.start_ms + c->connect_timeout_ms;
    case S_PROXY:
        /* While the backend has everything the client sent and the client owes the rest of its
         * body, only --client-timeout runs: the backend is not late, the client is (unless the
         * client waits for a 100 Continue: then whichever comes first). While lb holds request
         * bytes the backend has not taken, the backend is late, and only --server-timeout runs. */
        if (body_waits_for_client(s)) {
            uint64_t client_d = x->client_activity_ms + c->client_timeout_ms; /* the body stalled */
            uint64_t server_d = s->activity_ms + c->server_timeout_ms;
            return x->expect_continue && x->rq.bytes == 0 && server_d < client_d ? server_d
                                                                                 : client_d;
        }
        if (response_waits_for_client(s))
            return x->client_progress_ms + c->client_timeout_ms; /* the client stopped reading? */
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
            settle_buffers(s);
            return;
        }
    }
    arm_timer(s);
    settle_buffers(s);
    defer(s);
}

/* Whether run() would write to s's client now through write_client(), over a plain socket
 * that a send batch can write to. */
static bool client_write_batchable(const struct session *s)
{
    if (s->dead || s->x == NULL || s->client.err || !side_can_write(&s->client) ||
        s->client.tr.ops != &transport_plain)
        return false;
    return s->state == S_PROXY || s->state == S_TUNNEL ||
           (s->state == S_CLOSING && s->x->head_use == HEAD_RESPONSE);
}

/* Whether run() would write to s's backend now through write_backend(), likewise. */
static bool backend_write_batchable(const struct session *s)
{
    if (s->dead || s->x == NULL || (s->state != S_PROXY && s->state != S_TUNNEL))
        return false;
    const struct upstream *u = s->x->d.up;
    return u != NULL && u->state == UPSTREAM_READY && side_can_write(&u->side) &&
           u->side.tr.ops == &transport_plain;
}

/* One write of a send batch: whose, to which side, and what it offered. */
struct held_write {
    struct session *s;
    bool to_backend;
    struct pending p;
};

/* Adds what s has for one side to the batch. */
static void hold_in_batch(struct send_batch *batch, struct held_write *held, int *count,
                          struct session *s, bool to_backend)
{
    if (*count == SEND_BATCH_MAX)
        return; /* run() writes it (a worker holds fewer than SEND_BATCH_MAX) */
    struct held_write *h = &held[*count];
    if (to_backend ? backend_pending(s, &h->p) < 0 : client_pending(s, &h->p) < 0) {
        if (to_backend)
            s->x->rq_state = REQ_BAD; /* step_proxy() answers it */
        else
            abort_truncated(s, "malformed chunked body");
        return;
    }
    struct iovec iov[SEND_BATCH_IOV];
    int cnt = pending_iov(&h->p, iov);
    int fd = to_backend ? s->x->d.up->side.tr.fd : s->client.tr.fd;
    if (cnt == 0 || send_batch_add(batch, fd, iov, cnt) < 0)
        return;
    h->s = s;
    h->to_backend = to_backend;
    (*count)++;
}

/* Makes the writes held during the batch of events (write_client(), write_backend()) all at
 * once, with one system call where the kernel has io_uring (sendbatch.h), and takes in each
 * result as those functions would. The sessions then run as usual and find them written. */
static void write_held(struct worker *w, struct session *list)
{
    struct send_batch *batch = &w->sends;
    struct held_write held[SEND_BATCH_MAX];
    int count = 0;
    for (struct session *s = list; s != NULL; s = s->run_next) {
        /* the client's first: a malformed response closes s, and with it the backend's socket,
         * which then must not be in the batch */
        if (s->write_held) {
            s->write_held = false;
            if (client_write_batchable(s))
                hold_in_batch(batch, held, &count, s, false);
        }
        if (s->backend_write_held) {
            s->backend_write_held = false;
            if (backend_write_batchable(s))
                hold_in_batch(batch, held, &count, s, true);
        }
    }
    if (count == 0)
        return;
    send_batch_run(batch);
    for (int i = 0; i < count; i++) {
        struct held_write *h = &held[i];
        struct side *side = h->to_backend ? &h->s->x->d.up->side : &h->s->client;
        ssize_t n = side_wrote(side, send_batch_result(batch, i),
                               (size_t)h->p.head_left + h->p.body_len);
        uint32_t head_done, body_done;
        pending_split(&h->p, n, &head_done, &body_done);
        if (h->to_backend)
            backend_sent(h->s, n, head_done, body_done);
        else
            client_sent(h->s, n, head_done, body_done);
    }
    send_batch_clear(batch);
}

void session_run_deferred(struct worker *w)
{
    struct session *list = w->sessions->deferred;
    w->sessions->deferred = NULL;
    write_held(w, list);
    while (list != NULL) {
        struct session *s = list;
        list = s->run_next;
        s->queued = false;
        if (s->dead) {
            s->run_next = w->sessions->closed;
            w->sessions->closed = s;
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
    side_event(&s->client, events);
    run(s);
}

void session_backend_ready(struct endpoint *ep)
{
    struct session *s = (struct session *)ep;
    if (!s->dead)
        run(s);
}

void session_timer_expired(struct worker *w, struct timer *t)
{
    struct session *s = (struct session *)t->owner;
    struct exchange *x = s->x;
    if (s->dead)
        return;
    uint64_t d = session_deadline(s);
    if (d > w->now_ms) {
        timer_set(&w->timers, &s->timer, d);
        return;
    }
    switch (s->state) {
    case S_HEAD:
        if (x != NULL) {
            events_timeout(w, EVENTS_TIMEOUT_CLIENT_HEAD, NULL);
            send_error(s, 408, "the request head did not arrive in time");
        } else {
            events_timeout(w, EVENTS_TIMEOUT_CLIENT_IDLE, NULL);
            session_close(s, false);
        }
        break;
    case S_CONNECT:
        events_timeout(w, EVENTS_TIMEOUT_CONNECT, x->d.backend);
        dial_timed_out(&x->d);
        after_dial(s);
        break;
    case S_PROXY: {
        bool can_answer = x->rs_state < RES_BODY &&
                          !(x->head_use == HEAD_RESPONSE && x->head_sent > 0);
        if (body_waits_for_client(s) &&
            x->client_activity_ms + w->cfg->client_timeout_ms <= w->now_ms) {
            /* the client stopped sending its request body */
            events_timeout(w, EVENTS_TIMEOUT_CLIENT_BODY, x->d.backend);
            if (can_answer)
                send_error(s, 408, "the request body did not arrive in time");
            else
                session_close(s, false);
            break;
        }
        if (response_waits_for_client(s)) {
            if (client_read_since(s)) { /* slow, but moving: never cut */
                x->client_progress_ms = w->now_ms;
                timer_set(&w->timers, &s->timer, session_deadline(s));
                return;
            }
            /* the client's fault, not the backend's: cut with a reset (the response is short) */
            events_client_stalled(w, x->client_addr, w->cfg->client_timeout_ms);
            x->end = "client_timeout";
            session_close(s, true);
            break;
        }
        events_timeout(w, EVENTS_TIMEOUT_SERVER, x->d.backend);
        health_failed(s, HEALTH_FAIL_TIMEOUT, "timeout");
        if (x->t_first_byte == 0 && retry_elsewhere(s, "the backend did not answer in time"))
            break;
        if (can_answer) {
            send_error(s, 504, "the backend did not answer in time");
        } else {
            x->end = "server_timeout";
            abort_truncated(s, "timed out mid-response");
        }
        break;
    }
    case S_TUNNEL:
        events_timeout(w, EVENTS_TIMEOUT_TUNNEL, x->d.backend);
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
    struct session *s = w->sessions->live;
    while (s != NULL) {
        struct session *next = s->next;
        if (force) {
            /* a response cut short must not look complete: reset instead of a clean close */
            session_close(s, s->state == S_PROXY && s->x->rs_state >= RES_BODY);
        } else if (s->state == S_HEAD && buf_len(&s->req) == 0) {
            session_close(s, false);
        } else if (s->x != NULL) {
            s->x->close_after = true; /* (a request that begins from now on is the last) */
        }
        s = next;
    }
    upstreams_close_idle(w->upstreams);
}
