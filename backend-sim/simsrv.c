/*
 * simsrv.c - one backend-sim instance: its event loop and its connections (see simsrv.h).
 *
 * Design. Each connection is a state machine driven by conn_drive(), which makes every kind of
 * progress it can (flush output, produce more output, read input, parse or consume it) until none
 * is left, then arms the connection's single timer for the next deadline it cares about. epoll
 * is edge-triggered and a connection is registered once: the "can_read"/"can_write" flags
 * remember readiness, so the common keep-alive request costs one read(), one write() and no
 * epoll_ctl(). One request is served at a time per connection; pipelined requests wait in the
 * input buffer and are answered in order.
 *
 * A request is parsed with the shared parser (common/http.h), routed (endpoint.h), and its
 * response is rendered at once: into the output buffer, or into a "pending" buffer while a
 * --latency/--jitter or /delay hold is running. Long bodies (/bytes, /chunked, static files,
 * large /echo) are produced as the socket drains, at most OUT_HIGH bytes ahead, so memory per
 * connection is bounded whatever the size.
 *
 * /echo: a body of up to ECHO_MEM_MAX bytes is read whole and answered with Content-Length and
 * X-Echo-Length / X-Echo-SHA256 headers. A longer body is streamed back as it arrives, chunked,
 * with the same two fields sent as trailers (announced in a Trailer header); an HTTP/1.0 client,
 * which cannot take chunks, gets Content-Length and X-Echo-Length only.
 */
#include "simsrv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bytepat.h"
#include "clock.h"
#include "docroot.h"
#include "endpoint.h"
#include "http.h"
#include "net.h"
#include "simbuf.h"
#include "simpage.h"
#include "simtimer.h"
#include "textesc.h"
#include "version.h"

#define IN_MAX (HTTP_LIMITS_DEFAULT_HEADER_BYTES + 16384) /* input buffer limit */
#define READ_CHUNK 16384
#define OUT_HIGH (64 * 1024)       /* produce no more output while this much is unsent */
#define ECHO_MEM_MAX (1024 * 1024) /* /echo bodies up to this are answered with headers */
#define ADMIN_BODY_MAX 256
#define IO_TIMEOUT_MS 60000u /* a request making no progress for this long is dropped */
#define LINGER_MS 2000u      /* after a final response, wait this long for the client's FIN */
#define REFUSING_MAX 256     /* connections being refused (--max-conns) at the same time */
#define FREE_CONNS_MAX 64    /* closed connections kept for reuse, with their buffers */
#define MAX_EVENTS 256

enum health { HEALTH_UP, HEALTH_DOWN, HEALTH_SLOW };
#define SLOW_DEFAULT_MS 3000u

enum in_state {
    IN_HEAD, /* waiting for a request head */
    IN_BODY, /* consuming the current request's body */
    IN_WAIT, /* body consumed; the response is still being produced or sent */
    IN_STOP, /* no more requests on this connection (error, hang, closing) */
};

enum body_sink { SINK_DISCARD, SINK_COLLECT, SINK_ECHO_STREAM };

enum out_state {
    OUT_NONE,      /* no request */
    OUT_HELD,      /* response rendered into pend, released at hold_until */
    OUT_WAIT_BODY, /* /echo, /admin/health: the response needs the request body first */
    OUT_STREAM,    /* head sent; body produced as the socket drains */
    OUT_DONE,      /* everything produced; done when the output buffer is flushed */
    OUT_HANG,      /* /hang: never answers */
};

enum stream_kind { ST_BYTES, ST_CHUNKED, ST_FILE, ST_ECHO };

enum after {
    AFTER_KEEP,  /* keep the connection for the next request */
    AFTER_CLOSE, /* graceful: shutdown(SHUT_WR), drain, close */
    AFTER_ABORT, /* close right away (/close: body cut short) */
    AFTER_RESET, /* SO_LINGER 0: the close sends a TCP RST */
};

struct simsrv;

struct conn {
    struct simsrv *srv;
    struct conn *prev, *next; /* srv->conns, or srv->free_conns */
    struct simtimer_node timer;
    int fd;
    struct conn *ready_next; /* srv->ready, while queued there */
    bool in_ready;
    bool counted;  /* counts against --max-conns */
    bool closed;   /* waiting in the graveyard until the end of the loop iteration */
    bool lingering;
    bool can_read, can_write, rdhup, peer_eof;
    char peer_ip[INET6_ADDRSTRLEN];
    uint16_t peer_port;
    char local_ip[INET6_ADDRSTRLEN]; /* the address the client connected to */
    char peer_str[NET_ADDRSTR_LEN];

    struct simbuf in; /* received bytes; in.data[in_off..in.len) not yet used */
    size_t in_off;
    struct simbuf out; /* bytes to send: out.data[out_off..out.len) */
    size_t out_off;
    struct simbuf pend; /* a held response */
    struct simbuf body; /* a collected request body */
    struct simbuf meta; /* copies of method, path, X-Request-ID, X-Forwarded-For for the log */

    uint64_t idle_since_ms, last_progress_ms, linger_until_ms;
    uint64_t conn_requests;

    /* the current request */
    bool req_active;
    enum endpoint_kind kind;
    enum in_state ist;
    enum out_state ost;
    enum out_state after_hold; /* the state a held response moves to */
    enum after after;
    bool head_only; /* HEAD: no response body */
    bool keep;      /* the response keeps the connection */
    int minor;
    int status;
    uint64_t start_ns, start_mono_ns;
    uint64_t hold_until_ms, hang_until_ms;
    size_t m_method, m_method_len, m_path, m_path_len, m_rid, m_rid_len, m_xff, m_xff_len;
    bool has_method, has_rid, has_xff;

    enum http_framing body_framing;
    uint64_t body_left; /* HTTP_BODY_LENGTH: bytes still to come */
    struct http_chunked dec;
    bool body_done;
    enum body_sink sink;
    size_t collect_limit;
    bool collect_overflow;

    enum stream_kind sk;
    uint64_t st_n;   /* /bytes N: seeds the pattern */
    uint64_t st_off; /* body bytes produced */
    uint64_t st_end; /* produce until here */
    uint32_t st_chunk, st_gap;
    uint64_t next_chunk_ms;
    bool st_chunked; /* the response uses chunked framing */
    int file_fd;
    uint64_t body_bytes; /* response body bytes produced */

    EVP_MD_CTX *md; /* /echo hashing, allocated on first use */
    uint64_t echo_len;
};

struct simsrv {
    /* immutable after simsrv_create() */
    const struct simsrv_shared *sh;
    const struct simcfg *cfg;
    const struct simcfg_instance *ic;
    size_t index;
    int listen_fd, epoll_fd, wake_fd;
    uint16_t port;
    char local_addr[INET6_ADDRSTRLEN];
    struct endpoint_caps caps;
    struct http_limits limits;
    pthread_t thread;
    bool started;

    atomic_bool stop; /* set by simsrv_stop() from another thread */

    /* owned by the instance's thread */
    uint64_t now_ms;
    uint64_t wall_sec;
    struct simbuf common; /* Date, Server, X-Backend, X-Backend-Port lines; rebuilt each second */
    struct simtimer_heap timers;
    struct conn *conns;      /* every open connection */
    struct conn *graveyard;  /* closed this iteration, freed at its end */
    struct conn *free_conns; /* for reuse */
    struct conn *ready;      /* to drive again: they stopped after their fair share */
    size_t n_free;
    uint32_t n_counted, n_refusing;
    uint64_t requests;
    enum health health;
    uint32_t slow_ms;
    uint64_t rng;
    struct simbuf scratch; /* response bodies are rendered here first */
    struct simbuf logbuf;  /* log lines waiting for the end of the loop iteration */
};

static void conn_drive(struct conn *c);

/* --- small helpers ------------------------------------------------------------------------ */

