/*
 * relay.c - one client connection relayed whole to one backend: lb -m tcp (see relay.h).
 *
 * States of a relay:
 *   CONNECT  a backend was picked: waiting for its name (--dns-ttl 0) or a nonblocking connect;
 *            the client's bytes wait in its socket meanwhile
 *   RELAY    bytes flow both ways until both directions have ended
 *
 * Each direction is a struct flow: bytes read from its source side into a pipe (splice) or a
 * buffer, then written from there to its sink side. A flow whose source reached end of stream
 * shuts its sink's write side once the pipe or buffer is empty (the FIN is passed on); the relay
 * closes when both flows are through. A read or write error on the backend resets the client's
 * connection, so a client never takes a cut stream for a whole one.
 *
 * Deadlines: --connect-timeout while connecting; then each side has its own idle limit, counted
 * from the last byte read from or written to it: --client-timeout for the client,
 * --server-timeout for the backend. While a flow holds bytes for a side whose socket is full,
 * lb reads the other side no further: then only the full side's limit runs (the other is not
 * late, lb stopped reading it), and that side progresses as long as its peer acknowledges
 * bytes (a shrinking send queue), so a slow reader is never cut; one that takes nothing is, and
 * is blamed.
 */
#include "relay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buffer.h"
#include "clock.h"
#include "dial.h"
#include "events.h"
#include "health.h"
#include "net.h"
#include "pipebuf.h"
#include "proxyproto.h"
#include "request_record.h"
#include "sendbatch.h"
#include "side.h"

#define RELAY_BUDGET 16            /* step rounds before a busy relay yields to the others */

enum relay_state { R_CONNECT, R_RELAY };

/* How a flow moves its bytes. COPY: recv() into a buffer and send() from it, the fewest system
 * calls for small exchanges (a short read means the socket is drained: no call to learn it).
 * SPLICE: splice() through a pipe, no copy through lb's memory, for bulk transfers; a flow
 * switches to it once a read fills its whole buffer, and never back unless splice fails. */
enum flow_mode { FLOW_COPY, FLOW_SPLICE };

/* One direction of a relay. */
struct flow {
    enum flow_mode mode;
    bool bulk;        /* a read filled the buffer: splice once the buffer is empty */
    bool no_splice;   /* --no-splice, or splice() could not be used: COPY for good */
    struct pipebuf pipe; /* SPLICE's: bytes read from the source, not yet written to the sink */
    struct buf buf;   /* COPY's buffer: holds a block of blocks only while bytes are in it */
    struct buf_blocks *blocks; /* the worker's (buffer.h) */
    bool src_done;    /* the source reached end of stream */
    bool passed_eof;  /* the sink's write side was shut after the last byte */
    uint64_t bytes;   /* written to the sink, not counting what lb put in front */
    uint32_t own;     /* bytes lb put in front of the source's (a PROXY header) still to go */
    int sink_unacked; /* the sink's send queue when a write last found it full, -1: not since
                         the last write */
};

struct relay {
    struct endpoint ep; /* first: epoll data, timer owner, dial owner */
    struct worker *w;
    struct relay *prev, *next; /* the worker's live relays */
    struct relay *run_next;    /* the worker's deferred or closed list */
    enum relay_state state;
    struct timer timer;
    bool queued, dead;
    bool write_held; /* queued with bytes held for the client until the end of the batch */
    bool backend_write_held; /* ... and for the backend */

    struct side client;
    char client_addr[NET_ADDRSTR_LEN];
    char client_ip[NET_ADDRSTR_LEN];
    struct sockaddr_storage peer, front;
    uint64_t conn_id;

    struct dial d;       /* the backend and the connection to it */
    uint32_t retries;    /* backends that could not be reached before this one */
    char backend_addr[NET_ADDRSTR_LEN];
    struct flow up;      /* client -> backend */
    struct flow down;    /* backend -> client */
    uint64_t client_activity_ms, backend_activity_ms;
    uint64_t t_start, t_first_byte; /* clock_mono_ns() */
    const char *end; /* how lb cut the relay for a timeout (access log end=), NULL: it did not */
};

