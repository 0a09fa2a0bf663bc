/*
 * test_transport_tls.c - the parts of lb's TLS that need no connection: the ALPN choice from a
 * client's list, and the start-up errors of the contexts (tls_context.h), which must name the
 * file at fault (the handshake, SNI and the record layer are tested end to end, test_lb_tls).
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

#include "../../lb/tls_context.h"
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

/* A server with one --tls-cert/--tls-key pair. */
static struct tls_server *server_of(const char *cert, const char *key, char *err, size_t len)
{
    struct tls_server_config c = {.ncerts = 1, .certs = {cert}, .keys = {key}};
    return tls_server_create(&c, err, len);
}

static void test_missing_certificate_or_key_is_named(void **state)
{
    char err[512];
    (void)state;
    assert_null(server_of("/nonexistent/cert.pem", "/nonexistent/key.pem", err, sizeof(err)));
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
    assert_null(server_of(path, path, err, sizeof(err)));
    assert_non_null(strstr(err, "--tls-cert"));
    assert_non_null(strstr(err, path));
    unlink(path);
}

static void test_certificate_directory_errors_name_the_directory_or_file(void **state)
{
    char err[512], dir[] = "/tmp/lblab-tls-dir-XXXXXX", path[600];
    (void)state;
    assert_non_null(mkdtemp(dir));
    struct tls_server_config c = {.cert_dir = dir};
    /* empty */
    assert_null(tls_server_create(&c, err, sizeof(err)));
    assert_non_null(strstr(err, dir));
    assert_non_null(strstr(err, "no NAME.crt"));
    /* a .crt without its .key */
    snprintf(path, sizeof(path), "%s/example.crt", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a certificate\n", f);
    fclose(f);
    assert_null(tls_server_create(&c, err, sizeof(err)));
    assert_non_null(strstr(err, "example.key"));
    unlink(path);
    rmdir(dir);
    /* no such directory */
    assert_null(tls_server_create(&c, err, sizeof(err)));
    assert_non_null(strstr(err, "--tls-cert-dir"));
    assert_non_null(strstr(err, "No such file"));
}

static void test_a_ca_file_lb_cannot_use_is_named(void **state)
{
    char err[512], path[] = "/tmp/lblab-tls-ca-XXXXXX";
    (void)state;
    assert_null(tls_client_ctx_create("/nonexistent/ca.pem", err, sizeof(err)));
    assert_non_null(strstr(err, "ca=/nonexistent/ca.pem"));
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "no CA here\n", 11), 11);
    close(fd);
    assert_null(tls_client_ctx_create(path, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    unlink(path);
    /* without a CA: a context that does not verify */
    struct ssl_ctx_st *ctx = tls_client_ctx_create(NULL, err, sizeof(err));
    assert_non_null(ctx);
    tls_client_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alpn_picks_http11_wherever_it_is_offered),
        cmocka_unit_test(test_alpn_without_http11_or_malformed_picks_nothing),
        cmocka_unit_test(test_missing_certificate_or_key_is_named),
        cmocka_unit_test(test_a_file_that_is_no_pem_certificate_is_named),
        cmocka_unit_test(test_certificate_directory_errors_name_the_directory_or_file),
        cmocka_unit_test(test_a_ca_file_lb_cannot_use_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
