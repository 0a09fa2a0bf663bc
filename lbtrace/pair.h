/*
 * pair.h - pairing the two legs of one request through lb: the client leg (client <-> lb) and
 * the backend leg (lb <-> backend).
 *
 * How (in order of preference):
 *  1. by request id: lb adds X-Request-ID to the request it sends the backend and echoes it on
 *     the response to the client, so the client-side response id meets the backend-side request
 *     id. When lb's recent-requests ring (shared memory) is readable, the entry for that id
 *     confirms the pair: its client address and its backend connection's local address must be
 *     the two flows' client ends.
 *  2. by connection (no request id: lb's tcp mode, when lbtrace was not told so; with -m tcp or
 *     lb's segment saying tcp, connpair.h shows such connections whole instead): each client
 *     connection has one backend connection for its whole life. The connection ring names it when available; else
 *     the first backend connection opened after the client connection and not yet taken. The
 *     n-th exchange on one is paired with the n-th on the other, and the record says whether the
 *     backend leg carried the client's bytes unchanged (same length and hash each way).
 *  3. where one leg is TLS (lb's HTTPS listener on the client leg, TLS towards a backend), that
 *     leg's exchanges are encrypted (tlsrec.h: a flight of records each way, no id to read):
 *     - by lb's ring: its entry for the n-th request on a client connection gives the request id
 *       (which the backend leg carries in clear) and the backend connection's local address;
 *       an id read on a plain client leg gives the backend connection likewise;
 *     - by timing, when there is no ring (a saved capture) or it never names the request: the
 *       oldest waiting exchange on the other leg that lies inside this one (the backend request
 *       sent after the client's request began and before its response ended, the backend's
 *       response begun before the client's ended), once a plain leg with an id has waited the
 *       linger time for a partner by that id. Right for requests that do not overlap;
 *       concurrent requests on several connections can be swapped, and the record says it was
 *       paired by timing.
 * A client exchange that finds no backend leg within a grace time is reported alone (lb answered
 * it itself: 503, 504, 400...); a backend exchange without a client leg (a health check) too.
 * When the ring is readable, a record's backend flow also gets the backend's name (flow.name)
 * before it is emitted.
 *
 * Pure: capture time is passed in; nothing here does I/O. Records come out through a callback in
 * the order they become ready.
 */
#ifndef LBTRACE_PAIR_H
#define LBTRACE_PAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "l7.h"

enum pair_how {
    PAIR_NONE,       /* one leg only */
    PAIR_REQUEST_ID, /* matched by X-Request-ID */
    PAIR_CONNECTION, /* matched by the connection pairing (tcp mode) */
    PAIR_LB_RING,    /* one leg encrypted: lb's ring named the request on the other */
    PAIR_TIMING,     /* one leg encrypted, no ring: matched by timing */
};

struct pair_leg {
    struct flow *flow;       /* held while the record lives; NULL when the leg is missing */
    struct l7_exchange *ex;  /* NULL when the leg is missing */
};

struct pair_record {
    uint64_t number;            /* 1, 2, ... in order of output */
    struct pair_leg client, backend;
    enum pair_how how;
    const char *request_id;     /* points into an exchange, "" when none */
    int confirmed;              /* 1: lb's ring agrees; 0: it disagrees; -1: not checked */
    int bytes_identical;        /* PAIR_CONNECTION: 1 same bytes both ways, 0 not; -1 unknown */
};

/* What lb says about itself in its shared memory: which mode it runs in. */
enum pair_lb_mode {
    PAIR_LB_UNKNOWN, /* no segment (lb not running, or a saved capture) */
    PAIR_LB_HTTP,    /* lb -m http: requests balanced one by one */
    PAIR_LB_TCP,     /* lb -m tcp: whole connections relayed (connpair.h pairs them) */
};

/* lb's own record of one connection it relayed in tcp mode (a ring entry of kind tcp). */
struct pair_ring_conn {
    struct flow_addr client;   /* the client's address and port */
    struct flow_addr lb_front; /* lb's end of the client connection */
    struct flow_addr lb_back;  /* lb's end of the backend connection (family 0: none) */
    struct flow_addr server;   /* the backend's address and port */
    uint64_t conn_id;          /* lb's serial number of the client connection in its worker */
    unsigned worker;
    int backend_index;         /* -1: no backend was reached */
    uint64_t bytes_in;         /* bytes lb read from the client */
    uint64_t bytes_out;        /* bytes lb wrote to the client */
    uint64_t connect_ns;       /* connecting to the backend */
    uint64_t total_ns;         /* the connection's life in lb */
};

/* lb's recent-requests ring, as a lookup (see shmring.h); any function may be NULL. */
struct pair_ring_ops {
    void *ctx;
    /* The entry for request id: the client's address and the backend connection's local
     * address. Returns true when found. */
    bool (*by_id)(void *ctx, const char *id, struct flow_addr *client,
                  struct flow_addr *backend_local);
    /* The backend connection's local address for a client connection. True when found. */
    bool (*by_client)(void *ctx, const struct flow_addr *client, struct flow_addr *backend_local);
    /* The name lb gives the backend it reached at server, for a request with id ("" when none
     * is known), into name[len]. True when found. */
    bool (*backend_name)(void *ctx, const char *id, const struct flow_addr *server, char *name,
                         size_t len);
    /* The mode of the lb whose segment is attached now (PAIR_LB_UNKNOWN when none). */
    enum pair_lb_mode (*mode)(void *ctx);
    /* lb's tcp-mode record of the connection from client, into *out. True when found (lb
     * writes it when the connection ends). */
    bool (*tcp_conn)(void *ctx, const struct flow_addr *client, struct pair_ring_conn *out);
    /* The n-th request (1, 2, ...) on the client connection from client: its request id into
     * id[id_len] ("" when lb sent none) and the backend connection's local address (family 0
     * when none). True when found. */
    bool (*by_conn_request)(void *ctx, const struct flow_addr *client, unsigned n, char *id,
                            size_t id_len, struct flow_addr *backend_local);
};

typedef void (*pair_emit_fn)(void *ctx, const struct pair_record *r);

struct pair_engine;

/* grace_ns: how long a leg waits for its partner (0: 2 s); linger_ns: how long a finished pair
 * waits for its connections to close so that its L4 facts are final (0: 200 ms). */
struct pair_engine *pair_new(struct flow_table *flows, pair_emit_fn emit, void *ctx,
                             uint64_t grace_ns, uint64_t linger_ns);

void pair_set_ring(struct pair_engine *pe, const struct pair_ring_ops *ops);

/* A flow opened (for the connection pairing). */
void pair_flow_opened(struct pair_engine *pe, struct flow *f);

/* A flow closed (its records may now be final). */
void pair_flow_closed(struct pair_engine *pe, struct flow *f, uint64_t now);

/* A finished exchange on flow f; pe takes ownership of ex. Exchanges on flows that are neither
 * client nor backend legs are reported alone. */
void pair_add(struct pair_engine *pe, struct flow *f, struct l7_exchange *ex, uint64_t now);

/* Emits what is ready at capture time now. */
void pair_tick(struct pair_engine *pe, uint64_t now);

/* Emits everything still waiting (end of capture). */
void pair_flush(struct pair_engine *pe);

/* Frees pe (call pair_flush first to see what was waiting). Releases held flows. */
void pair_free(struct pair_engine *pe);

/* Counts: records emitted, and of them paired. */
uint64_t pair_emitted(const struct pair_engine *pe);
uint64_t pair_paired(const struct pair_engine *pe);

#endif
