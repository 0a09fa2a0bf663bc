/*
 * flow.h - TCP connection tracking: one struct flow per connection, keyed by its 4-tuple.
 *
 * Each flow knows which side opened it (the client: the SYN's sender, or, when the capture began
 * mid-connection, the side not on a known server port), its handshake and handshake round-trip
 * time, FIN and RST in each direction, segments, bytes and retransmissions each way, and a
 * reassembler per direction whose in-order bytes go to the caller's hooks. Whether a flow is a
 * client leg (server port = lb's port) or a backend leg (server port in the backend set) is
 * decided when it is created.
 *
 * The table owns the flows. A flow is handed to the hooks while it lives; a caller that keeps a
 * pointer past the closed hook takes a reference (flow_hold) and drops it (flow_release).
 * Pure: no I/O; time comes from the packets (capture timestamps, nanoseconds).
 */
#ifndef LBTRACE_FLOW_H
#define LBTRACE_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode.h"
#include "reasm.h"

#define FLOW_MAX_BACKEND_PORTS 64
#define FLOW_MAX_LB_PORTS 8 /* lb's listeners: the plain one and others (HTTPS) */

/* Room for a backend's name as lb shows it (common/stats.h's STATS_TEXT_LEN). */
#define FLOW_NAME_LEN 64

struct flow_addr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    uint16_t port;
};

enum flow_leg {
    FLOW_LEG_OTHER,   /* neither: traffic on an unrelated port pair the filter let through */
    FLOW_LEG_CLIENT,  /* a client talking to lb */
    FLOW_LEG_BACKEND, /* lb talking to a backend */
};

/* Index into flow->dir[]: from the connection's client to its server, and back. */
#define FLOW_C2S 0
#define FLOW_S2C 1

struct flow_dir {
    uint64_t segments;        /* every segment sent this way */
    uint64_t bytes;           /* payload bytes on the wire, retransmissions included */
    uint64_t retransmissions; /* segments carrying only bytes already seen (or a repeated SYN) */
    uint64_t out_of_order;    /* segments that arrived beyond a hole */
    bool syn, fin, rst;
    bool ended;               /* no more stream bytes this way: the end hook has run */
    bool fin_pending;         /* FIN seen, bytes before it still missing */
    uint32_t isn;
    uint32_t fin_seq;
    uint64_t stream_hash;     /* FNV-1a 64 of the bytes delivered in order */
    struct reasm reasm;
};

struct tlsrec;

struct flow {
    uint64_t id; /* 1, 2, ... in order of appearance */
    struct flow_addr cli, srv;
    enum flow_leg leg;
    bool midstream; /* no SYN seen: the capture began after the handshake */
    /* a backend leg: the name lb gives the backend at srv (what its access log, lbtop and
     * lbtrace show), learnt from lb's shared memory; "" while unknown (the address stands in) */
    char name[FLOW_NAME_LEN];
    struct flow_dir dir[2];
    /* the TLS record layer when the connection carries TLS (its reader belongs to trace.c, which
     * sets it when the first bytes look like a TLS record and frees it with the flow), else NULL */
    struct tlsrec *tls;

    uint64_t first_ts, last_ts;
    uint64_t syn_ts, synack_ts, established_ts; /* 0 when not seen */
    uint64_t closed_ts;
    bool closed; /* both FINs, or a RST: the closed hook has run */
    bool reset;

    void *user; /* the caller's per-flow state (set in the opened hook) */

    /* private to flow.c */
    int refs;
    bool linked;
    struct flow *hash_next;
    struct flow *prev, *next;
};

/* The caller's callbacks; any may be NULL. dir is FLOW_C2S or FLOW_S2C. */
struct flow_hooks {
    void *ctx;
    void (*opened)(void *ctx, struct flow *f);
    /* every segment, after the flow's counters were updated; verdict from the reassembler */
    void (*segment)(void *ctx, struct flow *f, int dir, const struct decode_packet *p,
                    enum reasm_verdict verdict, uint64_t ts);
    /* in-order stream bytes; data == NULL reports a gap of len bytes given up on */
    void (*data)(void *ctx, struct flow *f, int dir, const uint8_t *data, size_t len,
                 uint64_t ts);
    /* no more bytes will come this way (FIN reached, RST, or flushed) */
    void (*end)(void *ctx, struct flow *f, int dir, bool rst, uint64_t ts);
    /* the connection is over (or flushed); runs once, after both end hooks */
    void (*closed)(void *ctx, struct flow *f, uint64_t ts);
    /* the flow is about to be freed: release f->user */
    void (*destroy)(void *ctx, struct flow *f);
};

struct flow_config {
    uint16_t lb_port;                               /* 0: none */
    uint16_t more_lb_ports[FLOW_MAX_LB_PORTS];      /* lb's other listeners (its HTTPS port) */
    size_t num_more_lb_ports;
    uint16_t backend_ports[FLOW_MAX_BACKEND_PORTS];
    size_t num_backend_ports;
    size_t reasm_max_bytes; /* per direction; 0: the reassembler's default */
    size_t max_flows;       /* 0: 65536; beyond it the oldest flow is flushed */
    uint64_t linger_ns;     /* how long a closed flow absorbs late packets; 0: 2 s */
    uint64_t idle_ns;       /* an open flow silent this long is flushed; 0: 300 s */
};

struct flow_table;

/* Returns a table, or NULL when out of memory. The config and hooks are copied. */
struct flow_table *flow_table_new(const struct flow_config *cfg, const struct flow_hooks *hooks);

/* Accounts one decoded segment captured at ts (ns). */
void flow_table_packet(struct flow_table *t, const struct decode_packet *p, uint64_t ts);

/* Flushes open flows idle since before now - idle and forgets closed ones past their linger. */
void flow_table_expire(struct flow_table *t, uint64_t now);

/* End of capture: every open flow is finished (holes given up, end and closed hooks run). */
void flow_table_flush(struct flow_table *t, uint64_t now);

/* Frees the table and every flow (flows still referenced are freed too: call last). */
void flow_table_free(struct flow_table *t);

/* Counts: connections seen (with or without SYN) and flows alive now. */
uint64_t flow_table_total(const struct flow_table *t);
size_t flow_table_live(const struct flow_table *t);

/* Reference counting for pointers kept past the closed hook. */
void flow_hold(struct flow *f);
void flow_release(struct flow_table *t, struct flow *f);

/* Classifies a server port: FLOW_LEG_CLIENT for lb's ports, FLOW_LEG_BACKEND for a backend port. */
enum flow_leg flow_classify_port(const struct flow_config *cfg, uint16_t port);

/* Handshake round-trip time (SYN to the ACK of the SYN-ACK), or 0 when not seen. */
uint64_t flow_handshake_ns(const struct flow *f);

/* Writes "1.2.3.4:80" or "[::1]:80". Returns buf. */
char *flow_addr_str(const struct flow_addr *a, char *buf, size_t len);

/* Writes the address without port. Returns buf. */
char *flow_ip_str(const struct flow_addr *a, char *buf, size_t len);

/* True when both are the same address and port. */
bool flow_addr_equal(const struct flow_addr *a, const struct flow_addr *b);

#endif
