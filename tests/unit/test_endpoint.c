/* test_endpoint.c - unit tests of backend-sim's routing and query parsing (backend-sim/endpoint.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "../../backend-sim/endpoint.h"

static const struct endpoint_caps caps = {.max_size = 1ull << 30, .max_delay_ms = 60000};

static enum endpoint_kind route(const char *path, struct endpoint_route *r)
{
    return endpoint_route(path, strlen(path), &caps, r);
}

static void test_fixed_paths_route_to_their_endpoints(void **state)
{
    struct endpoint_route r;
    (void)state;
    assert_int_equal(route("/", &r), ENDPOINT_PAGE);
    assert_int_equal(route("/?x=1", &r), ENDPOINT_PAGE);
    assert_int_equal(route("/whoami", &r), ENDPOINT_WHOAMI);
    assert_int_equal(route("/health", &r), ENDPOINT_HEALTH);
    assert_int_equal(route("/admin/health", &r), ENDPOINT_ADMIN_HEALTH);
    assert_int_equal(route("/headers", &r), ENDPOINT_HEADERS);
    assert_int_equal(route("/echo", &r), ENDPOINT_ECHO);
    assert_int_equal(route("/hang", &r), ENDPOINT_HANG);
    assert_int_equal(route("/reset", &r), ENDPOINT_RESET);
    assert_int_equal(route("/login", &r), ENDPOINT_LOGIN);
    assert_int_equal(route("/flaky", &r), ENDPOINT_FLAKY);
    assert_int_equal(route("/upgrade", &r), ENDPOINT_UPGRADE);
}

static void test_unknown_paths_fall_through_to_files(void **state)
{
    struct endpoint_route r;
    (void)state;
    assert_int_equal(route("/index.html", &r), ENDPOINT_FILE);
    assert_int_equal(route("/whoami/", &r), ENDPOINT_FILE);
    assert_int_equal(route("/WHOAMI", &r), ENDPOINT_FILE);
    assert_int_equal(route("/bytes", &r), ENDPOINT_FILE);
    assert_int_equal(route("/static/app.js?v=3", &r), ENDPOINT_FILE);
    assert_int_equal(r.path_len, strlen("/static/app.js"));
}

static void test_bytes_takes_a_size_up_to_the_cap(void **state)
{
    struct endpoint_route r;
    (void)state;
    assert_int_equal(route("/bytes/0", &r), ENDPOINT_BYTES);
    assert_int_equal(r.n, 0);
    assert_int_equal(route("/bytes/1048576", &r), ENDPOINT_BYTES);
    assert_int_equal(r.n, 1048576);
    assert_int_equal(route("/bytes/1073741824", &r), ENDPOINT_BYTES);
    assert_int_equal(r.n, 1ull << 30);
    assert_int_equal(route("/bytes/1073741825", &r), ENDPOINT_BAD);
    assert_non_null(strstr(r.message, "beyond the cap"));
    assert_int_equal(route("/bytes/99999999999999999999999", &r), ENDPOINT_BAD);
    assert_non_null(strstr(r.message, "beyond the cap"));
    assert_int_equal(route("/bytes/12x", &r), ENDPOINT_BAD);
    assert_non_null(strstr(r.message, "not a byte count"));
    assert_int_equal(route("/bytes/", &r), ENDPOINT_BAD);
    assert_int_equal(route("/bytes/-1", &r), ENDPOINT_BAD);
}

static void test_delay_is_capped(void **state)
{
    struct endpoint_route r;
    (void)state;
    assert_int_equal(route("/delay/250", &r), ENDPOINT_DELAY);
    assert_int_equal(r.ms, 250);
    assert_int_equal(route("/delay/60000", &r), ENDPOINT_DELAY);
    assert_int_equal(route("/delay/60001", &r), ENDPOINT_BAD);
    assert_non_null(strstr(r.message, "60000 ms"));
    assert_int_equal(route("/delay/1.5", &r), ENDPOINT_BAD);
}

static void test_status_accepts_100_to_599_except_101(void **state)
{
    struct endpoint_route r;
    (void)state;
    assert_int_equal(route("/status/418", &r), ENDPOINT_STATUS);
    assert_int_equal(r.status, 418);
    assert_int_equal(route("/status/100", &r), ENDPOINT_STATUS);
    assert_int_equal(route("/status/599", &r), ENDPOINT_STATUS);
    assert_int_equal(route("/status/101", &r), ENDPOINT_BAD);
    assert_int_equal(route("/status/99", &r), ENDPOINT_BAD);
    assert_int_equal(route("/status/600", &r), ENDPOINT_BAD);
    assert_int_equal(route("/status/abc", &r), ENDPOINT_BAD);
}

static void test_flaky_reads_p_from_the_query(void **state)
{
    struct endpoint_route r;
    (void)state;
    assert_int_equal(route("/flaky", &r), ENDPOINT_FLAKY);
    assert_true(r.p == ENDPOINT_FLAKY_DEFAULT_P);
    assert_int_equal(route("/flaky?p=0.2", &r), ENDPOINT_FLAKY);
    assert_true(r.p > 0.199 && r.p < 0.201);
    assert_int_equal(route("/flaky?x=1&p=1", &r), ENDPOINT_FLAKY);
    assert_true(r.p == 1.0);
    assert_int_equal(route("/flaky?p=.5", &r), ENDPOINT_FLAKY);
    assert_int_equal(route("/flaky?p=1.5", &r), ENDPOINT_BAD);
    assert_int_equal(route("/flaky?p=-0.1", &r), ENDPOINT_BAD);
    assert_int_equal(route("/flaky?p=1e-1", &r), ENDPOINT_BAD);
    assert_int_equal(route("/flaky?p=", &r), ENDPOINT_BAD);
}

static void test_chunked_reads_gap_and_chunk(void **state)
{
    struct endpoint_route r;
    (void)state;
    assert_int_equal(route("/chunked/5000", &r), ENDPOINT_CHUNKED);
    assert_int_equal(r.n, 5000);
    assert_int_equal(r.chunk, ENDPOINT_CHUNK_DEFAULT);
    assert_int_equal(r.ms, 0);
    assert_int_equal(route("/chunked/100?gap=50&chunk=10", &r), ENDPOINT_CHUNKED);
    assert_int_equal(r.ms, 50);
    assert_int_equal(r.chunk, 10);
    assert_int_equal(route("/chunked/100?chunk=0", &r), ENDPOINT_BAD);
    assert_int_equal(route("/chunked/100?gap=x", &r), ENDPOINT_BAD);
    /* 1000 chunks 100 ms apart: 99.9 s, beyond the 60 s cap */
    assert_int_equal(route("/chunked/1000?chunk=1&gap=100", &r), ENDPOINT_BAD);
    assert_non_null(strstr(r.message, "cap"));
    /* 600 chunks 100 ms apart: 59.9 s, allowed */
    assert_int_equal(route("/chunked/600?chunk=1&gap=100", &r), ENDPOINT_CHUNKED);
}

