/*
 * l7.h - HTTP/1.x over one reassembled TCP connection: requests parsed from the client's stream,
 * responses from the server's, each response paired with the request it answers.
 *
 * The shared parser (common/http.h) reads every header block; bodies are skipped by their
 * framing (Content-Length, chunked, or until the server closes) through its body tracker, so
 * keep-alive and pipelined requests are followed and each exchange gets its sizes and times.
 * HEAD, 1xx, 204 and 304 responses have no body; interim 1xx responses are skipped; a 101
 * turns the connection into an opaque tunnel. After a reassembly gap the stream resynchronises
 * on the next segment that starts a message (a Content-Length body survives a gap intact).
 *
 * Pure: bytes in, finished exchanges out through a callback. Memory per connection is bounded by
 * the header size limit and the number of pipelined requests kept (L7_MAX_PENDING).
 */
#ifndef LBTRACE_L7_H
#define LBTRACE_L7_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define L7_METHOD_LEN 24
#define L7_PATH_LEN 512
#define L7_HOST_LEN 256
#define L7_ID_LEN 128
#define L7_MAX_PENDING 256

/* One request and its response as seen on one connection. */
struct l7_exchange {
    uint64_t flow_id;
    unsigned index; /* 1, 2, ... on its connection */

    /* the request ("" when only a response was seen) */
    char method[L7_METHOD_LEN];
    char path[L7_PATH_LEN];
    char host[L7_HOST_LEN];
    char request_id[L7_ID_LEN]; /* X-Request-ID on the request, or "" */
    int minor_version;
    uint64_t request_bytes; /* header block + body bytes on the wire */
    uint64_t request_body;  /* body bytes (payload; chunk framing excluded) */
    bool request_seen;      /* a request header block was parsed */
    bool request_complete;  /* and its body ended where its framing said */

    /* the response (status 0: none) */
    int status;
    char response_id[L7_ID_LEN]; /* X-Request-ID on the response, or "" */
    uint64_t response_bytes;
    uint64_t response_body;
    bool response_complete;
    bool chunked;
    bool until_close;
    bool keep_alive;
    unsigned interim; /* 1xx interim responses skipped (100 Continue...) */
    bool upgraded;    /* 101: the connection became a tunnel */

    /* an exchange on a TLS connection: only its records were seen (tlsrec.h guesses one request
     * flight and its response flight); method, path, status and ids are unknown, the byte counts
     * are ciphertext record payloads */
    bool encrypted;
    uint64_t request_records, response_records;

    /* why the exchange is incomplete or odd, or NULL (static text) */
    const char *problem;

    /* capture times, ns; 0 when not seen */
    uint64_t t_request;      /* first byte of the request */
    uint64_t t_request_end;  /* last byte of the request (seen so far, if incomplete) */
    uint64_t t_response;     /* first byte of the (final) response */
    uint64_t t_response_end; /* last byte of the response (seen so far, if incomplete) */
};

/* Receives a finished exchange; the receiver owns it (free() it). */
typedef void (*l7_emit_fn)(void *ctx, struct l7_exchange *ex);

struct l7_conn;

/* A parser for the connection flow_id. Returns NULL when out of memory. */
struct l7_conn *l7_conn_new(uint64_t flow_id, l7_emit_fn emit, void *ctx);

/* Feeds in-order stream bytes: dir 0 from the client (requests), 1 from the server (responses).
 * data == NULL reports a gap of len missing bytes. ts is the capture time in ns. */
void l7_feed(struct l7_conn *c, int dir, const uint8_t *data, size_t len, uint64_t ts);

/* No more bytes will come in dir (FIN, or RST when reset). */
void l7_end(struct l7_conn *c, int dir, bool reset, uint64_t ts);

/* Emits every exchange still open (as incomplete) and frees c. NULL is fine. */
void l7_conn_free(struct l7_conn *c, uint64_t ts);

/* Frees c without emitting anything (the flow is going away). NULL is fine. */
void l7_conn_drop(struct l7_conn *c);

/* Counts for this connection: requests parsed, responses parsed, and whether it is not HTTP. */
unsigned l7_requests(const struct l7_conn *c);
unsigned l7_responses(const struct l7_conn *c);
bool l7_is_tunnel(const struct l7_conn *c);

/* Milliseconds between two capture times (0 when either is 0 or they are reversed). */
double l7_ms(uint64_t from, uint64_t to);

#endif
