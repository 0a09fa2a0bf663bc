/* test_access_log.c - unit tests of access-log lines (lb/access_log.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lb/access_log.h"

static struct request_record sample(void)
{
    struct request_record r = {
        .wall_ns = 1795756321123456789ull, /* 2026-11-27T05:12:01.123Z */
        .client_text = "127.0.0.1:40000",
        .backend_name = "b1",
        .server_text = "127.0.0.1:3001",
        .id = "abc",
        .id_len = 3,
        .method = "GET",
        .method_len = 3,
        .path = "/index.html?q=1",
        .path_len = 15,
        .status = 200,
        .bytes_in = 0,
        .bytes_out = 1234,
        .connect_ns = 120999, /* cut to the microsecond, not rounded */
        .first_byte_ns = 480000,
        .total_ns = 1610000,
    };
    return r;
}

static void test_line_has_every_named_field(void **state)
{
    char line[4096];
    struct request_record r = sample();
    (void)state;
    size_t n = access_log_format(line, sizeof(line), &r);
    line[n] = '\0';
    assert_string_equal(line, "time=2026-11-27T05:12:01.123Z client=127.0.0.1:40000 "
                              "backend=b1 backend_addr=127.0.0.1:3001 id=abc method=GET "
                              "path=\"/index.html?q=1\" status=200 req_bytes=0 bytes=1234 "
                              "connect_ms=0.120 first_byte_ms=0.480 total_ms=1.610\n");
}

static void test_a_request_cut_for_a_timeout_says_whose(void **state)
{
    char line[4096];
    struct request_record r = sample();
    (void)state;
    r.end = "client_timeout";
    size_t n = access_log_format(line, sizeof(line), &r);
    line[n] = '\0';
    assert_string_equal(line, "time=2026-11-27T05:12:01.123Z client=127.0.0.1:40000 "
                              "backend=b1 backend_addr=127.0.0.1:3001 id=abc method=GET "
                              "path=\"/index.html?q=1\" status=200 req_bytes=0 bytes=1234 "
                              "connect_ms=0.120 first_byte_ms=0.480 total_ms=1.610 "
                              "end=client_timeout\n");
}

/* A request whose body went through a pipe says how many of its bytes did; one copied says
 * nothing (test_line_has_every_named_field). */
static void test_a_spliced_request_counts_its_spliced_bytes(void **state)
{
    char line[4096];
    struct request_record r = sample();
    (void)state;
    r.bytes_out = 1048700;
    r.spliced = 1032192;
    size_t n = access_log_format(line, sizeof(line), &r);
    line[n] = '\0';
    assert_non_null(strstr(line, " bytes=1048700 connect_ms=0.120 first_byte_ms=0.480 "
                                 "total_ms=1.610 spliced=1032192\n"));
}

static void test_unknown_values_are_dashes(void **state)
{
    char line[4096];
    struct request_record r = sample();
    (void)state;
    r.backend_name = NULL;
    r.server_text = NULL;
    r.status = 0;
    r.method_len = 0;
    r.connect_ns = r.first_byte_ns = 0;
    size_t n = access_log_format(line, sizeof(line), &r);
    line[n] = '\0';
    assert_non_null(strstr(line, " backend=- backend_addr=- "));
    assert_non_null(strstr(line, " status=- "));
    assert_non_null(strstr(line, " method=- "));
    assert_non_null(strstr(line, " connect_ms=- first_byte_ms=- "));
}

static void test_a_backend_tried_but_never_reached_has_its_name_and_no_address(void **state)
{
    char line[4096];
    struct request_record r = sample();
    (void)state;
    r.backend_name = "alpha";
    r.server_text = NULL;
    r.status = 502;
    size_t n = access_log_format(line, sizeof(line), &r);
    line[n] = '\0';
    assert_non_null(strstr(line, " backend=alpha backend_addr=- "));
}

static void test_a_reused_connection_took_no_time_to_connect(void **state)
{
    char line[4096];
    struct request_record r = sample();
    (void)state;
    r.reused = true;
    r.connect_ns = 0;
    size_t n = access_log_format(line, sizeof(line), &r);
    line[n] = '\0';
    assert_non_null(strstr(line, " connect_ms=0.000 first_byte_ms=0.480 "));
}

