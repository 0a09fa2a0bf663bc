/*
 * test_lb_protocol.c - end-to-end: the corners of HTTP/1.1 a proxy must get right. Request-target
 * forms (absolute-form, asterisk-form, CONNECT), versions lb does not speak, framing headers named
 * in Connection (a smuggling trick), trailers, an unasked 101, a body trickling in slower than
 * --client-timeout but steadily, slowloris on the second request of a keep-alive connection,
 * and connections that open and close without a byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 20000

static const char get2[] = "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n";

static void test_absolute_form_target_is_forwarded_in_origin_form_with_its_authority(void **state)
{
    struct lb_fixture f;
    struct harness_response resp;
    const char *req = "GET http://example.test/abs?x=1 HTTP/1.1\r\nHost: other.test\r\n\r\n";
    (void)state;

    lb_fixture_start_one_worker(&f, NULL, 0, NULL);
    assert_int_equal(harness_exchange(f.lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
    char *head = harness_sb_head(f.sb, 0);
    assert_non_null(head);
    assert_int_equal(strncmp(head, "GET /abs?x=1 HTTP/1.1\r\n", 23), 0);
    assert_int_equal(harness_head_header_count(head, "Host"), 1);
    assert_string_equal(harness_head_header_nth(head, "Host", 0), "example.test");
    free(head);
    lb_fixture_stop(&f);
}

static void test_http10_request_without_host_reaches_the_backend_with_one(void **state)
{
    struct lb_fixture f;
    struct harness_response resp;
    const char *req = "GET /old HTTP/1.0\r\n\r\n";
    (void)state;

    lb_fixture_start_one_worker(&f, NULL, 0, NULL);
    assert_int_equal(harness_exchange(f.lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
    char *head = harness_sb_head(f.sb, 0);
    assert_non_null(head);
    assert_int_equal(harness_head_header_count(head, "Host"), 1);
    assert_int_equal(harness_sb_error(f.sb, 0), 0);
    free(head);
    lb_fixture_stop(&f);
}

static void test_options_asterisk_is_forwarded(void **state)
{
    struct lb_fixture f;
    struct harness_response resp;
    const char *req = "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)state;

    lb_fixture_start_one_worker(&f, NULL, 0, NULL);
    assert_int_equal(harness_exchange(f.lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
    char *head = harness_sb_head(f.sb, 0);
    assert_non_null(head);
    assert_int_equal(strncmp(head, "OPTIONS * HTTP/1.1\r\n", 20), 0);
    free(head);
    lb_fixture_stop(&f);
}

/* Sends raw on a fresh connection; the answer must be one of the statuses, nothing may reach the
 * backend, and lb must still serve. */
