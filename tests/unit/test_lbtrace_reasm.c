/* test_lbtrace_reasm.c - unit tests of lbtrace's TCP reassembly (lbtrace/reasm.c) through its
 * API, and of the whole pipeline on hand-made captures with reordered, retransmitted and
 * overlapping segments. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lbtrace_pcapgen.h"
#include "lbtrace_testrun.h"
#include "reasm.h"

/* What a reassembler delivered: the stream with '#' for each byte given up on. */
struct sink {
    char buf[8192];
    size_t len;
    unsigned gaps;
};

static void collect(void *ctx, const uint8_t *data, size_t len, uint64_t ts)
{
    struct sink *s = ctx;
    (void)ts;
    if (data == NULL)
        s->gaps++;
    for (size_t i = 0; i < len && s->len < sizeof(s->buf) - 1; i++)
        s->buf[s->len++] = data ? (char)data[i] : '#';
    s->buf[s->len] = '\0';
}

static enum reasm_verdict add(struct reasm *r, struct sink *s, uint32_t seq, const char *d)
{
    return reasm_add(r, seq, (const uint8_t *)d, strlen(d), 0, collect, s);
}

static void test_in_order_segments_are_delivered_at_once(void **state)
{
    struct reasm r;
    struct sink s = {0};
    (void)state;
    reasm_init(&r, 0);
    reasm_start(&r, 1000);
    assert_int_equal(add(&r, &s, 1000, "hello "), REASM_IN_ORDER);
    assert_int_equal(add(&r, &s, 1006, "world"), REASM_IN_ORDER);
    assert_string_equal(s.buf, "hello world");
    assert_int_equal(r.delivered, 11);
    reasm_free(&r);
}

static void test_retransmission_is_dropped(void **state)
{
    struct reasm r;
    struct sink s = {0};
    (void)state;
    reasm_init(&r, 0);
    reasm_start(&r, 1);
    add(&r, &s, 1, "abc");
    assert_int_equal(add(&r, &s, 1, "abc"), REASM_RETRANSMIT);
    assert_int_equal(add(&r, &s, 2, "b"), REASM_RETRANSMIT);
    assert_string_equal(s.buf, "abc");
    reasm_free(&r);
}

static void test_overlap_delivers_only_new_bytes(void **state)
{
    struct reasm r;
    struct sink s = {0};
    (void)state;
    reasm_init(&r, 0);
    reasm_start(&r, 1);
    add(&r, &s, 1, "abcd");
    assert_int_equal(add(&r, &s, 3, "cdEF"), REASM_OVERLAP);
    assert_string_equal(s.buf, "abcdEF");
    reasm_free(&r);
}

static void test_out_of_order_waits_for_the_hole(void **state)
{
    struct reasm r;
    struct sink s = {0};
    (void)state;
    reasm_init(&r, 0);
    reasm_start(&r, 1);
    assert_int_equal(add(&r, &s, 7, "ghi"), REASM_OUT_OF_ORDER);
    assert_int_equal(add(&r, &s, 4, "def"), REASM_OUT_OF_ORDER);
    assert_string_equal(s.buf, "");
    assert_true(reasm_has_hole(&r));
    assert_int_equal(add(&r, &s, 1, "abc"), REASM_IN_ORDER);
    assert_string_equal(s.buf, "abcdefghi");
    assert_false(reasm_has_hole(&r));
    reasm_free(&r);
}

static void test_overlapping_held_segments_deliver_each_byte_once(void **state)
{
    struct reasm r;
    struct sink s = {0};
    (void)state;
    reasm_init(&r, 0);
    reasm_start(&r, 1);
    add(&r, &s, 5, "efgh");
    add(&r, &s, 3, "cdef"); /* overlaps the held one */
    add(&r, &s, 5, "efgh"); /* duplicate of a held one */
    add(&r, &s, 1, "ab");
    assert_string_equal(s.buf, "abcdefgh");
    assert_int_equal(r.delivered, 8);
    reasm_free(&r);
}

static void test_sequence_numbers_wrap(void **state)
{
    struct reasm r;
    struct sink s = {0};
    (void)state;
    reasm_init(&r, 0);
    reasm_start(&r, 0xfffffffeu);
    add(&r, &s, 0x00000002u, "ef"); /* after the wrap: held */
    add(&r, &s, 0xfffffffeu, "abcd");
    assert_string_equal(s.buf, "abcdef");
    reasm_free(&r);
}

static void test_finish_gives_up_on_holes_and_reports_them(void **state)
{
    struct reasm r;
    struct sink s = {0};
    (void)state;
    reasm_init(&r, 0);
    reasm_start(&r, 1);
    add(&r, &s, 1, "ab");
    add(&r, &s, 6, "fg"); /* 3 bytes missing */
    reasm_finish(&r, collect, &s);
    assert_string_equal(s.buf, "ab###fg");
    assert_int_equal(r.gaps, 1);
    assert_int_equal(r.gap_bytes, 3);
    assert_int_equal(s.gaps, 1);
    reasm_free(&r);
}

