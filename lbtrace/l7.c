/*
 * l7.c - one connection's HTTP state: a small state machine per direction.
 *
 * Each direction is in one of: reading a header block (bytes gathered into a bounded buffer and
 * re-parsed until the parser says complete, as picohttpparser's callers do), skipping a body
 * (followed by the common body tracker whatever its framing: length, chunked or until close),
 * tunnel (after 101), resync (after a gap broke the framing: wait for a segment that starts a
 * message) or dead (a parse error: the rest of the direction is not followed). Requests queue in
 * order; each response answers the oldest request still without one (HTTP/1.1 pipelining keeps
 * order).
 */
#include "l7.h"

#include <stdlib.h>
#include <string.h>

#include "http.h"

#define L7_MAX_HEADERS 128

enum l7_state { ST_HEADER, ST_BODY, ST_TUNNEL, ST_RESYNC, ST_DEAD };

struct l7_dir {
    enum l7_state state;
    char *buf; /* header bytes gathered so far */
    size_t len, cap;
    uint64_t first_ts; /* capture time of buf's first byte */
    struct http_body body;       /* ST_BODY: the framing of the body being skipped */
    struct l7_exchange *body_of; /* the exchange whose body is being skipped */
    bool ended;
};

struct l7_conn {
    uint64_t flow_id;
    unsigned next_index;
    unsigned requests, responses;
    l7_emit_fn emit;
    void *ctx;
    struct http_limits limits;
    struct l7_dir dir[2];
    /* exchanges without a finished response, oldest first */
    struct l7_exchange *pending[L7_MAX_PENDING];
    size_t npending;
};

double l7_ms(uint64_t from, uint64_t to)
{
    if (from == 0 || to == 0 || to < from)
        return 0;
    return (double)(to - from) / 1e6;
}

unsigned l7_requests(const struct l7_conn *c)
{
    return c->requests;
}

unsigned l7_responses(const struct l7_conn *c)
{
    return c->responses;
}

bool l7_is_tunnel(const struct l7_conn *c)
{
    return c->dir[0].state == ST_TUNNEL;
}

struct l7_conn *l7_conn_new(uint64_t flow_id, l7_emit_fn emit, void *ctx)
{
    struct l7_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->flow_id = flow_id;
    c->next_index = 1;
    c->emit = emit;
    c->ctx = ctx;
    http_limits_default(&c->limits);
    return c;
}

/* Copies s[0..n) into dst as a printable C string (controls become '?'). */
static void copy_field(char *dst, size_t cap, const char *s, size_t n)
{
    if (cap == 0)
        return;
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        dst[i] = (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\') ? '?' : (char)ch;
    }
    dst[n] = '\0';
}

/* The last byte of ex's request (dir 0) or response (dir 1) seen so far came at ts. */
static void touch(struct l7_exchange *ex, int dir, uint64_t ts)
{
    if (dir == 0)
        ex->t_request_end = ts;
    else
        ex->t_response_end = ts;
}

static struct l7_exchange *new_exchange(struct l7_conn *c)
{
    struct l7_exchange *ex = calloc(1, sizeof(*ex));
    if (ex == NULL)
        return NULL;
    ex->flow_id = c->flow_id;
    ex->index = c->next_index++;
    return ex;
}

static void emit(struct l7_conn *c, struct l7_exchange *ex)
{
    if (c->emit)
        c->emit(c->ctx, ex);
    else
        free(ex);
}

/* Removes the oldest pending exchange and emits it. */
static void finish_oldest(struct l7_conn *c)
{
    if (c->npending == 0)
        return;
    struct l7_exchange *ex = c->pending[0];
    memmove(c->pending, c->pending + 1, (c->npending - 1) * sizeof(c->pending[0]));
    c->npending--;
    if (c->dir[0].body_of == ex)
        c->dir[0].body_of = NULL;
    if (c->dir[1].body_of == ex)
        c->dir[1].body_of = NULL;
    emit(c, ex);
}

static int push_pending(struct l7_conn *c, struct l7_exchange *ex)
{
    if (c->npending == L7_MAX_PENDING) {
        /* a client pipelining without end and a server that never answers: report the oldest */
        c->pending[0]->problem = "too many pipelined requests";
        finish_oldest(c);
    }
    c->pending[c->npending++] = ex;
    return 0;
}

static int buf_append(struct l7_dir *d, const uint8_t *data, size_t n)
{
    if (d->len + n > d->cap) {
        size_t cap = d->cap ? d->cap : 1024;
        while (cap < d->len + n)
            cap *= 2;
        char *bigger = realloc(d->buf, cap);
        if (bigger == NULL)
            return -1;
        d->buf = bigger;
        d->cap = cap;
    }
    memcpy(d->buf + d->len, data, n);
    d->len += n;
    return 0;
}