static uint64_t rng_next(struct simsrv *s)
{
    /* xorshift64*: plenty for fault injection and session ids in a test tool */
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static double rng_unit(struct simsrv *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static const char *health_name(enum health h)
{
    return h == HEALTH_UP ? "up" : h == HEALTH_DOWN ? "down" : "slow";
}

/* An IPv4-mapped IPv6 address (from the dual-stack listener) is shown as plain IPv4. */
static void unmap_addr(struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6) {
        struct sockaddr_in6 a6;
        memcpy(&a6, ss, sizeof(a6));
        if (IN6_IS_ADDR_V4MAPPED(&a6.sin6_addr)) {
            struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = a6.sin6_port};
            memcpy(&a4.sin_addr, &a6.sin6_addr.s6_addr[12], 4);
            memset(ss, 0, sizeof(*ss));
            memcpy(ss, &a4, sizeof(a4));
        }
    }
}

static void rebuild_common(struct simsrv *s, uint64_t wall_sec)
{
    char date[64];
    time_t t = (time_t)wall_sec;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    simbuf_reset(&s->common);
    simbuf_printf(&s->common,
                  "Date: %s\r\nServer: backend-sim/" LBLAB_VERSION
                  "\r\nX-Backend: %s\r\nX-Backend-Port: %u\r\n",
                  date, s->ic->name, s->port);
    s->wall_sec = wall_sec;
}

static size_t out_pending(const struct conn *c)
{
    return c->out.len - c->out_off;
}

/* --- log ---------------------------------------------------------------------------------- */

static void meta_copy(struct conn *c, const char *p, size_t n, size_t *off, size_t *len)
{
    *off = c->meta.len;
    simbuf_append(&c->meta, p, n);
    *len = n;
}

static void conn_log(struct conn *c)
{
    struct simsrv *s = c->srv;
    struct simlog_entry e;
    const char *m = c->meta.data;

    if (s->sh->log == NULL)
        return;
    if (simbuf_failed(&c->meta))
        m = NULL;
    memset(&e, 0, sizeof(e));
    e.time_ns = c->start_ns;
    e.backend = s->ic->name;
    e.local_addr = c->local_ip;
    e.local_port = s->port;
    e.peer_addr = c->peer_ip;
    e.peer_port = c->peer_port;
    if (c->has_method && m != NULL) {
        e.method = m + c->m_method;
        e.method_len = c->m_method_len;
        e.path = m + c->m_path;
        e.path_len = c->m_path_len;
    }
    if (c->has_rid && m != NULL) {
        e.request_id = m + c->m_rid;
        e.request_id_len = c->m_rid_len;
    }
    if (c->has_xff && m != NULL) {
        e.xff = m + c->m_xff;
        e.xff_len = c->m_xff_len;
    }
    e.status = c->status;
    e.bytes = c->body_bytes;
    e.conn_requests = c->conn_requests;
    e.duration_us = (clock_mono_ns() - c->start_mono_ns) / 1000u;
    simlog_format(&s->logbuf, &e);
    if (s->logbuf.len >= 65536 || simbuf_failed(&s->logbuf)) {
        if (!simbuf_failed(&s->logbuf))
            (void)simlog_write(s->sh->log, s->logbuf.data, s->logbuf.len);
        simbuf_reset(&s->logbuf);
    }
}

static void flush_log(struct simsrv *s)
{
    if (s->sh->log != NULL && s->logbuf.len > 0)
        (void)simlog_write(s->sh->log, s->logbuf.data, s->logbuf.len);
    simbuf_reset(&s->logbuf);
}

/* --- connection life ---------------------------------------------------------------------- */

static void list_remove(struct conn **head, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void list_push(struct conn **head, struct conn *c)
{
    c->prev = NULL;
    c->next = *head;
    if (*head)
        (*head)->prev = c;
    *head = c;
}

static void request_clear(struct conn *c)
{
    c->req_active = false;
    c->ist = IN_HEAD;
    c->ost = OUT_NONE;
    c->after = AFTER_KEEP;
    c->status = 0;
    c->body_bytes = 0;
    c->has_method = c->has_rid = c->has_xff = false;
    c->body_framing = HTTP_BODY_NONE;
    c->body_left = 0;
    c->body_done = true;
    c->sink = SINK_DISCARD;
    c->collect_overflow = false;
    c->echo_len = 0;
    if (c->file_fd >= 0) {
        close(c->file_fd);
        c->file_fd = -1;
    }
    simbuf_reset(&c->meta);
    simbuf_reset(&c->body);
    simbuf_reset(&c->pend);
}

/* Closes the socket now; the memory goes to the graveyard until the loop iteration ends, since
 * later events of the same epoll_wait() batch may still name this connection. */
static void conn_close(struct conn *c, bool log_request)
{
    struct simsrv *s = c->srv;

    if (c->closed)
        return;
    if (log_request && c->req_active)
        conn_log(c);
    c->closed = true;
    simtimer_cancel(&s->timers, &c->timer);
    if (c->after == AFTER_RESET) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(c->fd);
    c->fd = -1;
    if (c->file_fd >= 0) {
        close(c->file_fd);
        c->file_fd = -1;
    }
    if (c->counted)
        s->n_counted--;
    else
        s->n_refusing--;
    list_remove(&s->conns, c);
    list_push(&s->graveyard, c);
}

static void conn_free(struct conn *c)
{
    simbuf_free(&c->in);
    simbuf_free(&c->out);
    simbuf_free(&c->pend);
    simbuf_free(&c->body);
    simbuf_free(&c->meta);
    if (c->md)
        EVP_MD_CTX_free(c->md);
    free(c);
}

static void bury_dead(struct simsrv *s)
{
    while (s->graveyard != NULL) {
        struct conn *c = s->graveyard;
        list_remove(&s->graveyard, c);
        if (s->n_free < FREE_CONNS_MAX && c->in.cap <= 2 * READ_CHUNK && c->out.cap <= 2 * OUT_HIGH) {
            list_push(&s->free_conns, c);
            s->n_free++;
        } else {
            conn_free(c);
        }
    }
}

static struct conn *conn_new(struct simsrv *s, int fd, struct sockaddr_storage *ss, bool counted)
{
    struct conn *c = s->free_conns;
    struct simbuf in, out, pend, body, meta;
    EVP_MD_CTX *md = NULL;

    if (c != NULL) {
        list_remove(&s->free_conns, c);
        s->n_free--;
        in = c->in;
        out = c->out;
        pend = c->pend;
        body = c->body;
        meta = c->meta;
        md = c->md;
        simbuf_reset(&in);
        simbuf_reset(&out);
    } else {
        c = malloc(sizeof(*c));
        if (c == NULL)
            return NULL;
        simbuf_init(&in, IN_MAX);
        simbuf_init(&out, 0);
        simbuf_init(&pend, 0);
        simbuf_init(&body, ECHO_MEM_MAX + READ_CHUNK);
        simbuf_init(&meta, 0);
    }
    memset(c, 0, sizeof(*c));
    c->in = in;
    c->out = out;
    c->pend = pend;
    c->body = body;
    c->meta = meta;
    c->md = md;
    c->srv = s;
    c->fd = fd;
    c->file_fd = -1;
    c->counted = counted;
    simtimer_node_init(&c->timer);
    unmap_addr(ss);
    net_format_ip((struct sockaddr *)ss, c->peer_ip, sizeof(c->peer_ip));
    c->peer_port = net_addr_port((struct sockaddr *)ss);
    net_format_addr((struct sockaddr *)ss, c->peer_str, sizeof(c->peer_str));
    {
        struct sockaddr_storage ls;
        socklen_t ll = sizeof(ls);
        if (getsockname(fd, (struct sockaddr *)&ls, &ll) == 0) {
            unmap_addr(&ls);
            net_format_ip((struct sockaddr *)&ls, c->local_ip, sizeof(c->local_ip));
        } else {
            snprintf(c->local_ip, sizeof(c->local_ip), "%s", s->local_addr);
        }
    }
    c->idle_since_ms = c->last_progress_ms = s->now_ms;
    request_clear(c);
    if (counted)
        s->n_counted++;
    else
        s->n_refusing++;
    list_push(&s->conns, c);
    return c;
}

/* --- rendering ------------------------------------------------------------------------------ */

enum resp_framing { RF_LENGTH, RF_CHUNKED, RF_NONE, RF_UNTIL_CLOSE };

/* Appends a response head: status line, the instance's common lines, Content-Type, framing,
 * Connection, extra (complete header lines or NULL) and the empty line. */
static void put_head(struct conn *c, struct simbuf *b, int status, const char *ctype,
                     enum resp_framing f, uint64_t len, const char *extra)
{
    struct simsrv *s = c->srv;

    c->status = status;
    simbuf_puts(b, "HTTP/1.1 ");
    simbuf_u64(b, (uint64_t)status);
    simbuf_putc(b, ' ');
    simbuf_puts(b, http_status_reason(status));
    simbuf_append(b, "\r\n", 2);
    simbuf_append(b, s->common.data, s->common.len);
    if (ctype != NULL) {
        simbuf_puts(b, "Content-Type: ");
        simbuf_puts(b, ctype);
        simbuf_append(b, "\r\n", 2);
    }
    if (f == RF_LENGTH) {
        simbuf_puts(b, "Content-Length: ");
        simbuf_u64(b, len);
        simbuf_append(b, "\r\n", 2);
    } else if (f == RF_CHUNKED) {
        simbuf_puts(b, "Transfer-Encoding: chunked\r\n");
    } else if (f == RF_UNTIL_CLOSE) {
        c->keep = false;
    }
    if (!c->keep)
        simbuf_puts(b, "Connection: close\r\n");
    else if (c->minor == 0)
        simbuf_puts(b, "Connection: keep-alive\r\n");
    if (extra != NULL)
        simbuf_puts(b, extra);
    simbuf_append(b, "\r\n", 2);
}

/* A complete response with the body rendered in srv->scratch (or body/body_len if given). */
static void put_response(struct conn *c, struct simbuf *b, int status, const char *ctype,
                         const char *extra, const char *body, size_t body_len)
{
    if (body == NULL) {
        body = c->srv->scratch.data;
        body_len = c->srv->scratch.len;
    }
    put_head(c, b, status, ctype, RF_LENGTH, body_len, extra);
    if (!c->head_only) {
        simbuf_append(b, body, body_len);
        c->body_bytes = body_len;
    }
}

static void put_text(struct conn *c, struct simbuf *b, int status, const char *extra,
                     const char *text)
{
    put_response(c, b, status, "text/plain; charset=utf-8", extra, text, strlen(text));
}

/* --- input: reading and request bodies ------------------------------------------------------ */

static bool conn_wants_read(const struct conn *c)
{
    if (!c->can_read || c->peer_eof)
        return false;
    if (c->lingering || c->ost == OUT_HANG)
        return true;
    return c->in.len - c->in_off < IN_MAX - READ_CHUNK / 4 || c->in_off > 0;
}

/* Reads once. Returns true when something was read or the state changed. */
static bool conn_read(struct conn *c)
{
    if (c->lingering || c->ost == OUT_HANG || c->ist == IN_STOP) {
        /* nothing more is used: discard */
        c->in.len = c->in_off = 0;
    } else if (c->in_off > 0 && (c->in_off == c->in.len || c->in.len + READ_CHUNK > IN_MAX)) {
        simbuf_consume(&c->in, c->in_off);
        c->in_off = 0;
    }
    size_t room = READ_CHUNK;
    if (c->in.len + room > IN_MAX)
        room = IN_MAX - c->in.len;
    if (room == 0)
        return false;
    char *dst = simbuf_reserve(&c->in, room);
    if (dst == NULL) {
        c->in.failed = false;
        return false;
    }
    ssize_t r = read(c->fd, dst, room);
    if (r > 0) {
        simbuf_commit(&c->in, (size_t)r);
        c->last_progress_ms = c->srv->now_ms;
        if ((size_t)r < room && !c->rdhup)
            c->can_read = false; /* drained (edge-triggered: a new edge will come) */
        return true;
    }
    if (r == 0) {
        c->peer_eof = true;
        c->can_read = false;
        return true;
    }
    if (errno == EINTR)
        return true;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->can_read = false;
        return false;
    }
    c->peer_eof = true; /* ECONNRESET and friends: nothing more will come */
    c->can_read = false;
    return true;
}

