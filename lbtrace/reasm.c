/*
 * reasm.c - one direction's reassembly: a position and a sorted list of held segments.
 *
 * A sorted singly linked list is enough: held segments only exist while a hole is open, which
 * on a loopback capture is rare and short; the byte bound caps the list. Overlaps between held
 * segments are not trimmed at insertion; delivery trims every segment against the position, so
 * each byte is delivered once whichever copy arrived first (first copy wins, as in Linux).
 */
#include "reasm.h"

#include <stdlib.h>
#include <string.h>

#define REASM_DEFAULT_MAX (4u << 20)
#define REASM_MAX_SEGS 4096

struct reasm_seg {
    struct reasm_seg *next;
    uint32_t seq;
    uint32_t len;
    uint64_t ts;
    uint8_t data[];
};

/* Serial-number comparisons (RFC 1982). */
static int32_t seq_diff(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b);
}

void reasm_init(struct reasm *r, size_t max_bytes)
{
    memset(r, 0, sizeof(*r));
    r->max_bytes = max_bytes ? max_bytes : REASM_DEFAULT_MAX;
}

void reasm_start(struct reasm *r, uint32_t seq)
{
    r->started = true;
    r->next = seq;
}

bool reasm_has_hole(const struct reasm *r)
{
    return r->held != NULL;
}

/* Delivers the part of data[0..len)@seq at or after r->next, if it starts at or before it.
 * Returns the number of new bytes delivered. */
static size_t deliver_from(struct reasm *r, uint32_t seq, const uint8_t *data, size_t len,
                           uint64_t ts, reasm_deliver_fn deliver, void *ctx)
{
    int32_t d = seq_diff(r->next, seq); /* bytes already delivered at the segment's start */
    if (d < 0 || (size_t)d >= len)
        return 0;
    size_t fresh = len - (size_t)d;
    deliver(ctx, data + d, fresh, ts);
    r->next += (uint32_t)fresh;
    r->delivered += fresh;
    return fresh;
}

/* Delivers held segments that the position has reached; drops the ones entirely behind it. */
static void drain(struct reasm *r, reasm_deliver_fn deliver, void *ctx)
{
    while (r->held != NULL && seq_diff(r->held->seq, r->next) <= 0) {
        struct reasm_seg *s = r->held;
        r->held = s->next;
        r->held_bytes -= s->len;
        r->held_segs--;
        deliver_from(r, s->seq, s->data, s->len, s->ts, deliver, ctx);
        free(s);
    }
}

/* Gives up on the hole before the first held segment. */
static void skip_hole(struct reasm *r, reasm_deliver_fn deliver, void *ctx)
{
    if (r->held == NULL)
        return;
    uint32_t missing = r->held->seq - r->next;
    r->gaps++;
    r->gap_bytes += missing;
    deliver(ctx, NULL, missing, r->held->ts);
    r->next = r->held->seq;
    drain(r, deliver, ctx);
}

static void hold(struct reasm *r, uint32_t seq, const uint8_t *data, size_t len, uint64_t ts)
{
    struct reasm_seg **pp = &r->held;
    struct reasm_seg *s;

    while (*pp != NULL && seq_diff((*pp)->seq, seq) <= 0) {
        /* an exact duplicate of a held segment is not held twice */
        if ((*pp)->seq == seq && (*pp)->len >= len)
            return;
        pp = &(*pp)->next;
    }
    s = malloc(sizeof(*s) + len);
    if (s == NULL)
        return; /* lost: it will show up as a gap */
    s->seq = seq;
    s->len = (uint32_t)len;
    s->ts = ts;
    memcpy(s->data, data, len);
    s->next = *pp;
    *pp = s;
    r->held_bytes += len;
    r->held_segs++;
}

enum reasm_verdict reasm_add(struct reasm *r, uint32_t seq, const uint8_t *data, size_t len,
                             uint64_t ts, reasm_deliver_fn deliver, void *ctx)
{
    if (len == 0 || data == NULL)
        return REASM_EMPTY;
    if (len > 0x40000000u) /* no segment is this long; refuse rather than wrap */
        return REASM_RETRANSMIT;
    if (!r->started)
        reasm_start(r, seq);

    int32_t d = seq_diff(r->next, seq);
    if (d >= 0) {
        if ((size_t)d >= len)
            return REASM_RETRANSMIT;
        deliver_from(r, seq, data, len, ts, deliver, ctx);
        drain(r, deliver, ctx);
        return d > 0 ? REASM_OVERLAP : REASM_IN_ORDER;
    }
    /* beyond a hole: hold it, giving up on holes while over the bound */
    while (r->held != NULL &&
           (r->held_bytes + len > r->max_bytes || r->held_segs >= REASM_MAX_SEGS))
        skip_hole(r, deliver, ctx);
    if (seq_diff(seq, r->next) > 0 && len > r->max_bytes) {
        /* cannot be held at all: give up on the hole up to it */
        uint32_t missing = seq - r->next;
        r->gaps++;
        r->gap_bytes += missing;
        deliver(ctx, NULL, missing, ts);
        r->next = seq;
        deliver_from(r, seq, data, len, ts, deliver, ctx);
        return REASM_OUT_OF_ORDER;
    }
    if (seq_diff(seq, r->next) <= 0) {
        /* a skipped hole moved the position past seq */
        deliver_from(r, seq, data, len, ts, deliver, ctx);
        drain(r, deliver, ctx);
        return REASM_OUT_OF_ORDER;
    }
    hold(r, seq, data, len, ts);
    return REASM_OUT_OF_ORDER;
}

void reasm_finish(struct reasm *r, reasm_deliver_fn deliver, void *ctx)
{
    while (r->held != NULL)
        skip_hole(r, deliver, ctx);
}

void reasm_free(struct reasm *r)
{
    while (r->held != NULL) {
        struct reasm_seg *s = r->held;
        r->held = s->next;
        free(s);
    }
    r->held_bytes = 0;
    r->held_segs = 0;
}
