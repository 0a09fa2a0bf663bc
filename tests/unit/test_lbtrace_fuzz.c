/* test_lbtrace_fuzz.c - robustness of lbtrace's decoding and reassembly: thousands of random and
 * mutated frames through the whole pipeline on every link type (run under ASan/UBSan by
 * `make test`, where any out-of-bounds read aborts), and a property test of the reassembler
 * against randomly cut, duplicated, overlapping and reordered segments. Seeds are fixed, so a
 * failure reproduces. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decode.h"
#include "lbtrace_pcapgen.h"
#include "lbtrace_scenarios.h"
#include "lbtrace_testrun.h"
#include "reasm.h"

static uint64_t rng_state;

/* Rounds scale with $LBTRACE_FUZZ_SCALE (default 1) for a longer run by hand. */
static int scale(void)
{
    const char *s = getenv("LBTRACE_FUZZ_SCALE");
    int v = s ? atoi(s) : 1;
    return v > 0 ? v : 1;
}

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static struct trace *quiet_trace(int link, FILE **out, char **buf, size_t *len)
{
    struct trace_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.flows.lb_port = 8000;
    cfg.flows.num_backend_ports = 3;
    cfg.flows.backend_ports[0] = 9001;
    cfg.flows.backend_ports[1] = 9002;
    cfg.flows.backend_ports[2] = 9003;
    cfg.flows.max_flows = 64; /* small, so eviction is exercised too */
    cfg.flows.reasm_max_bytes = 4096;
    cfg.out.view = (enum output_view)(rnd() % 3);
    cfg.out.json = rnd() % 2;
    *out = open_memstream(buf, len);
    cfg.out.out = *out;
    return trace_new(&cfg, link);
}

static void test_random_frames_never_crash(void **state)
{
    static const int links[] = {0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 9999};
    uint8_t frame[1600];
    (void)state;
    rng_state = 0x9e3779b97f4a7c15ull;
    for (size_t l = 0; l < sizeof(links) / sizeof(links[0]); l++) {
        FILE *out;
        char *buf = NULL;
        size_t len = 0;
        struct trace *t = quiet_trace(links[l], &out, &buf, &len);
        uint64_t ts = 1;
        for (int i = 0; i < 3000 * scale(); i++) {
            size_t n = rnd() % sizeof(frame);
            for (size_t j = 0; j < n; j++)
                frame[j] = (uint8_t)rnd();
            /* make some frames plausible further down: an IPv4 or IPv6 header after the link */
            if (rnd() % 2 && n > 60) {
                size_t off = links[l] == 1 ? 14 : links[l] == 113 ? 16 : links[l] == 276 ? 20 :
                             links[l] == 0 || links[l] == 108 ? 4 : 0;
                if (links[l] == 1)
                    frame[12] = 0x08, frame[13] = 0;
                frame[off] = rnd() % 2 ? 0x45 : 0x60;
                frame[off + 9] = 6;
                frame[off + 6] = 6;
                frame[off + 6 + 0] = frame[off] == 0x45 ? 0 : 6;
            }
            trace_frame(t, ts += rnd() % 1000000, frame, n);
        }
        trace_finish(t);
        trace_free(t);
        fclose(out);
        free(buf);
    }
}

/* Frames of a real-looking capture, mutated, shuffled, duplicated and cut. */
struct frames {
    uint8_t *data[512];
    size_t len[512];
    size_t n;
    int link;
};

static void load_frames(const char *path, struct frames *fr)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, err);
    struct pcap_pkthdr *h;
    const u_char *bytes;
    assert_non_null(p);
    fr->n = 0;
    fr->link = pcap_datalink(p);
    while (fr->n < 512 && pcap_next_ex(p, &h, &bytes) == 1) {
        fr->data[fr->n] = malloc(h->caplen);
        memcpy(fr->data[fr->n], bytes, h->caplen);
        fr->len[fr->n++] = h->caplen;
    }
    pcap_close(p);
}

/* Feeds fr's frames through a pipeline many times, mostly in order, with random bytes flipped
 * and frames cut anywhere. */
static void mutate_frames(const struct frames *fr)
{
    uint8_t frame[2048];
    for (int round = 0; round < 60 * scale(); round++) {
        FILE *out;
        char *buf = NULL;
        size_t len = 0;
        struct trace *t = quiet_trace(fr->link, &out, &buf, &len);
        uint64_t ts = 1700000000ull * 1000000000ull;
        for (size_t k = 0; k < fr->n * 2; k++) {
            size_t i = rnd() % 4 ? k % fr->n : rnd() % fr->n; /* mostly in order */
            size_t n = fr->len[i] > sizeof(frame) ? sizeof(frame) : fr->len[i];
            memcpy(frame, fr->data[i], n);
            int flips = (int)(rnd() % 4);
            for (int f = 0; f < flips; f++)
                frame[rnd() % n] = (uint8_t)rnd();
            if (rnd() % 8 == 0)
                n = rnd() % (n + 1); /* cut anywhere */
            trace_frame(t, ts += rnd() % 3000000, frame, n);
        }
        trace_finish(t);
        trace_free(t);
        fclose(out);
        free(buf);
    }
}