static void buf_reset(struct l7_dir *d)
{
    d->len = 0;
    d->first_ts = 0;
    if (d->cap > 65536) { /* do not keep a big buffer for a long keep-alive connection */
        free(d->buf);
        d->buf = NULL;
        d->cap = 0;
    }
}

/* True when p[0..n) may begin a request (dir 0) or a response (dir 1). */
static bool looks_like_start(int dir, const uint8_t *p, size_t n)
{
    if (dir == 1)
        return n >= 5 && memcmp(p, "HTTP/", 5) == 0;
    size_t i = 0;
    while (i < n && i < 20 && p[i] >= 'A' && p[i] <= 'Z')
        i++;
    return i > 0 && i < n && p[i] == ' ';
}

/* The header block of a request was parsed: make its exchange and pick the body framing. */
static void on_request(struct l7_conn *c, const struct http_request *req, size_t hdr_len,
                       uint64_t ts)
{
    struct l7_dir *d = &c->dir[0];
    struct l7_exchange *ex = new_exchange(c);
    if (ex == NULL) {
        d->state = ST_DEAD;
        return;
    }
    c->requests++;
    ex->request_seen = true;
    ex->t_request = d->first_ts ? d->first_ts : ts;
    ex->t_request_end = ts;
    ex->minor_version = req->minor_version;
    ex->request_bytes = hdr_len;
    copy_field(ex->method, sizeof(ex->method), req->method, req->method_len);
    copy_field(ex->path, sizeof(ex->path), req->target, req->target_len);
    if (req->host)
        copy_field(ex->host, sizeof(ex->host), req->host, req->host_len);
    const struct http_header *id = http_find_header(req->headers, req->num_headers,
                                                    "X-Request-ID");
    if (id)
        copy_field(ex->request_id, sizeof(ex->request_id), id->value, id->value_len);
    ex->upgraded = false;
    push_pending(c, ex);

    http_body_init(&d->body, req->framing, req->content_length);
    if (!d->body.done) {
        d->state = ST_BODY;
        d->body_of = ex;
        return;
    }
    ex->request_complete = true;
    d->state = ST_HEADER;
    d->body_of = NULL;
}

/* The oldest pending exchange, or a new one for a response nobody asked for (the request was
 * lost in a gap, or the server spoke first, as with a 408). */
static struct l7_exchange *response_target(struct l7_conn *c)
{
    if (c->npending > 0)
        return c->pending[0];
    struct l7_exchange *ex = new_exchange(c);
    if (ex == NULL)
        return NULL;
    ex->problem = "response without a request";
    push_pending(c, ex);
    return ex;
}

static void complete_response(struct l7_conn *c, struct l7_exchange *ex, uint64_t ts)
{
    ex->response_complete = true;
    ex->t_response_end = ts;
    c->dir[1].state = ST_HEADER;
    c->dir[1].body_of = NULL;
    if (c->npending > 0 && c->pending[0] == ex)
        finish_oldest(c);
}

/* The header block of a response was parsed. */
static void on_response(struct l7_conn *c, const struct http_response *res, size_t hdr_len,
                        uint64_t ts)
{
    struct l7_dir *d = &c->dir[1];
    struct l7_exchange *ex = response_target(c);
    if (ex == NULL) {
        d->state = ST_DEAD;
        return;
    }
    ex->response_bytes += hdr_len;
    if (res->status >= 100 && res->status < 200 && res->status != 101) {
        ex->interim++;
        d->state = ST_HEADER;
        return;
    }
    c->responses++;
    ex->status = res->status;
    ex->t_response = d->first_ts ? d->first_ts : ts;
    ex->t_response_end = ts;
    ex->keep_alive = res->keep_alive;
    const struct http_header *id = http_find_header(res->headers, res->num_headers,
                                                    "X-Request-ID");
    if (id)
        copy_field(ex->response_id, sizeof(ex->response_id), id->value, id->value_len);

    if (res->status == 101) {
        ex->upgraded = true;
        c->dir[0].state = ST_TUNNEL;
        d->state = ST_TUNNEL;
        ex->response_complete = true;
        ex->t_response_end = ts;
        finish_oldest(c);
        return;
    }
    ex->chunked = res->framing == HTTP_BODY_CHUNKED;
    ex->until_close = res->framing == HTTP_BODY_UNTIL_CLOSE;
    http_body_init(&d->body, res->framing, res->content_length);
    if (!d->body.done) {
        d->state = ST_BODY;
        d->body_of = ex;
        return;
    }
    complete_response(c, ex, ts);
}

