/*
 * endpoint.h - backend-sim's routing: which endpoint a request path names and its arguments,
 * checked against the configured caps. Pure string work on the path, so it is unit-tested
 * without sockets; the server decides what to do with methods and bodies.
 *
 *   /                 ENDPOINT_PAGE        /whoami        ENDPOINT_WHOAMI
 *   /health           ENDPOINT_HEALTH      /admin/health  ENDPOINT_ADMIN_HEALTH
 *   /headers          ENDPOINT_HEADERS     /echo          ENDPOINT_ECHO
 *   /delay/MS         ENDPOINT_DELAY       /status/CODE   ENDPOINT_STATUS
 *   /flaky?p=P        ENDPOINT_FLAKY       /bytes/N       ENDPOINT_BYTES
 *   /chunked/N?gap=MS&chunk=SIZE           ENDPOINT_CHUNKED
 *   /hang  /reset  /close[/N]  /login  /upgrade
 *   anything else     ENDPOINT_FILE (a static file under --docroot, or 404)
 * The query string is ignored except for the parameters named above.
 */
#ifndef LBLAB_ENDPOINT_H
#define LBLAB_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum endpoint_kind {
    ENDPOINT_BAD, /* a known endpoint with a bad argument or one beyond a cap: 400 + message */
    ENDPOINT_PAGE,
    ENDPOINT_WHOAMI,
    ENDPOINT_HEALTH,
    ENDPOINT_ADMIN_HEALTH,
    ENDPOINT_HEADERS,
    ENDPOINT_ECHO,
    ENDPOINT_DELAY,
    ENDPOINT_STATUS,
    ENDPOINT_FLAKY,
    ENDPOINT_BYTES,
    ENDPOINT_CHUNKED,
    ENDPOINT_HANG,
    ENDPOINT_RESET,
    ENDPOINT_CLOSE,
    ENDPOINT_LOGIN,
    ENDPOINT_UPGRADE,
    ENDPOINT_FILE,
};

/* Defaults of the optional arguments. */
#define ENDPOINT_FLAKY_DEFAULT_P 0.5
#define ENDPOINT_CHUNK_DEFAULT   1024u
#define ENDPOINT_CHUNK_MAX       (1u << 20)
#define ENDPOINT_CLOSE_DEFAULT_N 1024u

struct endpoint_caps {
    uint64_t max_size;     /* /bytes/N, /chunked/N, /close/N */
    uint32_t max_delay_ms; /* /delay/MS, and the sum of /chunked gaps */
};

struct endpoint_route {
    enum endpoint_kind kind;
    uint64_t n;       /* BYTES, CHUNKED, CLOSE: body size */
    uint32_t ms;      /* DELAY: the delay; CHUNKED: the gap between chunks */
    uint32_t chunk;   /* CHUNKED: payload bytes per chunk */
    int status;       /* STATUS: the code */
    double p;         /* FLAKY: probability of a 500 */
    const char *path; /* the path without the query (points into the input) */
    size_t path_len;
    char message[160]; /* BAD: why, for the 400 body */
};

/* Routes path[0..len) (origin-form: path and optional query). Always fills *route; returns its
 * kind. */
enum endpoint_kind endpoint_route(const char *path, size_t len, const struct endpoint_caps *caps,
                                  struct endpoint_route *route);

/* Finds parameter name in the query string q[0..len) ("a=1&b=2", without the '?'). Returns true
 * and the raw (undecoded) value when present; a parameter without '=' has an empty value. */
bool endpoint_query_param(const char *q, size_t len, const char *name, const char **value,
                          size_t *value_len);

/* A short name of the endpoint for logs ("bytes", "file", ...). */
const char *endpoint_name(enum endpoint_kind kind);

#endif
