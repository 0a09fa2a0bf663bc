/*
 * connpair.h - pairing whole connections through lb in tcp mode (lb -m tcp): lb gives each
 * client connection one backend connection for its whole life and copies the bytes both ways
 * without reading them, so the unit to show is the connection, not the request.
 *
 * How a client connection (client <-> lb) finds its backend connection (lb <-> backend):
 *  1. by lb's ring: when lb's shared memory is readable, the tcp entry lb writes as the
 *     connection ends names the client's address and lb's end of the backend connection;
 *  2. by timing otherwise (a saved capture, lb not running): lb connects to a backend as soon
 *     as it accepts a client, so each backend connection goes to the oldest client connection
 *     still without one that opened before it (within the grace time).
 * A pair is reported once both connections have closed: the TCP facts of both legs, the bytes
 * each way on each leg and whether the relay carried them unchanged (same length and same hash
 * client->lb as lb->backend, after any PROXY protocol header lb put in front, and backend->lb as
 * lb->client), lb's own record of it when the ring
 * had one, and the HTTP requests seen on the client leg, each marked when the backend leg
 * carried it too: all of them reached the one backend. A client connection with no backend
 * connection (lb found none) and a backend connection with no client (lb's own: a health check)
 * are reported alone.
 *
 * Pure: capture time is passed in; nothing here does I/O. Records come out through a callback.
 */
#ifndef LBTRACE_CONNPAIR_H
#define LBTRACE_CONNPAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "l7.h"
#include "pair.h"

#define CONNPAIR_MAX_REQUESTS 64 /* listed per connection; more are only counted */

enum connpair_how {
    CONNPAIR_NONE,   /* one leg only */
    CONNPAIR_RING,   /* lb's ring named the backend connection */
    CONNPAIR_TIMING, /* the backend connection opened next after the client connection */
};

/* One request seen on the client leg. */
struct connpair_request {
    const struct l7_exchange *ex;
    bool on_backend; /* the backend leg carried the same request at the same place */
};

struct connpair_record {
    uint64_t number;                /* 1, 2, ... in order of output */
    const struct flow *client;      /* NULL when the leg is missing */
    const struct flow *backend;     /* NULL when the leg is missing */
    enum connpair_how how;
    int confirmed;                  /* 1: lb's ring names this backend connection; 0: it names
                                       another one; -1: not checked */
    bool have_lb;                   /* lb's record of the connection was found: */
    struct pair_ring_conn lb;
    /* the relay's bytes, stream bytes delivered in order on each leg (retransmissions once) */
    uint64_t client_to_lb, lb_to_backend, backend_to_lb, lb_to_client;
    uint64_t proxy_header;          /* bytes of PROXY header lb sent before lb_to_backend (-b
                                       ...,send-proxy); 0: none */
    int same_up;                    /* client->lb equals lb->backend: 1, 0, -1 unknown (gaps) */
    int same_down;                  /* backend->lb equals lb->client: 1, 0, -1 unknown */
    const struct connpair_request *requests; /* the client leg's requests, in order */
    size_t nrequests;
    uint64_t more_requests;         /* beyond CONNPAIR_MAX_REQUESTS, not listed */
    unsigned backend_requests;      /* requests parsed on the backend leg */
};

typedef void (*connpair_emit_fn)(void *ctx, const struct connpair_record *r);

struct connpair;

/* grace_ns: how long apart a client connection and its backend connection may open, and how
 * long a lone backend connection waits for a client (0: 2 s); linger_ns: how long a closed pair
 * waits for lb's ring entry (0: 200 ms). Returns NULL when out of memory. */
struct connpair *connpair_new(struct flow_table *flows, connpair_emit_fn emit, void *ctx,
                              uint64_t grace_ns, uint64_t linger_ns);

void connpair_set_ring(struct connpair *cp, const struct pair_ring_ops *ops);

/* A client or backend flow opened. Other flows are ignored. */
void connpair_flow_opened(struct connpair *cp, struct flow *f);

/* In-order stream bytes of flow f (the flow's data hook). Returns how many bytes at the start
 * of data are a PROXY protocol header (v1 or v2, whole in the backend leg's first bytes) that lb
 * put in front of the client's bytes: the caller does not parse them as HTTP, and the pairing
 * compares what follows them with what the client sent. */
size_t connpair_data(struct connpair *cp, struct flow *f, int dir, const uint8_t *data, size_t len);

/* A finished exchange on flow f; cp takes ownership of ex. One without a request (bytes that
 * are not HTTP) is not listed. */
void connpair_add(struct connpair *cp, struct flow *f, struct l7_exchange *ex);

/* A flow closed (its pair may now be final). */
void connpair_flow_closed(struct connpair *cp, struct flow *f, uint64_t now);

/* Emits what is ready at capture time now. */
void connpair_tick(struct connpair *cp, uint64_t now);

/* Emits everything still waiting (end of capture). */
void connpair_flush(struct connpair *cp);

/* Frees cp (call connpair_flush first to see what was waiting). NULL is fine. */
void connpair_free(struct connpair *cp);

/* Counts: records emitted, and of them with both legs. */
uint64_t connpair_emitted(const struct connpair *cp);
uint64_t connpair_paired(const struct connpair *cp);

#endif
