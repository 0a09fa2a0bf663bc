/*
 * fuzz_lbtrace_tls.c - libFuzzer target for lbtrace's TLS record reader (lbtrace/tlsrec.c).
 *
 * The input is a sequence of chunks, each one byte of flags (bit 0: the direction, bit 1: a gap
 * instead of bytes, bit 2: let the exchange idle out before this chunk) and a 2-byte big-endian
 * length, then (unless a gap) that many bytes, fed as one piece of in-order stream. The bytes are
 * copied to a buffer of exactly their length, so ASan sees any read past a piece; and the counts
 * tlsrec reports add up: every byte fed is counted once in its direction, the strings stay
 * terminated inside their buffers, exchanges are numbered 1, 2, ... in order and their times
 * never run backwards.
 */
#include <string.h>

#include "fuzz_check.h"
#include "tlsrec.h"

struct sink {
    unsigned last_index;
    uint64_t emitted;
};

static void on_exchange(void *ctx, const struct tlsrec_exchange *ex)
{
    struct sink *s = ctx;
    CHECK(ex->index == s->last_index + 1);
    s->last_index = ex->index;
    s->emitted++;
    CHECK(ex->request_records > 0);
    CHECK(ex->t_request <= ex->t_request_end);
    CHECK(ex->response_records == 0 || ex->t_response <= ex->t_response_end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    struct sink sink = {0, 0};
    uint64_t fed[2] = {0, 0};
    uint64_t ts = 1000000;
    struct tlsrec *t = tlsrec_new(on_exchange, &sink);
    CHECK(t != NULL);
    while (in.left > 0) {
        uint8_t flags = fuzz_u8(&in);
        size_t want = fuzz_u16(&in), len;
        int dir = flags & 1;
        if (flags & 4)
            tlsrec_idle(t, ts + 1000000000u, 200000000u);
        if (flags & 2) {
            tlsrec_feed(t, dir, NULL, want, ts);
            fed[dir] += want;
        } else {
            const uint8_t *p = fuzz_bytes(&in, want, &len);
            uint8_t *piece = (uint8_t *)fuzz_dup(p, len);
            tlsrec_feed(t, dir, piece, len, ts);
            free(piece);
            fed[dir] += len;
        }
        ts += 1000000;
    }
    tlsrec_finish(t);
    const struct tlsrec_info *info = tlsrec_info(t);
    for (int d = 0; d < 2; d++) {
        CHECK(info->dir[d].bytes + info->dir[d].unparsed_bytes >= fed[d]);
        CHECK(info->dir[d].unparsed_bytes <= fed[d]);
        CHECK(info->dir[d].data_bytes <= info->dir[d].app_bytes);
        CHECK(info->dir[d].handshake_records + info->dir[d].ccs_records +
                  info->dir[d].alert_records + info->dir[d].app_records ==
              info->dir[d].records);
    }
    CHECK(memchr(info->sni, '\0', sizeof(info->sni)) != NULL);
    CHECK(memchr(info->alpn_offered, '\0', sizeof(info->alpn_offered)) != NULL);
    CHECK(memchr(info->alpn, '\0', sizeof(info->alpn)) != NULL);
    CHECK(info->exchanges == sink.emitted);
    tlsrec_free(t);
    return 0;
}
