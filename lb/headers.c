/*
 * headers.c - request and response head rewriting (see headers.h for the rules).
 *
 * Output goes through a tiny bounded writer that remembers overflow instead of checking every
 * call, so each rewrite reads as the list of lines it produces.
 */
#include "headers.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct out {
    char *p;
    size_t len, cap;
    bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->overflow || n > o->cap - o->len) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_field(struct out *o, const char *name, const char *value, size_t value_len)
{
    puts_(o, name);
    put(o, ": ", 2);
    put(o, value, value_len);
    put(o, "\r\n", 2);
}

static void put_header(struct out *o, const struct http_header *h)
{
    put(o, h->name, h->name_len);
    put(o, ": ", 2);
    put(o, h->value, h->value_len);
    put(o, "\r\n", 2);
}

/* Fields lb relays whatever Connection says, because framing depends on them. */
static bool protected_field(const struct http_header *h)
{
    return http_header_is(h, "Content-Length") || http_header_is(h, "Host");
}

static bool hop_by_hop(const struct http_header *h, const struct http_header *all, size_t n)
{
    if (protected_field(h))
        return false;
    return http_is_hop_by_hop(h, all, n);
}

bool headers_client_request_id(const struct http_request *req, const char **id, size_t *len)
{
    const struct http_header *found = NULL;
    for (size_t i = 0; i < req->num_headers; i++) {
        if (!http_header_is(&req->headers[i], "X-Request-ID"))
            continue;
        if (found != NULL)
            return false;
        found = &req->headers[i];
    }
    if (found == NULL || found->value_len == 0 || found->value_len > HEADERS_MAX_REQUEST_ID)
        return false;
    for (size_t i = 0; i < found->value_len; i++) {
        unsigned char c = (unsigned char)found->value[i];
        if (c <= 0x20 || c >= 0x7f)
            return false;
    }
    *id = found->value;
    *len = found->value_len;
    return true;
}

ssize_t headers_rewrite_request(const struct http_request *req,
                                const struct headers_request_opts *opts, char *buf, size_t cap)
{
    struct out o = {buf, 0, cap, false};
    const struct http_header *hs = req->headers;
    size_t n = req->num_headers;
    bool absolute = req->target_len > 0 && req->target[0] != '/' && req->target[0] != '*';
    bool has_host = false, has_xff = false;
    const char *client_id;
    size_t client_id_len;
    bool keep_id = headers_client_request_id(req, &client_id, &client_id_len);

    put(&o, req->method, req->method_len);
    put(&o, " ", 1);
    if (absolute)
        put(&o, req->path, req->path_len);
    else
        put(&o, req->target, req->target_len);
    puts_(&o, " HTTP/1.1\r\n");

    for (size_t i = 0; i < n; i++) {
        const struct http_header *h = &hs[i];
        if (http_header_is(h, "Host")) {
            if (has_host)
                continue; /* HTTP/1.0 may repeat it; send one */
            has_host = true;
            if (absolute && req->host != NULL)
                put_field(&o, "Host", req->host, req->host_len);
            else
                put_header(&o, h);
            continue;
        }
        if (http_header_is(h, "Transfer-Encoding")) {
            if (req->framing == HTTP_BODY_CHUNKED)
                put_header(&o, h); /* the body is relayed verbatim, codings and all */
            continue;
        }
        if (http_header_is(h, "Upgrade")) {
            if (req->upgrade)
                put_header(&o, h);
            continue;
        }
        if (http_header_is(h, "X-Forwarded-For")) {
            has_xff = true;
            continue; /* merged below */
        }
        if (http_header_is(h, "X-Forwarded-Proto"))
            continue;
        if (http_header_is(h, "X-Request-ID") && !keep_id)
            continue;
        if (hop_by_hop(h, hs, n))
            continue;
        put_header(&o, h);
    }
    if (!has_host) {
        const char *host = req->host ? req->host : opts->default_host;
        size_t host_len = req->host ? req->host_len : strlen(opts->default_host);
        put_field(&o, "Host", host, host_len);
    }

    puts_(&o, "X-Forwarded-For: ");
    if (has_xff) {
        for (size_t i = 0; i < n; i++) {
            if (!http_header_is(&hs[i], "X-Forwarded-For") || hs[i].value_len == 0)
                continue;
            put(&o, hs[i].value, hs[i].value_len);
            put(&o, ", ", 2);
        }
    }
    puts_(&o, opts->client_ip);
    put(&o, "\r\n", 2);
    put_field(&o, "X-Forwarded-Proto", opts->proto, strlen(opts->proto));
    if (!keep_id)
        put_field(&o, "X-Request-ID", opts->request_id, opts->request_id_len);
    if (req->upgrade)
        puts_(&o, "Connection: upgrade\r\n");
    else if (opts->close)
        puts_(&o, "Connection: close\r\n");
    put(&o, "\r\n", 2);
    return o.overflow ? -ENOSPC : (ssize_t)o.len;
}