struct relays {
    struct relay *live;
    size_t count;
    struct relay *deferred;   /* used up their turn, or held bytes for their clients */
    struct relay *closed;
};

static void run(struct relay *r);

/* Queues r to be run again by relay_run_deferred(), once. */
static void defer(struct relay *r)
{
    if (!r->queued) {
        r->queued = true;
        r->run_next = r->w->relays->deferred;
        r->w->relays->deferred = r;
    }
}

struct relays *relays_create(void)
{
    return calloc(1, sizeof(struct relays));
}

void relays_destroy(struct relays *set)
{
    free(set);
}

size_t relays_count(const struct relays *set)
{
    return set->count;
}

bool relays_deferred(const struct relays *set)
{
    return set->deferred != NULL;
}

static uint64_t now_ms(const struct relay *r)
{
    return r->w->now_ms;
}

/* --- life ------------------------------------------------------------------------------------- */

static void flow_free(struct flow *f)
{
    pipebuf_close(&f->pipe);
    buf_release(&f->buf, f->blocks);
}

/* Writes the relay's record: one "request" per relayed connection in -m tcp. */
static void log_relay(struct relay *r)
{
    uint64_t now = clock_mono_ns();
    struct upstream *u = r->d.state == DIAL_READY ? r->d.up : NULL;
    struct request_record rec = {
        .tcp = true,
        .bytes_in = r->up.bytes,
        .bytes_out = r->down.bytes,
        .spliced = r->up.pipe.moved + r->down.pipe.moved,
        .backend = r->d.backend ? (int)r->d.backend->index : -1,
        .sent = r->d.state == DIAL_READY,
        .retries = r->retries,
        .wall_ns = clock_wall_ns(),
        .connect_ns = r->d.connect_ns,
        .first_byte_ns = r->t_first_byte ? r->t_first_byte - r->t_start : 0,
        .total_ns = now - r->t_start,
        .client_text = r->client_addr,
        .backend_name = r->d.backend ? r->d.backend->name : NULL,
        .server_text = r->backend_addr[0] ? r->backend_addr : NULL,
        .client = (const struct sockaddr *)&r->peer,
        .lb_front = (const struct sockaddr *)&r->front,
        .lb_back = u ? (const struct sockaddr *)&u->local : NULL,
        .server = u ? (const struct sockaddr *)&u->server : NULL,
        .client_conn_id = r->conn_id,
        .conn_request = 1,
        .end = r->end,
    };
    events_request_done(r->w, &rec);
}

/* Closes the relay. abort_client / abort_backend reset that side's connection instead of
 * closing it in order: a stream cut on one side must not look whole on the other. */
static void relay_close(struct relay *r, bool abort_client, bool abort_backend)
{
    struct worker *w = r->w;
    if (r->dead)
        return;
    log_relay(r);
    upstream_close(w->upstreams, r->d.up, abort_backend);
    r->d.up = NULL;
    dial_drop(&r->d);
    dial_release(&r->d);
    dial_finish(&r->d);
    timer_cancel(&w->timers, &r->timer);
    side_close(&r->client, abort_client);
    flow_free(&r->up);
    flow_free(&r->down);
    if (r->prev)
        r->prev->next = r->next;
    else
        w->relays->live = r->next;
    if (r->next)
        r->next->prev = r->prev;
    w->relays->count--;
    r->dead = true;
    events_client_closed(w, 1);
    if (!r->queued) {
        r->run_next = w->relays->closed;
        w->relays->closed = r;
    }
}

void relay_reap(struct worker *w)
{
    while (w->relays->closed != NULL) {
        struct relay *r = w->relays->closed;
        w->relays->closed = r->run_next;
        free(r);
    }
}

/* --- connecting -------------------------------------------------------------------------------- */

static int flow_prepend(struct flow *f, const char *data, size_t len);

