/*
 * trace.h - the pipeline from captured frames to printed requests: decode -> flow (with
 * reassembly) -> l7 (HTTP) or tlsrec (TLS records) -> pair -> output. It owns one instance of
 * each stage and wires their callbacks together; main feeds it frames from capture.c, the tests
 * feed it frames from .pcap fixtures. Pure apart from writing to the output FILE.
 */
#ifndef LBTRACE_TRACE_H
#define LBTRACE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "connpair.h"
#include "flow.h"
#include "output.h"
#include "pair.h"

/* What lb balances: requests (http) or whole connections (tcp). AUTO asks lb's shared memory
 * (trace_set_ring) as each connection opens, and is http when there is none. */
enum trace_mode { TRACE_MODE_AUTO, TRACE_MODE_HTTP, TRACE_MODE_TCP };

struct trace_config {
    struct flow_config flows; /* lb's port, the backend ports, bounds */
    enum trace_mode mode;
    struct output_opts out;
    uint64_t count;     /* stop after this many (0: no limit): requests with a client leg (in
                           tcp mode: connections with one), or segments with --view l4 */
    uint64_t grace_ns;  /* see pair_new(); 0: defaults */
    uint64_t linger_ns;
};

struct trace_stats {
    uint64_t frames;
    uint64_t tcp_segments;
    uint64_t not_tcp, fragments, malformed, unsupported;
    uint64_t requests;  /* request header blocks parsed, every leg */
    uint64_t responses; /* final responses parsed */
    uint64_t exchanges; /* exchanges finished (complete or not) */
    uint64_t records, paired; /* records emitted, of them with both legs */
    uint64_t confirmed, contradicted; /* pairs lb's ring agreed / disagreed with */
    uint64_t tcp_connections; /* tcp mode: connection records emitted (paired ones counted
                                 in records and paired too) */
    uint64_t printed;   /* what counts against -c */
    uint64_t gaps;      /* holes the reassembler gave up on */
    uint64_t tls_connections; /* connections whose bytes are TLS records (tlsrec.h) */
    uint64_t tls_exchanges;   /* request and response flights guessed on them */
};

struct trace;

/* A pipeline for frames of link type link. Returns NULL when out of memory. */
struct trace *trace_new(const struct trace_config *cfg, int link);

/* Uses lb's recent-requests ring to confirm and complete pairings and to name backends. */
void trace_set_ring(struct trace *t, const struct pair_ring_ops *ops);

/* Feeds one frame captured at ts (ns). */
void trace_frame(struct trace *t, uint64_t ts, const uint8_t *data, size_t caplen);

/* Lets time pass with no frame (a quiet live capture): emits what is due. */
void trace_tick(struct trace *t, uint64_t now);

/* End of capture: finishes every connection and emits everything still waiting (nothing is
 * printed beyond the count). */
void trace_finish(struct trace *t);

/* True once the count was reached. */
bool trace_done(const struct trace *t);

/* Connections seen so far. */
uint64_t trace_connections(const struct trace *t);

const struct trace_stats *trace_get_stats(const struct trace *t);

/* The message for the last malformed frame ("" if none). */
const char *trace_last_error(const struct trace *t);

void trace_free(struct trace *t);

#endif
