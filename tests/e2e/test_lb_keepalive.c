/*
 * test_lb_keepalive.c - end-to-end: client connections. Many requests on one keep-alive
 * connection, 100 pipelined requests sent in one write and answered in order (also with bodies),
 * Connection: close and HTTP/1.0 honoured, and a few hundred connections open at once all served.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 30000

static struct harness_lab lab;

static int setup(void **state)
{
    (void)state;
    return harness_lab_start(&lab, 3, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return harness_lab_stop(&lab) == 0 ? 0 : -1;
}

static void test_keepalive_connection_serves_many_requests(void **state)
{
    struct harness_conn c;
    (void)state;

    assert_int_equal(harness_conn_open(&c, lab.lb_port, TIMEOUT_MS), 0);
    for (int i = 0; i < 60; i++) {
        struct harness_response resp;
        char req[128];
        snprintf(req, sizeof(req), "GET /bytes/%d HTTP/1.1\r\nHost: lb\r\n\r\n", 100 + i);
        assert_int_equal(harness_conn_request(&c, req, &resp), 0);
        assert_int_equal(resp.status, 200);
        assert_true(resp.complete);
        assert_false(resp.closed);
        assert_int_equal(resp.body_len, (size_t)(100 + i));
        harness_response_free(&resp);
    }
    assert_false(harness_conn_closed(&c, 200));
    harness_conn_close(&c);
}

static void test_100_pipelined_requests_are_answered_in_order(void **state)
{
    struct harness_conn c;
    size_t cap = 100 * 64, len = 0;
    char *all = malloc(cap);
    (void)state;

    for (int i = 0; i < 100; i++)
        len += (size_t)snprintf(all + len, cap - len, "GET /bytes/%d HTTP/1.1\r\nHost: lb\r\n\r\n",
                                i + 1);
    assert_int_equal(harness_conn_open(&c, lab.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, all, len), 0); /* one write */
    for (int i = 0; i < 100; i++) {
        struct harness_response resp;
        assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
        assert_int_equal(resp.status, 200);
        assert_true(resp.complete);
        assert_int_equal(resp.body_len, (size_t)(i + 1)); /* the length says which request */
        harness_response_free(&resp);
    }
    assert_int_equal(c.len, 0);
    harness_conn_close(&c);
    free(all);
}

static void test_pipelined_posts_are_echoed_in_order(void **state)
{
    struct harness_conn c;
    size_t cap = 20 * 128, len = 0;
    char *all = malloc(cap);
    (void)state;

    for (int i = 0; i < 20; i++) {
        char body[32];
        int bl = snprintf(body, sizeof(body), "body-number-%d", i);
        len += (size_t)snprintf(all + len, cap - len,
                                "POST /echo HTTP/1.1\r\nHost: lb\r\nContent-Length: %d\r\n\r\n%s",
                                bl, body);
    }
    assert_int_equal(harness_conn_open(&c, lab.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, all, len), 0);
    for (int i = 0; i < 20; i++) {
        struct harness_response resp;
        char body[32];
        snprintf(body, sizeof(body), "body-number-%d", i);
        assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
        assert_int_equal(resp.status, 200);
        assert_string_equal(resp.body, body);
        harness_response_free(&resp);
    }
    harness_conn_close(&c);
    free(all);
}

/* A pipeline far longer than any buffer of lb's: 1000 requests in one write. */
static void test_1000_pipelined_requests_in_one_write(void **state)
{
    enum { N = 1000 };
    struct harness_conn c;
    size_t cap = N * 64, len = 0;
    char *all = malloc(cap);
    (void)state;

    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(all + len, cap - len, "GET /bytes/%d HTTP/1.1\r\nHost: lb\r\n\r\n",
                                i % 50 + 1);
    assert_int_equal(harness_conn_open(&c, lab.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, all, len), 0);
    for (int i = 0; i < N; i++) {
        struct harness_response resp;
        assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
        assert_int_equal(resp.status, 200);
        assert_int_equal(resp.body_len, (size_t)(i % 50 + 1));
        harness_response_free(&resp);
    }
    harness_conn_close(&c);
    free(all);
}

