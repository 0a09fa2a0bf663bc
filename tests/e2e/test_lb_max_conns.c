/*
 * test_lb_max_conns.c - end-to-end: --max-conns N. With N client connections open (on two
 * workers), lb accepts no more: the next connection is made by the kernel and waits in the listen
 * backlog, its request unanswered and unseen by the backend; when one of the N closes, lb takes
 * it and answers. Connections over the limit are never refused nor answered 503, and lb's
 * statistics (lbtop --json) show a peak of exactly N connections open at once. The same in
 * -m tcp, where each relayed connection counts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 20000
#define MAX_CONNS 3

static const char req[] = "GET /bytes/10 HTTP/1.1\r\nHost: lb\r\n\r\n";

static void connections_over_the_limit_wait_until_one_closes(const char *mode)
{
    struct harness_conn held[MAX_CONNS], extra;
    uint16_t sim_port, lb_port;
    pid_t sim = harness_start_backend_sim("s1", &sim_port, NULL);
    assert_true(sim > 0);
    const char *args[] = {"-m", mode, "-w", "2", "--max-conns", "3", NULL};
    pid_t lb = harness_start_lb(&lb_port, &sim_port, 1, args, NULL);
    assert_true(lb > 0);
    /* harness_start_lb's probe connection may still hold a slot for a moment: the first
     * connections are served as soon as it is gone */
    for (int i = 0; i < MAX_CONNS; i++) {
        assert_int_equal(harness_conn_open(&held[i], lb_port, TIMEOUT_MS), 0);
        lb_fixture_request_ok(&held[i], req); /* served: lb holds it now (keep-alive) */
    }
    /* one more: connected by the kernel, but lb does not take it */
    assert_int_equal(harness_conn_open(&extra, lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(extra.fd, req, strlen(req)), 0);
    struct pollfd p = {.fd = extra.fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 1000), 0); /* no answer, no close, no reset */
    /* the ones held are still served meanwhile */
    lb_fixture_request_ok(&held[0], req);
    /* one goes: the waiting one is taken and answered */
    harness_conn_close(&held[1]);
    struct harness_response r;
    assert_int_equal(harness_read_response(&extra, false, false, &r), 0);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
    /* lb's statistics never saw more than the limit open at once */
    int status;
    char *json = harness_runf(&status, "%s -p %u --json 2>&1", harness_bin("lbtop"),
                              (unsigned)lb_port);
    assert_non_null(json);
    const char *conn = strstr(json, "\"connections\": {\"accepted\"");
    const char *peak = conn != NULL ? strstr(conn, "\"peak\": ") : NULL;
    if (peak == NULL)
        fail_msg("no connections peak in lbtop's JSON: %s", json);
    int most = atoi(peak + strlen("\"peak\": "));
    if (most < MAX_CONNS || most > MAX_CONNS)
        fail_msg("peak %d connections with --max-conns %d", most, MAX_CONNS);
    free(json);
    harness_conn_close(&extra);
    harness_conn_close(&held[0]);
    harness_conn_close(&held[2]);
    assert_int_equal(harness_stop(lb, 15000), 0);
    assert_int_equal(harness_stop(sim, 15000), 0);
}

static void test_connections_over_the_limit_wait_until_one_closes(void **state)
{
    (void)state;
    connections_over_the_limit_wait_until_one_closes("http");
}

/* -m tcp counts relayed connections the same way (backend-sim keeps the idle ones 5 s: more
 * than this test takes) */
static void test_tcp_connections_over_the_limit_wait_until_one_closes(void **state)
{
    (void)state;
    connections_over_the_limit_wait_until_one_closes("tcp");
}

static void test_max_conns_refuses_a_bad_value(void **state)
{
    int status;
    (void)state;
    char *out = harness_runf(&status, "%s --max-conns lots 2>&1", harness_bin("lb"));
    assert_non_null(out);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    assert_non_null(strstr(out, "--max-conns"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_connections_over_the_limit_wait_until_one_closes),
        LB_TEST(test_tcp_connections_over_the_limit_wait_until_one_closes),
        LB_TEST(test_max_conns_refuses_a_bad_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
