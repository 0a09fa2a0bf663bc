/* test_errors.c - unit tests of lb's own error responses (lb/errors.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../lb/errors.h"
#include "http.h"

static void test_error_response_is_valid_http_with_length_id_and_close(void **state)
{
    char out[2048];
    struct http_header hs[16];
    struct http_response r = {.headers = hs, .num_headers = 16};
    (void)state;
    ssize_t n = errors_response(out, sizeof(out), 502, "backend refused", "rid-1", 5, false, 0);
    assert_true(n > 0);
    int head = http_parse_response(out, (size_t)n, &r, NULL, false);
    assert_true(head > 0);
    assert_int_equal(r.status, 502);
    assert_int_equal(r.framing, HTTP_BODY_LENGTH);
    assert_int_equal(r.content_length, (uint64_t)(n - head));
    assert_false(r.keep_alive);
    const struct http_header *id = http_find_header(hs, r.num_headers, "X-Request-ID");
    assert_non_null(id);
    assert_memory_equal(id->value, "rid-1", 5);
    assert_non_null(strstr(out + head, "backend refused"));
}

static void test_503_can_say_when_to_come_back(void **state)
{
    char out[2048];
    (void)state;
    ssize_t n = errors_response(out, sizeof(out), 503, "no backend", "x", 1, true, 5);
    assert_true(n > 0);
    assert_string_equal(out, "HTTP/1.1 503 Service Unavailable\r\n"
                             "Content-Type: text/html; charset=utf-8\r\n"
                             "Content-Length: 165\r\n"
                             "X-Request-ID: x\r\n"
                             "Retry-After: 5\r\n"
                             "Connection: close\r\n"
                             "\r\n");
}

static void test_every_error_status_has_its_reason(void **state)
{
    static const struct {
        int code;
        const char *status_line, *title;
    } cases[] = {
        {400, "HTTP/1.1 400 Bad Request\r\n", "<title>400 Bad Request</title>"},
        {408, "HTTP/1.1 408 Request Timeout\r\n", "<title>408 Request Timeout</title>"},
        {414, "HTTP/1.1 414 URI Too Long\r\n", "<title>414 URI Too Long</title>"},
        {431, "HTTP/1.1 431 Request Header Fields Too Large\r\n",
         "<title>431 Request Header Fields Too Large</title>"},
        {501, "HTTP/1.1 501 Not Implemented\r\n", "<title>501 Not Implemented</title>"},
        {502, "HTTP/1.1 502 Bad Gateway\r\n", "<title>502 Bad Gateway</title>"},
        {503, "HTTP/1.1 503 Service Unavailable\r\n", "<title>503 Service Unavailable</title>"},
        {504, "HTTP/1.1 504 Gateway Timeout\r\n", "<title>504 Gateway Timeout</title>"},
    };
    char out[2048];
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ssize_t n = errors_response(out, sizeof(out), cases[i].code, NULL, "x", 1, false, 0);
        assert_true(n > 0);
        assert_memory_equal(out, cases[i].status_line, strlen(cases[i].status_line));
        assert_non_null(strstr(out, cases[i].title));
    }
}

static void test_whole_response_is_exactly_this(void **state)
{
    static const char body[] =
        "<!DOCTYPE html>\n<html><head><title>504 Gateway Timeout</title></head>\n"
        "<body><h1>504 Gateway Timeout</h1><p>backend too slow</p><hr><p>lb (lblab)</p>"
        "</body></html>\n";
    char out[2048], want[2048];
    (void)state;
    snprintf(want, sizeof(want),
             "HTTP/1.1 504 Gateway Timeout\r\n"
             "Content-Type: text/html; charset=utf-8\r\n"
             "Content-Length: %zu\r\n"
             "X-Request-ID: abc\r\n"
             "Connection: close\r\n"
             "\r\n%s",
             sizeof(body) - 1, body);
    ssize_t n = errors_response(out, sizeof(out), 504, "backend too slow", "abcdef", 3, false, 0);
    assert_int_equal(n, strlen(want));
    assert_string_equal(out, want);
    /* HEAD: the same head, Content-Length included, and no body */
    n = errors_response(out, sizeof(out), 504, "backend too slow", "abcdef", 3, true, 0);
    assert_int_equal(n, strlen(want) - (sizeof(body) - 1));
    assert_memory_equal(out, want, (size_t)n);
}

static void test_head_request_gets_no_body_and_small_buffer_fails(void **state)
{
    char out[2048];
    (void)state;
    ssize_t n = errors_response(out, sizeof(out), 503, NULL, "x", 1, true, 0);
    assert_true(n > 0);
    assert_int_equal(memcmp(out + n - 4, "\r\n\r\n", 4), 0);
    assert_int_equal(errors_response(out, 40, 503, NULL, "x", 1, false, 0), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_response_is_valid_http_with_length_id_and_close),
        cmocka_unit_test(test_every_error_status_has_its_reason),
        cmocka_unit_test(test_503_can_say_when_to_come_back),
        cmocka_unit_test(test_whole_response_is_exactly_this),
        cmocka_unit_test(test_head_request_gets_no_body_and_small_buffer_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