static void test_memory_bound_forces_a_gap(void **state)
{
    struct reasm r;
    struct sink s = {0};
    char big[40];
    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    reasm_init(&r, 64); /* at most 64 bytes held */
    reasm_start(&r, 1);
    add(&r, &s, 11, big);      /* held: 39 */
    add(&r, &s, 50, "yy");     /* held: 41 */
    add(&r, &s, 100, big);     /* would be 80 > 64: the first hole is given up */
    assert_int_equal(r.gaps, 1);
    assert_true(r.held_bytes <= 64);
    assert_int_equal(s.buf[0], '#');
    assert_int_equal(s.gaps, 1);
    reasm_finish(&r, collect, &s);
    assert_int_equal(r.delivered, 39 + 2 + 39);
    reasm_free(&r);
}

static void test_first_segment_sets_the_position_without_syn(void **state)
{
    struct reasm r;
    struct sink s = {0};
    (void)state;
    reasm_init(&r, 0);
    assert_int_equal(add(&r, &s, 123456, "mid"), REASM_IN_ORDER);
    assert_int_equal(add(&r, &s, 123459, "stream"), REASM_IN_ORDER);
    assert_string_equal(s.buf, "midstream");
    reasm_free(&r);
}

/* --- the pipeline on hand-made captures ---------------------------------------------------- */

static const char *REQ = "GET /reordered HTTP/1.1\r\nHost: lb\r\n\r\n";
static const char *RESP = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";

static void test_capture_with_reordered_and_retransmitted_segments(void **state)
{
    char *path = temp_pcap();
    struct pg *pg = pg_open(path, PG_LINK_EN10MB);
    struct run_result r;
    (void)state;
    struct pg_conn k = pg_connect(pg, pg_v4("10.0.0.1", 50000), pg_v4("10.0.0.2", 8000), 1, 900);
    size_t n = strlen(REQ);
    /* the request in three pieces: the last first, then the first twice, then the middle */
    pg_send_at(&k, true, 20, REQ + 20, n - 20);
    pg_send_at(&k, true, 0, REQ, 10);
    pg_send_at(&k, true, 0, REQ, 10);
    pg_send_at(&k, true, 5, REQ + 5, 15); /* overlaps the first piece */
    k.cseq += (uint32_t)n;
    pg_sends(&k, false, RESP);
    pg_send_at(&k, false, -(int32_t)strlen(RESP), RESP, strlen(RESP)); /* whole retransmission */
    pg_close_conn(&k);
    pg_close(pg);

    assert_int_equal(run_pcap(path, true, &r), 0);
    assert_int_equal(r.st.requests, 1);
    assert_int_equal(count_of(r.out, "\"path\":\"/reordered\""), 1);
    assert_non_null(strstr(r.out, "\"status\":200"));
    assert_non_null(strstr(r.out, "\"response_body\":10"));
    assert_non_null(strstr(r.out, "\"complete\":true"));
    assert_non_null(strstr(r.out, "\"retransmissions\":3"));
    assert_non_null(strstr(r.out, "\"out_of_order\":1"));
    assert_non_null(strstr(r.out, "\"gaps\":0"));
    free(r.out);
    unlink(path);
    free(path);
}

static void test_capture_with_a_lost_segment_reports_the_gap(void **state)
{
    char *path = temp_pcap();
    struct pg *pg = pg_open(path, PG_LINK_EN10MB);
    struct run_result r;
    (void)state;
    struct pg_conn k = pg_connect(pg, pg_v4("10.0.0.1", 50001), pg_v4("10.0.0.2", 8000), 1, 900);
    pg_sends(&k, true, "GET /a HTTP/1.1\r\nHost: lb\r\n\r\n");
    pg_sends(&k, false, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234");
    k.sseq += 3; /* "567" never captured */
    pg_sends(&k, false, "89");
    pg_sends(&k, true, "GET /b HTTP/1.1\r\nHost: lb\r\n\r\n");
    pg_sends(&k, false, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    pg_close_conn(&k);
    pg_close(pg);

    assert_int_equal(run_pcap(path, true, &r), 0);
    assert_int_equal(r.st.requests, 2);
    assert_int_equal(r.st.gaps, 1);
    /* the Content-Length framing survives the gap: both requests are seen, the first marked */
    assert_non_null(strstr(r.out, "\"path\":\"/a\""));
    assert_non_null(strstr(r.out, "bytes missing (capture gap)"));
    assert_non_null(strstr(r.out, "\"path\":\"/b\""));
    assert_non_null(strstr(r.out, "\"status\":404"));
    free(r.out);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_segments_are_delivered_at_once),
        cmocka_unit_test(test_retransmission_is_dropped),
        cmocka_unit_test(test_overlap_delivers_only_new_bytes),
        cmocka_unit_test(test_out_of_order_waits_for_the_hole),
        cmocka_unit_test(test_overlapping_held_segments_deliver_each_byte_once),
        cmocka_unit_test(test_sequence_numbers_wrap),
        cmocka_unit_test(test_finish_gives_up_on_holes_and_reports_them),
        cmocka_unit_test(test_memory_bound_forces_a_gap),
        cmocka_unit_test(test_first_segment_sets_the_position_without_syn),
        cmocka_unit_test(test_capture_with_reordered_and_retransmitted_segments),
        cmocka_unit_test(test_capture_with_a_lost_segment_reports_the_gap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
