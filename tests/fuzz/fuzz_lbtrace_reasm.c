/*
 * fuzz_lbtrace_reasm.c - libFuzzer target for lbtrace's TCP reassembler (lbtrace/reasm.c).
 *
 * The input is a bound on held bytes and an initial sequence number, then segments: each a
 * signed offset from the initial number (so wrap-around at 2^32 is reached) and a length. The
 * bytes of every segment are a function of their sequence number, so the check is exact: every
 * byte delivered is the byte that belongs at its place in the stream, the stream advances by
 * exactly what was delivered plus what was given up as gaps, nothing is delivered twice, the
 * held bytes stay within the bound, and after reasm_finish() no hole is left.
 */
#include <string.h>

#include "fuzz_check.h"
#include "reasm.h"

static uint8_t byte_at(uint32_t seq)
{
    return (uint8_t)((seq * 2654435761u) >> 24);
}

struct sink {
    bool positioned;
    uint32_t cur;
    uint64_t delivered, gap_bytes, gaps;
};

static void deliver(void *ctx, const uint8_t *data, size_t len, uint64_t ts)
{
    struct sink *s = ctx;
    (void)ts;
    CHECK(s->positioned);
    CHECK(len > 0);
    if (data == NULL) {
        s->gaps++;
        s->gap_bytes += len;
    } else {
        for (size_t i = 0; i < len; i++)
            CHECK(data[i] == byte_at(s->cur + (uint32_t)i));
        s->delivered += len;
    }
    s->cur += (uint32_t)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    struct reasm r;
    struct sink s = {0};
    static uint8_t seg[4096];

    size_t bound = ((size_t)fuzz_u8(&in) + 1) * 32;
    uint32_t isn = fuzz_u32(&in);
    reasm_init(&r, bound);
    if (fuzz_u8(&in) & 1) {
        reasm_start(&r, isn);
        s.positioned = true;
        s.cur = isn;
    }
    while (in.left > 0) {
        int16_t off = (int16_t)fuzz_u16(&in);
        size_t len = fuzz_u8(&in) % 5 == 0 ? 0 : (size_t)(fuzz_u16(&in) % sizeof(seg));
        uint32_t seq = isn + (uint32_t)(int32_t)off * 8;
        for (size_t i = 0; i < len; i++)
            seg[i] = byte_at(seq + (uint32_t)i);
        if (!r.started && len > 0) {
            s.positioned = true;
            s.cur = seq;
        }
        enum reasm_verdict v = reasm_add(&r, seq, seg, len, 1, deliver, &s);
        CHECK(v == REASM_IN_ORDER || v == REASM_RETRANSMIT || v == REASM_OVERLAP ||
              v == REASM_OUT_OF_ORDER || v == REASM_EMPTY);
        CHECK((v == REASM_EMPTY) == (len == 0));
        CHECK(r.held_bytes <= bound);
        CHECK((r.held_bytes == 0) == (r.held_segs == 0));
        if (r.started)
            CHECK(r.next == s.cur);
        CHECK(r.delivered == s.delivered && r.gap_bytes == s.gap_bytes && r.gaps == s.gaps);
    }
    reasm_finish(&r, deliver, &s);
    CHECK(!reasm_has_hole(&r) && r.held_bytes == 0);
    if (r.started)
        CHECK(r.next == s.cur);
    CHECK(r.delivered == s.delivered && r.gap_bytes == s.gap_bytes);
    reasm_free(&r);
    return 0;
}
