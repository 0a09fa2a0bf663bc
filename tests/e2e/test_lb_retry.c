/*
 * test_lb_retry.c - end-to-end: a request that moves to another backend after a failed connect
 * is sent as if that backend had been picked first.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_fixture.h"

/* An HTTP/1.0 request without Host gets the backend's name as Host; when its first backend
 * refuses the connection, the one that serves it must see its own name, not the first one's. */
static void test_retry_on_another_backend_names_that_backend_in_host(void **state)
{
    (void)state;
    struct harness_sb *sb = harness_sb_start("sb", NULL, 0);
    assert_non_null(sb);
    uint16_t backends[2] = {harness_free_port(), harness_sb_port(sb)}; /* nothing listens on [0] */
    uint16_t lb_port;
    const char *extra[] = {"-w", "1", NULL};
    pid_t lb = harness_start_lb(&lb_port, backends, 2, extra, NULL);
    assert_true(lb > 0);

    char want[64], dead[64];
    snprintf(want, sizeof(want), "127.0.0.1:%u", (unsigned)backends[1]);
    snprintf(dead, sizeof(dead), "127.0.0.1:%u", (unsigned)backends[0]);
    /* round robin starts with backend 0 on a fresh lb, so the first request is a retry */
    for (int i = 0; i < 2; i++) {
        static const char req[] = "GET /retry HTTP/1.0\r\n\r\n";
        struct harness_response resp;
        assert_int_equal(harness_exchange(lb_port, req, sizeof(req) - 1, 5000, &resp), 0);
        assert_int_equal(resp.status, 200);
        harness_response_free(&resp);
    }
    assert_true(harness_sb_wait_requests(sb, 2, 5000));
    for (int i = 0; i < 2; i++) {
        char *head = harness_sb_head(sb, i);
        assert_non_null(head);
        assert_int_equal(harness_head_header_count(head, "Host"), 1);
        assert_string_equal(harness_head_header_nth(head, "Host", 0), want);
        assert_null(strstr(head, dead));
        free(head);
    }
    assert_int_equal(harness_stop(lb, 15000), 0);
    harness_sb_stop(sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_retry_on_another_backend_names_that_backend_in_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
