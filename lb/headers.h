/*
 * headers.h - rewriting request and response heads on their way through lb.
 *
 * Pure functions over what common/http.h parsed: they write a new head into a caller buffer and
 * touch nothing else, so every rule is unit-tested with strings. The rules (RFC 9110 7.6.1):
 * hop-by-hop fields (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
 * Upgrade, and every field named in Connection) are removed in both directions, except that the
 * framing fields lb relays verbatim (Content-Length, Transfer-Encoding: chunked, Host) are never
 * removed because a client named them in Connection; X-Forwarded-For is merged into ONE line
 * with the client address appended; X-Forwarded-Proto is set; X-Request-ID is kept when the
 * client sent one valid id, else lb's is added, and the response carries the same id.
 */
#ifndef LB_HEADERS_H
#define LB_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "http.h"

/* Longest X-Request-ID lb accepts from a client (longer or odd ones are replaced). */
#define HEADERS_MAX_REQUEST_ID 128

struct headers_request_opts {
    const char *client_ip;  /* appended to X-Forwarded-For */
    const char *proto;      /* X-Forwarded-Proto value, "http" */
    const char *request_id; /* the id to send when the client sent no valid one */
    size_t request_id_len;
    const char *default_host; /* Host to send when the request has none (HTTP/1.0) */
    bool close;               /* add "Connection: close": the backend connection is not reused */
};

/* The client's X-Request-ID if it sent exactly one, 1..HEADERS_MAX_REQUEST_ID visible ASCII
 * characters; else false. */
bool headers_client_request_id(const struct http_request *req, const char **id, size_t *len);

/* The value of cookie name in a request's Cookie fields, read as RFC 6265 section 4.2 sends
 * them: "a=1; b=2", pairs separated by ';' and optional whitespace, a pair without '=' skipped.
 * Every Cookie field is searched (an HTTP/1.1 client sends one, proxies sometimes several); the
 * first non-empty value wins, taken as sent, quotes included. Names match exactly. Returns false
 * when there is none. */
bool headers_find_cookie(const struct http_header *headers, size_t n, const char *name,
                         const char **value, size_t *value_len);

/* Writes the head to send to a backend: "METHOD origin-form HTTP/1.1", the client's fields minus
 * hop-by-hop ones, then X-Forwarded-For, X-Forwarded-Proto, X-Request-ID (when added) and the
 * connection fields. Returns its length, or -ENOSPC when it does not fit in cap. */
ssize_t headers_rewrite_request(const struct http_request *req,
                                const struct headers_request_opts *opts, char *out, size_t cap);

/* Changes the Host field that headers_rewrite_request() added from default_host (the request
 * had none) to host, when a request moves to another backend. head[0..len) is the rewritten
 * head, cap the size of its buffer. Returns the new length, or -ENOSPC (head unchanged) when it
 * does not fit, or -ENOENT when head has no Host field. */
ssize_t headers_replace_host(char *head, size_t len, size_t cap, const char *host);

enum headers_connection {
    HEADERS_CONN_NONE,       /* HTTP/1.1 client kept alive: no Connection field needed */
    HEADERS_CONN_KEEP_ALIVE, /* HTTP/1.0 client kept alive: "Connection: keep-alive" */
    HEADERS_CONN_CLOSE,      /* "Connection: close" */
    HEADERS_CONN_UPGRADE,    /* 101: keep Upgrade, "Connection: upgrade" */
};

struct headers_response_opts {
    const char *request_id;
    size_t request_id_len;
    bool keep_chunked; /* relay the chunked body verbatim: keep Transfer-Encoding */
    enum headers_connection connection;
    /* sticky sessions: add "Set-Cookie: NAME=VALUE; Path=/; HttpOnly; SameSite=Lax" unless the
     * backend's response sets a cookie of that name itself (NULL: add nothing) */
    const char *cookie_name;
    const char *cookie_value;
};

/* Writes the head to send to the client: "HTTP/1.1 STATUS REASON", the backend's fields minus
 * hop-by-hop ones and X-Request-ID, then X-Request-ID and the connection field. Returns its
 * length, or -ENOSPC. */
ssize_t headers_rewrite_response(const struct http_response *res,
                                 const struct headers_response_opts *opts, char *out, size_t cap);

#endif
