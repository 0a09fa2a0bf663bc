/* test_lbtrace_tls.c - lbtrace/tlsrec.c, the TLS record layer read from outside: the handshake
 * in clear (SNI, ALPN, versions, HelloRetryRequest, resumption, alerts), when it finished, record
 * counts and sizes, request/response flights, and hostile input: records and hellos split at
 * every byte, truncated, lying lengths, garbage, gaps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbtrace_tlsgen.h"
#include "tlsrec.h"

#define MS 1000000ull

struct seen {
    struct tlsrec_exchange ex[16];
    size_t n;
};

static void on_exchange(void *ctx, const struct tlsrec_exchange *ex)
{
    struct seen *s = ctx;
    if (s->n < 16)
        s->ex[s->n] = *ex;
    s->n++;
}

/* Feeds p[0..n) in pieces of step bytes (0: at once). */
static void feed(struct tlsrec *t, int dir, const uint8_t *p, size_t n, size_t step, uint64_t ts)
{
    if (step == 0)
        step = n ? n : 1;
    for (size_t off = 0; off < n; off += step)
        tlsrec_feed(t, dir, p + off, n - off < step ? n - off : step, ts);
}

static void test_sniff_tells_tls_from_http(void **state)
{
    (void)state;
    static const uint8_t hello[] = {22, 3, 1, 0, 200};
    static const uint8_t too_long[] = {23, 3, 3, 0xff, 0xff};
    assert_int_equal(tlsrec_sniff(hello, 5), TLSREC_YES);
    assert_int_equal(tlsrec_sniff(hello, 1), TLSREC_MORE);
    assert_int_equal(tlsrec_sniff(hello, 3), TLSREC_MORE);
    assert_int_equal(tlsrec_sniff((const uint8_t *)"GET / HTTP/1.1", 14), TLSREC_NO);
    assert_int_equal(tlsrec_sniff((const uint8_t *)"\x16\x02\x00", 3), TLSREC_NO); /* SSL 2 */
    assert_int_equal(tlsrec_sniff((const uint8_t *)"\x16\x03\x09", 3), TLSREC_NO);
    assert_int_equal(tlsrec_sniff(too_long, 5), TLSREC_NO);
    assert_int_equal(tlsrec_sniff(hello, 0), TLSREC_MORE);
}

