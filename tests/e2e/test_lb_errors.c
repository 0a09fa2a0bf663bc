/*
 * test_lb_errors.c - end-to-end: every error status a client can see from lb, and that lb keeps
 * serving afterwards. 400 for malformed and smuggling-shaped requests (never forwarded, then the
 * connection is closed), 414, 431, 501, 502 (malformed framing from a backend, never relayed),
 * 503 (every backend refused, or no backend left), 504 (--server-timeout), and a slowloris
 * client cut off by --client-timeout however slowly its bytes keep arriving.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
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

/* A plain GET through lb is still answered 200. */
static void assert_still_serving(uint16_t lb_port)
{
    struct harness_response resp;
    const char *req = "GET / HTTP/1.1\r\nHost: lb\r\n\r\n";
    assert_int_equal(harness_exchange(lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
}

/* Sends raw (n bytes) on a fresh connection; expects status, then the connection closed. */
static void assert_refused(uint16_t lb_port, const char *raw, size_t n, int status)
{
    struct harness_conn c;
    struct harness_response resp;

    assert_int_equal(harness_conn_open(&c, lb_port, TIMEOUT_MS), 0);
    harness_send_all(c.fd, raw, n); /* lb may close before reading it all */
    if (harness_read_response(&c, false, false, &resp) != 0 || resp.status != status) {
        fprintf(stderr, "request %.60s...: expected %d, got %d\n", raw, status, resp.status);
        fail();
    }
    harness_response_free(&resp);
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    harness_conn_close(&c);
}

static const char *const smuggling[] = {
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
    "0\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
    "GET / HTTP/1.1\r\n Host: x\r\n\r\n",
    "GET / HTTP/1.1\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\rX-Bare-CR: 1\r\n\r\n",
    "GET /  HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET / HTTP/1.1 \r\nHost: x\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n",
    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
};

static void test_malformed_and_smuggling_requests_get_400_and_are_not_forwarded(void **state)
{
    struct lb_fixture f;
    (void)state;

    lb_fixture_start(&f, NULL, 0, NULL);
    for (size_t i = 0; i < sizeof(smuggling) / sizeof(smuggling[0]); i++)
        assert_refused(f.lb_port, smuggling[i], strlen(smuggling[i]), 400);
    /* a NUL inside a header value */
    static const char nul[] = "GET / HTTP/1.1\r\nHost: x\r\nX-Nul: a\0b\r\n\r\n";
    assert_refused(f.lb_port, nul, sizeof(nul) - 1, 400);
    /* none of them reached the backend */
    assert_int_equal(harness_sb_requests(f.sb), 0);
    assert_still_serving(f.lb_port);
    lb_fixture_stop(&f);
}

static void test_smuggling_after_a_good_request_on_one_connection_closes_it(void **state)
{
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    (void)state;

    lb_fixture_start(&f, NULL, 0, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_conn_request(&c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n", &resp), 0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
    assert_int_equal(harness_conn_request(&c, smuggling[0], &resp), 0);
    assert_int_equal(resp.status, 400);
    harness_response_free(&resp);
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    harness_conn_close(&c);
    assert_int_equal(harness_sb_requests(f.sb), 1);
    lb_fixture_stop(&f);
}

static void test_bad_chunk_size_in_a_request_body_is_not_answered_200(void **state)
{
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    const char *req = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "zz\r\nhello\r\n0\r\n\r\n";
    (void)state;

    lb_fixture_start(&f, NULL, 0, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
    if (harness_read_response(&c, false, false, &resp) == 0) /* or closed without an answer */
        assert_int_equal(resp.status, 400);
    harness_response_free(&resp);
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    harness_conn_close(&c);
    assert_still_serving(f.lb_port);
    lb_fixture_stop(&f);
}

static void test_request_line_too_long_gets_414(void **state)
{
    struct lb_fixture f;
    size_t n = 20000;
    char *req = malloc(n + 64);
    (void)state;

    memcpy(req, "GET /", 5);
    memset(req + 5, 'a', n);
    strcpy(req + 5 + n, " HTTP/1.1\r\nHost: x\r\n\r\n");
    lb_fixture_start(&f, NULL, 0, NULL);
    assert_refused(f.lb_port, req, strlen(req), 414);
    assert_int_equal(harness_sb_requests(f.sb), 0);
    assert_still_serving(f.lb_port);
    lb_fixture_stop(&f);
    free(req);
}

/* Appends n header fields of 1,000-byte values and the empty line that ends the head to the
 * len bytes at req (cap bytes in all, with room for them). Returns the new length. */
static size_t end_with_big_fields(char *req, size_t len, size_t cap, int n)
{
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(req + len, cap - len, "X-Big-%d: ", i);
        memset(req + len, 'v', 1000);
        len += 1000;
        memcpy(req + len, "\r\n", 2);
        len += 2;
    }
    memcpy(req + len, "\r\n", 2);
    return len + 2;
}

static void test_headers_too_large_get_431(void **state)
{
    struct lb_fixture f;
    size_t cap = 200000, len = 0;
    char *req = malloc(cap);
    (void)state;

    len += (size_t)snprintf(req, cap, "GET / HTTP/1.1\r\nHost: x\r\n");
    len = end_with_big_fields(req, len, cap, 80);
    lb_fixture_start(&f, NULL, 0, NULL);
    assert_refused(f.lb_port, req, len, 431);
    assert_int_equal(harness_sb_requests(f.sb), 0);
    assert_still_serving(f.lb_port);
    lb_fixture_stop(&f);
    free(req);
}

/* The 16 KiB limit on a head holds whatever block the connection's buffer has: after a fast
 * upload, the bytes that follow it on the connection (here a pipelined head of 17.5 KB) land in a
 * 256 KiB block (buffer.h), where the head fits whole, and must still get 431, never reach the
 * backend. */
static void test_a_large_head_after_a_fast_upload_still_gets_431(void **state)
{
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    size_t body_len = 1 << 20, cap = body_len + 200000, len = 0;
    char *raw = malloc(cap);
    (void)state;

    assert_non_null(raw);
    len += (size_t)snprintf(raw, cap, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
                            body_len);
    size_t head_len = len;
    for (size_t i = 0; i < body_len; i++)
        raw[len + i] = (char)('a' + i % 26);
    len += body_len;
    len += (size_t)snprintf(raw + len, cap - len, "GET /next HTTP/1.1\r\nHost: x\r\n");
    len = end_with_big_fields(raw, len, cap, 17); /* 17.5 KB: over 16 KiB, under lb's 20 KiB */

    lb_fixture_start(&f, NULL, 0, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    harness_send_all(c.fd, raw, len); /* lb may close before reading the last head whole */
    assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
    assert_int_equal(resp.status, 200); /* the upload */
    harness_response_free(&resp);
    assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
    assert_int_equal(resp.status, 431); /* the head after it */
    harness_response_free(&resp);
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    harness_conn_close(&c);

    assert_int_equal(harness_sb_requests(f.sb), 1); /* the upload alone, whole */
    size_t got = 0;
    char *body = harness_sb_body(f.sb, 0, &got);
    assert_non_null(body);
    assert_int_equal(got, body_len);
    assert_memory_equal(body, raw + head_len, body_len);
    free(body);
    assert_still_serving(f.lb_port);
    lb_fixture_stop(&f);
    free(raw);
}

static void test_too_many_header_fields_get_431(void **state)
{
    struct lb_fixture f;
    size_t cap = 16384, len = 0;
    char *req = malloc(cap);
    (void)state;

    len += (size_t)snprintf(req, cap, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 300; i++)
        len += (size_t)snprintf(req + len, cap - len, "X-%d: v\r\n", i);
    len += (size_t)snprintf(req + len, cap - len, "\r\n");
    lb_fixture_start(&f, NULL, 0, NULL);
    assert_refused(f.lb_port, req, len, 431);
    assert_int_equal(harness_sb_requests(f.sb), 0);
    assert_still_serving(f.lb_port);
    lb_fixture_stop(&f);
    free(req);
}

static void test_unknown_transfer_coding_gets_501(void **state)
{
    struct lb_fixture f;
    const char *req = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: x-custom, chunked\r\n\r\n"
                      "0\r\n\r\n";
    (void)state;

    lb_fixture_start(&f, NULL, 0, NULL);
    assert_refused(f.lb_port, req, strlen(req), 501);
    assert_int_equal(harness_sb_requests(f.sb), 0);
    assert_still_serving(f.lb_port);
    lb_fixture_stop(&f);
}

static void test_refused_backend_gets_503(void **state)
{
    struct lb_fixture f;
    uint16_t closed = harness_free_port();
    struct harness_response resp;
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)state;

    lb_fixture_start_ports(&f, &closed, 1, NULL);
    assert_int_equal(harness_exchange(f.lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 503);
    harness_response_free(&resp);
    lb_fixture_stop(&f);
}

static void test_no_resolvable_backend_gets_503(void **state)
{
    struct lb_fixture f;
    const char *extra[] = {"-b", "no-such-backend.invalid:80", "-b", "nor-this-one.invalid:80",
                           NULL};
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)state;

    lb_fixture_start_ports(&f, NULL, 0, extra);
    for (int i = 0; i < 3; i++) {
        struct harness_response resp;
        assert_int_equal(harness_exchange(f.lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
        assert_int_equal(resp.status, 503);
        harness_response_free(&resp);
    }
    lb_fixture_stop(&f);
}

/* Malformed response framing from the backend: the client never gets the backend's bytes after
 * the fault, nor a complete response. With head_is_bad the fault is in the head, so nothing can
 * have been relayed and the client must get a 502. */
static void assert_backend_reply_refused(const char *reply, bool head_is_bad)
{
    struct harness_sb_step step = {.reply = reply, .close_after = true};
    struct lb_fixture f;
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    size_t len;

    lb_fixture_start(&f, &step, 1, NULL);
    int fd = harness_connect(f.lb_port, TIMEOUT_MS);
    assert_true(fd >= 0);
    assert_int_equal(harness_send_all(fd, req, strlen(req)), 0);
    char *raw = harness_recv_all(fd, 1 << 20, &len);
    close(fd);
    assert_non_null(raw);
    bool is_502 = strncmp(raw, "HTTP/1.1 502 ", 13) == 0 || strncmp(raw, "HTTP/1.0 502 ", 13) == 0;
    if ((head_is_bad && !is_502) || memmem(raw, len, "SMUGGLED", 8) != NULL) {
        fprintf(stderr, "backend sent %.50s...; client got %.60s\n", reply, raw);
        fail();
    }
    if (!is_502 && len > 0) {
        /* a relayed head, then the body must visibly stop short */
        struct harness_conn c = {.fd = -1, .buf = raw, .len = len, .cap = len};
        struct harness_response resp;
        if (harness_read_response(&c, false, false, &resp) == 0) {
            assert_int_equal(resp.status, 200);
            assert_false(resp.complete);
        }
        harness_response_free(&resp);
        raw = c.buf;
    }
    free(raw);
    lb_fixture_stop(&f);
}

static void test_malformed_backend_response_head_gets_502_never_relayed(void **state)
{
    (void)state;
    assert_backend_reply_refused("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", true);
    assert_backend_reply_refused("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nContent-Length: 9\r\n\r\n"
                                 "SMUGGLED!", true);
    assert_backend_reply_refused("HTTP/1.1 200 OK\nContent-Length: 8\n\nSMUGGLED", true);
    assert_backend_reply_refused("HTTP/1.1 2OO OK\r\nContent-Length: 8\r\n\r\nSMUGGLED", true);
    assert_backend_reply_refused("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-Fold: a\r\n b\r\n\r\n"
                                 "SMUGGLED", true);
    assert_backend_reply_refused("HTTP/1.1 200 OK\r\nContent-Length: -8\r\n\r\nSMUGGLED", true);
    assert_backend_reply_refused("HTTP/1.1 200 OK\r\nX Bad: 1\r\nContent-Length: 8\r\n\r\nSMUGGLED",
                                 true);
    assert_backend_reply_refused("garbage, not a status line\r\n\r\nSMUGGLED", true);
}

static void test_bad_chunk_size_from_backend_is_never_relayed(void **state)
{
    (void)state;
    assert_backend_reply_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "5\r\nhello\r\nzz\r\nSMUGGLED\r\n0\r\n\r\n", false);
    assert_backend_reply_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "5\r\nhello\r\nfffffffffffffffffffff\r\nSMUGGLED\r\n0\r\n\r\n",
                                 false);
    assert_backend_reply_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "5\r\nhelloSMUGGLED\r\n0\r\n\r\n", false);
}

static void test_hanging_backend_gets_504_after_server_timeout(void **state)
{
    struct harness_sb_step step = {.mode = HARNESS_SB_HANG};
    const char *extra[] = {"--server-timeout", "1000", NULL};
    struct lb_fixture f;
    struct harness_response resp;
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)state;

    lb_fixture_start(&f, &step, 1, extra);
    assert_int_equal(harness_exchange(f.lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 504);
    harness_response_free(&resp);
    assert_true(harness_sb_requests(f.sb) >= 1);
    lb_fixture_stop(&f);
}

/* Trickles an endless header one byte every 200 ms. Returns true when lb ended the connection
 * (closed it, reset it or answered 408) before max_bytes were sent; *status gets the status if
 * one came. */
static bool slowloris(uint16_t lb_port, int max_bytes, int *status)
{
    const char *start = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    struct harness_conn c;
    bool ended = false;

    *status = 0;
    assert_int_equal(harness_conn_open(&c, lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, start, 1), 0);
    for (int i = 1; i < max_bytes && !ended; i++) {
        char byte = start[i] ? start[i] : 'a';
        if ((size_t)i >= strlen(start))
            byte = 'a';
        harness_sleep_ms(200);
        struct pollfd p = {.fd = c.fd, .events = POLLIN};
        if (poll(&p, 1, 0) > 0 || send(c.fd, &byte, 1, MSG_NOSIGNAL) != 1)
            ended = true;
    }
    if (ended) {
        struct harness_response resp;
        if (harness_read_response(&c, false, false, &resp) == 0)
            *status = resp.status;
        harness_response_free(&resp);
    }
    harness_conn_close(&c);
    return ended;
}

static void test_slowloris_headers_are_cut_off_by_client_timeout(void **state)
{
    const char *extra[] = {"--client-timeout", "1000", NULL};
    struct lb_fixture f;
    int status;
    (void)state;

    lb_fixture_start(&f, NULL, 0, extra);
    /* 1000 ms of --client-timeout; bytes keep coming every 200 ms for up to 15 s */
    assert_true(slowloris(f.lb_port, 75, &status));
    assert_true(status == 0 || status == 408);
    assert_int_equal(harness_sb_requests(f.sb), 0);
    assert_still_serving(f.lb_port);
    lb_fixture_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_malformed_and_smuggling_requests_get_400_and_are_not_forwarded),
        LB_TEST(test_smuggling_after_a_good_request_on_one_connection_closes_it),
        LB_TEST(test_bad_chunk_size_in_a_request_body_is_not_answered_200),
        LB_TEST(test_request_line_too_long_gets_414),
        LB_TEST(test_headers_too_large_get_431),
        LB_TEST(test_a_large_head_after_a_fast_upload_still_gets_431),
        LB_TEST(test_too_many_header_fields_get_431),
        LB_TEST(test_unknown_transfer_coding_gets_501),
        LB_TEST(test_refused_backend_gets_503),
        LB_TEST(test_no_resolvable_backend_gets_503),
        LB_TEST(test_malformed_backend_response_head_gets_502_never_relayed),
        LB_TEST(test_bad_chunk_size_from_backend_is_never_relayed),
        LB_TEST(test_hanging_backend_gets_504_after_server_timeout),
        LB_TEST(test_slowloris_headers_are_cut_off_by_client_timeout),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("lb errors", tests, NULL, NULL);
}
