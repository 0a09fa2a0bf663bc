/*
 * fuzz_lbtrace.c - libFuzzer target for lbtrace's whole pipeline (lbtrace/trace.c): frames
 * decoded (decode.c), tracked per connection with TCP reassembly (flow.c, reasm.c), read as
 * HTTP (l7.c), client and backend legs paired (pair.c) and printed (output.c, to /dev/null).
 *
 * The input's first byte picks the link type and the output view; the rest is a capture: frames,
 * each a 2-byte big-endian length and that many bytes, captured 1 ms apart, with lb on port 8000
 * and backends on 9001..9003 as in the .pcap fixtures (whose frames are the seed corpus). The
 * sanitizers are the check: no read past a frame, no leak, no use of a freed flow or exchange;
 * and the counts trace_get_stats() reports add up.
 */
#include <string.h>

#include "decode.h"
#include "fuzz_check.h"
#include "trace.h"

static const int links[] = {DECODE_LINK_ETHERNET, DECODE_LINK_NULL, DECODE_LINK_LINUX_SLL,
                            DECODE_LINK_LINUX_SLL2, DECODE_LINK_RAW, DECODE_LINK_LOOP,
                            DECODE_LINK_IPV4, DECODE_LINK_IPV6};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    struct fuzz_in in = {data, size};
    struct trace_config cfg;
    uint64_t ts = UINT64_C(1700000000) * 1000000000u;

    if (devnull == NULL)
        devnull = fopen("/dev/null", "w");
    CHECK(devnull != NULL);
    uint8_t sel = fuzz_u8(&in);
    memset(&cfg, 0, sizeof(cfg));
    cfg.flows.lb_port = 8000;
    for (uint16_t i = 0; i < 3; i++)
        cfg.flows.backend_ports[cfg.flows.num_backend_ports++] = (uint16_t)(9001 + i);
    cfg.flows.reasm_max_bytes = (sel & 0x80) ? 256 : 0;
    cfg.flows.max_flows = (sel & 0x40) ? 2 : 0;
    cfg.out.view = (enum output_view)((sel >> 3) % 3);
    cfg.out.json = sel & 0x20;
    cfg.out.out = devnull;
    int link = links[sel % (sizeof(links) / sizeof(links[0]))];

    struct trace *t = trace_new(&cfg, link);
    CHECK(t != NULL);
    uint64_t frames = 0;
    while (in.left > 0 && !trace_done(t)) {
        size_t want = fuzz_u16(&in) % 2048, len;
        const uint8_t *p = fuzz_bytes(&in, want, &len);
        uint8_t *frame = (uint8_t *)fuzz_dup(p, len);
        trace_frame(t, ts, frame, len);
        free(frame);
        frames++;
        ts += 1000000;
        if (frames % 16 == 0)
            trace_tick(t, ts);
    }
    trace_finish(t);
    const struct trace_stats *st = trace_get_stats(t);
    CHECK(st->frames == frames);
    CHECK(st->tcp_segments + st->not_tcp + st->fragments + st->malformed + st->unsupported ==
          st->frames);
    CHECK(st->paired <= st->records);
    trace_free(t);
    return 0;
}