/* A TLS 1.3 connection with two requests, fed in pieces of step bytes. */
static void tls13_two_requests(size_t step)
{
    uint8_t c[4096], s[4096], r[20000];
    size_t cl, sl, n;
    struct seen seen = {0};
    struct tlsrec *t = tlsrec_new(on_exchange, &seen);
    assert_non_null(t);

    tg_tls13_handshake(c, sizeof(c), &cl, s, sizeof(s), &sl, "shop.example", "h2,http/1.1");
    feed(t, TLSREC_C2S, c, cl, step, 10 * MS);
    feed(t, TLSREC_S2C, s, sl, step, 11 * MS);
    assert_false(tlsrec_established(t));
    n = tg_ccs(r, sizeof(r));
    n += tg_opaque(r + n, sizeof(r) - n, 23, 53);     /* the client's Finished */
    feed(t, TLSREC_C2S, r, n, step, 12 * MS);
    assert_true(tlsrec_established(t));
    n = tg_opaque(r, sizeof(r), 23, 100);             /* request 1 */
    feed(t, TLSREC_C2S, r, n, step, 13 * MS);
    n = tg_opaque(r, sizeof(r), 23, 16384);           /* response 1, two records */
    n += tg_opaque(r + n, sizeof(r) - n, 23, 500);
    feed(t, TLSREC_S2C, r, n, step, 14 * MS);
    n = tg_opaque(r, sizeof(r), 23, 90);              /* request 2 */
    feed(t, TLSREC_C2S, r, n, step, 20 * MS);
    n = tg_opaque(r, sizeof(r), 23, 300);             /* response 2 */
    feed(t, TLSREC_S2C, r, n, step, 21 * MS);
    n = tg_opaque(r, sizeof(r), 23, 19);              /* close_notify */
    feed(t, TLSREC_C2S, r, n, step, 22 * MS);
    tlsrec_finish(t);

    const struct tlsrec_info *in = tlsrec_info(t);
    assert_string_equal(in->sni, "shop.example");
    assert_string_equal(in->alpn_offered, "h2,http/1.1");
    assert_string_equal(in->alpn, "");
    assert_true(in->alpn_hidden);
    assert_int_equal(in->hello_version, TLSREC_TLS12);
    assert_int_equal(in->offered_max, TLSREC_TLS13); /* GREASE skipped */
    assert_int_equal(in->version, TLSREC_TLS13);
    assert_int_equal(in->cipher, 0x1301);
    assert_false(in->hello_retry);
    assert_false(in->resumed);
    assert_false(in->midstream);
    assert_int_equal(in->client_hello_ts, 10 * MS);
    assert_int_equal(in->server_hello_ts, 11 * MS);
    assert_int_equal(in->finished_ts, 12 * MS);
    assert_int_equal(in->encrypted_alerts, 1);
    assert_int_equal(in->alert_desc, -1);
    assert_null(in->problem[0]);
    assert_null(in->problem[1]);
    assert_int_equal(in->dir[0].records, 6);
    assert_int_equal(in->dir[1].records, 6);
    assert_int_equal(in->dir[0].bytes, cl + 6 + 58 + 105 + 95 + 24);
    assert_int_equal(in->dir[0].data_bytes, 190);
    assert_int_equal(in->dir[1].data_bytes, 16384 + 500 + 300);
    assert_int_equal(in->dir[0].unparsed_bytes, 0);

    assert_int_equal(seen.n, 2);
    assert_int_equal(in->exchanges, 2);
    assert_int_equal(seen.ex[0].index, 1);
    assert_int_equal(seen.ex[0].t_request, 13 * MS);
    assert_int_equal(seen.ex[0].t_response, 14 * MS);
    assert_int_equal(seen.ex[0].request_records, 1);
    assert_int_equal(seen.ex[0].request_bytes, 100);
    assert_int_equal(seen.ex[0].response_records, 2);
    assert_int_equal(seen.ex[0].response_bytes, 16884);
    assert_int_equal(seen.ex[1].index, 2);
    assert_int_equal(seen.ex[1].request_bytes, 90);
    assert_int_equal(seen.ex[1].response_bytes, 300);
    assert_int_equal(seen.ex[1].t_response_end, 21 * MS);
    tlsrec_free(t);
}

static void test_tls13_handshake_and_two_requests(void **state)
{
    (void)state;
    tls13_two_requests(0);
}

static void test_every_byte_in_its_own_segment(void **state)
{
    (void)state;
    tls13_two_requests(1);
    tls13_two_requests(3);
    tls13_two_requests(7);
}