static void test_path_is_escaped_and_cut(void **state)
{
    char line[4096], path[3000];
    struct request_record r = sample();
    (void)state;
    r.path = "/a\"b\\c d\x01";
    r.path_len = strlen(r.path);
    size_t n = access_log_format(line, sizeof(line), &r);
    line[n] = '\0';
    assert_non_null(strstr(line, "path=\"/a\\x22b\\x5cc\\x20d\\x01\""));
    memset(path, 'p', sizeof(path));
    r.path = path;
    r.path_len = sizeof(path);
    n = access_log_format(line, sizeof(line), &r);
    assert_true(n < ACCESS_LOG_BUF);
    assert_int_equal(line[n - 1], '\n');
    line[n] = '\0';
    assert_non_null(strstr(line, "...\" status=200"));
}

static void test_lines_are_appended_whole_to_the_file(void **state)
{
    char path[] = "/tmp/lblab-test-access-XXXXXX", err[256], data[65536];
    struct access_log log;
    struct access_log_buf buf = {0};
    struct request_record r = sample();
    (void)state;
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(access_log_open(&log, path, err, sizeof(err)), 0);
    assert_true(access_log_enabled(&log));
    for (int i = 0; i < 100; i++) /* more than one buffer's worth: flushes on the way */
        access_log_append(&log, &buf, &r);
    assert_int_equal(access_log_flush(&log, &buf), 0);
    access_log_close(&log);
    fd = open(path, O_RDONLY);
    ssize_t n = read(fd, data, sizeof(data) - 1);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    data[n] = '\0';
    int lines = 0;
    for (char *p = data; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    assert_int_equal(lines, 100);
    assert_int_equal(strncmp(data, "time=", 5), 0);
}

static void test_a_health_change_is_a_line_of_its_own(void **state)
{
    char line[512];
    (void)state;

    size_t n = access_log_format_health(line, sizeof(line), 1795756321123456789ull, "b2", "DOWN",
                                        "3 checks failed: \"x\"\n");
    assert_true(n < sizeof(line));
    line[n] = '\0'; /* the formatter returns a length; it does not terminate */
    assert_string_equal(line, "time=2026-11-27T05:12:01.123Z event=health backend=b2 state=DOWN "
                              "reason=\"3 checks failed: \\x22x\\x22\\x0a\"\n");
}

static void test_each_attempt_made_again_is_a_line_with_the_request_id(void **state)
{
    char line[512];
    (void)state;

    size_t n = access_log_format_retry(line, sizeof(line), 1795756321123456789ull, "abc123", 6,
                                       "b1", false, "connect failed");
    line[n] = '\0';
    assert_string_equal(line, "time=2026-11-27T05:12:01.123Z event=retry id=abc123 backend=b1 "
                              "sent=no why=\"connect failed\"\n");
    n = access_log_format_retry(line, sizeof(line), 1795756321123456789ull, NULL, 0, "b2", true,
                                "the backend did not answer in time");
    line[n] = '\0';
    assert_string_equal(line, "time=2026-11-27T05:12:01.123Z event=retry id=- backend=b2 "
                              "sent=yes why=\"the backend did not answer in time\"\n");
}

static void test_off_and_bad_paths(void **state)
{
    struct access_log log;
    char err[256];
    (void)state;
    assert_int_equal(access_log_open(&log, "", err, sizeof(err)), 0);
    assert_false(access_log_enabled(&log));
    assert_true(access_log_open(&log, "/nonexistent-dir/x.log", err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "--access-log"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_has_every_named_field),
        cmocka_unit_test(test_a_request_cut_for_a_timeout_says_whose),
        cmocka_unit_test(test_a_spliced_request_counts_its_spliced_bytes),
        cmocka_unit_test(test_unknown_values_are_dashes),
        cmocka_unit_test(test_a_backend_tried_but_never_reached_has_its_name_and_no_address),
        cmocka_unit_test(test_a_reused_connection_took_no_time_to_connect),
        cmocka_unit_test(test_path_is_escaped_and_cut),
        cmocka_unit_test(test_lines_are_appended_whole_to_the_file),
        cmocka_unit_test(test_a_health_change_is_a_line_of_its_own),
        cmocka_unit_test(test_each_attempt_made_again_is_a_line_with_the_request_id),
        cmocka_unit_test(test_off_and_bad_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
