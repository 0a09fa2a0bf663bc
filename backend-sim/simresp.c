/*
 * simresp.c - what backend-sim answers (see simconn.h): a parsed request is routed
 * (endpoint.h), fault injection (--fail-rate, --latency/--jitter, slow health) is decided, and
 * the response is rendered at once, into the output buffer or, while a hold runs, into a pending
 * buffer that simresp_release() moves on. Streamed bodies (/bytes, /chunked, files) only get
 * their head here; simconn.c produces the rest as the socket drains.
 *
 * /echo: a body of up to ECHO_MEM_MAX bytes is read whole and answered with Content-Length and
 * X-Echo-Length / X-Echo-SHA256 headers. A longer body is streamed back as it arrives, chunked,
 * with the same two fields sent as trailers (announced in a Trailer header); an HTTP/1.0 client,
 * which cannot take chunks, gets Content-Length and X-Echo-Length only.
 */
#include "simconn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cliopt.h"
#include "clock.h"
#include "docroot.h"
#include "simpage.h"

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

static void meta_copy(struct simconn *c, const char *p, size_t n, size_t *off, size_t *len)
{
    *off = c->meta.len;
    simbuf_append(&c->meta, p, n);
    *len = n;
}

enum resp_framing { RF_LENGTH, RF_CHUNKED, RF_NONE, RF_UNTIL_CLOSE };

/* Appends a response head: status line, the instance's common lines, Content-Type, framing,
 * Connection, extra (complete header lines or NULL) and the empty line. */