/* The body of the current message in direction dir ended. */
static void body_done(struct l7_conn *c, int dir, uint64_t ts)
{
    struct l7_dir *d = &c->dir[dir];
    struct l7_exchange *ex = d->body_of;
    d->body_of = NULL;
    d->state = ST_HEADER;
    if (ex == NULL)
        return;
    if (dir == 0) {
        ex->request_complete = true;
        ex->t_request_end = ts;
    } else {
        complete_response(c, ex, ts);
    }
}

/* A parse error: the direction is not followed any more. */
static void parse_error(struct l7_conn *c, int dir, const char *reason, uint64_t ts)
{
    struct l7_dir *d = &c->dir[dir];
    if (dir == 0) {
        struct l7_exchange *ex = new_exchange(c);
        if (ex != NULL) {
            size_t m = 0;
            while (m < d->len && m < L7_METHOD_LEN - 1 && d->buf[m] > ' ' && d->buf[m] < 0x7f)
                m++;
            copy_field(ex->method, sizeof(ex->method), d->buf, m);
            ex->problem = reason ? reason : "malformed request";
            ex->t_request = d->first_ts ? d->first_ts : ts;
            ex->request_bytes = d->len;
            push_pending(c, ex);
        }
    } else {
        struct l7_exchange *ex = response_target(c);
        if (ex != NULL) {
            ex->problem = reason ? reason : "malformed response";
            ex->response_bytes += d->len;
            ex->t_response = d->first_ts ? d->first_ts : ts;
            finish_oldest(c);
        }
    }
    buf_reset(d);
    d->state = ST_DEAD;
}

/* Header state: gathers bytes until a complete header block. Returns bytes of data used. */
static size_t feed_header(struct l7_conn *c, int dir, const uint8_t *data, size_t len,
                          uint64_t ts)
{
    struct l7_dir *d = &c->dir[dir];
    size_t old = d->len;
    size_t room = c->limits.max_header_bytes + 1 > old ? c->limits.max_header_bytes + 1 - old : 1;
    size_t take = len < room ? len : room;
    struct http_header headers[L7_MAX_HEADERS];
    int n;

    if (old == 0)
        d->first_ts = ts;
    if (buf_append(d, data, take) < 0) {
        parse_error(c, dir, "out of memory", ts);
        return len;
    }
    if (dir == 0) {
        struct http_request req = {.headers = headers, .num_headers = L7_MAX_HEADERS};
        n = http_parse_request(d->buf, d->len, &req, &c->limits);
        if (n > 0) {
            on_request(c, &req, (size_t)n, ts);
        } else if (n == HTTP_ERROR) {
            parse_error(c, dir, req.error_reason, ts);
            return len;
        }
    } else {
        struct http_response res = {.headers = headers, .num_headers = L7_MAX_HEADERS};
        bool head = c->npending > 0 && strcmp(c->pending[0]->method, "HEAD") == 0;
        n = http_parse_response(d->buf, d->len, &res, &c->limits, head);
        if (n > 0) {
            on_response(c, &res, (size_t)n, ts);
        } else if (n == HTTP_ERROR) {
            parse_error(c, dir, res.error_reason, ts);
            return len;
        }
    }
    if (n == HTTP_INCOMPLETE) {
        if (d->len > c->limits.max_header_bytes) {
            parse_error(c, dir, "header block too large", ts);
            return len;
        }
        return take;
    }
    /* the header block ended inside the new bytes */
    size_t used = (size_t)n > old ? (size_t)n - old : 0;
    buf_reset(d);
    return used;
}