/* The dial moved: relay, try the next backend, or give up on the client. */
static void after_dial(struct relay *r)
{
    switch (r->d.state) {
    case DIAL_READY:
        if (r->d.backend->send_proxy != 0) {
            /* -b ...,send-proxy: the backend learns the client's address from a PROXY header,
             * the first bytes it reads on the connection */
            char hdr[PROXYPROTO_MAX_LEN];
            ssize_t n = proxyproto_header(r->d.backend->send_proxy, (struct sockaddr *)&r->peer,
                                          (struct sockaddr *)&r->front, hdr, sizeof(hdr));
            if (n < 0 || flow_prepend(&r->up, hdr, (size_t)n) != 0) {
                relay_close(r, true, true);
                return;
            }
        }
        snprintf(r->backend_addr, sizeof(r->backend_addr), "%s", r->d.up->addr);
        events_request_sent(r->w, r->d.backend);
        if (r->w->health != NULL) {
            /* at layer 4 a connection that opens is all the good news there is */
            struct health_change chg;
            if (health_report_success(r->w->health, r->d.backend->index, r->w->now_ms, &chg))
                events_backend_health(r->w, r->w->health, r->d.backend, &chg);
        }
        r->state = R_RELAY;
        r->client_activity_ms = r->backend_activity_ms = now_ms(r);
        return;
    case DIAL_FAILED: {
        struct backend *from = r->d.backend;
        if (dial_pick(&r->d, r->client_ip, strlen(r->client_ip), -1) < 0) {
            /* no backend took the connection, and there is no HTTP to say so: just close */
            relay_close(r, false, false);
            return;
        }
        r->retries++;
        events_retry(r->w, from, false, "connect failed", NULL, 0);
        dial_start(&r->d, false);
        after_dial(r);
        return;
    }
    case DIAL_IDLE:
    case DIAL_RESOLVING:
    case DIAL_CONNECTING:
        r->state = R_CONNECT;
        return;
    }
}

void relay_resolved(struct worker *w, struct resolve_req *req)
{
    struct relay *r = req->owner;
    (void)w;
    if (r == NULL || r->dead) {
        dial_free_resolve(req);
        return;
    }
    if (dial_resolved(&r->d, req))
        after_dial(r);
    if (!r->dead)
        run(r);
}

int relay_open(struct worker *w, int fd, const struct sockaddr *peer, socklen_t peer_len)
{
    struct sockaddr_storage peer_buf;
    peer_len = net_unmap_v4(peer, peer_len, &peer_buf);
    struct relay *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        close(fd);
        return -ENOMEM;
    }
    r->ep.kind = ENDPOINT_RELAY;
    r->w = w;
    side_init(&r->client, &transport_plain, fd);
    timer_init(&r->timer, &r->ep);
    pipebuf_init(&r->up.pipe, &w->pipes);
    pipebuf_init(&r->down.pipe, &w->pipes);
    r->up.no_splice = r->down.no_splice = w->cfg->no_splice;
    r->up.sink_unacked = r->down.sink_unacked = -1;
    r->up.blocks = r->down.blocks = &w->blocks;
    memcpy(&r->peer, &peer_buf, peer_len);
    worker_client_front(w, fd, false, (struct sockaddr *)&r->front, sizeof(r->front));
    r->conn_id = ++w->conn_serial;
    net_format_addr((struct sockaddr *)&r->peer, r->client_addr, sizeof(r->client_addr));
    net_format_ip((struct sockaddr *)&r->peer, r->client_ip, sizeof(r->client_ip));
    /* TCP_NODELAY: inherited from the listener (main.c) */
    r->t_start = clock_mono_ns();
    dial_init(&r->d, w, &r->ep);

    int rc = worker_watch(w, fd, &r->ep);
    if (rc != 0) {
        close(fd);
        free(r);
        return rc;
    }
    r->next = w->relays->live;
    if (w->relays->live)
        w->relays->live->prev = r;
    w->relays->live = r;
    w->relays->count++;
    events_client_opened(w);
    events_request_received(w);
    dial_use(&r->d); /* a connection is relayed to the default pool of the snapshot it began on */
    if (dial_pick(&r->d, r->client_ip, strlen(r->client_ip), -1) < 0) {
        relay_close(r, false, false);
        return 0;
    }
    dial_start(&r->d, false); /* a pooled connection may have carried someone else's stream */
    after_dial(r);
    if (!r->dead)
        run(r);
    return 0;
}