static void put_head(struct simconn *c, struct simbuf *b, int status, const char *ctype,
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
static void put_response(struct simconn *c, struct simbuf *b, int status, const char *ctype,
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

static void put_text(struct simconn *c, struct simbuf *b, int status, const char *extra,
                     const char *text)
{
    put_response(c, b, status, "text/plain; charset=utf-8", extra, text, strlen(text));
}

void simresp_echo_hash(struct simconn *c, const char *p, size_t n)
{
    if (c->md != NULL && n > 0)
        EVP_DigestUpdate(c->md, p, n);
    c->echo_len += n;
}

static void hex_digest(struct simconn *c, char hex[65])
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

static bool echo_init_hash(struct simconn *c)
{
    if (c->md == NULL)
        c->md = EVP_MD_CTX_new();
    return c->md != NULL && EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) == 1;
}

/* Answers /echo from the whole body in c->body. */
static void echo_respond_whole(struct simconn *c)
{
    char hex[65], extra[160];

    echo_init_hash(c);
    simresp_echo_hash(c, c->body.data ? c->body.data : "", c->body.len);
    hex_digest(c, hex);
    snprintf(extra, sizeof(extra), "X-Echo-Length: %llu\r\nX-Echo-SHA256: %s\r\n",
             (unsigned long long)c->echo_len, hex);
    simconn_out_compact(c);
    put_response(c, &c->out, 200, "application/octet-stream", extra,
                 c->body.data ? c->body.data : "", c->body.len);
    c->ost = OUT_DONE;
}

/* Switches /echo to streaming: head now, the body as it arrives, length and hash last. */
void simresp_echo_start_stream(struct simconn *c)
{
    char extra[96];

    echo_init_hash(c);
    simconn_out_compact(c);
    if (c->minor >= 1) {
        c->st_chunked = true;
        put_head(c, &c->out, 200, "application/octet-stream", RF_CHUNKED, 0,
                 "Trailer: X-Echo-Length, X-Echo-SHA256\r\n");
    } else if (c->req_body.framing == HTTP_BODY_LENGTH) {
        uint64_t total = c->body.len + http_body_remaining(&c->req_body);
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
        simresp_echo_hash(c, c->body.data, n);
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
        simresp_echo_finish(c);
}

void simresp_echo_finish(struct simconn *c)
{
    if (c->st_chunked) {
        char hex[65];
        hex_digest(c, hex);
        simbuf_printf(&c->out, "0\r\nX-Echo-Length: %llu\r\nX-Echo-SHA256: %s\r\n\r\n",
                      (unsigned long long)c->echo_len, hex);
    }
    c->ost = OUT_DONE;
}

static void admin_respond(struct simconn *c)
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
        put_text(c, &c->out, 400, NULL,
                 "admin/health: body too long; send up, down or slow [MS]\n");
    } else if (n == 2 && strncasecmp(p, "up", 2) == 0) {
        s->health = HEALTH_UP;
    } else if (n == 4 && strncasecmp(p, "down", 4) == 0) {
        s->health = HEALTH_DOWN;
    } else if (n >= 4 && strncasecmp(p, "slow", 4) == 0) {
        uint64_t ms = SLOW_DEFAULT_MS;
        size_t i = 4;
        if (i < n) {
            if (p[i] != ' ')
                goto bad;
            while (i < n && p[i] == ' ')
                i++;
            if (cli_parse_digits(p + i, n - i, s->cfg->max_delay_ms, &ms) != 0)
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
    put_text(c, &c->out, 400, NULL, "admin/health: expected a body of up, down, or slow [MS]\n");
    c->ost = OUT_DONE;
}

void simresp_after_body(struct simconn *c)
{
    if (c->kind == ENDPOINT_ECHO) {
        if (c->body_done && !c->collect_overflow)
            echo_respond_whole(c);
        else
            simresp_echo_start_stream(c);
    } else {
        simconn_out_compact(c);
        admin_respond(c);
    }
}

/* Renders the view of this request for /, /whoami and /headers. */
static void make_view(struct simconn *c, const struct http_request *req, struct simpage_view *v)
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
    v->proxy = c->proxy_version == 0 ? NULL : c->proxy_version == 1 ? "v1" : "v2";
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

/* /upgrade: 101 Switching Protocols to whatever protocol was asked for, then a raw echo of every
 * byte (a tunnel test; not a WebSocket implementation, though the handshake's
 * Sec-WebSocket-Accept is computed so that WebSocket clients accept the switch). */
static void render_upgrade(struct simconn *c, const struct http_request *req, struct simbuf *dst)
{
    static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    const struct http_header *up = http_find_header(req->headers, req->num_headers, "Upgrade");
    const struct http_header *key =
        http_find_header(req->headers, req->num_headers, "Sec-WebSocket-Key");

    if (!req->upgrade || up == NULL || c->minor == 0) {
        put_text(c, dst, 426, "Upgrade: websocket\r\n",
                 "/upgrade: send Upgrade: PROTOCOL and Connection: Upgrade\n");
        return;
    }
    c->status = 101;
    c->keep = false;
    c->after = AFTER_CLOSE;
    simbuf_puts(dst, "HTTP/1.1 101 Switching Protocols\r\n");
    simbuf_append(dst, c->srv->common.data, c->srv->common.len);
    simbuf_puts(dst, "Connection: Upgrade\r\nUpgrade: ");
    simbuf_append(dst, up->value, up->value_len);
    simbuf_puts(dst, "\r\n");
    if (key != NULL && key->value_len < 256) {
        unsigned char in[256 + sizeof(ws_guid)], md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        unsigned char b64[64];
        memcpy(in, key->value, key->value_len);
        memcpy(in + key->value_len, ws_guid, sizeof(ws_guid) - 1);
        if (EVP_Digest(in, key->value_len + sizeof(ws_guid) - 1, md, &md_len, EVP_sha1(), NULL) ==
                1 &&
            md_len == 20) {
            int n = EVP_EncodeBlock(b64, md, (int)md_len);
            simbuf_puts(dst, "Sec-WebSocket-Accept: ");
            simbuf_append(dst, b64, (size_t)n);
            simbuf_puts(dst, "\r\n");
        }
    }
    simbuf_puts(dst, "\r\n");
    /* whatever followed the head (a body, early tunnel bytes) is echoed too */
    c->body_done = true;
    http_body_init(&c->req_body, HTTP_BODY_NONE, 0);
    c->ist = IN_TUNNEL;
    c->sk = ST_TUNNEL;
    c->after_hold = OUT_STREAM;
}

/* Renders the response to a routed request into dst (out, or pend while held) and sets the
 * state the response continues in. */
static void render(struct simconn *c, const struct http_request *req, struct endpoint_route *rt,
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
        put_response(c, dst, 200, "text/html; charset=utf-8", "Cache-Control: no-store\r\n", NULL,
                     0);
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
        /* /close: the head promises n bytes, the body stops half-way, then a FIN (not a RST:
         * the client must see the short body end, not lose it) */
        if (rt->kind == ENDPOINT_CLOSE)
            c->after = AFTER_CLOSE;
        put_head(c, dst, 200, "application/octet-stream", RF_LENGTH, rt->n, NULL);
        c->after_hold = c->head_only ? OUT_DONE : OUT_STREAM;
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
    case ENDPOINT_HANG: c->after_hold = OUT_HANG; return;
    case ENDPOINT_UPGRADE: render_upgrade(c, req, dst); return;
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
            put_response(c, dst, fd == -EACCES ? 403 : 404, "text/plain; charset=utf-8", NULL, NULL,
                         0);
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
void simresp_release(struct simconn *c)
{
    if (c->pend.len > 0) {
        simconn_out_compact(c);
        simbuf_append(&c->out, c->pend.data, c->pend.len);
        simbuf_reset(&c->pend);
    }
    c->ost = c->after_hold;
    if (c->ost == OUT_HANG)
        c->hang_until_ms = c->srv->now_ms + c->srv->cfg->max_delay_ms;
    if (c->ost == OUT_WAIT_BODY && (c->body_done || c->collect_overflow))
        simresp_after_body(c);
}

/* After the client's FIN: no further request follows this one in the input buffer, so its
 * response can say Connection: close. A chunked body's end is not known yet: maybe not last. */
static bool last_before_eof(const struct simconn *c, const struct http_request *req,
                            size_t head_len)
{
    uint64_t rest = c->in.len - c->in_off - head_len;

    if (!c->peer_eof)
        return false;
    if (req->framing == HTTP_BODY_NONE)
        return rest == 0;
    return req->framing == HTTP_BODY_LENGTH && rest <= req->content_length;
}

/* Starts the request whose head is in.data[in_off..in_off+head_len). */
void simresp_request(struct simconn *c, struct http_request *req, size_t head_len)
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
    c->keep = req->keep_alive && cfg->keepalive_ms > 0 && !last_before_eof(c, req, head_len) &&
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
    http_body_init(&c->req_body, req->framing, req->content_length);
    c->body_done = c->req_body.done;
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
    /* rounded up to the next millisecond: a 250 ms delay never answers after 249.9 ms */
    c->hold_until_ms = delay > 0 ? (c->start_mono_ns + delay * 1000000u + 999999u) / 1000000u : 0;

    if (!failed && !c->body_done &&
        ((rt.kind == ENDPOINT_ECHO && !c->head_only) ||
         (rt.kind == ENDPOINT_ADMIN_HEALTH && (method_is(req, "POST") || method_is(req, "PUT"))))) {
        c->sink = SINK_COLLECT;
        c->collect_limit = rt.kind == ENDPOINT_ECHO ? ECHO_MEM_MAX : ADMIN_BODY_MAX;
    }
    if (req->expect_continue && !c->body_done && c->minor >= 1) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        simbuf_append(&c->out, cont, sizeof(cont) - 1);
        c->interim_len = sizeof(cont) - 1;
    }

    bool held = delay > 0;
    render(c, req, &rt, held ? &c->pend : &c->out, failed);
    c->in_off += head_len;
    if (held)
        c->ost = OUT_HELD;
    else
        simresp_release(c);
    /* an echo of a long Content-Length body streams from the start */
    if (c->ost == OUT_WAIT_BODY && c->kind == ENDPOINT_ECHO &&
        c->req_body.framing == HTTP_BODY_LENGTH &&
        http_body_remaining(&c->req_body) > ECHO_MEM_MAX)
        simresp_echo_start_stream(c);
}

/* Starts a request of backend-sim's own (no request was parsed): an HTTP/1.1 text answer, then
 * the connection closes. */
static void answer_and_close(struct simconn *c, int status, const char *extra, const char *body)
{
    c->req_active = true;
    c->start_ns = clock_wall_ns();
    c->start_mono_ns = clock_mono_ns();
    c->minor = 1;
    c->keep = false;
    c->head_only = false;
    c->after = AFTER_CLOSE;
    c->ist = IN_STOP;
    put_text(c, &c->out, status, extra, body);
    c->ost = OUT_DONE;
}

/* Answers a request that could not be parsed, then closes. */
void simresp_bad_request(struct simconn *c, const struct http_request *req)
{
    struct simsrv *s = c->srv;
    int status = req->error >= 400 && req->error <= 599 ? req->error : 400;
    char body[200];

    s->requests++;
    c->conn_requests++;
    snprintf(body, sizeof(body), "%s: %s\n", http_status_reason(status),
             req->error_reason ? req->error_reason : "malformed request");
    answer_and_close(c, status, NULL, body);
}

void simresp_bad_body(struct simconn *c, const char *why)
{
    char body[160];

    c->keep = false;
    c->ist = IN_STOP;
    c->body_done = true;
    c->sink = SINK_DISCARD;
    if (c->resp_sent > c->interim_len) {
        /* the response is under way: it cannot become a 400 any more */
        fprintf(stderr, "backend-sim: %s: %s from %s after the %d response had started: %s\n",
                c->srv->ic->name, why, c->peer_str, c->status,
                c->ost == OUT_DONE ? "closing after it" : "connection closed");
        if (c->ost == OUT_DONE) {
            c->after = AFTER_CLOSE; /* the whole response is produced: send it, then close */
        } else {
            c->after = AFTER_ABORT;
            simconn_close(c, true);
        }
        return;
    }
    /* nothing of the final response has been sent: drop what was produced (keeping the unsent
     * rest of a 100 Continue, which starts the unsent output) and answer 400 instead */
    c->out.len = c->out_off + (c->interim_len - (size_t)c->resp_sent);
    simbuf_reset(&c->pend);
    if (c->file_fd >= 0) {
        close(c->file_fd);
        c->file_fd = -1;
    }
    c->st_chunked = false;
    c->after = AFTER_CLOSE;
    c->body_bytes = 0;
    snprintf(body, sizeof(body), "Bad Request: %s\n", why);
    put_text(c, &c->out, 400, NULL, body);
    c->ost = OUT_DONE;
}

void simresp_refuse(struct simconn *c)
{
    struct simsrv *s = c->srv;
    char msg[128];

    snprintf(msg, sizeof(msg), "%s: too many connections (--max-conns %u)\n", s->ic->name,
             s->cfg->max_conns);
    answer_and_close(c, 503, "Retry-After: 1\r\n", msg);
}