static void echo_start_stream(struct conn *c);
static void echo_finish(struct conn *c);
static void respond_after_body(struct conn *c);

static void echo_hash(struct conn *c, const char *p, size_t n)
{
    if (c->md != NULL && n > 0)
        EVP_DigestUpdate(c->md, p, n);
    c->echo_len += n;
}

/* Hands n body bytes to the request's sink. Returns how many it took (fewer under
 * backpressure). */
static size_t sink_feed(struct conn *c, const char *p, size_t n)
{
    switch (c->sink) {
    case SINK_DISCARD:
        return n;
    case SINK_COLLECT:
        if (c->kind == ENDPOINT_ECHO) {
            if (c->body.len + n > ECHO_MEM_MAX) {
                c->collect_overflow = true;
                if (c->ost == OUT_HELD || c->ost == OUT_WAIT_BODY) {
                    if (c->srv->now_ms < c->hold_until_ms)
                        return 0; /* cannot answer yet: stop reading */
                    echo_start_stream(c);
                    return 0; /* the stream sink takes it on the next pass */
                }
            }
            simbuf_append(&c->body, p, n);
            return n;
        }
        if (c->body.len + n > c->collect_limit) {
            c->collect_overflow = true;
            return n;
        }
        simbuf_append(&c->body, p, n);
        return n;
    case SINK_ECHO_STREAM:
        if (out_pending(c) >= OUT_HIGH)
            return 0;
        if (n > OUT_HIGH)
            n = OUT_HIGH;
        echo_hash(c, p, n);
        if (c->st_chunked) {
            char hex[20];
            int hl = snprintf(hex, sizeof(hex), "%zx\r\n", n);
            simbuf_append(&c->out, hex, (size_t)hl);
            simbuf_append(&c->out, p, n);
            simbuf_append(&c->out, "\r\n", 2);
        } else {
            simbuf_append(&c->out, p, n);
        }
        c->body_bytes += n;
        return n;
    }
    return n;
}

static void body_complete(struct conn *c)
{
    c->body_done = true;
    if (c->ist == IN_BODY)
        c->ist = IN_WAIT;
    if (c->sink == SINK_ECHO_STREAM)
        echo_finish(c);
    else if (c->ost == OUT_WAIT_BODY && c->srv->now_ms >= c->hold_until_ms)
        respond_after_body(c);
}

/* Consumes request-body bytes from the input buffer. Returns true on progress. */
static bool conn_consume_body(struct conn *c)
{
    bool progress = false;

    while (!c->body_done && c->in_off < c->in.len) {
        const char *p = c->in.data + c->in_off;
        size_t avail = c->in.len - c->in_off;

        if (c->body_framing == HTTP_BODY_LENGTH) {
            size_t n = avail < c->body_left ? avail : (size_t)c->body_left;
            size_t took = sink_feed(c, p, n);
            if (took == 0 && n > 0)
                break;
            c->in_off += took;
            c->body_left -= took;
            progress = true;
            if (c->body_left == 0)
                body_complete(c);
        } else {
            /* chunked: feed without consuming payload the sink refuses */
            struct http_chunked saved = c->dec;
            const char *data = NULL;
            size_t data_len = 0;
            ssize_t used = http_chunked_feed(&c->dec, p, avail, &data, &data_len);
            if (used < 0) {
                /* malformed chunked body: nothing sensible can follow */
                c->after = AFTER_ABORT;
                conn_close(c, true);
                return true;
            }
            if (data_len > 0) {
                size_t took = sink_feed(c, data, data_len);
                if (took < data_len) {
                    /* undo, and re-feed only the part before the refused payload plus what
                     * was taken; simplest: restore and consume up to data + took */
                    c->dec = saved;
                    size_t upto = (size_t)(data - p) + took;
                    if (upto == 0)
                        break;
                    const char *d2;
                    size_t d2_len;
                    ssize_t used2 = http_chunked_feed(&c->dec, p, upto, &d2, &d2_len);
                    if (used2 <= 0)
                        break;
                    c->in_off += (size_t)used2;
                    progress = true;
                    break;
                }
            }
            if (used == 0)
                break;
            c->in_off += (size_t)used;
            progress = true;
            if (c->dec.done)
                body_complete(c);
        }
        if (c->closed)
            return true;
    }
    if (!c->body_done && c->peer_eof && c->in_off >= c->in.len) {
        /* the client went away mid-body */
        c->after = AFTER_ABORT;
        conn_close(c, true);
        return true;
    }
    return progress;
}