ssize_t headers_replace_host(char *head, size_t len, size_t cap, const char *host)
{
    static const char field[] = "\r\nHost: ";
    const size_t field_len = sizeof(field) - 1;
    const char *at = memmem(head, len, field, field_len);
    if (at == NULL)
        return -ENOENT;
    size_t value = (size_t)(at - head) + field_len;
    const char *eol = memmem(head + value, len - value, "\r\n", 2);
    if (eol == NULL)
        return -ENOENT;
    size_t old_len = (size_t)(eol - (head + value)), new_len = strlen(host);
    if (len - old_len + new_len > cap)
        return -ENOSPC;
    memmove(head + value + new_len, head + value + old_len, len - value - old_len);
    memcpy(head + value, host, new_len);
    return (ssize_t)(len - old_len + new_len);
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Finds cookie name in one Cookie header value v[0..n). */
static bool find_cookie(const char *v, size_t n, const char *name, const char **key,
                        size_t *key_len)
{
    size_t name_len = strlen(name), i = 0;
    while (i < n) {
        while (i < n && (is_ows(v[i]) || v[i] == ';'))
            i++;
        size_t start = i;
        while (i < n && v[i] != ';')
            i++;
        size_t end = i;
        while (end > start && is_ows(v[end - 1]))
            end--;
        const char *eq = memchr(v + start, '=', end - start);
        if (eq == NULL)
            continue;
        size_t nlen = (size_t)(eq - (v + start));
        while (nlen > 0 && is_ows(v[start + nlen - 1]))
            nlen--;
        if (nlen != name_len || memcmp(v + start, name, name_len) != 0)
            continue;
        const char *val = eq + 1, *val_end = v + end;
        while (val < val_end && is_ows(*val))
            val++;
        if (val == val_end)
            continue; /* empty: as if absent */
        *key = val;
        *key_len = (size_t)(val_end - val);
        return true;
    }
    return false;
}

bool headers_find_cookie(const struct http_header *headers, size_t n, const char *name,
                         const char **value, size_t *value_len)
{
    for (size_t i = 0; i < n; i++)
        if (http_header_is(&headers[i], "Cookie") &&
            find_cookie(headers[i].value, headers[i].value_len, name, value, value_len))
            return true;
    return false;
}

/* True when the Set-Cookie field h sets the cookie name ("name=..."). */
static bool sets_cookie(const struct http_header *h, const char *name)
{
    size_t n = strlen(name);
    return h->value_len > n && memcmp(h->value, name, n) == 0 && h->value[n] == '=';
}

ssize_t headers_rewrite_response(const struct http_response *res,
                                 const struct headers_response_opts *opts, char *buf, size_t cap)
{
    struct out o = {buf, 0, cap, false};
    const struct http_header *hs = res->headers;
    size_t n = res->num_headers;
    bool cookie_set = false;

    /* the status line, its code as three digits (the parser admits 100 to 999 only) */
    char line[] = "HTTP/1.1 000 ";
    unsigned code = (unsigned)res->status % 1000;
    line[9] = (char)('0' + code / 100);
    line[10] = (char)('0' + code / 10 % 10);
    line[11] = (char)('0' + code % 10);
    put(&o, line, sizeof(line) - 1);
    if (res->reason_len > 0)
        put(&o, res->reason, res->reason_len);
    else
        puts_(&o, http_status_reason(res->status));
    put(&o, "\r\n", 2);

    for (size_t i = 0; i < n; i++) {
        const struct http_header *h = &hs[i];
        if (http_header_is(h, "Transfer-Encoding")) {
            if (opts->keep_chunked)
                put_header(&o, h);
            continue;
        }
        if (http_header_is(h, "Upgrade")) {
            if (opts->connection == HEADERS_CONN_UPGRADE)
                put_header(&o, h);
            continue;
        }
        if (http_header_is(h, "X-Request-ID"))
            continue;
        if (hop_by_hop(h, hs, n))
            continue;
        if (opts->cookie_name != NULL && http_header_is(h, "Set-Cookie") &&
            sets_cookie(h, opts->cookie_name))
            cookie_set = true;
        put_header(&o, h);
    }
    if (opts->cookie_name != NULL && opts->cookie_value != NULL && !cookie_set) {
        puts_(&o, "Set-Cookie: ");
        puts_(&o, opts->cookie_name);
        put(&o, "=", 1);
        puts_(&o, opts->cookie_value);
        puts_(&o, "; Path=/; HttpOnly; SameSite=Lax\r\n");
    }
    if (opts->request_id_len > 0)
        put_field(&o, "X-Request-ID", opts->request_id, opts->request_id_len);
    switch (opts->connection) {
    case HEADERS_CONN_NONE:
        break;
    case HEADERS_CONN_KEEP_ALIVE:
        puts_(&o, "Connection: keep-alive\r\n");
        break;
    case HEADERS_CONN_CLOSE:
        puts_(&o, "Connection: close\r\n");
        break;
    case HEADERS_CONN_UPGRADE:
        puts_(&o, "Connection: upgrade\r\n");
        break;
    }
    put(&o, "\r\n", 2);
    return o.overflow ? -ENOSPC : (ssize_t)o.len;
}