/* --- moving bytes ------------------------------------------------------------------------------ */

/* COPY: reads what src has into f's buffer. */
static bool flow_fill_copy(struct flow *f, struct side *src)
{
    if (buf_reserve(&f->buf, f->blocks) != 0) {
        src->err = -ENOMEM;
        src->eof = f->src_done = true;
        return true;
    }
    uint32_t room = buf_room(&f->buf);
    ssize_t n = side_read(src, &f->buf);
    buf_settle(&f->buf, f->blocks); /* nothing came: no block is kept */
    /* after a short read side_read() has already marked src unreadable (or at its end) */
    if (n < 0)
        f->src_done = true;
    else if (n > 0 && (uint32_t)n == room && !f->no_splice)
        f->bulk = true;
    return n != 0;
}

/* Reads what src has into f, by splice into the pipe or into the buffer. Returns true when
 * something happened (bytes, end of stream, an error). */
static bool flow_fill(struct flow *f, struct side *src)
{
    if (f->src_done || !src->readable)
        return false;
    if (f->mode == FLOW_COPY && f->bulk && buf_len(&f->buf) == 0) {
        buf_release(&f->buf, f->blocks); /* a bulk transfer: from now on the kernel moves the bytes */
        f->mode = FLOW_SPLICE;
    }
    if (f->mode == FLOW_COPY)
        return flow_fill_copy(f, src);
    ssize_t n = pipebuf_fill(&f->pipe, src->tr.fd, PIPEBUF_BYTES);
    if (n > 0)
        return true;
    if (n == 0) {
        src->eof = f->src_done = true;
        return true;
    }
    if (n == -EAGAIN) {
        /* with the pipe empty the socket has nothing; with bytes in it, the pipe may be full:
         * then the socket stays marked readable and is tried again once the pipe drains */
        if (f->pipe.held == 0)
            src->readable = false;
        return false;
    }
    if (f->pipe.held == 0 && (n == -EINVAL || f->pipe.fd[0] < 0)) {
        /* this socket cannot be spliced, or no pipe could be made (out of descriptors): copy
         * from now on, as an HTTP body does */
        f->mode = FLOW_COPY;
        f->no_splice = true;
        f->bulk = false;
        return true;
    }
    src->err = (int)n; /* the socket failed */
    src->eof = f->src_done = true;
    return true;
}

/* n bytes (or 0, -1) of a write of what f holds went to its sink: counts them. */
static void flow_count_sent(struct flow *f, ssize_t n)
{
    if (n > 0) {
        uint32_t own = (uint64_t)n < f->own ? (uint32_t)n : f->own;
        f->own -= own;
        f->bytes += (uint64_t)n - own;
    }
}

/* A write of what f's buffer (COPY) holds took n bytes (or 0, -1): they leave the buffer. */
static void flow_copy_sent(struct flow *f, ssize_t n)
{
    if (n > 0)
        f->buf.start += (uint32_t)n;
    buf_settle(&f->buf, f->blocks); /* all sent: the block goes back */
    flow_count_sent(f, n);
}