static void test_tls12_alpn_chosen_and_both_finished(void **state)
{
    uint8_t b[4096];
    size_t n;
    struct seen seen = {0};
    (void)state;
    struct tlsrec *t = tlsrec_new(on_exchange, &seen);
    n = tg_client_hello(b, sizeof(b), "api.example", "http/1.1", false);
    tlsrec_feed(t, 0, b, n, 1 * MS);
    n = tg_server_hello(b, sizeof(b), 0x0303, 0xc02f, "http/1.1", false, false);
    n += tg_opaque(b + n, sizeof(b) - n, 22, 900); /* Certificate, ServerKeyExchange, Done */
    tlsrec_feed(t, 1, b, n, 2 * MS);
    n = tg_opaque(b, sizeof(b), 22, 37);           /* ClientKeyExchange */
    n += tg_ccs(b + n, sizeof(b) - n);
    n += tg_opaque(b + n, sizeof(b) - n, 22, 40);  /* Finished, encrypted */
    tlsrec_feed(t, 0, b, n, 3 * MS);
    assert_false(tlsrec_established(t));
    n = tg_ccs(b, sizeof(b));
    n += tg_opaque(b + n, sizeof(b) - n, 22, 40);
    tlsrec_feed(t, 1, b, n, 4 * MS);
    assert_true(tlsrec_established(t));
    n = tg_opaque(b, sizeof(b), 23, 120);
    tlsrec_feed(t, 0, b, n, 5 * MS);
    n = tg_opaque(b, sizeof(b), 23, 700);
    tlsrec_feed(t, 1, b, n, 6 * MS);
    n = tg_opaque(b, sizeof(b), 21, 26); /* close_notify, encrypted */
    tlsrec_feed(t, 0, b, n, 7 * MS);
    tlsrec_finish(t);

    const struct tlsrec_info *in = tlsrec_info(t);
    assert_int_equal(in->version, TLSREC_TLS12);
    assert_int_equal(in->offered_max, TLSREC_TLS12);
    assert_string_equal(in->alpn, "http/1.1");
    assert_false(in->alpn_hidden);
    assert_int_equal(in->cipher, 0xc02f);
    assert_string_equal(tlsrec_cipher_name(in->cipher), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    assert_int_equal(in->finished_ts, 4 * MS);
    assert_int_equal(in->encrypted_alerts, 1);
    assert_int_equal(in->dir[0].ccs_records, 1);
    assert_int_equal(in->dir[0].alert_records, 1);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.ex[0].request_bytes, 120);
    assert_int_equal(seen.ex[0].response_bytes, 700);
    tlsrec_free(t);
}

static void test_hello_retry_and_resumption(void **state)
{
    uint8_t b[4096];
    size_t n;
    (void)state;
    struct tlsrec *t = tlsrec_new(NULL, NULL);
    n = tg_client_hello(b, sizeof(b), "a.example", "", true);
    tlsrec_feed(t, 0, b, n, 1 * MS);
    n = tg_server_hello(b, sizeof(b), 0x0304, 0x1301, "", true, false);
    tlsrec_feed(t, 1, b, n, 2 * MS);
    assert_true(tlsrec_info(t)->hello_retry);
    assert_int_equal(tlsrec_info(t)->server_hello_ts, 0);
    n = tg_client_hello(b, sizeof(b), "a.example", "", true); /* the second ClientHello, read */
    tlsrec_feed(t, 0, b, n, 3 * MS);
    n = tg_server_hello(b, sizeof(b), 0x0304, 0x1303, "", false, true);
    tlsrec_feed(t, 1, b, n, 4 * MS);
    const struct tlsrec_info *in = tlsrec_info(t);
    assert_int_equal(in->server_hello_ts, 4 * MS);
    assert_int_equal(in->version, TLSREC_TLS13);
    assert_int_equal(in->cipher, 0x1303);
    assert_true(in->resumed);
    assert_int_equal(in->client_hello_ts, 1 * MS);
    tlsrec_free(t);
}

/* A ClientHello split over two handshake records (and the split inside its header). */
static void test_hello_spanning_records(void **state)
{
    uint8_t msg[1024], b[2048];
    (void)state;
    size_t m = tg_client_hello_msg(msg, sizeof(msg), "split.example", "http/1.1", true);
    for (size_t cut = 1; cut < m; cut += 13) {
        struct tlsrec *t = tlsrec_new(NULL, NULL);
        size_t n = tg_record(b, sizeof(b), 22, msg, cut);
        n += tg_record(b + n, sizeof(b) - n, 22, msg + cut, m - cut);
        tlsrec_feed(t, 0, b, n, MS);
        assert_string_equal(tlsrec_info(t)->sni, "split.example");
        assert_string_equal(tlsrec_info(t)->alpn_offered, "http/1.1");
        assert_int_equal(tlsrec_info(t)->dir[0].handshake_records, 2);
        tlsrec_free(t);
    }
}