/* --- output --------------------------------------------------------------------------------- */

/* Writes what is pending. Returns true on progress. */
static bool conn_flush(struct conn *c)
{
    bool progress = false;

    while (c->can_write && out_pending(c) > 0) {
        ssize_t w = send(c->fd, c->out.data + c->out_off, out_pending(c), MSG_NOSIGNAL);
        if (w > 0) {
            c->out_off += (size_t)w;
            c->last_progress_ms = c->srv->now_ms;
            progress = true;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->can_write = false;
            break;
        }
        /* EPIPE, ECONNRESET: the client is gone */
        c->after = AFTER_ABORT;
        conn_close(c, true);
        return true;
    }
    if (out_pending(c) == 0 && c->out.len > 0) {
        c->out.len = 0;
        c->out_off = 0;
    }
    return progress;
}

/* Makes room at the end of the output buffer by dropping what was sent. */
static void out_compact(struct conn *c)
{
    if (c->out_off > 0) {
        simbuf_consume(&c->out, c->out_off);
        c->out_off = 0;
    }
}

/* Produces more of a streamed body. Returns true on progress. */
static bool conn_generate(struct conn *c)
{
    bool progress = false;

    while (c->ost == OUT_STREAM && c->sk != ST_ECHO && out_pending(c) < OUT_HIGH &&
           !c->closed) {
        uint64_t left = c->st_end - c->st_off;
        if (left == 0) {
            if (c->st_chunked)
                simbuf_append(&c->out, "0\r\n\r\n", 5);
            c->ost = OUT_DONE;
            progress = true;
            break;
        }
        if (c->sk == ST_CHUNKED && c->st_gap > 0 && c->st_off > 0 &&
            c->srv->now_ms < c->next_chunk_ms)
            break;
        size_t n;
        if (c->sk == ST_CHUNKED)
            n = left < c->st_chunk ? (size_t)left : c->st_chunk;
        else
            n = left < OUT_HIGH ? (size_t)left : OUT_HIGH;
        out_compact(c);
        char *dst = simbuf_reserve(&c->out, n + 32);
        if (dst == NULL) {
            c->after = AFTER_ABORT;
            conn_close(c, true);
            return true;
        }
        size_t pre = 0;
        if (c->st_chunked) {
            pre = (size_t)snprintf(dst, 24, "%zx\r\n", n);
            dst += pre;
        }
        if (c->sk == ST_FILE) {
            ssize_t r;
            do {
                r = pread(c->file_fd, dst, n, (off_t)c->st_off);
            } while (r < 0 && errno == EINTR);
            if (r <= 0) {
                /* the file shrank or failed: the announced length cannot be kept */
                c->after = AFTER_ABORT;
                conn_close(c, true);
                return true;
            }
            n = (size_t)r;
        } else {
            bytepat_fill(c->st_n, c->st_off, dst, n);
        }
        if (c->st_chunked) {
            memcpy(dst + n, "\r\n", 2);
            simbuf_commit(&c->out, pre + n + 2);
        } else {
            simbuf_commit(&c->out, n);
        }
        c->st_off += n;
        c->body_bytes += n;
        if (c->sk == ST_CHUNKED && c->st_gap > 0)
            c->next_chunk_ms = c->srv->now_ms + c->st_gap;
        progress = true;
        if (c->after == AFTER_ABORT && c->st_off >= c->st_end) {
            c->ost = OUT_DONE; /* /close: stop half-way, the length announced stays unmet */
            break;
        }
    }
    return progress;
}

/* --- /echo ------------------------------------------------------------------------------------ */

static void hex_digest(struct conn *c, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    if (c->md == NULL || EVP_DigestFinal_ex(c->md, md, &md_len) != 1)
        md_len = 0;
    for (unsigned i = 0; i < md_len && i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[md_len >= 32 ? 64 : 2 * md_len] = '\0';
}

static bool echo_init_hash(struct conn *c)
{
    if (c->md == NULL)
        c->md = EVP_MD_CTX_new();
    return c->md != NULL && EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) == 1;
}

/* Answers /echo from the whole body in c->body. */
static void echo_respond_whole(struct conn *c)
{
    char hex[65], extra[160];

    echo_init_hash(c);
    echo_hash(c, c->body.data ? c->body.data : "", c->body.len);
    hex_digest(c, hex);
    snprintf(extra, sizeof(extra), "X-Echo-Length: %llu\r\nX-Echo-SHA256: %s\r\n",
             (unsigned long long)c->echo_len, hex);
    out_compact(c);
    put_response(c, &c->out, 200, "application/octet-stream", extra,
                 c->body.data ? c->body.data : "", c->body.len);
    c->ost = OUT_DONE;
}

/* Switches /echo to streaming: head now, the body as it arrives, length and hash last. */
static void echo_start_stream(struct conn *c)
{
    char extra[96];

    echo_init_hash(c);
    out_compact(c);
    if (c->minor >= 1) {
        c->st_chunked = true;
        put_head(c, &c->out, 200, "application/octet-stream", RF_CHUNKED, 0,
                 "Trailer: X-Echo-Length, X-Echo-SHA256\r\n");
    } else if (c->body_framing == HTTP_BODY_LENGTH) {
        uint64_t total = c->body.len + c->body_left;
        snprintf(extra, sizeof(extra), "X-Echo-Length: %llu\r\n", (unsigned long long)total);
        put_head(c, &c->out, 200, "application/octet-stream", RF_LENGTH, total, extra);
    } else {
        put_head(c, &c->out, 200, "application/octet-stream", RF_UNTIL_CLOSE, 0, NULL);
        c->after = AFTER_CLOSE;
    }
    c->sink = SINK_ECHO_STREAM;
    c->sk = ST_ECHO;
    c->ost = OUT_STREAM;
    if (c->body.len > 0) {
        /* what was collected goes first */
        size_t n = c->body.len;
        echo_hash(c, c->body.data, n);
        if (c->st_chunked) {
            char hexlen[20];
            int hl = snprintf(hexlen, sizeof(hexlen), "%zx\r\n", n);
            simbuf_append(&c->out, hexlen, (size_t)hl);
        }
        simbuf_append(&c->out, c->body.data, n);
        if (c->st_chunked)
            simbuf_append(&c->out, "\r\n", 2);
        c->body_bytes += n;
        simbuf_reset(&c->body);
    }
    if (c->body_done)
        echo_finish(c);
}

static void echo_finish(struct conn *c)
{
    if (c->st_chunked) {
        char hex[65];
        hex_digest(c, hex);
        simbuf_printf(&c->out, "0\r\nX-Echo-Length: %llu\r\nX-Echo-SHA256: %s\r\n\r\n",
                      (unsigned long long)c->echo_len, hex);
    }
    c->ost = OUT_DONE;
}

/* --- /admin/health ---------------------------------------------------------------------------- */

