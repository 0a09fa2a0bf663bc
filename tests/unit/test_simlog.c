/* test_simlog.c - unit tests of the JSON request log (backend-sim/simlog.c). */
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

#include "../../backend-sim/simlog.h"

static void test_line_has_every_field_escaped(void **state)
{
    struct simbuf b;
    struct simlog_entry e = {
        .time_ns = 1795755600123456789ull, /* 2026-11-27T05:00:00.123Z */
        .backend = "b1",
        .local_addr = "127.0.0.1",
        .local_port = 3001,
        .peer_addr = "::1",
        .peer_port = 51234,
        .method = "GET",
        .method_len = 3,
        .path = "/a\"b?c=\\",
        .path_len = 8,
        .request_id = "r-1",
        .request_id_len = 3,
        .xff = NULL,
        .status = 200,
        .bytes = 312,
        .conn_requests = 2,
        .duration_us = 1234,
    };
    (void)state;
    simbuf_init(&b, 0);
    simlog_format(&b, &e);
    simbuf_putc(&b, '\0');
    assert_string_equal(b.data,
                        "{\"time\":\"2026-11-27T05:00:00.123Z\",\"backend\":\"b1\","
                        "\"local_addr\":\"127.0.0.1\",\"local_port\":3001,\"peer_addr\":\"::1\","
                        "\"peer_port\":51234,\"method\":\"GET\",\"path\":\"/a\\\"b?c=\\\\\","
                        "\"request_id\":\"r-1\",\"x_forwarded_for\":null,\"status\":200,"
                        "\"bytes\":312,\"conn_requests\":2,\"duration_ms\":1.234}\n");
    simbuf_free(&b);
}

static void test_unparsed_request_logs_nulls(void **state)
{
    struct simbuf b;
    struct simlog_entry e = {
        .backend = "b1", .local_addr = "*", .peer_addr = "1.2.3.4", .status = 400};
    (void)state;
    simbuf_init(&b, 0);
    simlog_format(&b, &e);
    simbuf_putc(&b, '\0');
    assert_non_null(strstr(b.data, "\"method\":null,\"path\":null"));
    assert_non_null(strstr(b.data, "\"status\":400"));
    assert_non_null(strstr(b.data, "\"duration_ms\":0.000}"));
    simbuf_free(&b);
}

static void test_proxy_members_only_with_a_proxy_header(void **state)
{
    struct simbuf b;
    struct simlog_entry e = {.backend = "b1",
                             .local_addr = "127.0.0.1",
                             .peer_addr = "192.0.2.10",
                             .peer_port = 51234,
                             .proxy = "v2",
                             .proxy_from = "127.0.0.1:40122",
                             .status = 200};
    (void)state;
    simbuf_init(&b, 0);
    simlog_format(&b, &e);
    simbuf_putc(&b, '\0');
    assert_non_null(strstr(b.data, "\"peer_addr\":\"192.0.2.10\",\"peer_port\":51234,"
                                   "\"proxy\":\"v2\",\"proxy_from\":\"127.0.0.1:40122\","
                                   "\"method\":null"));
    simbuf_reset(&b);
    e.proxy = NULL;
    simlog_format(&b, &e);
    simbuf_putc(&b, '\0');
    assert_null(strstr(b.data, "proxy"));
    simbuf_free(&b);
}

static void test_writer_writes_whole_lines(void **state)
{
    char path[] = "/tmp/test_simlog.XXXXXX";
    struct simlog log;
    char buf[64];
    int fd = mkstemp(path);
    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(simlog_init(&log, fd), 0);
    assert_int_equal(simlog_write(&log, "{\"a\":1}\n", 8), 0);
    assert_int_equal(simlog_write(&log, "{\"b\":2}\n", 8), 0);
    simlog_destroy(&log);
    assert_int_equal(pread(fd, buf, sizeof(buf), 0), 16);
    assert_memory_equal(buf, "{\"a\":1}\n{\"b\":2}\n", 16);
    close(fd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_has_every_field_escaped),
        cmocka_unit_test(test_unparsed_request_logs_nulls),
        cmocka_unit_test(test_proxy_members_only_with_a_proxy_header),
        cmocka_unit_test(test_writer_writes_whole_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
