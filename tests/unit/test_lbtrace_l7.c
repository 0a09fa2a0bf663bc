/* test_lbtrace_l7.c - unit tests of lbtrace's HTTP follower (lbtrace/l7.c): keep-alive and
 * pipelined requests, bodies skipped by Content-Length and chunked framing, HEAD/204/304, 1xx,
 * until-close responses, split headers, gaps and resets; fed through its API byte by byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "l7.h"
#include "lbtrace_pcapgen.h"
#include "lbtrace_testrun.h"

#define MAX_EX 32

struct got {
    struct l7_exchange *ex[MAX_EX];
    size_t n;
};

static void keep(void *ctx, struct l7_exchange *ex)
{
    struct got *g = ctx;
    if (g->n < MAX_EX)
        g->ex[g->n++] = ex;
    else
        free(ex);
}

static void got_free(struct got *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->ex[i]);
    g->n = 0;
}

static uint64_t clock_ns = 1000;

/* Feeds s in pieces of step bytes (0: whole). */
static void feed(struct l7_conn *c, int dir, const char *s, size_t step)
{
    size_t n = strlen(s);
    if (step == 0)
        step = n ? n : 1;
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        l7_feed(c, dir, (const uint8_t *)s + i, k, clock_ns);
        clock_ns += 1000;
    }
}

static void test_simple_exchange_with_sizes_and_times(void **state)
{
    struct got g = {0};
    struct l7_conn *c = l7_conn_new(7, keep, &g);
    (void)state;
    feed(c, 0, "POST /submit?x=1 HTTP/1.1\r\nHost: example\r\nX-Request-ID: abc-1\r\n"
               "Content-Length: 5\r\n\r\nhello", 0);
    feed(c, 1, "HTTP/1.1 201 Created\r\nX-Request-ID: abc-1\r\nContent-Length: 3\r\n\r\nyes", 0);
    assert_int_equal(g.n, 1);
    struct l7_exchange *ex = g.ex[0];
    assert_int_equal(ex->flow_id, 7);
    assert_int_equal(ex->index, 1);
    assert_string_equal(ex->method, "POST");
    assert_string_equal(ex->path, "/submit?x=1");
    assert_string_equal(ex->host, "example");
    assert_string_equal(ex->request_id, "abc-1");
    assert_string_equal(ex->response_id, "abc-1");
    assert_int_equal(ex->request_body, 5);
    assert_true(ex->request_complete);
    assert_int_equal(ex->status, 201);
    assert_int_equal(ex->response_body, 3);
    assert_true(ex->response_complete);
    assert_null(ex->problem);
    assert_true(ex->t_response_end > ex->t_request);
    assert_true(l7_ms(ex->t_request, ex->t_response_end) > 0);
    got_free(&g);
    l7_conn_free(c, clock_ns);
}

static void test_every_split_of_the_headers_gives_the_same_exchange(void **state)
{
    const char *req = "GET /split HTTP/1.1\r\nHost: h\r\nX-Request-ID: s\r\n\r\n";
    const char *res = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody";
    (void)state;
    for (size_t step = 1; step <= strlen(res); step++) {
        struct got g = {0};
        struct l7_conn *c = l7_conn_new(1, keep, &g);
        feed(c, 0, req, step);
        feed(c, 1, res, step);
        assert_int_equal(g.n, 1);
        assert_string_equal(g.ex[0]->path, "/split");
        assert_int_equal(g.ex[0]->status, 200);
        assert_int_equal(g.ex[0]->response_body, 4);
        assert_int_equal(g.ex[0]->response_bytes, strlen(res));
        assert_true(g.ex[0]->response_complete);
        got_free(&g);
        l7_conn_free(c, clock_ns);
    }
}