void l7_feed(struct l7_conn *c, int dir, const uint8_t *data, size_t len, uint64_t ts)
{
    if (c == NULL || dir < 0 || dir > 1)
        return;
    struct l7_dir *d = &c->dir[dir];

    if (data == NULL) { /* a gap */
        switch (d->state) {
        case ST_BODY:
            if (d->body.framing == HTTP_BODY_LENGTH && len < http_body_remaining(&d->body)) {
                /* the body lost bytes, the framing holds: count down the rest after the gap */
                http_body_init(&d->body, HTTP_BODY_LENGTH, http_body_remaining(&d->body) - len);
                if (d->body_of) {
                    d->body_of->problem = "bytes missing (capture gap)";
                    if (dir == 0)
                        d->body_of->request_bytes += len, d->body_of->request_body += len;
                    else
                        d->body_of->response_bytes += len, d->body_of->response_body += len;
                }
                return;
            }
            if (d->body.framing == HTTP_BODY_UNTIL_CLOSE) {
                if (d->body_of)
                    d->body_of->problem = "bytes missing (capture gap)";
                return;
            }
            break; /* a chunked body, or the gap reaches past the end of the body */
        case ST_TUNNEL:
        case ST_DEAD:
            return;
        default:
            break;
        }
        /* framing lost */
        if (d->body_of != NULL) {
            d->body_of->problem = "bytes missing (capture gap)";
            if (dir == 1) {
                struct l7_exchange *ex = d->body_of;
                d->body_of = NULL;
                if (c->npending > 0 && c->pending[0] == ex)
                    finish_oldest(c);
            }
            d->body_of = NULL;
        } else if (dir == 1 && d->len > 0 && c->npending > 0) {
            c->pending[0]->problem = "response lost in a capture gap";
            finish_oldest(c);
        }
        buf_reset(d);
        d->state = ST_RESYNC;
        return;
    }

    int idle = 0; /* iterations in a row that used nothing: never more than one */
    while (len > 0 && idle < 2) {
        size_t used = len;
        switch (d->state) {
        case ST_RESYNC:
            if (!looks_like_start(dir, data, len))
                return;
            d->state = ST_HEADER;
            continue;
        case ST_HEADER:
            used = feed_header(c, dir, data, len, ts);
            break;
        case ST_BODY: {
            uint64_t payload_before = d->body.payload;
            ssize_t r = http_body_feed(&d->body, (const char *)data, len);
            if (r < 0) {
                if (d->body_of)
                    d->body_of->problem = "malformed chunked body";
                if (dir == 1 && d->body_of) {
                    struct l7_exchange *ex = d->body_of;
                    d->body_of = NULL;
                    if (c->npending > 0 && c->pending[0] == ex)
                        finish_oldest(c);
                }
                d->body_of = NULL;
                d->state = ST_DEAD;
                return;
            }
            used = (size_t)r;
            uint64_t payload = d->body.payload - payload_before; /* chunk framing excluded */
            if (d->body_of) {
                if (dir == 0)
                    d->body_of->request_bytes += used, d->body_of->request_body += payload;
                else
                    d->body_of->response_bytes += used, d->body_of->response_body += payload;
                touch(d->body_of, dir, ts);
            }
            if (d->body.done)
                body_done(c, dir, ts);
            else if (used == 0)
                return; /* cannot happen with a correct tracker; never spin */
            break;
        }
        case ST_TUNNEL:
        case ST_DEAD:
            return;
        }
        idle = used == 0 ? idle + 1 : 0;
        data += used;
        len -= used;
    }
}

void l7_end(struct l7_conn *c, int dir, bool reset, uint64_t ts)
{
    if (c == NULL || dir < 0 || dir > 1)
        return;
    struct l7_dir *d = &c->dir[dir];
    if (d->ended)
        return;
    d->ended = true;
    if (dir == 0) {
        if (d->body_of != NULL && !d->body_of->request_complete)
            d->body_of->problem = reset ? "connection reset mid-request" :
                                          "connection closed mid-request";
        d->body_of = NULL;
        return;
    }
    if (d->state == ST_BODY && d->body.framing == HTTP_BODY_UNTIL_CLOSE && d->body_of != NULL) {
        struct l7_exchange *ex = d->body_of;
        if (reset)
            ex->problem = "connection reset mid-response";
        else if (http_body_eof(&d->body))
            ex->response_complete = true;
        ex->t_response_end = ts;
        d->body_of = NULL;
        if (c->npending > 0 && c->pending[0] == ex)
            finish_oldest(c);
    } else if (d->body_of != NULL) {
        d->body_of->problem = reset ? "connection reset mid-response" :
                                      "connection closed mid-response";
        struct l7_exchange *ex = d->body_of;
        d->body_of = NULL;
        if (c->npending > 0 && c->pending[0] == ex)
            finish_oldest(c);
    }
    d->state = ST_DEAD;
    /* whatever is still waiting gets no response on this connection */
    while (c->npending > 0) {
        if (c->pending[0]->problem == NULL)
            c->pending[0]->problem = reset ? "connection reset before the response" :
                                             "no response";
        finish_oldest(c);
    }
}

void l7_conn_free(struct l7_conn *c, uint64_t ts)
{
    if (c == NULL)
        return;
    (void)ts;
    while (c->npending > 0) {
        if (c->pending[0]->problem == NULL)
            c->pending[0]->problem = c->pending[0]->status ? "response cut short by end of capture"
                                                           : "no response (end of capture)";
        finish_oldest(c);
    }
    free(c->dir[0].buf);
    free(c->dir[1].buf);
    free(c);
}

void l7_conn_drop(struct l7_conn *c)
{
    if (c == NULL)
        return;
    c->emit = NULL;
    l7_conn_free(c, 0);
}