static void test_alert_in_clear(void **state)
{
    uint8_t b[1024];
    size_t n;
    (void)state;
    struct tlsrec *t = tlsrec_new(NULL, NULL);
    n = tg_client_hello(b, sizeof(b), "", "", false);
    tlsrec_feed(t, 0, b, n, MS);
    n = tg_alert(b, sizeof(b), 2, 70);
    tlsrec_feed(t, 1, b, 3, 2 * MS); /* the alert split mid-header */
    tlsrec_feed(t, 1, b + 3, n - 3, 2 * MS);
    const struct tlsrec_info *in = tlsrec_info(t);
    assert_int_equal(in->alert_level, 2);
    assert_int_equal(in->alert_desc, 70);
    assert_int_equal(in->alert_dir, TLSREC_S2C);
    assert_string_equal(tlsrec_alert_name(70), "protocol_version");
    assert_int_equal(in->finished_ts, 0);
    assert_false(tlsrec_established(t));
    tlsrec_free(t);
}

/* Every prefix of a real-looking ClientHello, then the end: nothing read past, nothing leaked. */
static void test_truncated_hello_every_length(void **state)
{
    uint8_t b[1024];
    (void)state;
    size_t n = tg_client_hello(b, sizeof(b), "cut.example", "h2", true);
    for (size_t k = 0; k <= n; k++) {
        struct tlsrec *t = tlsrec_new(NULL, NULL);
        tlsrec_feed(t, 0, b, k, MS);
        tlsrec_finish(t);
        const struct tlsrec_info *in = tlsrec_info(t);
        if (k < n)
            assert_int_equal(in->client_hello_ts, 0);
        else
            assert_string_equal(in->sni, "cut.example");
        tlsrec_free(t);
    }
}

/* Hellos whose inner lengths lie (an extension longer than the message, a vector past its end,
 * an SNI longer than the buffer): read as far as they hold, nothing past. */
static void test_lying_lengths_inside_a_hello(void **state)
{
    uint8_t msg[1024], b[2048];
    (void)state;
    size_t m = tg_client_hello_msg(msg, sizeof(msg), "lie.example", "http/1.1", true);
    for (size_t at = 1; at < m; at++) {
        for (int v = 0; v < 3; v++) {
            uint8_t copy[1024];
            memcpy(copy, msg, m);
            copy[at] = v == 0 ? 0xff : v == 1 ? 0x00 : (uint8_t)(copy[at] + 1);
            /* tlsrec keeps the message in a buffer of exactly its length: ASan sees past it */
            size_t n = tg_record(b, sizeof(b), 22, copy, m);
            struct tlsrec *t = tlsrec_new(NULL, NULL);
            tlsrec_feed(t, 0, b, n, MS);
            tlsrec_finish(t);
            assert_true(strlen(tlsrec_info(t)->sni) < TLSREC_SNI_LEN);
            tlsrec_free(t);
        }
    }
    /* a server name of 300 bytes is cut to the buffer */
    char longname[301];
    memset(longname, 'x', 300);
    longname[300] = '\0';
    m = tg_client_hello_msg(msg, sizeof(msg), longname, "", false);
    size_t n = tg_record(b, sizeof(b), 22, msg, m);
    struct tlsrec *t = tlsrec_new(NULL, NULL);
    tlsrec_feed(t, 0, b, n, MS);
    assert_int_equal(strlen(tlsrec_info(t)->sni), TLSREC_SNI_LEN - 1);
    tlsrec_free(t);
}

