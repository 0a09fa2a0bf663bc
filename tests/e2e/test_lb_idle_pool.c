/*
 * test_lb_idle_pool.c - end-to-end: the pool of idle backend connections is bounded. With the
 * defaults, the requests of one client connection reuse one backend connection; --pool-max 0
 * keeps none (one backend connection per request); --pool-max 1 keeps one of two that a burst
 * opened; and an idle one is closed after --pool-idle-timeout even when no request comes to take
 * it. One worker, so every request shares one pool; the scripted backend counts connections.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 30000
#define GET "GET /x HTTP/1.1\r\nHost: lb\r\n\r\n"

/* Sends n GETs one after the other on one client connection; each gets a 200. */
static void sequential_gets(uint16_t port, int n)
{
    struct harness_conn c;
    assert_int_equal(harness_conn_open(&c, port, TIMEOUT_MS), 0);
    for (int i = 0; i < n; i++) {
        struct harness_response resp;
        assert_int_equal(harness_conn_request(&c, GET, &resp), 0);
        assert_int_equal(resp.status, 200);
        harness_response_free(&resp);
    }
    harness_conn_close(&c);
}

static void test_requests_reuse_one_pooled_backend_connection(void **state)
{
    struct lb_fixture f;
    (void)state;
    lb_fixture_start_one_worker(&f, NULL, 0, NULL);
    sequential_gets(f.lb_port, 3);
    assert_int_equal(harness_sb_connections(f.sb), 1);
    assert_int_equal(harness_sb_open_connections(f.sb), 1); /* kept for the next request */
    lb_fixture_stop(&f);
}

static void test_pool_max_0_keeps_no_backend_connection(void **state)
{
    struct lb_fixture f;
    const char *args[] = {"--pool-max", "0", NULL};
    (void)state;
    lb_fixture_start_one_worker(&f, NULL, 0, args);
    sequential_gets(f.lb_port, 3);
    assert_int_equal(harness_sb_requests(f.sb), 3);
    assert_int_equal(harness_sb_connections(f.sb), 3);
    assert_true(harness_sb_wait_open_at_most(f.sb, 0, TIMEOUT_MS));
    lb_fixture_stop(&f);
}

/* Two requests in flight at once need two backend connections; with --pool-max 1 only one of
 * them waits in the pool afterwards. */
static void test_pool_max_caps_what_a_burst_leaves_idle(void **state)
{
    struct lb_fixture f;
    const struct harness_sb_step slow = {.mode = HARNESS_SB_REPLY, .delay_ms = 300};
    const char *args[] = {"--pool-max", "1", NULL};
    struct harness_conn c[2];
    (void)state;
    lb_fixture_start_one_worker(&f, &slow, 1, args);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(harness_conn_open(&c[i], f.lb_port, TIMEOUT_MS), 0);
        assert_int_equal(harness_send_all(c[i].fd, GET, strlen(GET)), 0);
    }
    /* both requests reach the backend before either is answered: two connections */
    assert_true(harness_sb_wait_requests(f.sb, 2, TIMEOUT_MS));
    for (int i = 0; i < 2; i++) {
        struct harness_response resp;
        assert_int_equal(harness_read_response(&c[i], false, false, &resp), 0);
        assert_int_equal(resp.status, 200);
        harness_response_free(&resp);
    }
    assert_int_equal(harness_sb_connections(f.sb), 2);
    assert_true(harness_sb_wait_open_at_most(f.sb, 1, TIMEOUT_MS));
    /* the one kept serves the next request */
    struct harness_response resp;
    assert_int_equal(harness_conn_request(&c[0], GET, &resp), 0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
    assert_int_equal(harness_sb_connections(f.sb), 2);
    for (int i = 0; i < 2; i++)
        harness_conn_close(&c[i]);
    lb_fixture_stop(&f);
}

/* Nobody takes the idle connection: the worker's once-a-second pass closes it after
 * --pool-idle-timeout (the bound here is generous; the close is what is checked). */
static void test_an_idle_backend_connection_is_closed_after_the_idle_timeout(void **state)
{
    struct lb_fixture f;
    const char *args[] = {"--pool-idle-timeout", "200", NULL};
    (void)state;
    lb_fixture_start_one_worker(&f, NULL, 0, args);
    sequential_gets(f.lb_port, 1);
    assert_int_equal(harness_sb_connections(f.sb), 1);
    assert_true(harness_sb_wait_open_at_most(f.sb, 0, TIMEOUT_MS));
    /* the next request opens a new one */
    sequential_gets(f.lb_port, 1);
    assert_int_equal(harness_sb_connections(f.sb), 2);
    lb_fixture_stop(&f);
}

/* A backend that ends its connection with a keep-alive answer (the FIN in the answer's own
 * segment, as a server closing on its idle timeout can): lb saw the FIN, so the connection is not
 * pooled, and the next request gets a fresh one. A POST: on a dead pooled connection lb could not
 * send it again (it may have had effects), so the client would get a 502. */
static void test_a_connection_the_backend_ended_is_not_pooled(void **state)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    static const char post[] = "POST /x HTTP/1.1\r\nHost: lb\r\nContent-Length: 2\r\n\r\nhi";
    const struct harness_sb_step steps[] = {
        {.mode = HARNESS_SB_REPLY, .reply = ok, .fin_with_reply = true},
        {.mode = HARNESS_SB_ECHO},
    };
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    (void)state;
    lb_fixture_start_one_worker(&f, steps, 2, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_conn_request(&c, GET, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "ok");
    harness_response_free(&resp);
    assert_int_equal(harness_conn_request(&c, post, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "hi");
    harness_response_free(&resp);
    assert_int_equal(harness_sb_connections(f.sb), 2);
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_requests_reuse_one_pooled_backend_connection),
        LB_TEST(test_pool_max_0_keeps_no_backend_connection),
        LB_TEST(test_pool_max_caps_what_a_burst_leaves_idle),
        LB_TEST(test_an_idle_backend_connection_is_closed_after_the_idle_timeout),
        LB_TEST(test_a_connection_the_backend_ended_is_not_pooled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