static void test_close_defaults_to_1024_bytes(void **state)
{
    struct endpoint_route r;
    (void)state;
    assert_int_equal(route("/close", &r), ENDPOINT_CLOSE);
    assert_int_equal(r.n, ENDPOINT_CLOSE_DEFAULT_N);
    assert_int_equal(route("/close/10", &r), ENDPOINT_CLOSE);
    assert_int_equal(r.n, 10);
    assert_int_equal(route("/close/x", &r), ENDPOINT_BAD);
}

static void test_query_param_finds_values(void **state)
{
    const char *q = "a=1&bb=two&c&d=";
    const char *v;
    size_t n;
    (void)state;
    assert_true(endpoint_query_param(q, strlen(q), "a", &v, &n));
    assert_int_equal(n, 1);
    assert_memory_equal(v, "1", 1);
    assert_true(endpoint_query_param(q, strlen(q), "bb", &v, &n));
    assert_int_equal(n, 3);
    assert_memory_equal(v, "two", 3);
    assert_true(endpoint_query_param(q, strlen(q), "c", &v, &n));
    assert_int_equal(n, 0);
    assert_true(endpoint_query_param(q, strlen(q), "d", &v, &n));
    assert_int_equal(n, 0);
    assert_false(endpoint_query_param(q, strlen(q), "b", &v, &n));
    assert_false(endpoint_query_param(NULL, 0, "a", &v, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_paths_route_to_their_endpoints),
        cmocka_unit_test(test_unknown_paths_fall_through_to_files),
        cmocka_unit_test(test_bytes_takes_a_size_up_to_the_cap),
        cmocka_unit_test(test_delay_is_capped),
        cmocka_unit_test(test_status_accepts_100_to_599_except_101),
        cmocka_unit_test(test_flaky_reads_p_from_the_query),
        cmocka_unit_test(test_chunked_reads_gap_and_chunk),
        cmocka_unit_test(test_close_defaults_to_1024_bytes),
        cmocka_unit_test(test_query_param_finds_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