static void test_garbage_stops_the_direction_and_is_counted(void **state)
{
    uint8_t b[1024];
    (void)state;
    struct tlsrec *t = tlsrec_new(NULL, NULL);
    size_t n = tg_client_hello(b, sizeof(b), "ok.example", "", false);
    tlsrec_feed(t, 0, b, n, MS);
    tlsrec_feed(t, 0, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, 2 * MS);
    tlsrec_feed(t, 0, (const uint8_t *)"more", 4, 3 * MS);
    const struct tlsrec_info *in = tlsrec_info(t);
    assert_string_equal(in->sni, "ok.example");
    assert_non_null(in->problem[0]);
    assert_non_null(strstr(in->problem[0], "content type"));
    assert_int_equal(in->dir[0].unparsed_bytes, 22);
    assert_int_equal(in->dir[0].bytes, n + 22);
    tlsrec_free(t);

    /* a version that is not 3.x, a record longer than TLS allows */
    static const uint8_t badver[] = {23, 4, 1, 0, 1, 0};
    static const uint8_t huge[] = {23, 3, 3, 0x48, 0x01, 0};
    t = tlsrec_new(NULL, NULL);
    tlsrec_feed(t, 0, badver, sizeof(badver), MS);
    tlsrec_feed(t, 1, huge, sizeof(huge), MS);
    assert_non_null(strstr(tlsrec_info(t)->problem[0], "version"));
    assert_non_null(strstr(tlsrec_info(t)->problem[1], "longer than TLS allows"));
    tlsrec_free(t);

    /* random bytes of every length, fed in odd pieces: no crash, no leak */
    uint32_t x = 99;
    for (int round = 0; round < 200; round++) {
        uint8_t junk[512];
        size_t len = (size_t)(round * 7 % 512);
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            junk[i] = (uint8_t)(x >> 16);
        }
        if (len > 0)
            junk[0] = (uint8_t)(20 + round % 4); /* start like a record now and then */
        t = tlsrec_new(on_exchange, &(struct seen){0});
        feed(t, round % 2, junk, len, (size_t)(round % 5 + 1), MS);
        tlsrec_feed(t, 1 - round % 2, junk, len, 2 * MS);
        tlsrec_finish(t);
        tlsrec_free(t);
    }
}

static void test_gaps(void **state)
{
    uint8_t b[4096];
    size_t n;
    (void)state;
    /* a gap inside a record of application data: the framing holds */
    struct tlsrec *t = tlsrec_new(NULL, NULL);
    n = tg_opaque(b, sizeof(b), 23, 1000); /* mid-stream: the capture began after the handshake */
    tlsrec_feed(t, 0, b, 105, MS);
    tlsrec_feed(t, 0, NULL, 600, MS);
    tlsrec_feed(t, 0, b + 705, n - 705, MS);
    n = tg_opaque(b, sizeof(b), 23, 10);
    tlsrec_feed(t, 0, b, n, 2 * MS);
    const struct tlsrec_info *in = tlsrec_info(t);
    assert_true(in->midstream);
    assert_null(in->problem[0]);
    assert_int_equal(in->dir[0].records, 2);
    tlsrec_free(t);

    /* a gap across a record boundary: reading stops, the rest is counted */
    t = tlsrec_new(NULL, NULL);
    n = tg_opaque(b, sizeof(b), 23, 100);
    tlsrec_feed(t, 0, b, 50, MS);
    tlsrec_feed(t, 0, NULL, 500, MS);
    tlsrec_feed(t, 0, b, 40, MS);
    in = tlsrec_info(t);
    assert_non_null(strstr(in->problem[0], "framing lost"));
    assert_int_equal(in->dir[0].unparsed_bytes, 540);
    tlsrec_free(t);

    /* a gap inside a ClientHello: its messages are not read, the records still are */
    t = tlsrec_new(NULL, NULL);
    n = tg_client_hello(b, sizeof(b), "gap.example", "", false);
    tlsrec_feed(t, 0, b, 20, MS);
    tlsrec_feed(t, 0, NULL, 30, MS);
    tlsrec_feed(t, 0, b + 50, n - 50, MS);
    n = tg_ccs(b, sizeof(b));
    tlsrec_feed(t, 0, b, n, MS);
    in = tlsrec_info(t);
    assert_string_equal(in->sni, "");
    assert_int_equal(in->dir[0].records, 2);
    assert_null(in->problem[0]);
    tlsrec_free(t);
}