/* Writes what f holds to sink. Returns the bytes written (0: none), or -1 on a failed write. */
static ssize_t flow_drain(struct flow *f, struct side *sink)
{
    ssize_t n;
    if (f->mode == FLOW_COPY) {
        if (buf_len(&f->buf) == 0)
            return 0;
        struct iovec iov = {.iov_base = buf_unread(&f->buf), .iov_len = buf_len(&f->buf)};
        n = side_writev(sink, &iov, 1);
        flow_copy_sent(f, n);
        return n;
    } else {
        if (f->pipe.held == 0 || !sink->writable || sink->wfailed)
            return 0;
        n = pipebuf_drain(&f->pipe, sink->tr.fd);
        if (n == -EAGAIN) {
            sink->writable = false; /* the pipe has bytes: it is the socket that is full */
            n = 0;
        } else if (n < 0) {
            sink->wfailed = true;
            if (sink->err == 0)
                sink->err = (int)n;
            n = -1;
        }
    }
    flow_count_sent(f, n);
    return n;
}

/* Puts data[0..len) (at most a buffer) in front of everything f will carry (f is still empty,
 * in COPY mode). Returns 0 or -errno. */
static int flow_prepend(struct flow *f, const char *data, size_t len)
{
    if (len > BUF_SIZE)
        return -ENOSPC;
    if (buf_reserve(&f->buf, f->blocks) != 0)
        return -ENOMEM;
    buf_clear(&f->buf);
    memcpy(f->buf.data, data, len);
    f->buf.end = (uint32_t)len;
    f->own += (uint32_t)len;
    return 0;
}

static bool flow_empty(const struct flow *f)
{
    return f->mode == FLOW_COPY ? buf_len(&f->buf) == 0 : f->pipe.held == 0;
}

/* f holds bytes for sink and sink's socket is full: the flow waits for sink's peer. */
static bool flow_blocked(const struct flow *f, const struct side *sink)
{
    return !flow_empty(f) && !sink->writable && !sink->wfailed;
}

/* Whether f's bytes for sink wait for the end of the batch of events (worker.h): the client's
 * always may, the backend's only where they then go out with the client's in one system call. */
static bool hold_write(struct relay *r, struct flow *f, struct side *sink)
{
    if (sink == &r->client) {
        if (!worker_hold_client_write(r->w, r->queued))
            return false;
        r->write_held = true;
        return true;
    }
    if (f->mode != FLOW_COPY || sink->tr.ops != &transport_plain ||
        !worker_hold_backend_write(r->w, r->queued))
        return false;
    r->backend_write_held = true;
    return true;
}

/* One round of one direction: read, write, and pass the end of stream on. Times of activity on
 * each side are kept for the idle timeouts. */
static bool flow_step(struct relay *r, struct flow *f, struct side *src, struct side *sink,
                      uint64_t *src_activity, uint64_t *sink_activity)
{
    bool progress = flow_fill(f, src);
    if (progress)
        *src_activity = now_ms(r);
    if (!flow_empty(f) && hold_write(r, f, sink)) {
        defer(r); /* written once the batch has been read: relay_run_deferred() */
        return progress;
    }
    ssize_t n = flow_drain(f, sink);
    if (n != 0) {
        progress = true;
        if (n > 0) {
            *sink_activity = now_ms(r);
            f->sink_unacked = -1;
        }
    } else if (flow_blocked(f, sink) && f->sink_unacked < 0) {
        f->sink_unacked = side_unacked(sink); /* full: what it holds, to see it shrink */
    }
    /* An orderly end is passed on; an error is not (the relay resets instead). The second of
     * the two ends needs no shutdown(): the relay closes both sockets next, and close() sends
     * the same FIN (neither socket holds unread bytes: both sources reached their end). */
    if (f->src_done && src->err == 0 && flow_empty(f) && !f->passed_eof && !sink->wfailed) {
        const struct flow *other = f == &r->up ? &r->down : &r->up;
        if (!other->passed_eof)
            side_shutdown(sink);
        f->passed_eof = true;
        progress = true;
    }
    return progress;
}

