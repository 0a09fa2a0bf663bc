/*
 * simconn.c - a backend-sim connection as a state machine (see simconn.h).
 *
 * simconn_drive() makes every kind of progress it can (release a held response, flush output,
 * produce more output, read input, parse a head or consume a body) until none is left, then arms
 * the connection's single timer for the next deadline it cares about. epoll is edge-triggered and
 * a connection is registered once: the can_read/can_write flags remember readiness, so the usual
 * keep-alive request costs one read(), one send() and no epoll_ctl(). One request is served at a
 * time; pipelined requests wait in the input buffer and are answered in order, each once the
 * previous response has been sent and its request body consumed.
 *
 * Memory is bounded per connection: heads up to the parser's limit, streamed bodies at most
 * OUT_HIGH bytes ahead of the socket, request bodies read only as fast as they are used.
 */
#include "simconn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytepat.h"
#include "clock.h"
#include "proxyhdr.h"
#include "simlog.h"

static void conn_log(struct simconn *c)
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
    if (c->proxy_version != 0) {
        e.proxy = c->proxy_version == 1 ? "v1" : "v2";
        e.proxy_from = c->proxy_from;
    }
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

static void request_clear(struct simconn *c)
{
    c->req_active = false;
    c->ist = IN_HEAD;
    c->ost = OUT_NONE;
    c->after = AFTER_KEEP;
    c->status = 0;
    c->resp_sent = 0;
    c->interim_len = 0;
    c->body_bytes = 0;
    c->has_method = c->has_rid = c->has_xff = false;
    http_body_init(&c->req_body, HTTP_BODY_NONE, 0);
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
    /* a big /echo or page does not leave its memory behind on a keep-alive connection */
    if (c->body.cap > KEEP_BUF_MAX)
        simbuf_free(&c->body);
    if (c->pend.cap > KEEP_BUF_MAX)
        simbuf_free(&c->pend);
    if (c->out.len == 0 && c->out.cap > 2 * OUT_HIGH)
        simbuf_free(&c->out);
}

/* Closes the socket now; the memory goes to the graveyard until the loop iteration ends, since
 * later events of the same epoll_wait() batch may still name this connection. */