/* A hello longer than lbtrace keeps: skipped by its length, said so, the records go on. */
static void test_hello_too_long_to_keep(void **state)
{
    (void)state;
    size_t total = 70000;
    uint8_t *msg = calloc(1, total + 4);
    uint8_t rec[16384 + 5];
    assert_non_null(msg);
    msg[0] = 1;
    msg[1] = (uint8_t)(total >> 16);
    msg[2] = (uint8_t)(total >> 8);
    msg[3] = (uint8_t)total;
    struct tlsrec *t = tlsrec_new(NULL, NULL);
    for (size_t off = 0; off < total + 4; off += 16384) {
        size_t k = total + 4 - off < 16384 ? total + 4 - off : 16384;
        size_t n = tg_record(rec, sizeof(rec), 22, msg + off, k);
        tlsrec_feed(t, 0, rec, n, MS);
    }
    uint8_t b[512];
    size_t n = tg_server_hello(b, sizeof(b), 0x0303, 0xc030, "", false, false);
    tlsrec_feed(t, 1, b, n, 2 * MS);
    const struct tlsrec_info *in = tlsrec_info(t);
    assert_non_null(strstr(in->problem[0], "too long"));
    assert_int_equal(in->dir[0].handshake_records, 5);
    assert_int_equal(in->version, TLSREC_TLS12);
    tlsrec_free(t);
    free(msg);
}

/* A connection kept alive: the exchange ends once the server's flight has been quiet. */
static void test_idle_ends_an_exchange(void **state)
{
    uint8_t b[2048];
    size_t n;
    struct seen seen = {0};
    (void)state;
    struct tlsrec *t = tlsrec_new(on_exchange, &seen);
    n = tg_opaque(b, sizeof(b), 23, 100); /* mid-stream */
    tlsrec_feed(t, 0, b, n, 10 * MS);
    tlsrec_idle(t, 500 * MS, 200 * MS);
    assert_int_equal(seen.n, 0); /* no response yet: still open */
    n = tg_opaque(b, sizeof(b), 23, 300);
    tlsrec_feed(t, 1, b, n, 11 * MS);
    tlsrec_idle(t, 100 * MS, 200 * MS);
    assert_int_equal(seen.n, 0);
    tlsrec_idle(t, 211 * MS, 200 * MS);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.ex[0].response_bytes, 300);
    tlsrec_feed(t, 1, b, n, 300 * MS); /* late: counted only */
    n = tg_opaque(b, sizeof(b), 23, 90);
    tlsrec_feed(t, 0, b, n, 400 * MS);
    tlsrec_finish(t);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.ex[1].index, 2);
    assert_int_equal(seen.ex[1].response_records, 0);
    assert_int_equal(tlsrec_info(t)->dir[1].data_bytes, 600);
    tlsrec_free(t);
}

static void test_names(void **state)
{
    char buf[32];
    (void)state;
    assert_string_equal(tlsrec_version_str(0x0303, buf, sizeof(buf)), "TLS 1.2");
    assert_string_equal(tlsrec_version_str(0x0304, buf, sizeof(buf)), "TLS 1.3");
    assert_string_equal(tlsrec_version_str(0x7f1c, buf, sizeof(buf)), "0x7f1c");
    assert_string_equal(tlsrec_alert_name(0), "close_notify");
    assert_null(tlsrec_alert_name(255));
    assert_null(tlsrec_cipher_name(0x1234));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff_tells_tls_from_http),
        cmocka_unit_test(test_tls13_handshake_and_two_requests),
        cmocka_unit_test(test_every_byte_in_its_own_segment),
        cmocka_unit_test(test_tls12_alpn_chosen_and_both_finished),
        cmocka_unit_test(test_hello_retry_and_resumption),
        cmocka_unit_test(test_hello_spanning_records),
        cmocka_unit_test(test_alert_in_clear),
        cmocka_unit_test(test_truncated_hello_every_length),
        cmocka_unit_test(test_lying_lengths_inside_a_hello),
        cmocka_unit_test(test_garbage_stops_the_direction_and_is_counted),
        cmocka_unit_test(test_gaps),
        cmocka_unit_test(test_hello_too_long_to_keep),
        cmocka_unit_test(test_idle_ends_an_exchange),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