static bool step_relay(struct relay *r)
{
    struct side *backend = &r->d.up->side;
    bool progress = false;
    uint64_t before = r->down.bytes;

    progress |= flow_step(r, &r->up, &r->client, backend, &r->client_activity_ms,
                          &r->backend_activity_ms);
    progress |= flow_step(r, &r->down, backend, &r->client, &r->backend_activity_ms,
                          &r->client_activity_ms);
    if (r->t_first_byte == 0 && (r->down.bytes > before || !flow_empty(&r->down)))
        r->t_first_byte = clock_mono_ns();

    if (backend->err != 0) {
        /* the backend reset or failed: the client must not see an orderly end */
        events_backend_broke(r->w, r->d.backend, "connection failed mid-stream");
        relay_close(r, true, false);
        return true;
    }
    if (r->client.err != 0) {
        /* the client is gone: the backend gets a reset too, nobody reads its answer */
        relay_close(r, true, true);
        return true;
    }
    if (r->up.passed_eof && r->down.passed_eof) {
        relay_close(r, false, false);
        return true;
    }
    return progress;
}

static bool step_connect(struct relay *r)
{
    if (r->d.state != DIAL_CONNECTING)
        return false;
    dial_poll(&r->d);
    if (r->d.state == DIAL_CONNECTING)
        return false;
    after_dial(r);
    return true;
}

/* --- running and timers ------------------------------------------------------------------------ */

/* Whose idle limit runs out first: the client's (true) or the backend's. While one side's socket
 * is full (and not the other's), only that side's limit runs: lb stopped reading the other. */
static bool client_limit_first(const struct relay *r)
{
    const struct config *c = r->w->cfg;
    bool client_full = flow_blocked(&r->down, &r->client);
    bool backend_full = r->d.up != NULL && flow_blocked(&r->up, &r->d.up->side);
    if (client_full != backend_full)
        return client_full;
    return r->client_activity_ms + c->client_timeout_ms <=
           r->backend_activity_ms + c->server_timeout_ms;
}

static uint64_t relay_deadline(const struct relay *r)
{
    const struct config *c = r->w->cfg;
    if (r->state == R_CONNECT)
        return r->d.start_ms + c->connect_timeout_ms;
    return client_limit_first(r) ? r->client_activity_ms + c->client_timeout_ms
                                 : r->backend_activity_ms + c->server_timeout_ms;
}

static void arm_timer(struct relay *r)
{
    uint64_t d = relay_deadline(r);
    if (!timer_armed(&r->timer) || d < r->timer.deadline)
        timer_set(&r->w->timers, &r->timer, d);
}

static void run(struct relay *r)
{
    for (int round = 0; round < RELAY_BUDGET; round++) {
        if (r->dead)
            return;
        bool progress = r->state == R_CONNECT ? step_connect(r) : step_relay(r);
        if (r->dead)
            return;
        if (!progress) {
            arm_timer(r);
            return;
        }
    }
    arm_timer(r);
    defer(r);
}

/* Whether f's bytes for sink, held during the batch, can go in a send batch: they wait in a
 * COPY buffer (a flow that splices writes from its pipe: run() does that) for a plain socket. */
static bool flow_batchable(const struct flow *f, const struct side *sink)
{
    return f->mode == FLOW_COPY && buf_len(&f->buf) > 0 && side_can_write(sink) &&
           sink->tr.ops == &transport_plain;
}

/* One write of a send batch: whose, and which direction. */
struct held_write {
    struct relay *r;
    bool to_backend;
};

/* Makes the writes held during the batch of events (flow_step()) all at once, with one system
 * call where the kernel has io_uring (sendbatch.h), and takes in each result as flow_drain()
 * and flow_step() would. The relays then run as usual and find those bytes written. */