static void test_connection_close_from_the_client_is_honoured(void **state)
{
    struct harness_conn c;
    struct harness_response resp;
    (void)state;

    assert_int_equal(harness_conn_open(&c, lab.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_conn_request(&c, "GET /bytes/10 HTTP/1.1\r\nHost: lb\r\n"
                                              "Connection: close\r\n\r\n", &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body_len, 10);
    harness_response_free(&resp);
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    harness_conn_close(&c);
}

static void test_http10_request_without_keepalive_is_closed_after_the_response(void **state)
{
    struct harness_conn c;
    struct harness_response resp;
    (void)state;

    assert_int_equal(harness_conn_open(&c, lab.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_conn_request(&c, "GET /bytes/10 HTTP/1.0\r\n\r\n", &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body_len, 10);
    assert_true(resp.complete);
    harness_response_free(&resp);
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    harness_conn_close(&c);
}

static void test_300_connections_open_at_once_are_all_served(void **state)
{
    enum { N = 300 };
    struct harness_conn *c = calloc(N, sizeof(*c));
    const char *req = "GET /whoami HTTP/1.1\r\nHost: lb\r\n\r\n";
    (void)state;

    for (int i = 0; i < N; i++)
        assert_int_equal(harness_conn_open(&c[i], lab.lb_port, TIMEOUT_MS), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(harness_send_all(c[i].fd, req, strlen(req)), 0);
    for (int i = 0; i < N; i++) {
        struct harness_response resp;
        assert_int_equal(harness_read_response(&c[i], false, false, &resp), 0);
        assert_int_equal(resp.status, 200);
        harness_response_free(&resp);
    }
    /* and every connection still works for a second request */
    for (int i = 0; i < N; i++) {
        struct harness_response resp;
        assert_int_equal(harness_conn_request(&c[i], req, &resp), 0);
        assert_int_equal(resp.status, 200);
        harness_response_free(&resp);
        harness_conn_close(&c[i]);
    }
    free(c);
}

static void test_requests_after_connection_close_in_a_pipeline_are_not_served(void **state)
{
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    const char *three = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                        "GET /3 HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)state;

    lb_fixture_start(&f, NULL, 0, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, three, strlen(three)), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
        assert_int_equal(resp.status, 200);
        harness_response_free(&resp);
    }
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    assert_int_equal(harness_sb_requests(f.sb), 2);
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_http10_keepalive_client_is_kept_while_the_length_is_known(void **state)
{
    struct lb_fixture f;
    struct harness_sb_step steps[] = {
        {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"},
        {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo"},
        {.reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthree\r\n0\r\n\r\n"},
    };
    struct harness_conn c;
    struct harness_response resp;
    const char *req = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    const char *bodies[] = {"one", "two", "three"};
    (void)state;

    lb_fixture_start(&f, steps, 3, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(harness_conn_request(&c, req, &resp), 0);
        assert_int_equal(resp.status, 200);
        assert_true(resp.complete);
        assert_false(resp.chunked);
        assert_string_equal(resp.body, bodies[i]);
        /* kept open while lb knows the length; a chunked body goes out decoded, ending anyhow */
        if (i < 2)
            assert_false(resp.closed);
        harness_response_free(&resp);
    }
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_head_answered_with_a_chunked_head_leaves_no_stray_bytes(void **state)
{
    struct lb_fixture f;
    struct harness_sb_step steps[] = {
        {.reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
        {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"},
    };
    struct harness_conn c;
    struct harness_response resp;
    (void)state;

    lb_fixture_start(&f, steps, 2, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_conn_request(&c, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body_len, 0);
    harness_response_free(&resp);
    assert_int_equal(harness_conn_request(&c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "next");
    harness_response_free(&resp);
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_request_ids_are_unique_across_workers(void **state)
{
    enum { N = 400 };
    struct harness_conn c[4];
    char (*ids)[128] = calloc(N, sizeof(*ids));
    (void)state;

    for (int k = 0; k < 4; k++)
        assert_int_equal(harness_conn_open(&c[k], lab.lb_port, TIMEOUT_MS), 0);
    for (int i = 0; i < N; i++) {
        struct harness_response resp;
        assert_int_equal(harness_conn_request(&c[i % 4], "GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n",
                                              &resp), 0);
        const char *id = harness_header(&resp, "X-Request-ID");
        assert_non_null(id);
        snprintf(ids[i], sizeof(ids[i]), "%s", id);
        harness_response_free(&resp);
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            assert_string_not_equal(ids[i], ids[j]);
    for (int k = 0; k < 4; k++)
        harness_conn_close(&c[k]);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_keepalive_connection_serves_many_requests),
        LB_TEST(test_100_pipelined_requests_are_answered_in_order),
        LB_TEST(test_pipelined_posts_are_echoed_in_order),
        LB_TEST(test_1000_pipelined_requests_in_one_write),
        LB_TEST(test_connection_close_from_the_client_is_honoured),
        LB_TEST(test_http10_request_without_keepalive_is_closed_after_the_response),
        LB_TEST(test_300_connections_open_at_once_are_all_served),
        LB_TEST(test_requests_after_connection_close_in_a_pipeline_are_not_served),
        LB_TEST(test_http10_keepalive_client_is_kept_while_the_length_is_known),
        LB_TEST(test_head_answered_with_a_chunked_head_leaves_no_stray_bytes),
        LB_TEST(test_request_ids_are_unique_across_workers),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("lb keep-alive", tests, setup, teardown);
}