static void admin_respond(struct conn *c)
{
    struct simsrv *s = c->srv;
    char msg[128];
    const char *p = c->body.data ? c->body.data : "";
    size_t n = c->body.len;

    while (n > 0 && (p[0] == ' ' || p[0] == '\t' || p[0] == '\r' || p[0] == '\n')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
        n--;
    if (c->collect_overflow) {
        put_text(c, &c->out, 400, NULL, "admin/health: body too long; send up, down or slow [MS]\n");
    } else if (n == 2 && memcmp(p, "up", 2) == 0) {
        s->health = HEALTH_UP;
    } else if (n == 4 && memcmp(p, "down", 4) == 0) {
        s->health = HEALTH_DOWN;
    } else if (n >= 4 && memcmp(p, "slow", 4) == 0) {
        uint64_t ms = SLOW_DEFAULT_MS;
        size_t i = 4;
        if (i < n) {
            if (p[i] != ' ')
                goto bad;
            while (i < n && p[i] == ' ')
                i++;
            if (endpoint_parse_u64(p + i, n - i, s->cfg->max_delay_ms, &ms) != 0)
                goto bad;
        }
        s->health = HEALTH_SLOW;
        s->slow_ms = (uint32_t)ms;
    } else {
        goto bad;
    }
    if (c->status == 0) {
        if (s->health == HEALTH_SLOW)
            snprintf(msg, sizeof(msg), "%s: slow (%u ms added to every request)\n", s->ic->name,
                     s->slow_ms);
        else
            snprintf(msg, sizeof(msg), "%s: %s\n", s->ic->name, health_name(s->health));
        put_text(c, &c->out, 200, NULL, msg);
    }
    c->ost = OUT_DONE;
    return;
bad:
    put_text(c, &c->out, 400, NULL,
             "admin/health: expected a body of up, down, or slow [MS]\n");
    c->ost = OUT_DONE;
}

static void respond_after_body(struct conn *c)
{
    if (c->kind == ENDPOINT_ECHO) {
        if (c->body_done && !c->collect_overflow)
            echo_respond_whole(c);
        else
            echo_start_stream(c);
    } else {
        out_compact(c);
        admin_respond(c);
    }
}

/* --- requests --------------------------------------------------------------------------------- */

/* Renders the view of this request for /, /whoami and /headers. */
static void make_view(struct conn *c, const struct http_request *req, struct simpage_view *v)
{
    struct simsrv *s = c->srv;
    v->name = s->ic->name;
    v->port = s->port;
    v->index = s->index;
    v->pid = s->sh->pid;
    v->health = health_name(s->health);
    v->instance_requests = s->requests;
    v->conn_requests = c->conn_requests;
    v->client = c->peer_str;
    v->method = req->method;
    v->method_len = req->method_len;
    v->target = req->target;
    v->target_len = req->target_len;
    v->minor_version = req->minor_version;
    v->headers = req->headers;
    v->n_headers = req->num_headers;
}

static bool method_is(const struct http_request *req, const char *m)
{
    size_t n = strlen(m);
    return req->method_len == n && memcmp(req->method, m, n) == 0;
}

static void status_extra(int code, char *extra, size_t len)
{
    extra[0] = '\0';
    if (code == 301 || code == 302 || code == 303 || code == 307 || code == 308)
        snprintf(extra, len, "Location: /\r\n");
    else if (code == 401)
        snprintf(extra, len, "WWW-Authenticate: Basic realm=\"backend-sim\"\r\n");
    else if (code == 407)
        snprintf(extra, len, "Proxy-Authenticate: Basic realm=\"backend-sim\"\r\n");
    else if (code == 405)
        snprintf(extra, len, "Allow: GET, HEAD\r\n");
    else if (code == 429 || code == 503)
        snprintf(extra, len, "Retry-After: 1\r\n");
}

/* Renders the response to a routed request into dst (out, or pend while held) and sets the
 * state the response continues in. */
static void render(struct conn *c, const struct http_request *req, struct endpoint_route *rt,
                   struct simbuf *dst, bool failed)
{
    struct simsrv *s = c->srv;
    struct simbuf *sc = &s->scratch;
    struct simpage_view v;
    char extra[256];

    c->after_hold = OUT_DONE;
    simbuf_reset(sc);
    if (failed) {
        put_text(c, dst, 500, NULL, "simulated failure (--fail-rate)\n");
        return;
    }
    switch (rt->kind) {
    case ENDPOINT_BAD:
        simbuf_printf(sc, "%s\n", rt->message);
        put_response(c, dst, 400, "text/plain; charset=utf-8", NULL, NULL, 0);
        return;
    case ENDPOINT_PAGE:
        make_view(c, req, &v);
        simpage_html(sc, &v);
        put_response(c, dst, 200, "text/html; charset=utf-8", "Cache-Control: no-store\r\n",
                     NULL, 0);
        return;
    case ENDPOINT_WHOAMI:
        make_view(c, req, &v);
        simpage_whoami(sc, &v);
        put_response(c, dst, 200, "text/plain; charset=utf-8", NULL, NULL, 0);
        return;
    case ENDPOINT_HEADERS:
        make_view(c, req, &v);
        simpage_headers_json(sc, &v);
        put_response(c, dst, 200, "application/json", NULL, NULL, 0);
        return;
    case ENDPOINT_HEALTH:
        if (s->health == HEALTH_DOWN)
            put_text(c, dst, 503, NULL, "down\n");
        else
            put_text(c, dst, 200, NULL, "ok\n");
        return;
    case ENDPOINT_ADMIN_HEALTH:
        if (method_is(req, "GET") || method_is(req, "HEAD")) {
            snprintf(extra, sizeof(extra), "%s\n", health_name(s->health));
            put_text(c, dst, 200, NULL, extra);
        } else if (method_is(req, "POST") || method_is(req, "PUT")) {
            c->after_hold = OUT_WAIT_BODY;
        } else {
            put_text(c, dst, 405, "Allow: GET, HEAD, POST, PUT\r\n",
                     "admin/health: use POST with up, down or slow [MS]\n");
        }
        return;
    case ENDPOINT_ECHO:
        if (req->framing == HTTP_BODY_NONE || c->head_only) {
            char hex[65];
            echo_init_hash(c);
            hex_digest(c, hex);
            snprintf(extra, sizeof(extra), "X-Echo-Length: 0\r\nX-Echo-SHA256: %s\r\n", hex);
            put_response(c, dst, 200, "application/octet-stream", extra, "", 0);
            return;
        }
        c->after_hold = OUT_WAIT_BODY;
        return;
    case ENDPOINT_DELAY:
        snprintf(extra, sizeof(extra), "delayed %u ms\n", rt->ms);
        put_text(c, dst, 200, NULL, extra);
        return;
    case ENDPOINT_STATUS: {
        int code = rt->status;
        char hdrs[128];
        if (code < 200) {
            /* interim response first (never to HTTP/1.0), then a final 200 */
            if (c->minor >= 1) {
                simbuf_printf(dst, "HTTP/1.1 %d %s\r\n\r\n", code, http_status_reason(code));
            }
            snprintf(extra, sizeof(extra), "200 OK after an interim %d %s\n", code,
                     http_status_reason(code));
            put_text(c, dst, 200, NULL, extra);
            return;
        }
        status_extra(code, hdrs, sizeof(hdrs));
        if (code == 204 || code == 304) {
            put_head(c, dst, code, NULL, RF_NONE, 0, hdrs[0] ? hdrs : NULL);
            return;
        }
        if (code == 205) {
            put_response(c, dst, code, NULL, NULL, "", 0);
            return;
        }
        snprintf(extra, sizeof(extra), "%d %s\n", code, http_status_reason(code));
        put_text(c, dst, code, hdrs[0] ? hdrs : NULL, extra);
        return;
    }
    case ENDPOINT_FLAKY:
        if (rng_unit(s) < rt->p) {
            snprintf(extra, sizeof(extra), "flaky: failed (p=%g)\n", rt->p);
            put_text(c, dst, 500, NULL, extra);
        } else {
            snprintf(extra, sizeof(extra), "flaky: ok (p=%g)\n", rt->p);
            put_text(c, dst, 200, NULL, extra);
        }
        return;
    case ENDPOINT_BYTES:
    case ENDPOINT_CLOSE:
        c->sk = ST_BYTES;
        c->st_n = rt->n;
        c->st_off = 0;
        c->st_end = rt->kind == ENDPOINT_CLOSE ? rt->n / 2 : rt->n;
        c->st_chunked = false;
        if (rt->kind == ENDPOINT_CLOSE)
            c->after = AFTER_ABORT;
        put_head(c, dst, 200, "application/octet-stream", RF_LENGTH, rt->n, NULL);
        c->after_hold = c->head_only ? OUT_DONE : OUT_STREAM;
        if (c->head_only && rt->kind == ENDPOINT_CLOSE)
            c->after = AFTER_CLOSE;
        return;
    case ENDPOINT_CHUNKED:
        c->sk = ST_CHUNKED;
        c->st_n = rt->n;
        c->st_off = 0;
        c->st_end = rt->n;
        c->st_chunk = rt->chunk;
        c->st_gap = rt->ms;
        c->next_chunk_ms = 0;
        if (c->minor >= 1) {
            c->st_chunked = true;
            put_head(c, dst, 200, "application/octet-stream", RF_CHUNKED, 0, NULL);
        } else {
            c->st_chunked = false; /* HTTP/1.0 cannot take chunks: same bytes, until close */
            put_head(c, dst, 200, "application/octet-stream", RF_UNTIL_CLOSE, 0, NULL);
            c->after = AFTER_CLOSE;
        }
        c->after_hold = c->head_only ? OUT_DONE : OUT_STREAM;
        return;
    case ENDPOINT_HANG:
        c->after_hold = OUT_HANG;
        return;
    case ENDPOINT_RESET:
        c->after = AFTER_RESET;
        c->after_hold = OUT_DONE;
        return;
    case ENDPOINT_LOGIN: {
        char cookie[80];
        snprintf(cookie, sizeof(cookie), "%s.%016llx%016llx", s->ic->name,
                 (unsigned long long)rng_next(s), (unsigned long long)rng_next(s));
        snprintf(extra, sizeof(extra), "Set-Cookie: session=%s; Path=/; HttpOnly; SameSite=Lax\r\n",
                 cookie);
        simbuf_printf(sc, "logged in on %s: session=%s\n", s->ic->name, cookie);
        put_response(c, dst, 200, "text/plain; charset=utf-8", extra, NULL, 0);
        return;
    }
    case ENDPOINT_FILE: {
        uint64_t size = 0;
        const char *ctype = NULL;
        int fd;
        if (s->sh->docroot_fd < 0) {
            simbuf_puts(sc, "not found: ");
            simbuf_append(sc, rt->path, rt->path_len);
            simbuf_putc(sc, '\n');
            put_response(c, dst, 404, "text/plain; charset=utf-8", NULL, NULL, 0);
            return;
        }
        if (!method_is(req, "GET") && !method_is(req, "HEAD")) {
            put_text(c, dst, 405, "Allow: GET, HEAD\r\n", "static files take GET and HEAD\n");
            return;
        }
        fd = docroot_open(s->sh->docroot_fd, rt->path, rt->path_len, &size, &ctype);
        if (fd == -EINVAL) {
            put_text(c, dst, 400, NULL, "bad path: it must stay inside --docroot\n");
            return;
        }
        if (fd < 0) {
            simbuf_puts(sc, fd == -EACCES ? "forbidden: " : "not found: ");
            simbuf_append(sc, rt->path, rt->path_len);
            simbuf_putc(sc, '\n');
            put_response(c, dst, fd == -EACCES ? 403 : 404, "text/plain; charset=utf-8", NULL,
                         NULL, 0);
            return;
        }
        c->file_fd = fd;
        c->sk = ST_FILE;
        c->st_off = 0;
        c->st_end = size;
        c->st_chunked = false;
        put_head(c, dst, 200, ctype, RF_LENGTH, size, NULL);
        c->after_hold = c->head_only ? OUT_DONE : OUT_STREAM;
        return;
    }
    }
}

/* Moves the response from "held" to its next state. */
static void conn_release(struct conn *c)
{
    if (c->pend.len > 0) {
        out_compact(c);
        simbuf_append(&c->out, c->pend.data, c->pend.len);
        simbuf_reset(&c->pend);
    }
    c->ost = c->after_hold;
    if (c->ost == OUT_HANG)
        c->hang_until_ms = c->srv->now_ms + c->srv->cfg->max_delay_ms;
    if (c->ost == OUT_WAIT_BODY && (c->body_done || c->collect_overflow))
        respond_after_body(c);
}

/* Starts the request whose head is in.data[in_off..in_off+head_len). */
static void handle_request(struct conn *c, struct http_request *req, size_t head_len)
{
    struct simsrv *s = c->srv;
    const struct simcfg *cfg = s->cfg;
    struct endpoint_route rt;
    uint64_t delay = 0;
    bool failed = false;

    s->requests++;
    c->conn_requests++;
    c->req_active = true;
    c->start_ns = clock_wall_ns();
    c->start_mono_ns = clock_mono_ns();
    c->minor = req->minor_version;
    c->head_only = method_is(req, "HEAD");
    c->keep = req->keep_alive && cfg->keepalive_ms > 0 && !c->peer_eof &&
              !atomic_load_explicit(&s->stop, memory_order_relaxed);
    c->after = c->keep ? AFTER_KEEP : AFTER_CLOSE;

    /* origin-form and absolute-form have a path; "*" and authority-form only a target */
    const char *path = req->path != NULL && req->path_len > 0 ? req->path : req->target;
    size_t path_len = req->path != NULL && req->path_len > 0 ? req->path_len : req->target_len;
    if (path == NULL) {
        path = "";
        path_len = 0;
    }

    if (s->sh->log != NULL) {
        const struct http_header *h;
        meta_copy(c, req->method, req->method_len, &c->m_method, &c->m_method_len);
        meta_copy(c, path, path_len, &c->m_path, &c->m_path_len);
        c->has_method = true;
        h = http_find_header(req->headers, req->num_headers, "X-Request-ID");
        if (h != NULL) {
            meta_copy(c, h->value, h->value_len, &c->m_rid, &c->m_rid_len);
            c->has_rid = true;
        }
        h = http_find_header(req->headers, req->num_headers, "X-Forwarded-For");
        if (h != NULL) {
            meta_copy(c, h->value, h->value_len, &c->m_xff, &c->m_xff_len);
            c->has_xff = true;
        }
    }

    endpoint_route(path, path_len, &s->caps, &rt);
    c->kind = rt.kind;

    /* the body, whatever the endpoint: consumed before the next request */
    c->body_framing = req->framing;
    c->body_left = req->framing == HTTP_BODY_LENGTH ? req->content_length : 0;
    c->body_done = req->framing == HTTP_BODY_NONE ||
                   (req->framing == HTTP_BODY_LENGTH && req->content_length == 0);
    if (req->framing == HTTP_BODY_CHUNKED)
        http_chunked_init(&c->dec);
    c->sink = SINK_DISCARD;
    c->ist = c->body_done ? IN_WAIT : IN_BODY;

    if (rt.kind != ENDPOINT_ADMIN_HEALTH) {
        if (cfg->fail_rate > 0 && rng_unit(s) < cfg->fail_rate)
            failed = true;
        delay = cfg->latency_ms;
        if (cfg->jitter_ms > 0) {
            int64_t j = (int64_t)(rng_next(s) % (2ull * cfg->jitter_ms + 1)) - cfg->jitter_ms;
            delay = (int64_t)delay + j < 0 ? 0 : (uint64_t)((int64_t)delay + j);
        }
        if (s->health == HEALTH_SLOW)
            delay += s->slow_ms;
        if (rt.kind == ENDPOINT_DELAY && !failed)
            delay += rt.ms;
    }
    c->hold_until_ms = s->now_ms + delay;

    if (!failed && !c->body_done &&
        ((rt.kind == ENDPOINT_ECHO && !c->head_only) ||
         (rt.kind == ENDPOINT_ADMIN_HEALTH && (method_is(req, "POST") || method_is(req, "PUT"))))) {
        c->sink = SINK_COLLECT;
        c->collect_limit = rt.kind == ENDPOINT_ECHO ? ECHO_MEM_MAX : ADMIN_BODY_MAX;
    }
    if (req->expect_continue && !c->body_done && c->minor >= 1)
        simbuf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");

    bool held = delay > 0;
    render(c, req, &rt, held ? &c->pend : &c->out, failed);
    c->in_off += head_len;
    if (held)
        c->ost = OUT_HELD;
    else
        conn_release(c);
    /* an echo of a long Content-Length body streams from the start */
    if (c->ost == OUT_WAIT_BODY && c->kind == ENDPOINT_ECHO &&
        c->body_framing == HTTP_BODY_LENGTH && c->body_left > ECHO_MEM_MAX)
        echo_start_stream(c);
}

/* Answers a request that could not be parsed, then closes. */
static void handle_bad_request(struct conn *c, const struct http_request *req)
{
    struct simsrv *s = c->srv;
    int status = req->error >= 400 && req->error <= 599 ? req->error : 400;
    char body[200];

    s->requests++;
    c->conn_requests++;
    c->req_active = true;
    c->start_ns = clock_wall_ns();
    c->start_mono_ns = clock_mono_ns();
    c->minor = 1;
    c->keep = false;
    c->head_only = false;
    c->after = AFTER_CLOSE;
    c->ist = IN_STOP;
    snprintf(body, sizeof(body), "%s: %s\n", http_status_reason(status),
             req->error_reason ? req->error_reason : "malformed request");
    put_text(c, &c->out, status, NULL, body);
    c->ost = OUT_DONE;
}

/* Tries to parse a request head from the input. Returns true on progress. */
static bool conn_parse(struct conn *c)
{
    struct http_header headers[HTTP_LIMITS_DEFAULT_HEADERS];
    struct http_request req;
    size_t avail = c->in.len - c->in_off;
    int n;

    if (avail == 0)
        return false;
    memset(&req, 0, sizeof(req));
    req.headers = headers;
    req.num_headers = HTTP_LIMITS_DEFAULT_HEADERS;
    n = http_parse_request(c->in.data + c->in_off, avail, &req, &c->srv->limits);
    if (n == HTTP_INCOMPLETE) {
        if (c->in.len >= IN_MAX && c->in_off == 0) {
            req.error = 431;
            req.error_reason = "request head too large";
            handle_bad_request(c, &req);
            return true;
        }
        return false;
    }
    if (n < 0) {
        handle_bad_request(c, &req);
        return true;
    }
    handle_request(c, &req, (size_t)n);
    return true;
}

/* The current request is finished: log it and keep or close the connection. */
static void conn_finish_request(struct conn *c)
{
    struct simsrv *s = c->srv;

    conn_log(c);
    c->req_active = false;
    switch (c->after) {
    case AFTER_KEEP:
        if (!c->peer_eof && c->keep) {
            request_clear(c);
            c->idle_since_ms = s->now_ms;
            return;
        }
        /* fall through */
    case AFTER_CLOSE:
        if (c->peer_eof) {
            conn_close(c, false);
            return;
        }
        (void)shutdown(c->fd, SHUT_WR);
        c->lingering = true;
        c->ist = IN_STOP;
        c->linger_until_ms = s->now_ms + LINGER_MS;
        return;
    case AFTER_ABORT:
    case AFTER_RESET:
        conn_close(c, false);
        return;
    }
}

/* --- the state machine -------------------------------------------------------------------------- */

static bool request_finished(const struct conn *c)
{
    return c->req_active && c->ost == OUT_DONE && out_pending(c) == 0 &&
           (c->body_done || c->after != AFTER_KEEP);
}

/* Handles deadlines that have passed. */
static void conn_expire(struct conn *c)
{
    struct simsrv *s = c->srv;
    uint64_t now = s->now_ms;

    if (c->lingering) {
        if (now >= c->linger_until_ms)
            conn_close(c, false);
        return;
    }
    if (!c->req_active) {
        uint64_t idle = s->cfg->keepalive_ms > 0 ? s->cfg->keepalive_ms : IO_TIMEOUT_MS;
        if (now >= c->idle_since_ms + idle)
            conn_close(c, false); /* --keepalive-timeout: idle connections are closed */
        return;
    }
    if (c->ost == OUT_HANG) {
        if (now >= c->hang_until_ms)
            conn_close(c, true);
        return;
    }
    if (c->ost == OUT_HELD || (c->ost == OUT_WAIT_BODY && c->body_done))
        return; /* released by conn_drive() */
    if (c->ost == OUT_STREAM && c->sk == ST_CHUNKED && c->st_gap > 0 && out_pending(c) == 0)
        return; /* waiting for the next chunk on purpose */
    if (now >= c->last_progress_ms + IO_TIMEOUT_MS)
        conn_close(c, true); /* stalled: the client stopped sending or reading */
}

static uint64_t conn_deadline(const struct conn *c)
{
    const struct simsrv *s = c->srv;

    if (c->lingering)
        return c->linger_until_ms;
    if (!c->req_active)
        return c->idle_since_ms + (s->cfg->keepalive_ms > 0 ? s->cfg->keepalive_ms : IO_TIMEOUT_MS);
    if (c->ost == OUT_HANG)
        return c->hang_until_ms;
    if (c->ost == OUT_HELD || (c->ost == OUT_WAIT_BODY && s->now_ms < c->hold_until_ms))
        return c->hold_until_ms;
    if (c->ost == OUT_STREAM && c->sk == ST_CHUNKED && c->st_gap > 0 && out_pending(c) == 0 &&
        c->st_off > 0 && c->st_off < c->st_end)
        return c->next_chunk_ms;
    return c->last_progress_ms + IO_TIMEOUT_MS;
}

static void conn_arm_timer(struct conn *c)
{
    uint64_t d = conn_deadline(c);

    /* a timer that fires early is cheap (it re-arms); moving it on every request is not */
    if (simtimer_queued(&c->timer) && c->timer.deadline <= d)
        return;
    (void)simtimer_set(&c->srv->timers, &c->timer, d);
}

static void conn_drive(struct conn *c)
{
    struct simsrv *s = c->srv;

    for (int rounds = 0; !c->closed; rounds++) {
        bool progress = false;
        size_t out_before = c->out.len;
        enum out_state ost_before = c->ost;

        if (c->ost == OUT_HELD && s->now_ms >= c->hold_until_ms) {
            conn_release(c);
            progress = true;
        }
        if (c->ost == OUT_WAIT_BODY && s->now_ms >= c->hold_until_ms &&
            (c->body_done || c->collect_overflow)) {
            respond_after_body(c);
            progress = true;
        }
        if (c->ost == OUT_DONE && c->after == AFTER_RESET && c->req_active) {
            conn_close(c, true); /* /reset: status 0 in the log, RST on the wire */
            return;
        }
        progress |= conn_flush(c);
        if (c->closed)
            return;
        progress |= conn_generate(c);
        if (c->closed)
            return;
        if (request_finished(c)) {
            conn_finish_request(c);
            progress = true;
            if (c->closed)
                return;
        }
        if (conn_wants_read(c))
            progress |= conn_read(c);
        if (c->lingering || c->ost == OUT_HANG) {
            c->in.len = c->in_off = 0;
            if (c->peer_eof) {
                conn_close(c, c->ost == OUT_HANG);
                return;
            }
        } else if (c->req_active && c->ist == IN_BODY) {
            progress |= conn_consume_body(c);
            if (c->closed)
                return;
        } else if (!c->req_active && c->ist == IN_HEAD) {
            progress |= conn_parse(c);
            if (!c->req_active && c->peer_eof) {
                conn_close(c, false); /* the client closed between requests */
                return;
            }
        }
        if (c->out.len != out_before || c->ost != ost_before)
            progress = true; /* new output, or a state change, may allow more */
        if (!progress)
            break;
        if (rounds >= 64) {
            /* fair share used: continue after the other connections had their turn (the
             * edge-triggered events that made this progress possible will not come again) */
            if (!c->in_ready) {
                c->in_ready = true;
                c->ready_next = s->ready;
                s->ready = c;
            }
            break;
        }
    }
    if (!c->closed)
        conn_arm_timer(c);
}

/* --- the loop ------------------------------------------------------------------------------------ */

static void refuse(struct conn *c)
{
    struct simsrv *s = c->srv;
    char msg[128];

    c->req_active = true;
    c->start_ns = clock_wall_ns();
    c->start_mono_ns = clock_mono_ns();
    c->minor = 1;
    c->keep = false;
    c->after = AFTER_CLOSE;
    c->ist = IN_STOP;
    snprintf(msg, sizeof(msg), "%s: too many connections (--max-conns %u)\n", s->ic->name,
             s->cfg->max_conns);
    put_text(c, &c->out, 503, "Retry-After: 1\r\n", msg);
    c->ost = OUT_DONE;
}

static void accept_ready(struct simsrv *s)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return; /* EAGAIN, or EMFILE and the like: try again on the next event */
        }
        bool counted = s->cfg->max_conns == 0 || s->n_counted < s->cfg->max_conns;
        if (!counted && s->n_refusing >= REFUSING_MAX) {
            close(fd);
            continue;
        }
        (void)net_set_nodelay(fd);
        struct conn *c = conn_new(s, fd, &ss, counted);
        if (c == NULL) {
            close(fd);
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = c};
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            conn_close(c, false);
            continue;
        }
        c->can_write = true;
        if (!counted)
            refuse(c);
        conn_drive(c);
    }
}