static void write_held(struct worker *w, struct relay *list)
{
    struct send_batch *batch = &w->sends;
    struct held_write held[SEND_BATCH_MAX];
    int count = 0;
    for (struct relay *r = list; r != NULL; r = r->run_next) {
        for (int to_backend = 0; to_backend <= 1; to_backend++) {
            bool *asked = to_backend ? &r->backend_write_held : &r->write_held;
            if (!*asked)
                continue;
            *asked = false;
            if (count == SEND_BATCH_MAX || r->dead || r->state != R_RELAY)
                continue; /* run() writes it, or nothing is to be written */
            struct flow *f = to_backend ? &r->up : &r->down;
            struct side *sink = to_backend ? &r->d.up->side : &r->client;
            if (!flow_batchable(f, sink))
                continue;
            struct iovec iov = {.iov_base = buf_unread(&f->buf), .iov_len = buf_len(&f->buf)};
            if (send_batch_add(batch, sink->tr.fd, &iov, 1) < 0)
                continue;
            held[count++] = (struct held_write){.r = r, .to_backend = to_backend};
        }
    }
    if (count == 0)
        return;
    send_batch_run(batch);
    for (int i = 0; i < count; i++) {
        struct relay *r = held[i].r;
        struct flow *f = held[i].to_backend ? &r->up : &r->down;
        struct side *sink = held[i].to_backend ? &r->d.up->side : &r->client;
        ssize_t n = side_wrote(sink, send_batch_result(batch, i), buf_len(&f->buf));
        flow_copy_sent(f, n);
        if (n > 0) {
            *(held[i].to_backend ? &r->backend_activity_ms : &r->client_activity_ms) = now_ms(r);
            f->sink_unacked = -1;
        }
    }
    send_batch_clear(batch);
}

void relay_run_deferred(struct worker *w)
{
    struct relay *list = w->relays->deferred;
    w->relays->deferred = NULL;
    write_held(w, list);
    while (list != NULL) {
        struct relay *r = list;
        list = r->run_next;
        r->queued = false;
        if (r->dead) {
            r->run_next = w->relays->closed;
            w->relays->closed = r;
            continue;
        }
        run(r);
    }
}

void relay_client_event(struct endpoint *ep, uint32_t events)
{
    struct relay *r = (struct relay *)ep;
    if (r->dead)
        return;
    side_event(&r->client, events);
    run(r);
}

void relay_backend_ready(struct endpoint *ep)
{
    struct relay *r = (struct relay *)ep;
    if (!r->dead)
        run(r);
}

void relay_timer_expired(struct worker *w, struct timer *t)
{
    struct relay *r = t->owner;
    if (r->dead)
        return;
    uint64_t d = relay_deadline(r);
    if (d > w->now_ms) {
        timer_set(&w->timers, &r->timer, d);
        return;
    }
    if (r->state == R_CONNECT) {
        events_timeout(w, EVENTS_TIMEOUT_CONNECT, r->d.backend);
        dial_timed_out(&r->d);
        after_dial(r);
    } else {
        bool client_idle = client_limit_first(r);
        struct flow *f = client_idle ? &r->down : &r->up;
        struct side *sink = client_idle ? &r->client : r->d.up ? &r->d.up->side : NULL;
        bool cut = false;
        if (sink != NULL && flow_blocked(f, sink)) {
            /* that side's socket is full: it is late only if its peer took nothing since */
            int queued = side_unacked(sink);
            bool moved = queued >= 0 && (f->sink_unacked < 0 || queued < f->sink_unacked);
            f->sink_unacked = queued;
            if (moved) {
                *(client_idle ? &r->client_activity_ms : &r->backend_activity_ms) = w->now_ms;
                timer_set(&w->timers, &r->timer, relay_deadline(r));
                return;
            }
            if (client_idle) {
                events_client_stalled(w, r->client_addr, w->cfg->client_timeout_ms);
                r->end = "client_timeout";
            }
            cut = true; /* bytes were still on their way: neither side may see an orderly end */
        }
        events_timeout(w, client_idle ? EVENTS_TIMEOUT_CLIENT_IDLE : EVENTS_TIMEOUT_SERVER,
                       client_idle ? NULL : r->d.backend);
        relay_close(r, cut, cut);
    }
    if (!r->dead)
        run(r);
}

void relay_drain_all(struct worker *w, bool force)
{
    struct relay *r = w->relays->live;
    while (r != NULL) {
        struct relay *next = r->next;
        if (force || r->state == R_CONNECT)
            relay_close(r, force, force);
        r = next;
    }
}
