/* test_errors.c - unit tests of lb's own error responses (lb/errors.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "../../lb/errors.h"
#include "http.h"

static void test_error_response_is_valid_http_with_length_id_and_close(void **state)
{
    char out[2048];
    struct http_header hs[16];
    struct http_response r = {.headers = hs, .num_headers = 16};
    (void)state;
    ssize_t n = errors_response(out, sizeof(out), 502, "backend refused", "rid-1", 5, false);
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

static void test_every_error_status_has_its_reason(void **state)
{
    char out[2048];
    int codes[] = {400, 408, 414, 431, 501, 502, 503, 504};
    (void)state;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        ssize_t n = errors_response(out, sizeof(out), codes[i], NULL, "x", 1, false);
        assert_true(n > 0);
        assert_non_null(strstr(out, http_status_reason(codes[i])));
    }
}

static void test_head_request_gets_no_body_and_small_buffer_fails(void **state)
{
    char out[2048];
    (void)state;
    ssize_t n = errors_response(out, sizeof(out), 503, NULL, "x", 1, true);
    assert_true(n > 0);
    assert_int_equal(memcmp(out + n - 4, "\r\n\r\n", 4), 0);
    assert_int_equal(errors_response(out, 40, 503, NULL, "x", 1, false), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_response_is_valid_http_with_length_id_and_close),
        cmocka_unit_test(test_every_error_status_has_its_reason),
        cmocka_unit_test(test_head_request_gets_no_body_and_small_buffer_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