static void run_timers(struct simsrv *s)
{
    struct simtimer_node *n;

    while ((n = simtimer_first(&s->timers)) != NULL && n->deadline <= s->now_ms) {
        struct conn *c = (struct conn *)((char *)n - offsetof(struct conn, timer));
        simtimer_cancel(&s->timers, n);
        conn_expire(c);
        if (!c->closed)
            conn_drive(c);
    }
}

static void run_ready(struct simsrv *s)
{
    struct conn *list = s->ready;

    s->ready = NULL;
    while (list != NULL) {
        struct conn *c = list;
        list = c->ready_next;
        c->in_ready = false;
        c->ready_next = NULL;
        if (!c->closed)
            conn_drive(c);
    }
}

static void *simsrv_main(void *arg)
{
    struct simsrv *s = arg;
    struct epoll_event events[MAX_EVENTS];

    while (!atomic_load(&s->stop)) {
        struct simtimer_node *first = simtimer_first(&s->timers);
        int timeout = -1;
        if (s->ready != NULL) {
            timeout = 0;
        } else if (first != NULL) {
            uint64_t now = clock_mono_ms();
            timeout = first->deadline <= now ? 0
                      : first->deadline - now > 60000 ? 60000
                                                        : (int)(first->deadline - now);
        }
        int n = epoll_wait(s->epoll_fd, events, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR)
            break;
        s->now_ms = clock_mono_ms();
        uint64_t wall = clock_wall_ns() / 1000000000u;
        if (wall != s->wall_sec)
            rebuild_common(s, wall);
        for (int i = 0; i < n; i++) {
            void *p = events[i].data.ptr;
            uint32_t e = events[i].events;
            if (p == &s->listen_fd) {
                accept_ready(s);
                continue;
            }
            if (p == &s->wake_fd)
                continue; /* the stop flag is checked by the loop */
            struct conn *c = p;
            if (c->closed)
                continue;
            if (e & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
                c->can_read = true;
            if (e & (EPOLLRDHUP | EPOLLERR | EPOLLHUP))
                c->rdhup = true;
            if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                c->can_write = true;
            conn_drive(c);
        }
        run_timers(s);
        run_ready(s);
        flush_log(s);
        bury_dead(s);
    }
    /* shutdown: every connection goes, requests in flight are logged with what they got */
    while (s->conns != NULL)
        conn_close(s->conns, true);
    flush_log(s);
    bury_dead(s);
    return NULL;
}

/* --- life cycle ------------------------------------------------------------------------------------ */

struct simsrv *simsrv_create(const struct simsrv_shared *sh, size_t index, char *err,
                             size_t err_len)
{
    struct simsrv *s = calloc(1, sizeof(*s));
    const struct simcfg_instance *ic = &sh->cfg->inst[index];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    uint8_t seed[8];

    if (s == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    s->sh = sh;
    s->cfg = sh->cfg;
    s->ic = ic;
    s->index = index;
    s->listen_fd = s->epoll_fd = s->wake_fd = -1;
    s->caps.max_size = sh->cfg->max_size;
    s->caps.max_delay_ms = sh->cfg->max_delay_ms;
    http_limits_default(&s->limits);
    atomic_init(&s->stop, false);
    simtimer_heap_init(&s->timers);
    simbuf_init(&s->common, 0);
    simbuf_init(&s->scratch, 0);
    simbuf_init(&s->logbuf, 0);
    s->health = HEALTH_UP;
    s->slow_ms = SLOW_DEFAULT_MS;
    if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        memset(seed, 0, sizeof(seed));
    memcpy(&s->rng, seed, sizeof(seed));
    s->rng ^= clock_mono_ns() ^ ((uint64_t)sh->pid << 32) ^ (index + 1) * 0x9E3779B97F4A7C15ull;
    if (s->rng == 0)
        s->rng = 0x853c49e6748fea9bull;

    s->listen_fd = net_listen_tcp(ic->host, ic->port, 1024, true, err, err_len);
    if (s->listen_fd < 0)
        goto out_free;
    if (getsockname(s->listen_fd, (struct sockaddr *)&ss, &sl) == 0) {
        unmap_addr(&ss);
        s->port = net_addr_port((struct sockaddr *)&ss);
    } else {
        s->port = ic->port;
    }
    snprintf(s->local_addr, sizeof(s->local_addr), "%s", ic->host[0] ? ic->host : "*");
    s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->epoll_fd < 0 || s->wake_fd < 0) {
        snprintf(err, err_len, "epoll/eventfd: %s", strerror(errno));
        goto out_free;
    }
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &s->listen_fd};
    struct epoll_event wev = {.events = EPOLLIN, .data.ptr = &s->wake_fd};
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &lev) < 0 ||
        epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &wev) < 0) {
        snprintf(err, err_len, "epoll_ctl: %s", strerror(errno));
        goto out_free;
    }
    s->now_ms = clock_mono_ms();
    rebuild_common(s, clock_wall_ns() / 1000000000u);
    return s;

out_free:
    simsrv_destroy(s);
    return NULL;
}

int simsrv_start(struct simsrv *s)
{
    int rc = pthread_create(&s->thread, NULL, simsrv_main, s);
    if (rc != 0)
        return -rc;
    s->started = true;
    return 0;
}

void simsrv_stop(struct simsrv *s)
{
    uint64_t one = 1;
    atomic_store(&s->stop, true);
    while (write(s->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

void simsrv_join(struct simsrv *s)
{
    if (s->started) {
        pthread_join(s->thread, NULL);
        s->started = false;
    }
}

void simsrv_destroy(struct simsrv *s)
{
    if (s == NULL)
        return;
    while (s->conns != NULL)
        conn_close(s->conns, false);
    bury_dead(s);
    while (s->free_conns != NULL) {
        struct conn *c = s->free_conns;
        list_remove(&s->free_conns, c);
        conn_free(c);
    }
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->epoll_fd >= 0)
        close(s->epoll_fd);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    simtimer_heap_free(&s->timers);
    simbuf_free(&s->common);
    simbuf_free(&s->scratch);
    simbuf_free(&s->logbuf);
    free(s);
}
