/*
 * route.c - the routing decision (see route.h).
 */
#include "route.h"

#include <string.h>
#include <strings.h>

/* host[0..len) without its port: "a.b:80" -> "a.b", "[::1]:80" -> "::1". */
static void strip_port(const char **host, size_t *len)
{
    const char *h = *host;
    size_t n = *len;
    if (n > 0 && h[0] == '[') {
        const char *close = memchr(h, ']', n);
        if (close != NULL) {
            *host = h + 1;
            *len = (size_t)(close - h - 1);
        }
        return;
    }
    const char *colon = memchr(h, ':', n);
    if (colon != NULL)
        *len = (size_t)(colon - h);
}

static bool host_matches(const char *pattern, const char *host, size_t len)
{
    if (host == NULL)
        return false;
    strip_port(&host, &len);
    if (len > 0 && host[len - 1] == '.')
        len--; /* "example.org." is "example.org" */
    size_t plen = strlen(pattern);
    if (plen >= 2 && pattern[0] == '*' && pattern[1] == '.') {
        /* "*.x.y": at least one label before ".x.y" */
        size_t slen = plen - 1; /* ".x.y" */
        return len > slen && strncasecmp(host + len - slen, pattern + 1, slen) == 0;
    }
    return len == plen && strncasecmp(host, pattern, len) == 0;
}

static bool header_matches(const struct config_route *route, const struct http_request *r)
{
    size_t nlen = strlen(route->header), vlen = strlen(route->value);
    for (size_t i = 0; i < r->num_headers; i++) {
        const struct http_header *h = &r->headers[i];
        if (h->name_len == nlen && strncasecmp(h->name, route->header, nlen) == 0 &&
            h->value_len == vlen && memcmp(h->value, route->value, vlen) == 0)
            return true;
    }
    return false;
}

bool route_matches(const struct config_route *route, const struct http_request *r)
{
    switch (route->kind) {
    case CONFIG_ROUTE_PATH_PREFIX: {
        size_t plen = strlen(route->value);
        return r->path != NULL && r->path_len >= plen && memcmp(r->path, route->value, plen) == 0;
    }
    case CONFIG_ROUTE_HOST:
        return host_matches(route->value, r->host, r->host_len);
    case CONFIG_ROUTE_HEADER:
        return header_matches(route, r);
    }
    return false;
}

int route_pick(const struct config_route *routes, size_t n, int default_pool,
               const struct http_request *r)
{
    for (size_t i = 0; i < n; i++)
        if (route_matches(&routes[i], r))
            return (int)routes[i].pool;
    return default_pool;
}