void simconn_close(struct simconn *c, bool log_request)
{
    struct simsrv *s = c->srv;

    if (c->closed)
        return;
    if (log_request && c->req_active)
        conn_log(c);
    c->closed = true;
    timer_cancel(&s->timers, &c->timer);
    if (c->after == AFTER_RESET) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    if (c->tls != NULL) {
        if (c->after != AFTER_RESET && c->after != AFTER_ABORT)
            simtls_shutdown(c->tls);
        simtls_free(c->tls);
        c->tls = NULL;
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
    simconn_list_remove(&s->conns, c);
    simconn_list_push(&s->graveyard, c);
}

void simconn_free(struct simconn *c)
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

struct simconn *simconn_new(struct simsrv *s, int fd, struct sockaddr_storage *ss, bool counted)
{
    struct simconn *c = s->free_conns;
    struct simbuf in, out, pend, body, meta;
    EVP_MD_CTX *md = NULL;

    if (c != NULL) {
        simconn_list_remove(&s->free_conns, c);
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
    if (s->sh->tls != NULL && (c->tls = simtls_accept(s->sh->tls, fd)) == NULL) {
        simconn_list_push(&s->free_conns, c); /* the buffers stay for the next one */
        s->n_free++;
        return NULL;
    }
    c->counted = counted;
    timer_init(&c->timer, c);
    net_unmap_v4((struct sockaddr *)ss, sizeof(*ss), ss);
    net_format_ip((struct sockaddr *)ss, c->peer_ip, sizeof(c->peer_ip));
    c->peer_port = net_addr_port((struct sockaddr *)ss);
    net_format_addr((struct sockaddr *)ss, c->peer_str, sizeof(c->peer_str));
    {
        struct sockaddr_storage ls;
        socklen_t ll = sizeof(ls);
        if (getsockname(fd, (struct sockaddr *)&ls, &ll) == 0) {
            net_unmap_v4((struct sockaddr *)&ls, ll, &ls);
            net_format_ip((struct sockaddr *)&ls, c->local_ip, sizeof(c->local_ip));
        } else {
            snprintf(c->local_ip, sizeof(c->local_ip), "%s", s->local_addr);
        }
    }
    c->proxy_pending = s->cfg->accept_proxy;
    c->idle_since_ms = c->last_progress_ms = s->now_ms;
    request_clear(c);
    if (counted)
        s->n_counted++;
    else
        s->n_refusing++;
    simconn_list_push(&s->conns, c);
    return c;
}

static bool conn_wants_read(const struct simconn *c)
{
    if (!c->can_read || c->peer_eof)
        return false;
    if (c->lingering || c->ost == OUT_HANG)
        return true;
    return c->in.len - c->in_off < IN_MAX - READ_CHUNK / 4 || c->in_off > 0;
}

/* Reads once. Returns true when something was read or the state changed. */
static bool conn_read(struct simconn *c)
{
    if (c->lingering || c->ost == OUT_HANG || c->ist == IN_STOP) {
        /* nothing more is used: discard */
        c->in.len = c->in_off = 0;
    } else if (c->in_off > 0 && (c->in_off == c->in.len || c->in.len + READ_CHUNK > IN_MAX ||
                                 c->in.len + HEAD_READ > c->in.cap)) {
        simbuf_consume(&c->in, c->in_off);
        c->in_off = 0;
    }
    /* heads are small: an idle keep-alive connection keeps a 4 KiB buffer; bodies read more */
    size_t room =
        c->req_active && (c->ist == IN_BODY || c->ist == IN_TUNNEL) ? READ_CHUNK : HEAD_READ;
    if (c->in.len + room > IN_MAX)
        room = IN_MAX - c->in.len;
    if (room == 0)
        return false;
    char *dst = simbuf_reserve(&c->in, room);
    if (dst == NULL) {
        c->in.failed = false;
        return false;
    }
    ssize_t r;
    if (c->tls != NULL) {
        r = simtls_read(c->tls, dst, room);
        if (r < 0) {
            errno = (int)-r;
            r = -1;
        }
    } else {
        r = read(c->fd, dst, room);
    }
    if (r > 0) {
        simbuf_commit(&c->in, (size_t)r);
        c->last_progress_ms = c->srv->now_ms;
        /* a short read drained the socket (edge-triggered: a new edge will come); not with TLS,
         * which returns one record at a time and may keep more, read already, inside */
        if ((size_t)r < room && !c->rdhup && c->tls == NULL)
            c->can_read = false;
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

/* --accept-proxy: reads the PROXY header the connection must start with. From then on the client
 * it names is the connection's peer; a missing or malformed header (or a connection that ends
 * inside one) is reported on stderr and closes the connection. Returns true on progress. */
static bool conn_proxy_header(struct simconn *c)
{
    struct proxyhdr h;
    const char *why = NULL;
    size_t avail = c->in.len - c->in_off;
    ssize_t n = avail == 0 ? 0 : proxyhdr_parse(c->in.data + c->in_off, avail, &h, &why);

    if (n == 0) {
        if (!c->peer_eof || avail == 0)
            return false; /* more to come, or a connection closed before sending anything */
        why = "the connection ended inside the PROXY header";
    }
    if (n <= 0) {
        fprintf(stderr, "backend-sim: %s: connection from %s closed: %s\n", c->srv->ic->name,
                c->peer_str, why);
        c->after = AFTER_ABORT;
        simconn_close(c, false);
        return true;
    }
    c->in_off += (size_t)n;
    c->proxy_pending = false;
    c->proxy_version = (uint8_t)h.version;
    snprintf(c->proxy_from, sizeof(c->proxy_from), "%s", c->peer_str);
    if (h.has_addrs) {
        struct sockaddr *sa = (struct sockaddr *)&h.src;
        net_unmap_v4(sa, sizeof(h.src), &h.src);
        net_format_ip(sa, c->peer_ip, sizeof(c->peer_ip));
        c->peer_port = net_addr_port(sa);
        net_format_addr(sa, c->peer_str, sizeof(c->peer_str));
    }
    return true;
}

/* Hands n body bytes to the request's sink. Returns how many it took (fewer under
 * backpressure). */
static size_t sink_feed(struct simconn *c, const char *p, size_t n)
{
    switch (c->sink) {
    case SINK_DISCARD: return n;
    case SINK_COLLECT:
        if (c->kind == ENDPOINT_ECHO) {
            if (c->body.len + n > ECHO_MEM_MAX) {
                c->collect_overflow = true;
                if (c->ost == OUT_HELD || c->ost == OUT_WAIT_BODY) {
                    if (c->srv->now_ms < c->hold_until_ms)
                        return 0; /* cannot answer yet: stop reading */
                    simresp_echo_start_stream(c);
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
        if (simconn_out_pending(c) >= OUT_HIGH)
            return 0;
        if (n > OUT_HIGH)
            n = OUT_HIGH;
        simresp_echo_hash(c, p, n);
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

static void body_complete(struct simconn *c)
{
    c->body_done = true;
    if (c->ist == IN_BODY)
        c->ist = IN_WAIT;
    if (c->sink == SINK_ECHO_STREAM)
        simresp_echo_finish(c);
    else if (c->ost == OUT_WAIT_BODY && c->srv->now_ms >= c->hold_until_ms)
        simresp_after_body(c);
}

/* Consumes request-body bytes from the input buffer. Returns true on progress. */
static bool conn_consume_body(struct simconn *c)
{
    bool progress = false;

    while (!c->body_done && c->in_off < c->in.len) {
        const char *p = c->in.data + c->in_off;
        size_t avail = c->in.len - c->in_off;
        /* one span of payload at a time, so payload the sink refuses stays unconsumed */
        struct http_body saved = c->req_body;
        const char *data;
        size_t data_len;
        ssize_t used = http_body_next(&c->req_body, p, avail, &data, &data_len);
        if (used < 0) {
            /* malformed chunked body: nothing sensible can follow */
            simresp_bad_body(c, "malformed chunked request body");
            return true;
        }
        if (data_len > 0) {
            size_t took = sink_feed(c, data, data_len);
            if (took < data_len) {
                /* backpressure: undo, and consume only up to the end of what was taken */
                c->req_body = saved;
                size_t upto = (size_t)(data - p) + took;
                if (upto == 0)
                    break;
                used = http_body_next(&c->req_body, p, upto, &data, &data_len);
                if (used <= 0)
                    break;
                c->in_off += (size_t)used;
                progress = true;
                break;
            }
        }
        if (used == 0)
            break;
        c->in_off += (size_t)used;
        progress = true;
        if (c->req_body.done)
            body_complete(c);
        if (c->closed)
            return true;
    }
    if (!c->body_done && c->peer_eof && c->in_off >= c->in.len) {
        /* the client went away mid-body */
        c->after = AFTER_ABORT;
        simconn_close(c, true);
        return true;
    }
    return progress;
}

/* /upgrade after the 101: sends back what arrived, as fast as the client reads it. Returns true
 * on progress. */
static bool conn_tunnel(struct simconn *c)
{
    size_t avail = c->in.len - c->in_off, pending = simconn_out_pending(c), n;

    if (c->ost != OUT_STREAM)
        return false; /* the 101 is still held */
    if (avail == 0) {
        if (!c->peer_eof)
            return false;
        c->ost = OUT_DONE; /* the client finished: send the rest, then close */
        return true;
    }
    if (pending >= OUT_HIGH)
        return false;
    n = avail < OUT_HIGH - pending ? avail : OUT_HIGH - pending;
    simconn_out_compact(c);
    simbuf_append(&c->out, c->in.data + c->in_off, n);
    c->in_off += n;
    c->body_bytes += n;
    return true;
}

/* Writes what is pending. Returns true on progress. */
static bool conn_flush(struct simconn *c)
{
    bool progress = false;

    while (c->can_write && simconn_out_pending(c) > 0) {
        ssize_t w;
        if (c->tls != NULL) {
            w = simtls_write(c->tls, c->out.data + c->out_off, simconn_out_pending(c));
            if (w < 0) {
                errno = (int)-w;
                w = -1;
            }
        } else {
            w = send(c->fd, c->out.data + c->out_off, simconn_out_pending(c), MSG_NOSIGNAL);
        }
        if (w > 0) {
            c->out_off += (size_t)w;
            c->resp_sent += (uint64_t)w;
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
        simconn_close(c, true);
        return true;
    }
    if (simconn_out_pending(c) == 0 && c->out.len > 0) {
        c->out.len = 0;
        c->out_off = 0;
    }
    return progress;
}

/* Makes room at the end of the output buffer by dropping what was sent. */
void simconn_out_compact(struct simconn *c)
{
    if (c->out_off > 0) {
        simbuf_consume(&c->out, c->out_off);
        c->out_off = 0;
    }
}

/* Produces more of a streamed body. Returns true on progress. */
static bool conn_generate(struct simconn *c)
{
    bool progress = false;

    while (c->ost == OUT_STREAM && c->sk != ST_ECHO && c->sk != ST_TUNNEL &&
           simconn_out_pending(c) < OUT_HIGH && !c->closed) {
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
        simconn_out_compact(c);
        char *dst = simbuf_reserve(&c->out, n + 32);
        if (dst == NULL) {
            c->after = AFTER_ABORT;
            simconn_close(c, true);
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
                simconn_close(c, true);
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
    }
    return progress;
}

/* Tries to parse a request head from the input. Returns true on progress. */
static bool conn_parse(struct simconn *c)
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
            simresp_bad_request(c, &req);
            return true;
        }
        return false;
    }
    if (n < 0) {
        simresp_bad_request(c, &req);
        return true;
    }
    simresp_request(c, &req, (size_t)n);
    return true;
}

/* The current request is finished: log it and keep or close the connection. */
static void conn_finish_request(struct simconn *c)
{
    struct simsrv *s = c->srv;

    conn_log(c);
    c->req_active = false;
    switch (c->after) {
    case AFTER_KEEP:
        /* after the client's FIN, the requests it pipelined before it are still answered */
        if (c->keep && (!c->peer_eof || c->in_off < c->in.len)) {
            request_clear(c);
            c->idle_since_ms = s->now_ms;
            return;
        }
        /* fall through */
    case AFTER_CLOSE:
        if (c->peer_eof) {
            simconn_close(c, false);
            return;
        }
        if (c->tls != NULL)
            simtls_shutdown(c->tls); /* close_notify first, then the FIN */
        (void)shutdown(c->fd, SHUT_WR);
        c->lingering = true;
        c->ist = IN_STOP;
        c->linger_until_ms = s->now_ms + LINGER_MS;
        return;
    case AFTER_ABORT:
    case AFTER_RESET: simconn_close(c, false); return;
    }
}

static bool request_finished(const struct simconn *c)
{
    return c->req_active && c->ost == OUT_DONE && simconn_out_pending(c) == 0 &&
           (c->body_done || c->after != AFTER_KEEP);
}

/* Handles deadlines that have passed. */
void simconn_expire(struct simconn *c)
{
    struct simsrv *s = c->srv;
    uint64_t now = s->now_ms;

    if (c->lingering) {
        if (now >= c->linger_until_ms)
            simconn_close(c, false);
        return;
    }
    if (!c->req_active) {
        uint64_t idle = s->cfg->keepalive_ms > 0 ? s->cfg->keepalive_ms : IO_TIMEOUT_MS;
        if (now >= c->idle_since_ms + idle)
            simconn_close(c, false); /* --keepalive-timeout: idle connections are closed */
        return;
    }
    if (c->ost == OUT_HANG) {
        if (now >= c->hang_until_ms)
            simconn_close(c, true);
        return;
    }
    if (c->ost == OUT_HELD || (c->ost == OUT_WAIT_BODY && c->body_done))
        return; /* released by simconn_drive() */
    if (c->ost == OUT_STREAM && c->sk == ST_CHUNKED && c->st_gap > 0 && simconn_out_pending(c) == 0)
        return; /* waiting for the next chunk on purpose */
    if (now >= c->last_progress_ms + IO_TIMEOUT_MS)
        simconn_close(c, true); /* stalled: the client stopped sending or reading */
}

static uint64_t conn_deadline(const struct simconn *c)
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
    if (c->ost == OUT_STREAM && c->sk == ST_CHUNKED && c->st_gap > 0 &&
        simconn_out_pending(c) == 0 && c->st_off > 0 && c->st_off < c->st_end)
        return c->next_chunk_ms;
    return c->last_progress_ms + IO_TIMEOUT_MS;
}

static void conn_arm_timer(struct simconn *c)
{
    uint64_t d = conn_deadline(c);

    /* a timer that fires early is cheap (it re-arms); moving it on every request is not */
    if (timer_armed(&c->timer) && c->timer.deadline <= d)
        return;
    (void)timer_set(&c->srv->timers, &c->timer, d);
}

void simconn_drive(struct simconn *c)
{
    struct simsrv *s = c->srv;

    for (int rounds = 0; !c->closed; rounds++) {
        bool progress = false;
        size_t out_before = c->out.len;
        enum out_state ost_before = c->ost;

        if (c->ost == OUT_HELD && s->now_ms >= c->hold_until_ms) {
            simresp_release(c);
            progress = true;
        }
        if (c->ost == OUT_WAIT_BODY && s->now_ms >= c->hold_until_ms &&
            (c->body_done || c->collect_overflow)) {
            simresp_after_body(c);
            progress = true;
        }
        if (c->ost == OUT_DONE && c->after == AFTER_RESET && c->req_active) {
            simconn_close(c, true); /* /reset: status 0 in the log, RST on the wire */
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
                simconn_close(c, c->ost == OUT_HANG);
                return;
            }
        } else if (c->req_active && c->ist == IN_BODY) {
            progress |= conn_consume_body(c);
            if (c->closed)
                return;
        } else if (c->req_active && c->ist == IN_TUNNEL) {
            progress |= conn_tunnel(c);
        } else if (!c->req_active && c->ist == IN_HEAD) {
            if (c->proxy_pending) {
                progress |= conn_proxy_header(c);
                if (c->closed)
                    return;
            }
            if (!c->proxy_pending)
                progress |= conn_parse(c);
            if (!c->req_active && c->peer_eof) {
                simconn_close(c, false); /* the client closed between requests */
                return;
            }
            /* body bytes that came with the head are used before the response goes out, so
             * malformed framing among them still gets a 400 rather than the endpoint's answer */
            if (c->req_active && c->ist == IN_BODY) {
                (void)conn_consume_body(c);
                if (c->closed)
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
