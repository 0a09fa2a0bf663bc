/*
 * hashkey.c - the key the hash policy hashes, found in a parsed request (see hashkey.h).
 *
 * Cookie headers are read as RFC 6265 section 4.2 sends them: "a=1; b=2", pairs separated by
 * ';' and optional whitespace, a pair without '=' skipped. Every Cookie header is searched (an
 * HTTP/1.1 client sends one, but proxies sometimes pass several), the first non-empty value of
 * the named cookie wins, and the value is taken as sent, quotes included.
 */
#include "hashkey.h"

#include <errno.h>
#include <string.h>

/* tchar (RFC 9110 5.6.2) */
static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int hashkey_parse(const char *text, struct hashkey_spec *spec)
{
    struct hashkey_spec s = {.kind = HASHKEY_PATH};
    const char *name;

    if (strcmp(text, "path") == 0) {
        *spec = s;
        return 0;
    }
    if (strncmp(text, "header:", 7) == 0) {
        s.kind = HASHKEY_HEADER;
        name = text + 7;
    } else if (strncmp(text, "cookie:", 7) == 0) {
        s.kind = HASHKEY_COOKIE;
        name = text + 7;
    } else {
        return -EINVAL;
    }
    size_t len = strlen(name);
    if (len == 0 || len > HASHKEY_NAME_MAX)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar(name[i]))
            return -EINVAL;
    memcpy(s.name, name, len + 1);
    *spec = s;
    return 0;
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

bool hashkey_get(const struct hashkey_spec *spec, const struct http_request *req,
                 const char *client, size_t client_len, const char **key, size_t *key_len)
{
    switch (spec->kind) {
    case HASHKEY_PATH:
        if (req->path != NULL && req->path_len > 0) {
            const char *q = memchr(req->path, '?', req->path_len);
            *key = req->path;
            *key_len = q ? (size_t)(q - req->path) : req->path_len;
            return true;
        }
        break;
    case HASHKEY_HEADER: {
        const struct http_header *h = http_find_header(req->headers, req->num_headers, spec->name);
        if (h != NULL && h->value_len > 0) {
            *key = h->value;
            *key_len = h->value_len;
            return true;
        }
        break;
    }
    case HASHKEY_COOKIE:
        for (size_t i = 0; i < req->num_headers; i++)
            if (http_header_is(&req->headers[i], "Cookie") &&
                find_cookie(req->headers[i].value, req->headers[i].value_len, spec->name, key,
                            key_len))
                return true;
        break;
    case HASHKEY_CLIENT:
        break;
    }
    *key = client;
    *key_len = client_len;
    return false;
}
