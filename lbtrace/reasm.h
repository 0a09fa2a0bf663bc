/*
 * reasm.h - in-order reassembly of one direction of a TCP connection.
 *
 * Segments are handed over in capture order with their sequence numbers; the reassembler hands
 * the byte stream to a callback exactly once and in order. It copes with retransmitted segments
 * (dropped), overlapping ones (only the new bytes are delivered) and out-of-order ones (held
 * until the hole before them fills). Held bytes are bounded: when the bound would be passed, or
 * when the direction ends with a hole still open, it gives up on the hole, reports it to the
 * callback as a gap (data == NULL, len = missing bytes) and carries on after it.
 *
 * Sequence numbers are compared modulo 2^32 (RFC 1982 serial arithmetic), so wrap-around works.
 */
#ifndef LBTRACE_REASM_H
#define LBTRACE_REASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Receives in-order stream bytes, or a gap when data is NULL. ts is the capture time (ns) of the
 * segment that carried the bytes. */
typedef void (*reasm_deliver_fn)(void *ctx, const uint8_t *data, size_t len, uint64_t ts);

/* What reasm_add() made of a segment. */
enum reasm_verdict {
    REASM_IN_ORDER,     /* new bytes at the expected place, delivered */
    REASM_RETRANSMIT,   /* nothing new: every byte was seen before */
    REASM_OVERLAP,      /* part old, part new: the new part kept */
    REASM_OUT_OF_ORDER, /* beyond a hole: held (or, past the bound, a gap was given up) */
    REASM_EMPTY,        /* no payload */
};

struct reasm_seg;

struct reasm {
    /* the stream position: next is the sequence number of the next byte to deliver */
    bool started;
    uint32_t next;
    /* out-of-order segments, sorted by seq, none overlapping next */
    struct reasm_seg *held;
    size_t held_bytes, held_segs;
    size_t max_bytes; /* the bound on held_bytes */
    /* statistics */
    uint64_t delivered;  /* bytes delivered */
    uint64_t gaps;       /* holes given up on */
    uint64_t gap_bytes;  /* bytes missing in them */
};

/* Starts r with no position yet (the first segment sets it, or reasm_start()) and a bound of
 * max_bytes held bytes (0: a default of 4 MiB). */
void reasm_init(struct reasm *r, size_t max_bytes);

/* Sets the position: the next byte expected has sequence number seq (the SYN's seq + 1). */
void reasm_start(struct reasm *r, uint32_t seq);

/* Adds a segment's payload data[0..len) starting at sequence number seq, delivering whatever
 * becomes in order. Returns the verdict. */
enum reasm_verdict reasm_add(struct reasm *r, uint32_t seq, const uint8_t *data, size_t len,
                             uint64_t ts, reasm_deliver_fn deliver, void *ctx);

/* The direction ended (FIN, RST, end of capture): gives up on every hole left and delivers all
 * held bytes, reporting each hole as a gap. */
void reasm_finish(struct reasm *r, reasm_deliver_fn deliver, void *ctx);

/* True when bytes are held beyond a hole. */
bool reasm_has_hole(const struct reasm *r);

/* Frees held segments. r can be reused after reasm_init(). */
void reasm_free(struct reasm *r);

#endif
