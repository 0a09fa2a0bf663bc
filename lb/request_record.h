/*
 * request_record.h - everything lb knows about one finished request, as one record.
 *
 * The session fills it once, when the request is done (answered, refused or abandoned), and
 * hands it to events_request_done(); the access log (access_log.h) prints it and the statistics
 * (stats_writer.h) count it and keep it in the ring of recent requests, both from this same
 * record, so the log line and what lbtop shows cannot disagree about a request.
 *
 * Pointers are valid during that call only. Strings come with their lengths and need no NUL.
 * Durations are in nanoseconds, 0 when unknown or when there was none.
 */
#ifndef LB_REQUEST_RECORD_H
#define LB_REQUEST_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct request_record {
    bool tcp; /* -m tcp: one client connection relayed whole, not an HTTP request */

    /* the request */
    const char *method; /* NULL/0 when its head never arrived */
    size_t method_len;
    const char *path;
    size_t path_len;
    const char *id; /* X-Request-ID as sent to the backend (or lb's own answer) */
    size_t id_len;
    uint64_t bytes_in; /* request body bytes received from the client */

    /* the answer */
    int status;         /* status sent to the client; 0: none (the client went away) */
    uint64_t bytes_out; /* response bytes sent to the client, head included */
    uint64_t spliced;   /* of those bytes both ways, the ones spliced through a pipe (pipebuf.h)
                           instead of copied through lb's buffers */
    bool generated;     /* lb answered itself (400, 408, 502, 503, 504, ...) */
    const char *end;    /* how lb cut the exchange short, a word: "client_timeout" (the client
                           stopped reading its response), "server_timeout" (the backend went
                           silent mid-response); NULL when it was not cut for a timeout */

    /* the backend */
    int backend;      /* index of the backend that answered (or was last tried), -1 if none */
    bool sent;        /* in flight at backend (events_request_sent), no retry since: ends there */
    bool reused;      /* the backend connection came from the idle pool */
    uint32_t retries; /* connection attempts that failed before the one that served */

    /* when, and how long */
    uint64_t wall_ns;       /* when it finished, clock_wall_ns() */
    uint64_t connect_ns;    /* connecting a new backend connection for it (0: reused or none) */
    uint64_t first_byte_ns; /* its first byte to the first response byte (access log) */
    uint64_t ttfb_ns;       /* its head fully sent to the backend to the first response byte */
    uint64_t total_ns;      /* its first byte to the end */

    /* the two legs: client to lb, lb to backend */
    const char *client_text;       /* the client's "addr:port", as the access log prints it */
    const char *backend_name;      /* the backend's display name (struct backend's name, the
                                      name lbtop and lbtrace show); NULL when none was chosen */
    const char *server_text;       /* the backend's "addr:port"; NULL when none served it */
    const struct sockaddr *client; /* the client's address */
    const struct sockaddr *lb_front; /* lb's address on the client connection */
    const struct sockaddr *lb_back;  /* lb's address on the backend connection, NULL if none */
    const struct sockaddr *server;   /* the backend's address, NULL if none */
    uint64_t client_conn_id;         /* this worker's serial number of the client connection */
    uint32_t conn_request;           /* 1 for the first request on that connection */
    bool client_tls;                 /* the client leg is TLS (the HTTPS listener) */
    bool backend_tls;                /* the backend leg is TLS (-b ...,tls) */
};

#endif
