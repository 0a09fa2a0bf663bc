/*
 * test_transport_tls.c - the parts of lb's TLS transport that need no connection: the ALPN
 * choice from a client's list, and the start-up errors of the server context, which must name
 * the file at fault (the handshake and the record layer are tested end to end, test_lb_tls).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lb/transport_tls.h"

static void test_alpn_picks_http11_wherever_it_is_offered(void **state)
{
    (void)state;
    static const unsigned char only[] = "\x08http/1.1";
    static const unsigned char second[] = "\x02h2\x08http/1.1";
    assert_string_equal(transport_tls_alpn_pick(only, sizeof(only) - 1), "http/1.1");
    assert_string_equal(transport_tls_alpn_pick(second, sizeof(second) - 1), "http/1.1");
}

static void test_alpn_without_http11_or_malformed_picks_nothing(void **state)
{
    (void)state;
    static const unsigned char h2[] = "\x02h2";
    static const unsigned char http10[] = "\x08http/1.0";
    static const unsigned char cut[] = "\x02h2\x08http/1."; /* announces 8, has 7 */
    static const unsigned char empty_name[] = "\x00\x08http/1.1";
    assert_null(transport_tls_alpn_pick(h2, sizeof(h2) - 1));
    assert_null(transport_tls_alpn_pick(http10, sizeof(http10) - 1));
    assert_null(transport_tls_alpn_pick(cut, sizeof(cut) - 1));
    assert_null(transport_tls_alpn_pick(empty_name, sizeof(empty_name) - 1));
    assert_null(transport_tls_alpn_pick(h2, 0));
}

static void test_missing_certificate_or_key_is_named(void **state)
{
    char err[512];
    (void)state;
    assert_null(transport_tls_server_ctx("/nonexistent/cert.pem", "/nonexistent/key.pem", err,
                                         sizeof(err)));
    assert_non_null(strstr(err, "--tls-cert /nonexistent/cert.pem"));
    assert_non_null(strstr(err, "No such file"));
}

static void test_a_file_that_is_no_pem_certificate_is_named(void **state)
{
    char err[512], path[] = "/tmp/lblab-tls-unit-XXXXXX";
    (void)state;
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a certificate\n", 18), 18);
    close(fd);
    assert_null(transport_tls_server_ctx(path, path, err, sizeof(err)));
    assert_non_null(strstr(err, "--tls-cert"));
    assert_non_null(strstr(err, path));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alpn_picks_http11_wherever_it_is_offered),
        cmocka_unit_test(test_alpn_without_http11_or_malformed_picks_nothing),
        cmocka_unit_test(test_missing_certificate_or_key_is_named),
        cmocka_unit_test(test_a_file_that_is_no_pem_certificate_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