static void assert_refused_one_of(const char *raw, const int *statuses, size_t n)
{
    struct lb_fixture f;
    struct harness_response resp;

    lb_fixture_start_one_worker(&f, NULL, 0, NULL);
    int rc = harness_exchange(f.lb_port, raw, strlen(raw), TIMEOUT_MS, &resp);
    bool ok = false;
    for (size_t i = 0; rc == 0 && i < n; i++)
        ok = ok || resp.status == statuses[i];
    if (!ok) {
        fprintf(stderr, "request %.40s: got rc %d status %d\n", raw, rc, resp.status);
        fail();
    }
    harness_response_free(&resp);
    assert_int_equal(harness_sb_requests(f.sb), 0);
    assert_int_equal(harness_exchange(f.lb_port, get2, strlen(get2), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
    lb_fixture_stop(&f);
}

static void test_framing_header_values_in_any_case_and_form(void **state)
{
    struct harness_sb_step step = {.mode = HARNESS_SB_ECHO};
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    const char *reqs[] = {
        "POST /a HTTP/1.1\r\nHost: x\r\ntransfer-encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "POST /b HTTP/1.1\r\nHost: x\r\ncontent-length: 0003\r\n\r\ndef",
        "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nghi",
        ("POST /d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         "00003;name=\"quoted ext\"\r\njkl\r\n000\r\n\r\n"),
    };
    const char *bodies[] = {"abc", "def", "ghi", "jkl"};
    (void)state;

    lb_fixture_start_one_worker(&f, &step, 1, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(harness_conn_request(&c, reqs[i], &resp), 0);
        assert_int_equal(resp.status, 200);
        assert_string_equal(resp.body, bodies[i]);
        harness_response_free(&resp);
    }
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_long_request_target_is_forwarded_intact(void **state)
{
    struct lb_fixture f;
    struct harness_response resp;
    size_t n = 7000;
    char *req = malloc(n + 64);
    (void)state;

    memcpy(req, "GET /", 5);
    for (size_t i = 0; i < n; i++)
        req[5 + i] = "abcdefghijklmnopqrstuvwxyz0123456789-._~%2F?&="[i % 46];
    strcpy(req + 5 + n, " HTTP/1.1\r\nHost: x\r\n\r\n");
    lb_fixture_start_one_worker(&f, NULL, 0, NULL);
    assert_int_equal(harness_exchange(f.lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
    char *head = harness_sb_head(f.sb, 0);
    assert_non_null(head);
    assert_int_equal(memcmp(head, req, 5 + n + 11), 0); /* "GET /...... HTTP/1.1\r\n" */
    free(head);
    free(req);
    lb_fixture_stop(&f);
}

static void test_connect_is_refused_not_forwarded(void **state)
{
    static const int ok[] = {501, 405, 400};
    (void)state;
    assert_refused_one_of("CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n", ok,
                          3);
}

static void test_http2_preface_and_unknown_versions_are_refused(void **state)
{
    static const int ok[] = {505, 400};
    (void)state;
    assert_refused_one_of("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ok, 2);
    assert_refused_one_of("GET / HTTP/1.2\r\nHost: x\r\n\r\n", ok, 2);
    assert_refused_one_of("GET / HTTP/3.0\r\nHost: x\r\n\r\n", ok, 2);
    assert_refused_one_of("GET / HTTP/1.10\r\nHost: x\r\n\r\n", ok, 2);
}

/* "Connection: Content-Length" must not make lb drop the header that frames the body it forwards:
 * the backend would then read the body as a second, smuggled request. */
static void test_content_length_named_in_connection_cannot_smuggle_a_request(void **state)
{
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    const char *inner = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    char req[512];
    (void)state;

    snprintf(req, sizeof(req), "POST /outer HTTP/1.1\r\nHost: x\r\nConnection: Content-Length\r\n"
             "Content-Length: %zu\r\n\r\n%s", strlen(inner), inner);
    lb_fixture_start_one_worker(&f, NULL, 0, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
    int rc = harness_read_response(&c, false, false, &resp);
    assert_true(rc == 0 && (resp.status == 200 || resp.status == 400));
    harness_response_free(&resp);
    harness_conn_close(&c);
    /* whatever lb did, the backend never saw /smuggled as a request of its own */
    harness_sleep_ms(300);
    for (int i = 0; i < harness_sb_requests(f.sb); i++) {
        char *head = harness_sb_head(f.sb, i);
        assert_null(strstr(head, "/smuggled"));
        free(head);
    }
    lb_fixture_stop(&f);
}

/* The same trick from the backend: the client must not lose the response framing. */
static void test_content_length_named_in_connection_by_the_backend_keeps_framing(void **state)
{
    struct harness_sb_step steps[] = {
        {.reply = "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 2\r\n\r\nok"},
        {.mode = HARNESS_SB_REPLY},
    };
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    (void)state;

    lb_fixture_start_one_worker(&f, steps, 2, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_conn_request(&c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n", &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_true(resp.complete);
    assert_string_equal(resp.body, "ok");
    bool closed = resp.closed;
    harness_response_free(&resp);
    if (!closed) {
        assert_int_equal(harness_conn_request(&c, get2, &resp), 0);
        assert_int_equal(resp.status, 200);
        assert_string_equal(resp.body, "sb");
        harness_response_free(&resp);
    }
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_chunked_response_with_trailers_reaches_http11_and_http10_clients(void **state)
{
    struct harness_sb_step step = {.reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                            "Trailer: X-Sum\r\n\r\n"
                                            "3\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Sum: 7\r\n\r\n"};
    struct lb_fixture f;
    struct harness_response resp;
    const char *req11 = "GET /t HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n";
    const char *req10 = "GET /t HTTP/1.0\r\n\r\n";
    (void)state;

    lb_fixture_start_one_worker(&f, &step, 1, NULL);
    assert_int_equal(harness_exchange(f.lb_port, req11, strlen(req11), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_true(resp.complete);
    assert_string_equal(resp.body, "abcdefg");
    harness_response_free(&resp);
    assert_int_equal(harness_exchange(f.lb_port, req10, strlen(req10), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_true(resp.complete);
    assert_false(resp.chunked);
    assert_string_equal(resp.body, "abcdefg");
    harness_response_free(&resp);
    lb_fixture_stop(&f);
}

static void test_unasked_101_from_the_backend_gets_502(void **state)
{
    struct harness_sb_step step = {.reply = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n"
                                            "Connection: Upgrade\r\n\r\nSMUGGLED",
                                   .close_after = true};
    struct lb_fixture f;
    size_t len;
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    (void)state;

    lb_fixture_start_one_worker(&f, &step, 1, NULL);
    int fd = harness_connect(f.lb_port, TIMEOUT_MS);
    assert_true(fd >= 0);
    assert_int_equal(harness_send_all(fd, req, strlen(req)), 0);
    char *raw = harness_recv_all(fd, 65536, &len);
    close(fd);
    assert_int_equal(strncmp(raw, "HTTP/1.1 502 ", 13), 0);
    assert_null(memmem(raw, len, "SMUGGLED", 8));
    free(raw);
    lb_fixture_stop(&f);
}

static void test_body_trickling_in_steadily_is_not_cut_by_client_timeout(void **state)
{
    const char *extra[] = {"--client-timeout", "2500", NULL};
    struct harness_sb_step step = {.mode = HARNESS_SB_ECHO};
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    const char *head = "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n";
    (void)state;

    lb_fixture_start_one_worker(&f, &step, 1, extra);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, head, strlen(head)), 0);
    /* 10 bytes, one every 300 ms: 3 s in all, longer than the timeout, yet never more than a
     * few hundred ms without progress (the margin to 2.5 s holds on a busy machine) */
    for (int i = 0; i < 10; i++) {
        harness_sleep_ms(300);
        assert_int_equal(harness_send_all(c.fd, &"0123456789"[i], 1), 0);
    }
    assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "0123456789");
    harness_response_free(&resp);
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_slowloris_on_the_second_request_of_a_connection_is_cut_off(void **state)
{
    const char *extra[] = {"--client-timeout", "1000", NULL};
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    const char *start_of_head = "GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    bool ended = false;
    (void)state;

    lb_fixture_start_one_worker(&f, NULL, 0, extra);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_conn_request(&c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n", &resp), 0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
    /* then a head trickled one byte every 200 ms, for up to 15 s */
    for (int i = 0; i < 75 && !ended; i++) {
        char byte = (size_t)i < strlen(start_of_head) ? start_of_head[i] : 'a';
        struct pollfd p = {.fd = c.fd, .events = POLLIN};
        if (poll(&p, 1, 0) > 0 || send(c.fd, &byte, 1, MSG_NOSIGNAL) != 1)
            ended = true;
        else
            harness_sleep_ms(200);
    }
    assert_true(ended);
    assert_int_equal(harness_sb_requests(f.sb), 1);
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

/* Two hundred connections stuck mid-head do not stop a normal client, and are all cut off once
 * --client-timeout has passed. */
static void test_many_stuck_heads_neither_block_others_nor_linger(void **state)
{
    enum { N = 200 };
    const char *extra[] = {"--client-timeout", "2000", NULL};
    struct lb_fixture f;
    struct harness_conn *c = calloc(N, sizeof(*c));
    struct harness_response resp;
    const char *partial = "GET /stuck HTTP/1.1\r\nHost: x\r\nX-Slow: aaa";
    (void)state;

    lb_fixture_start_one_worker(&f, NULL, 0, extra);
    for (int i = 0; i < N; i++) {
        assert_int_equal(harness_conn_open(&c[i], f.lb_port, TIMEOUT_MS), 0);
        assert_int_equal(harness_send_all(c[i].fd, partial, strlen(partial)), 0);
    }
    assert_int_equal(harness_exchange(f.lb_port, get2, strlen(get2), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
    for (int i = 0; i < N; i++) {
        /* 408 or a bare close, within our 20 s bound */
        if (harness_read_response(&c[i], false, false, &resp) == 0)
            assert_int_equal(resp.status, 408);
        harness_response_free(&resp);
        assert_true(harness_conn_closed(&c[i], TIMEOUT_MS));
        harness_conn_close(&c[i]);
    }
    assert_int_equal(harness_sb_requests(f.sb), 1);
    free(c);
    lb_fixture_stop(&f);
}

static void test_connections_closed_without_a_byte_do_no_harm(void **state)
{
    struct lb_fixture f;
    struct harness_response resp;
    (void)state;

    lb_fixture_start_one_worker(&f, NULL, 0, NULL);
    for (int i = 0; i < 200; i++) {
        int fd = harness_connect(f.lb_port, TIMEOUT_MS);
        assert_true(fd >= 0);
        if (i % 2) { /* half of them with a reset */
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        close(fd);
    }
    assert_int_equal(harness_exchange(f.lb_port, get2, strlen(get2), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
    assert_int_equal(harness_sb_requests(f.sb), 1);
    lb_fixture_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_absolute_form_target_is_forwarded_in_origin_form_with_its_authority),
        LB_TEST(test_http10_request_without_host_reaches_the_backend_with_one),
        LB_TEST(test_options_asterisk_is_forwarded),
        LB_TEST(test_framing_header_values_in_any_case_and_form),
        LB_TEST(test_long_request_target_is_forwarded_intact),
        LB_TEST(test_connect_is_refused_not_forwarded),
        LB_TEST(test_http2_preface_and_unknown_versions_are_refused),
        LB_TEST(test_content_length_named_in_connection_cannot_smuggle_a_request),
        LB_TEST(test_content_length_named_in_connection_by_the_backend_keeps_framing),
        LB_TEST(test_chunked_response_with_trailers_reaches_http11_and_http10_clients),
        LB_TEST(test_unasked_101_from_the_backend_gets_502),
        LB_TEST(test_body_trickling_in_steadily_is_not_cut_by_client_timeout),
        LB_TEST(test_slowloris_on_the_second_request_of_a_connection_is_cut_off),
        LB_TEST(test_many_stuck_heads_neither_block_others_nor_linger),
        LB_TEST(test_connections_closed_without_a_byte_do_no_harm),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("lb protocol", tests, NULL, NULL);
}
