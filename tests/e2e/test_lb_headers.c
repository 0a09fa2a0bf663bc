/*
 * test_lb_headers.c - end-to-end: the header rules, checked on the exact head a scripted backend
 * received from lb and on the response the client got: one X-Forwarded-For line with the client
 * address appended, X-Forwarded-Proto, X-Request-ID added (or kept) and returned, hop-by-hop
 * headers (and every header named in Connection) removed in both directions, the rest untouched.
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
#include <strings.h>

#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 15000

static const char hop_reply[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Backend-Secret\r\n"
    "Keep-Alive: timeout=99\r\nProxy-Connection: keep-alive\r\nTrailer: X-Sum\r\n"
    "Upgrade: h2c\r\nX-Backend-Secret: s3cret\r\nX-Kept: yes\r\n\r\nok";

static struct lb_fixture fx; /* one lb and scripted backend for the whole group */

static int setup(void **state)
{
    (void)state;
    lb_fixture_start_named(&fx, "hdr", NULL, 0, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = harness_stop(fx.lb, 15000);
    harness_sb_stop(fx.sb);
    return st == 0 ? 0 : -1;
}

/* Sends request through lb on a fresh connection; returns the head the backend received
 * (malloc'd) and the response in *resp. */
static char *forward(const char *request, struct harness_response *resp)
{
    int before = harness_sb_requests(fx.sb);
    assert_int_equal(harness_exchange(fx.lb_port, request, strlen(request), TIMEOUT_MS, resp), 0);
    assert_int_equal(resp->status, 200);
    assert_int_equal(harness_sb_requests(fx.sb), before + 1);
    char *head = harness_sb_head(fx.sb, before);
    assert_non_null(head);
    return head;
}

/* s without spaces or tabs, in a static buffer. */
static const char *squeeze(const char *s)
{
    static char out[1024];
    size_t n = 0;
    for (; s && *s && n + 1 < sizeof(out); s++)
        if (*s != ' ' && *s != '\t')
            out[n++] = *s;
    out[n] = '\0';
    return out;
}

static void test_xff_is_the_client_address_when_absent(void **state)
{
    struct harness_response resp;
    (void)state;
    char *head = forward("GET / HTTP/1.1\r\nHost: lb\r\n\r\n", &resp);
    assert_int_equal(harness_head_header_count(head, "X-Forwarded-For"), 1);
    assert_string_equal(squeeze(harness_head_header_nth(head, "X-Forwarded-For", 0)), "127.0.0.1");
    free(head);
    harness_response_free(&resp);
}

static void test_xff_gets_the_client_address_appended(void **state)
{
    struct harness_response resp;
    (void)state;
    char *head = forward("GET / HTTP/1.1\r\nHost: lb\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n", &resp);
    assert_int_equal(harness_head_header_count(head, "X-Forwarded-For"), 1);
    assert_string_equal(squeeze(harness_head_header_nth(head, "X-Forwarded-For", 0)),
                        "203.0.113.7,127.0.0.1");
    free(head);
    harness_response_free(&resp);
}

static void test_two_xff_lines_become_one_line_with_the_client_appended(void **state)
{
    struct harness_response resp;
    (void)state;
    char *head = forward("GET / HTTP/1.1\r\nHost: lb\r\nX-Forwarded-For: 10.0.0.1\r\n"
                         "X-Trace: t\r\nx-forwarded-for: 10.0.0.2, 10.0.0.3\r\n\r\n", &resp);
    assert_int_equal(harness_head_header_count(head, "X-Forwarded-For"), 1);
    assert_string_equal(squeeze(harness_head_header_nth(head, "X-Forwarded-For", 0)),
                        "10.0.0.1,10.0.0.2,10.0.0.3,127.0.0.1");
    assert_string_equal(harness_head_header_nth(head, "X-Trace", 0), "t");
    free(head);
    harness_response_free(&resp);
}

static void test_x_forwarded_proto_is_http(void **state)
{
    struct harness_response resp;
    (void)state;
    char *head = forward("GET / HTTP/1.1\r\nHost: lb\r\n\r\n", &resp);
    assert_int_equal(harness_head_header_count(head, "X-Forwarded-Proto"), 1);
    assert_string_equal(harness_head_header_nth(head, "X-Forwarded-Proto", 0), "http");
    free(head);
    harness_response_free(&resp);
}

static void test_request_id_is_added_and_returned_on_the_response(void **state)
{
    struct harness_response resp, resp2;
    char id[256];
    (void)state;
    char *head = forward("GET / HTTP/1.1\r\nHost: lb\r\n\r\n", &resp);
    assert_int_equal(harness_head_header_count(head, "X-Request-ID"), 1);
    const char *sent = harness_head_header_nth(head, "X-Request-ID", 0);
    assert_true(strlen(sent) > 0);
    snprintf(id, sizeof(id), "%s", sent);
    assert_int_equal(harness_header_count(&resp, "X-Request-ID"), 1);
    assert_string_equal(harness_header(&resp, "X-Request-ID"), id);
    free(head);

    /* the next request gets another id */
    head = forward("GET / HTTP/1.1\r\nHost: lb\r\n\r\n", &resp2);
    assert_string_not_equal(harness_head_header_nth(head, "X-Request-ID", 0), id);
    free(head);
    harness_response_free(&resp);
    harness_response_free(&resp2);
}

static void test_request_id_from_the_client_is_kept_and_echoed(void **state)
{
    struct harness_response resp;
    (void)state;
    char *head = forward("GET / HTTP/1.1\r\nHost: lb\r\nX-Request-ID: client-id-42\r\n\r\n", &resp);
    assert_int_equal(harness_head_header_count(head, "X-Request-ID"), 1);
    assert_string_equal(harness_head_header_nth(head, "X-Request-ID", 0), "client-id-42");
    assert_int_equal(harness_header_count(&resp, "X-Request-ID"), 1);
    assert_string_equal(harness_header(&resp, "X-Request-ID"), "client-id-42");
    free(head);
    harness_response_free(&resp);
}

static void assert_connection_does_not_name(const char *value, const char *name)
{
    if (value != NULL)
        assert_null(strcasestr(value, name));
}

static void test_hop_by_hop_request_headers_are_removed(void **state)
{
    struct harness_response resp;
    (void)state;
    char *head = forward("GET /path?q=1 HTTP/1.1\r\nHost: example.test\r\n"
                         "Connection: keep-alive, X-Client-Secret\r\nKeep-Alive: timeout=5\r\n"
                         "Proxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-Sum\r\n"
                         "X-Client-Secret: hush\r\nX-End-To-End: kept\r\n\r\n", &resp);
    assert_null(harness_head_header_nth(head, "Keep-Alive", 0));
    assert_null(harness_head_header_nth(head, "Proxy-Connection", 0));
    assert_null(harness_head_header_nth(head, "TE", 0));
    assert_null(harness_head_header_nth(head, "Trailer", 0));
    assert_null(harness_head_header_nth(head, "X-Client-Secret", 0));
    for (int i = 0; i < harness_head_header_count(head, "Connection"); i++)
        assert_connection_does_not_name(harness_head_header_nth(head, "Connection", i),
                                        "X-Client-Secret");
    /* end-to-end headers, the request line and Host pass unchanged */
    assert_string_equal(harness_head_header_nth(head, "X-End-To-End", 0), "kept");
    assert_string_equal(harness_head_header_nth(head, "Host", 0), "example.test");
    assert_int_equal(strncmp(head, "GET /path?q=1 HTTP/1.1\r\n", 24), 0);
    free(head);
    harness_response_free(&resp);
}

static void test_hop_by_hop_response_headers_are_removed(void **state)
{
    struct lb_fixture f;
    struct harness_sb_step step = {.reply = hop_reply};
    struct harness_response resp;
    const char *req = "GET / HTTP/1.1\r\nHost: lb\r\n\r\n";
    (void)state;
    lb_fixture_start_named(&f, "hop", &step, 1, NULL);
    assert_int_equal(harness_exchange(f.lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "ok");
    assert_null(harness_header(&resp, "X-Backend-Secret"));
    assert_null(harness_header(&resp, "Proxy-Connection"));
    assert_null(harness_header(&resp, "Trailer"));
    assert_null(harness_header(&resp, "Upgrade"));
    for (int i = 0; i < harness_header_count(&resp, "Keep-Alive"); i++)
        assert_null(strstr(harness_header_nth(&resp, "Keep-Alive", i), "99"));
    for (int i = 0; i < harness_header_count(&resp, "Connection"); i++)
        assert_connection_does_not_name(harness_header_nth(&resp, "Connection", i),
                                        "X-Backend-Secret");
    assert_string_equal(harness_header(&resp, "X-Kept"), "yes");
    harness_response_free(&resp);
    lb_fixture_stop(&f);
}

static void test_post_body_and_content_length_are_forwarded(void **state)
{
    struct harness_response resp;
    size_t len;
    (void)state;
    int before = harness_sb_requests(fx.sb);
    char *head = forward("POST /form HTTP/1.1\r\nHost: lb\r\nContent-Type: text/plain\r\n"
                         "Content-Length: 9\r\n\r\na=1&b=two", &resp);
    char *body = harness_sb_body(fx.sb, before, &len);
    assert_non_null(body);
    assert_int_equal(len, 9);
    assert_string_equal(body, "a=1&b=two");
    assert_string_equal(harness_head_header_nth(head, "Content-Type", 0), "text/plain");
    free(body);
    free(head);
    harness_response_free(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_xff_is_the_client_address_when_absent),
        LB_TEST(test_xff_gets_the_client_address_appended),
        LB_TEST(test_two_xff_lines_become_one_line_with_the_client_appended),
        LB_TEST(test_x_forwarded_proto_is_http),
        LB_TEST(test_request_id_is_added_and_returned_on_the_response),
        LB_TEST(test_request_id_from_the_client_is_kept_and_echoed),
        LB_TEST(test_hop_by_hop_request_headers_are_removed),
        LB_TEST(test_hop_by_hop_response_headers_are_removed),
        LB_TEST(test_post_body_and_content_length_are_forwarded),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("lb headers", tests, setup, teardown);
}
