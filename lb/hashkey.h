/*
 * hashkey.h - what the hash policy hashes (--hash-key): the request's path, the value of a
 * header, or the value of a cookie, and the client address when the request has none of these.
 *
 * Two pure functions and a plain struct: hashkey_parse() turns the flag's text into a struct
 * hashkey_spec (config.c calls it), hashkey_get() finds the key of one parsed request without
 * copying (the session calls it before policy_pick()). The key is a plain byte string, so a
 * layer-4 mode can hand the same policies the client address alone.
 */
#ifndef LB_HASHKEY_H
#define LB_HASHKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

/* Longest header or cookie name accepted, without its NUL. */
#define HASHKEY_NAME_MAX 63

enum hashkey_kind {
    HASHKEY_CLIENT, /* the client address (the default, and every fallback) */
    HASHKEY_PATH,   /* --hash-key path: the request path without its query */
    HASHKEY_HEADER, /* --hash-key header:NAME: the first NAME header's value */
    HASHKEY_COOKIE, /* --hash-key cookie:NAME: the value of cookie NAME */
};

struct hashkey_spec {
    enum hashkey_kind kind;
    char name[HASHKEY_NAME_MAX + 1]; /* with HEADER and COOKIE: a token (RFC 9110 5.6.2) */
};

/* Parses "path", "header:NAME" or "cookie:NAME" (NAME a token of 1..HASHKEY_NAME_MAX
 * characters) into *spec. Returns 0, or -EINVAL leaving *spec unchanged. */
int hashkey_parse(const char *text, struct hashkey_spec *spec);

/* The key of req under spec, as *key and *key_len pointing into req's buffer, or at
 * client[0..client_len) when spec is HASHKEY_CLIENT or the request lacks the key: no such header
 * or cookie, or an empty value. The path key stops before '?': a query often carries per-request
 * noise (cache busters, timestamps) that would scatter one resource over every backend, and
 * HAProxy's `balance uri` cuts there too. Header names match without regard to case, cookie
 * names exactly (RFC 6265). Returns true when the key came from the request, false when it is
 * the client address. Reads req and writes *key and *key_len, nothing else. */
bool hashkey_get(const struct hashkey_spec *spec, const struct http_request *req,
                 const char *client, size_t client_len, const char **key, size_t *key_len);

#endif