static void test_mutated_captures_never_crash(void **state)
{
    static const int links[] = {PG_LINK_EN10MB, PG_LINK_SLL, PG_LINK_SLL2, PG_LINK_NULL, PG_LINK_RAW};
    (void)state;
    rng_state = 0x2545f4914f6cdd1dull;
    for (size_t l = 0; l < sizeof(links) / sizeof(links[0]); l++) {
        char *path = temp_pcap();
        struct frames fr;
        if (l % 2)
            scenario_lb_at_work(path, links[l]);
        else
            scenario_messy_tcp(path, links[l]);
        load_frames(path, &fr);
        mutate_frames(&fr);
        for (size_t i = 0; i < fr.n; i++)
            free(fr.data[i]);
        unlink(path);
        free(path);
    }
}

/* The same with TLS legs (records and hellos hit by flipped bytes and cut frames) and with TLS
 * passed through. */
static void test_mutated_tls_captures_never_crash(void **state)
{
    (void)state;
    rng_state = 0x9e3779b97f4a7c15ull;
    for (int k = 0; k < 2; k++) {
        char *path = temp_pcap();
        struct frames fr;
        if (k == 0)
            scenario_tls_legs(path, PG_LINK_EN10MB);
        else
            scenario_tls_passthrough(path, PG_LINK_SLL);
        load_frames(path, &fr);
        mutate_frames(&fr);
        for (size_t i = 0; i < fr.n; i++)
            free(fr.data[i]);
        unlink(path);
        free(path);
    }
}

struct stream_sink {
    uint8_t got[4096];
    size_t len;
    uint64_t gap_bytes;
};

static void sink(void *ctx, const uint8_t *data, size_t len, uint64_t ts)
{
    struct stream_sink *s = ctx;
    (void)ts;
    for (size_t i = 0; i < len && s->len < sizeof(s->got); i++)
        s->got[s->len++] = data ? data[i] : 0;
    if (data == NULL)
        s->gap_bytes += len;
}

struct piece {
    uint32_t off, len;
};

/* Property: whatever order, duplication and overlap the segments come in, if every byte is
 * covered the reassembler delivers exactly the original stream, once, without a gap. */
static void test_reassembly_of_random_segmentations_gives_the_stream(void **state)
{
    uint8_t stream[3000];
    (void)state;
    rng_state = 0x1234567887654321ull;
    for (size_t i = 0; i < sizeof(stream); i++)
        stream[i] = (uint8_t)rnd();
    for (int round = 0; round < 500 * scale(); round++) {
        struct reasm r;
        struct stream_sink s = {0};
        uint32_t isn = rnd();
        size_t total = 1 + rnd() % sizeof(stream);
        struct piece segs[400];
        size_t nseg = 0;
        /* cover the stream with segments, some overlapping their neighbours */
        for (size_t off = 0; off < total && nseg < 300;) {
            size_t len = 1 + rnd() % 200;
            if (off + len > total)
                len = total - off;
            size_t back = off > 0 && rnd() % 4 == 0 ? rnd() % (off < 50 ? off : 50) : 0;
            segs[nseg].off = (uint32_t)(off - back);
            segs[nseg].len = (uint32_t)(len + back);
            nseg++;
            off += len;
        }
        size_t covered_to = segs[nseg - 1].off + segs[nseg - 1].len;
        /* duplicates */
        for (int d = 0; d < 20 && nseg < 400; d++)
        {
            size_t pick = rnd() % nseg;
            segs[nseg] = segs[pick];
            nseg++;
        }
        /* shuffle locally (a real network reorders nearby segments) */
        for (size_t i = 0; i < nseg; i++) {
            size_t j = i + rnd() % 6;
            if (j < nseg) {
                struct piece tmp = segs[i];
                segs[i] = segs[j];
                segs[j] = tmp;
            }
        }
        reasm_init(&r, 1 << 20);
        reasm_start(&r, isn);
        for (size_t i = 0; i < nseg; i++)
            reasm_add(&r, isn + segs[i].off, stream + segs[i].off, segs[i].len, 0, sink, &s);
        reasm_finish(&r, sink, &s);
        assert_int_equal(s.gap_bytes, 0);
        assert_int_equal(s.len, covered_to);
        assert_memory_equal(s.got, stream, covered_to);
        reasm_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_frames_never_crash),
        cmocka_unit_test(test_mutated_captures_never_crash),
        cmocka_unit_test(test_mutated_tls_captures_never_crash),
        cmocka_unit_test(test_reassembly_of_random_segmentations_gives_the_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
