/*
 * test_lb_retry.c - end-to-end: requests that move to another backend. After a failed connect
 * the request is sent as if that backend had been picked first; after a backend took it and
 * died without answering, only a safe request without a body is sent again (--retries).
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
    static struct lb_fixture f;
    const char *extra[] = {"-w", "1", NULL};
    lb_fixture_start_ports(&f, backends, 2, extra);
    uint16_t lb_port = f.lb_port;

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
    lb_fixture_stop(&f);
    harness_sb_stop(sb);
}

/* lb in front of backend a (closes every connection without answering) and b (answers). */
struct two {
    struct harness_sb *a, *b;
    struct lb_fixture f;
    uint16_t lb_port;
};

static void two_start(struct two *t, const char *retries)
{
    static const struct harness_sb_step close_step = {.mode = HARNESS_SB_CLOSE};
    t->a = harness_sb_start("a", &close_step, 1);
    t->b = harness_sb_start("b", NULL, 0);
    assert_non_null(t->a);
    assert_non_null(t->b);
    uint16_t backends[2] = {harness_sb_port(t->a), harness_sb_port(t->b)};
    const char *extra[] = {"-w", "1", "--retries", retries, NULL};
    lb_fixture_start_ports(&t->f, backends, 2, extra);
    t->lb_port = t->f.lb_port;
}

static void two_stop(struct two *t)
{
    lb_fixture_stop(&t->f);
    harness_sb_stop(t->a);
    harness_sb_stop(t->b);
}

static int status_of(uint16_t port, const char *req)
{
    struct harness_response resp;
    assert_int_equal(harness_exchange(port, req, strlen(req), 10000, &resp), 0);
    int status = resp.status;
    harness_response_free(&resp);
    return status;
}

/* Round robin sends the first request to a, which reads it and closes without a word: the GET
 * is safe, so it goes to b and the client sees b's answer. */
static void test_get_that_dies_unanswered_is_answered_by_another_backend(void **state)
{
    static struct two t;
    (void)state;
    two_start(&t, "1");
    assert_int_equal(status_of(t.lb_port, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
    assert_true(harness_sb_wait_requests(t.a, 1, 5000));
    assert_true(harness_sb_wait_requests(t.b, 1, 5000));
    assert_int_equal(harness_sb_requests(t.a), 1);
    assert_int_equal(harness_sb_requests(t.b), 1);
    two_stop(&t);
}

/* A POST is never sent twice, body or not: a's silence is the client's 502. */
static void test_post_that_dies_unanswered_is_never_sent_again(void **state)
{
    static struct two t;
    (void)state;
    two_start(&t, "3");
    assert_int_equal(status_of(t.lb_port, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
                     502);
    assert_true(harness_sb_wait_requests(t.a, 1, 5000));
    assert_int_equal(harness_sb_requests(t.a), 1);
    assert_int_equal(harness_sb_requests(t.b), 0);
    two_stop(&t);
}

/* --retries 0 turns the resend off: the GET gets the 502 too. */
static void test_retries_zero_answers_502_at_once(void **state)
{
    static struct two t;
    (void)state;
    two_start(&t, "0");
    assert_int_equal(status_of(t.lb_port, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"), 502);
    assert_int_equal(harness_sb_requests(t.b), 0);
    two_stop(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_retry_on_another_backend_names_that_backend_in_host),
        LB_TEST(test_get_that_dies_unanswered_is_answered_by_another_backend),
        LB_TEST(test_post_that_dies_unanswered_is_never_sent_again),
        LB_TEST(test_retries_zero_answers_502_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
