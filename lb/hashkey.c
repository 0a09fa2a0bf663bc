/*
 * hashkey.c - the key the hash policy hashes, found in a parsed request (see hashkey.h).
 * Cookies are found by headers_find_cookie() (headers.h), the one cookie reader lb has.
 */
#include "hashkey.h"

#include "headers.h"

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
        if (headers_find_cookie(req->headers, req->num_headers, spec->name, key, key_len))
            return true;
        break;
    case HASHKEY_CLIENT:
        break;
    }
    *key = client;
    *key_len = client_len;
    return false;
}