static void test_pipelined_requests_pair_in_order(void **state)
{
    struct got g = {0};
    struct l7_conn *c = l7_conn_new(1, keep, &g);
    (void)state;
    feed(c, 0, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: h\r\n\r\n"
               "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    /* the HEAD response announces a length but has no body */
    feed(c, 1, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n"
               "Content-Length: 1000\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 7);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.ex[0]->path, "/1");
    assert_int_equal(g.ex[0]->response_body, 2);
    assert_string_equal(g.ex[1]->method, "HEAD");
    assert_int_equal(g.ex[1]->response_body, 0);
    assert_true(g.ex[1]->response_complete);
    assert_string_equal(g.ex[2]->path, "/3");
    assert_int_equal(g.ex[2]->status, 404);
    assert_int_equal(g.ex[2]->index, 3);
    assert_int_equal(l7_requests(c), 3);
    assert_int_equal(l7_responses(c), 3);
    got_free(&g);
    l7_conn_free(c, clock_ns);
}

static void test_chunked_bodies_both_ways(void **state)
{
    struct got g = {0};
    struct l7_conn *c = l7_conn_new(1, keep, &g);
    (void)state;
    feed(c, 0, "PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\n", 3);
    feed(c, 1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n", 5);
    feed(c, 0, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    feed(c, 1, "HTTP/1.1 204 No Content\r\n\r\n", 0);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.ex[0]->request_body, 5);
    assert_true(g.ex[0]->request_complete);
    assert_true(g.ex[0]->chunked);
    assert_int_equal(g.ex[0]->response_body, 10);
    assert_int_equal(g.ex[1]->status, 204);
    assert_true(g.ex[1]->response_complete);
    got_free(&g);
    l7_conn_free(c, clock_ns);
}

static void test_interim_100_continue_is_skipped(void **state)
{
    struct got g = {0};
    struct l7_conn *c = l7_conn_new(1, keep, &g);
    (void)state;
    feed(c, 0, "POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", 0);
    feed(c, 1, "HTTP/1.1 100 Continue\r\n\r\n", 0);
    feed(c, 0, "hi", 0);
    feed(c, 1, "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n", 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.ex[0]->interim, 1);
    assert_int_equal(g.ex[0]->status, 304);
    assert_int_equal(g.ex[0]->response_body, 0);
    assert_true(g.ex[0]->response_complete);
    got_free(&g);
    l7_conn_free(c, clock_ns);
}

static void test_until_close_response_ends_with_fin_not_rst(void **state)
{
    struct got g = {0};
    struct l7_conn *c = l7_conn_new(1, keep, &g);
    (void)state;
    feed(c, 0, "GET /old HTTP/1.0\r\n\r\n", 0);
    feed(c, 1, "HTTP/1.0 200 OK\r\n\r\nall of it", 0);
    assert_int_equal(g.n, 0);
    l7_end(c, 1, false, clock_ns);
    assert_int_equal(g.n, 1);
    assert_true(g.ex[0]->until_close);
    assert_true(g.ex[0]->response_complete);
    assert_int_equal(g.ex[0]->response_body, 9);
    got_free(&g);
    l7_conn_free(c, clock_ns);

    c = l7_conn_new(2, keep, &g);
    feed(c, 0, "GET /old HTTP/1.0\r\n\r\n", 0);
    feed(c, 1, "HTTP/1.0 200 OK\r\n\r\npart", 0);
    l7_end(c, 1, true, clock_ns);
    assert_int_equal(g.n, 1);
    assert_false(g.ex[0]->response_complete);
    assert_string_equal(g.ex[0]->problem, "connection reset mid-response");
    got_free(&g);
    l7_conn_free(c, clock_ns);
}

static void test_reset_mid_body_is_incomplete(void **state)
{
    struct got g = {0};
    struct l7_conn *c = l7_conn_new(1, keep, &g);
    (void)state;
    feed(c, 0, "GET /big HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    feed(c, 1, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", 0);
    l7_end(c, 0, true, clock_ns);
    l7_end(c, 1, true, clock_ns);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.ex[0]->status, 200);
    assert_int_equal(g.ex[0]->response_body, 10);
    assert_false(g.ex[0]->response_complete);
    assert_string_equal(g.ex[0]->problem, "connection reset mid-response");
    got_free(&g);
    l7_conn_free(c, clock_ns);
}

static void test_request_without_response_is_reported_at_close(void **state)
{
    struct got g = {0};
    struct l7_conn *c = l7_conn_new(1, keep, &g);
    (void)state;
    feed(c, 0, "GET /hang HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    l7_end(c, 0, false, clock_ns);
    l7_end(c, 1, false, clock_ns);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.ex[0]->status, 0);
    assert_string_equal(g.ex[0]->problem, "no response");
    got_free(&g);
    l7_conn_free(c, clock_ns);
}

static void test_malformed_request_pairs_with_the_error_response(void **state)
{
    struct got g = {0};
    struct l7_conn *c = l7_conn_new(1, keep, &g);
    (void)state;
    feed(c, 0, "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 0);
    feed(c, 1, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 0);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.ex[0]->method, "GET");
    assert_int_equal(g.ex[0]->status, 400);
    assert_non_null(g.ex[0]->problem);
    got_free(&g);
    l7_conn_free(c, clock_ns);
}

static void test_gap_resynchronises_on_the_next_message(void **state)
{
    struct got g = {0};
    struct l7_conn *c = l7_conn_new(1, keep, &g);
    (void)state;
    feed(c, 0, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    feed(c, 1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 0);
    l7_feed(c, 1, NULL, 20, clock_ns); /* chunked framing lost */
    assert_int_equal(g.n, 1);
    assert_string_equal(g.ex[0]->problem, "bytes missing (capture gap)");
    feed(c, 1, "garbage after the gap", 0); /* ignored until a message starts */
    feed(c, 0, "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    feed(c, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.ex[1]->path, "/2");
    assert_int_equal(g.ex[1]->status, 200);
    assert_null(g.ex[1]->problem);
    got_free(&g);
    l7_conn_free(c, clock_ns);
}

/* A gap inside a Content-Length body loses bytes, not the framing: the body ends where its length
 * says and the next exchange on the connection is followed as usual. */
static void test_gap_inside_a_length_body_keeps_the_framing(void **state)
{
    struct got g = {0};
    struct l7_conn *c = l7_conn_new(1, keep, &g);
    (void)state;
    feed(c, 0, "POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 8\r\n\r\nab", 0);
    l7_feed(c, 0, NULL, 3, clock_ns);
    feed(c, 0, "fgh", 1);
    feed(c, 1, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n012", 0);
    l7_feed(c, 1, NULL, 4, clock_ns);
    assert_int_equal(g.n, 0);
    feed(c, 1, "789", 1);
    assert_int_equal(g.n, 1);
    assert_true(g.ex[0]->request_complete);
    assert_int_equal(g.ex[0]->request_body, 8);
    assert_true(g.ex[0]->response_complete);
    assert_int_equal(g.ex[0]->response_body, 10);
    assert_string_equal(g.ex[0]->problem, "bytes missing (capture gap)");
    feed(c, 0, "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    feed(c, 1, "HTTP/1.1 204 No Content\r\n\r\n", 0);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.ex[1]->path, "/2");
    assert_null(g.ex[1]->problem);
    got_free(&g);
    l7_conn_free(c, clock_ns);

    /* a gap that reaches the end of the body loses the framing: resynchronise */
    c = l7_conn_new(2, keep, &g);
    feed(c, 0, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    feed(c, 1, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n012", 0);
    l7_feed(c, 1, NULL, 7, clock_ns);
    assert_int_equal(g.n, 1);
    assert_false(g.ex[0]->response_complete);
    assert_string_equal(g.ex[0]->problem, "bytes missing (capture gap)");
    got_free(&g);
    l7_conn_free(c, clock_ns);
}

/* A gap in an until-close body is noted; the body still ends with the server's FIN. */
static void test_gap_inside_an_until_close_body(void **state)
{
    struct got g = {0};
    struct l7_conn *c = l7_conn_new(1, keep, &g);
    (void)state;
    feed(c, 0, "GET /old HTTP/1.0\r\n\r\n", 0);
    feed(c, 1, "HTTP/1.0 200 OK\r\n\r\nabc", 0);
    l7_feed(c, 1, NULL, 100, clock_ns);
    feed(c, 1, "defg", 0);
    l7_end(c, 1, false, clock_ns);
    assert_int_equal(g.n, 1);
    assert_true(g.ex[0]->response_complete);
    assert_int_equal(g.ex[0]->response_body, 7);
    assert_string_equal(g.ex[0]->problem, "bytes missing (capture gap)");
    got_free(&g);
    l7_conn_free(c, clock_ns);
}

/* Malformed chunked framing ends the exchange with a problem; the direction is not followed. */
static void test_malformed_chunked_body_stops_the_direction(void **state)
{
    struct got g = {0};
    struct l7_conn *c = l7_conn_new(1, keep, &g);
    (void)state;
    feed(c, 0, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    feed(c, 1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX", 1);
    assert_int_equal(g.n, 1);
    assert_true(g.ex[0]->chunked);
    assert_false(g.ex[0]->response_complete);
    assert_int_equal(g.ex[0]->response_body, 3);
    assert_string_equal(g.ex[0]->problem, "malformed chunked body");
    feed(c, 0, "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    feed(c, 1, "HTTP/1.1 204 No Content\r\n\r\n", 0);
    assert_int_equal(g.n, 1); /* the response direction is dead */
    l7_conn_free(c, clock_ns); /* reports /2 as unanswered */
    assert_int_equal(g.n, 2);
    got_free(&g);
}

static void test_upgrade_101_becomes_a_tunnel(void **state)
{
    struct got g = {0};
    struct l7_conn *c = l7_conn_new(1, keep, &g);
    (void)state;
    feed(c, 0, "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 0);
    feed(c, 1, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 0);
    feed(c, 0, "\x81\x05hello not http", 0);
    feed(c, 1, "\x81\x02hi", 0);
    assert_int_equal(g.n, 1);
    assert_true(g.ex[0]->upgraded);
    assert_true(l7_is_tunnel(c));
    got_free(&g);
    l7_conn_free(c, clock_ns);
    assert_int_equal(g.n, 0);
}

static void test_hostile_bytes_never_crash(void **state)
{
    (void)state;
    srand(42);
    for (int round = 0; round < 300; round++) {
        struct got g = {0};
        struct l7_conn *c = l7_conn_new(1, keep, &g);
        uint8_t buf[512];
        for (int k = 0; k < 20; k++) {
            size_t n = (size_t)(rand() % (int)sizeof(buf));
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)(rand() % 4 ? "GET / HTTP/1.1\r\nContent-Length: 9\r\n0\r\n"[rand() % 38] : rand());
            if (rand() % 10 == 0)
                l7_feed(c, rand() % 2, NULL, (size_t)(rand() % 100), clock_ns);
            else
                l7_feed(c, rand() % 2, buf, n, clock_ns);
        }
        l7_end(c, 0, rand() % 2, clock_ns);
        l7_end(c, 1, rand() % 2, clock_ns);
        l7_conn_free(c, clock_ns);
        got_free(&g);
    }
}

/* --- through a capture ---------------------------------------------------------------------- */

static void test_capture_split_headers_keep_alive_and_rst_mid_body(void **state)
{
    char *path = temp_pcap();
    struct pg *pg = pg_open(path, PG_LINK_EN10MB);
    struct run_result r;
    (void)state;
    struct pg_conn k = pg_connect(pg, pg_v4("127.0.0.1", 41000), pg_v4("127.0.0.1", 8000), 7, 70);
    /* a request whose header block is split over four segments */
    pg_sends(&k, true, "GET /spl");
    pg_sends(&k, true, "it HTTP/1.1\r\nHo");
    pg_sends(&k, true, "st: lb\r\n\r");
    pg_sends(&k, true, "\n");
    pg_sends(&k, false, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
    /* keep-alive: a second request on the same connection, reset mid-body */
    pg_sends(&k, true, "GET /reset HTTP/1.1\r\nHost: lb\r\n\r\n");
    pg_sends(&k, false, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial");
    pg_reset(&k, false);
    pg_close(pg);

    assert_int_equal(run_pcap(path, true, &r), 0);
    assert_int_equal(r.st.requests, 2);
    char line[8192];
    assert_non_null(line_with(r.out, "/split", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"complete\":true"));
    assert_non_null(strstr(line, "\"index\":1"));
    assert_non_null(line_with(r.out, "/reset", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"index\":2"));
    assert_non_null(strstr(line, "\"complete\":false"));
    assert_non_null(strstr(line, "connection reset mid-response"));
    assert_non_null(strstr(line, "\"rst\":true"));
    assert_non_null(strstr(line, "\"response_body\":7"));
    free(r.out);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_exchange_with_sizes_and_times),
        cmocka_unit_test(test_every_split_of_the_headers_gives_the_same_exchange),
        cmocka_unit_test(test_pipelined_requests_pair_in_order),
        cmocka_unit_test(test_chunked_bodies_both_ways),
        cmocka_unit_test(test_interim_100_continue_is_skipped),
        cmocka_unit_test(test_until_close_response_ends_with_fin_not_rst),
        cmocka_unit_test(test_reset_mid_body_is_incomplete),
        cmocka_unit_test(test_request_without_response_is_reported_at_close),
        cmocka_unit_test(test_malformed_request_pairs_with_the_error_response),
        cmocka_unit_test(test_gap_resynchronises_on_the_next_message),
        cmocka_unit_test(test_gap_inside_a_length_body_keeps_the_framing),
        cmocka_unit_test(test_gap_inside_an_until_close_body),
        cmocka_unit_test(test_malformed_chunked_body_stops_the_direction),
        cmocka_unit_test(test_upgrade_101_becomes_a_tunnel),
        cmocka_unit_test(test_hostile_bytes_never_crash),
        cmocka_unit_test(test_capture_split_headers_keep_alive_and_rst_mid_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
