/*
 * test_lb_tls.c - end-to-end: lb terminating TLS (--tls-cert, --tls-key, --tls-listen).
 *
 * Self-signed certificates (localhost and 127.0.0.1 for the default one; a.example and
 * b.example for SNI) are made with the openssl command line when the group starts, in a
 * temporary directory removed at the end. Clients are the real tools a class uses: curl and
 * openssl s_client. What is checked: an HTTPS request reaches backend-sim as plain HTTP with
 * X-Forwarded-Proto: https (backend-sim's GET /headers echoes the headers it got), keep-alive
 * over one TLS connection, a 10 MiB body through /echo intact, ALPN http/1.1 and TLS 1.2, TLS
 * 1.0 and 1.1 refused; certificates chosen by SNI (flags and --tls-cert-dir; the default for an
 * unknown name, an alert with --tls-strict-sni); sessions resumed; the handshake counters lbtop
 * shows; bad input (plain HTTP to the TLS port gets a 400 saying so, a garbage or truncated
 * ClientHello, forty hostile clients, a silent client) costs one connection each and lb goes
 * on serving; a missing certificate or a key that does not belong to it stops lb at start-up
 * with exit 1 and the file's name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lb_fixture.h"

#define TIMEOUT_MS 10000

static char dir[] = "/tmp/lblab-tls-XXXXXX";
static char *cert, *key, *other_key;
static char *a_cert, *a_key, *cert_dir; /* a.example by flags; b.example in cert_dir */

/* The openssl command making a self-signed certificate for NAME.example and *.NAME.example;
 * two %s: the key and the certificate files. */
#define SELF_SIGNED(NAME)                                                                      \
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s "   \
    "-out %s -days 2 -subj /CN=" #NAME ".example "                                             \
    "-addext subjectAltName=DNS:" #NAME ".example,DNS:*." #NAME ".example 2>/dev/null"

static bool publish_stats; /* the next lab_start publishes statistics (for lbtop) */

struct tls_lab {
    pid_t sim, lb;
    uint16_t sim_port, lb_port, tls_port;
};

static int group_setup(void **state)
{
    int st;
    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    cert = harness_fmt("%s/cert.pem", dir);
    key = harness_fmt("%s/key.pem", dir);
    other_key = harness_fmt("%s/other-key.pem", dir);
    free(harness_runf(&st,
                      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                      "-keyout %s -out %s -days 2 -subj /CN=localhost "
                      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null && "
                      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 "
                      "-out %s 2>/dev/null",
                      key, cert, other_key));
    if (st != 0) {
        fprintf(stderr, "test_lb_tls: openssl could not make a certificate\n");
        return -1;
    }
    /* a.example (with *.a.example) given by flags, b.example in a --tls-cert-dir */
    a_cert = harness_fmt("%s/a.crt", dir);
    a_key = harness_fmt("%s/a.key", dir);
    cert_dir = harness_fmt("%s/certs", dir);
    char b_key[512], b_cert[512];
    snprintf(b_key, sizeof(b_key), "%s/b.example.key", cert_dir);
    snprintf(b_cert, sizeof(b_cert), "%s/b.example.crt", cert_dir);
    free(harness_runf(&st, "mkdir %s && " SELF_SIGNED(a) " && " SELF_SIGNED(b), cert_dir, a_key,
                      a_cert, b_key, b_cert));
    if (st != 0) {
        fprintf(stderr, "test_lb_tls: openssl could not make the SNI certificates\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    int st;
    (void)state;
    free(harness_runf(&st, "rm -rf %s", dir));
    free(cert);
    free(key);
    free(other_key);
    free(a_cert);
    free(a_key);
    free(cert_dir);
    return 0;
}

/* backend-sim, and lb in front of it with HTTPS on a free port; extra lb flags may be NULL. */
static void lab_start(struct tls_lab *lab, const char *const *extra)
{
    const char *args[24];
    size_t k = 0;
    char tls_listen[32];

    lab->sim = harness_start_backend_sim("b1", &lab->sim_port, NULL);
    assert_true(lab->sim > 0);
    lab->tls_port = harness_free_port();
    snprintf(tls_listen, sizeof(tls_listen), "127.0.0.1:%u", (unsigned)lab->tls_port);
    args[k++] = "--tls-cert";
    args[k++] = cert;
    args[k++] = "--tls-key";
    args[k++] = key;
    args[k++] = "--tls-listen";
    args[k++] = tls_listen;
    if (!publish_stats)
        args[k++] = "--no-stats";
    args[k++] = "-w";
    args[k++] = "2";
    for (size_t i = 0; extra != NULL && extra[i] != NULL && k < 23; i++)
        args[k++] = extra[i];
    args[k] = NULL;
    lab->lb = harness_start_lb(&lab->lb_port, &lab->sim_port, 1, args, NULL);
    assert_true(lab->lb > 0);
    assert_true(harness_wait_port(lab->tls_port, TIMEOUT_MS));
}

static void lab_stop(struct tls_lab *lab)
{
    assert_int_equal(harness_stop(lab->lb, TIMEOUT_MS), 0);
    harness_stop(lab->sim, TIMEOUT_MS);
}

/* curl -k over TLS to the lab's HTTPS port with more curl arguments; returns its stdout. */
static char *curl_tls(const struct tls_lab *lab, const char *curl_args, int *st)
{
    return harness_runf(st, "curl -sSk --max-time 20 https://127.0.0.1:%u/%s",
                        (unsigned)lab->tls_port, curl_args);
}

/* lb still answers over TLS: a GET through curl gets 200. */
static void assert_still_serving(const struct tls_lab *lab)
{
    int st;
    char *out = curl_tls(lab, " -o /dev/null -w '%{http_code}'", &st);
    assert_int_equal(st, 0);
    assert_string_equal(out, "200");
    free(out);
    assert_true(harness_alive(lab->lb, NULL));
}

static void test_https_request_reaches_the_backend_with_x_forwarded_proto_https(void **state)
{
    struct tls_lab lab;
    int st;
    (void)state;
    lab_start(&lab, NULL);
    char *out = curl_tls(&lab, "headers -w ' %{http_code} %{ssl_verify_result}'", &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "\"X-Forwarded-Proto\":\"https\""));
    assert_non_null(strstr(out, "\"backend\":\"b1\""));
    assert_non_null(strstr(out, " 200 "));
    free(out);
    /* the plain listener beside it still says http */
    out = harness_runf(&st, "curl -sS --max-time 20 http://127.0.0.1:%u/headers",
                       (unsigned)lab.lb_port);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "\"X-Forwarded-Proto\":\"http\""));
    free(out);
    lab_stop(&lab);
}

static void test_keep_alive_serves_several_requests_on_one_tls_connection(void **state)
{
    struct tls_lab lab;
    int st;
    (void)state;
    lab_start(&lab, NULL);
    /* one curl, four URLs: curl reuses its connection, so one connect, then none */
    char *out = harness_runf(&st,
                             "curl -sSk --max-time 20 -o /dev/null -o /dev/null -o /dev/null "
                             "-o /dev/null -w '%%{http_code}:%%{num_connects} ' "
                             "https://127.0.0.1:%u/?a https://127.0.0.1:%u/?b "
                             "https://127.0.0.1:%u/?c https://127.0.0.1:%u/?d",
                             (unsigned)lab.tls_port, (unsigned)lab.tls_port,
                             (unsigned)lab.tls_port, (unsigned)lab.tls_port);
    assert_int_equal(st, 0);
    assert_string_equal(out, "200:1 200:0 200:0 200:0 ");
    free(out);
    lab_stop(&lab);
}

static void test_ten_mib_body_through_echo_over_tls_is_intact(void **state)
{
    struct tls_lab lab;
    int st;
    (void)state;
    lab_start(&lab, NULL);
    char *out = harness_runf(&st,
                             "head -c 10485760 /dev/urandom > %s/body && "
                             "curl -sSk --max-time 60 --data-binary @%s/body "
                             "-H 'Content-Type: application/octet-stream' -o %s/echoed "
                             "https://127.0.0.1:%u/echo && cmp %s/body %s/echoed && echo same",
                             dir, dir, dir, (unsigned)lab.tls_port, dir, dir);
    assert_int_equal(st, 0);
    assert_string_equal(out, "same\n");
    free(out);
    lab_stop(&lab);
}

static void test_alpn_http11_and_tls12_are_offered(void **state)
{
    struct tls_lab lab;
    int st;
    (void)state;
    lab_start(&lab, NULL);
    char *out = harness_runf(&st,
                             "openssl s_client -connect 127.0.0.1:%u -alpn h2,http/1.1 "
                             "</dev/null 2>&1",
                             (unsigned)lab.tls_port);
    assert_non_null(strstr(out, "ALPN protocol: http/1.1"));
    assert_non_null(strstr(out, "TLSv1.3"));
    free(out);
    out = harness_runf(&st, "openssl s_client -connect 127.0.0.1:%u -tls1_2 </dev/null 2>&1",
                       (unsigned)lab.tls_port);
    assert_non_null(strstr(out, "Protocol  : TLSv1.2"));
    assert_non_null(strstr(out, "ECDHE-"));
    free(out);
    lab_stop(&lab);
}

static void test_tls10_and_tls11_are_refused(void **state)
{
    struct tls_lab lab;
    int st;
    static const char *const versions[] = {"-tls1", "-tls1_1"};
    (void)state;
    lab_start(&lab, NULL);
    for (size_t i = 0; i < 2; i++) {
        /* SECLEVEL=0 so that the client really offers the old version and lb is the one
         * refusing */
        char *out = harness_runf(&st,
                                 "openssl s_client -connect 127.0.0.1:%u %s "
                                 "-cipher 'DEFAULT@SECLEVEL=0' </dev/null 2>&1",
                                 (unsigned)lab.tls_port, versions[i]);
        assert_int_not_equal(st, 0);
        /* the handshake failed: no certificate came, no cipher was agreed */
        assert_non_null(strstr(out, "Cipher is (NONE)"));
        assert_non_null(strstr(out, "no peer certificate available"));
        free(out);
    }
    assert_still_serving(&lab);
    lab_stop(&lab);
}

/* Sends bytes to the TLS port and reads what comes back until lb closes. Returns the bytes read
 * (-1 when lb did not close within the timeout). */
static ssize_t send_and_read_to_close(uint16_t port, const void *bytes, size_t n)
{
    int fd = harness_connect(port, 5000);
    assert_true(fd >= 0);
    if (n > 0)
        assert_int_equal(harness_send_all(fd, bytes, n), 0);
    size_t len = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *got = harness_recv_all(fd, 1 << 16, &len);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    free(got);
    close(fd);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    return ms < 4500 ? (ssize_t)len : -1;
}

static void test_plain_http_to_the_tls_port_gets_a_400_saying_so(void **state)
{
    struct tls_lab lab;
    int st;
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)state;
    lab_start(&lab, NULL);
    /* curl speaking http:// to the HTTPS port reads lb's answer, as with nginx */
    char *out = harness_runf(&st, "curl -sS --max-time 20 -w ' %%{http_code}' http://127.0.0.1:%u/",
                             (unsigned)lab.tls_port);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "plain HTTP request was sent to lb's HTTPS port"));
    assert_non_null(strstr(out, " 400"));
    free(out);
    ssize_t n = send_and_read_to_close(lab.tls_port, req, sizeof(req) - 1);
    assert_true(n > 0);
    assert_still_serving(&lab);
    lab_stop(&lab);
}

static void test_garbage_client_hello_costs_one_connection(void **state)
{
    struct tls_lab lab;
    /* a handshake record header announcing 64 bytes, then bytes that are no ClientHello */
    unsigned char hello[5 + 64] = {0x16, 0x03, 0x01, 0x00, 0x40};
    (void)state;
    memset(hello + 5, 0xA5, sizeof(hello) - 5);
    lab_start(&lab, NULL);
    ssize_t n = send_and_read_to_close(lab.tls_port, hello, sizeof(hello));
    assert_true(n >= 0);
    /* a truncated record: the header, half of what it announced, then the client's FIN */
    int fd = harness_connect(lab.tls_port, 5000);
    assert_true(fd >= 0);
    assert_int_equal(harness_send_all(fd, hello, 37), 0);
    shutdown(fd, SHUT_WR);
    size_t len;
    free(harness_recv_all(fd, 1 << 16, &len));
    close(fd);
    assert_still_serving(&lab);
    lab_stop(&lab);
}

static void test_forty_hostile_clients_cost_forty_connections_only(void **state)
{
    struct tls_lab lab;
    unsigned char bytes[4096];
    uint32_t seed = 12345; /* fixed: a failure reproduces */
    const char *extra[] = {"--client-timeout", "1000", NULL}; /* a record that waits for more */
    (void)state;
    lab_start(&lab, extra);
    for (int i = 0; i < 40; i++) {
        size_t n = 1 + (size_t)(seed % sizeof(bytes));
        for (size_t k = 0; k < n; k++) {
            seed = seed * 1103515245u + 12345u;
            bytes[k] = (unsigned char)(seed >> 16);
        }
        if (i % 2 == 0 && n >= 5) {
            /* half of them look like a handshake record, with a length that may lie */
            bytes[0] = 0x16;
            bytes[1] = 0x03;
            bytes[2] = (unsigned char)(i % 4);
        }
        int fd = harness_connect(lab.tls_port, 5000);
        assert_true(fd >= 0);
        (void)harness_send_all(fd, bytes, n); /* lb may close before it has all of it */
        if (i % 3 == 0)
            shutdown(fd, SHUT_WR);
        if (i % 3 != 2) {
            size_t len;
            free(harness_recv_all(fd, 1 << 16, &len));
        }
        close(fd); /* the third kind leaves without reading: lb sees a reset or an end */
    }
    assert_still_serving(&lab);
    lab_stop(&lab);
}

static void test_stalled_handshake_ends_at_the_client_timeout(void **state)
{
    struct tls_lab lab;
    const char *extra[] = {"--client-timeout", "500", NULL};
    (void)state;
    lab_start(&lab, extra);
    /* connects and never says a word: lb closes it after --client-timeout, not later */
    ssize_t n = send_and_read_to_close(lab.tls_port, NULL, 0);
    assert_int_equal(n, 0);
    assert_still_serving(&lab);
    lab_stop(&lab);
}

/* openssl s_client to the lab's HTTPS port with more arguments (e.g. -servername); returns what
 * it printed, standard error included. */
static char *s_client(const struct tls_lab *lab, const char *args, int *st)
{
    return harness_runf(st, "openssl s_client -connect 127.0.0.1:%u %s </dev/null 2>&1",
                        (unsigned)lab->tls_port, args);
}

static void test_sni_chooses_the_certificate_and_unknown_names_get_the_default(void **state)
{
    struct tls_lab lab;
    int st;
    const char *extra[] = {"--tls-cert", a_cert, "--tls-key", a_key, "--tls-cert-dir", cert_dir,
                           NULL};
    (void)state;
    lab_start(&lab, extra);
    char *out = s_client(&lab, "-servername a.example", &st);
    assert_non_null(strstr(out, "subject=CN = a.example"));
    free(out);
    out = s_client(&lab, "-servername www.a.example", &st); /* the wildcard */
    assert_non_null(strstr(out, "subject=CN = a.example"));
    free(out);
    out = s_client(&lab, "-servername B.EXAMPLE", &st); /* from the directory; any case */
    assert_non_null(strstr(out, "subject=CN = b.example"));
    free(out);
    out = s_client(&lab, "-servername unknown.example", &st); /* the first: the default */
    assert_non_null(strstr(out, "subject=CN = localhost"));
    free(out);
    out = s_client(&lab, "-noservername", &st);
    assert_non_null(strstr(out, "subject=CN = localhost"));
    free(out);
    /* curl asking for a.example by name reaches the backend through that certificate */
    out = harness_runf(&st,
                       "curl -sS --max-time 20 --cacert %s --resolve a.example:%u:127.0.0.1 "
                       "-o /dev/null -w '%%{http_code}' https://a.example:%u/",
                       a_cert, (unsigned)lab.tls_port, (unsigned)lab.tls_port);
    assert_int_equal(st, 0);
    assert_string_equal(out, "200");
    free(out);
    lab_stop(&lab);
}

static void test_strict_sni_refuses_unknown_names_with_an_alert(void **state)
{
    struct tls_lab lab;
    int st;
    const char *extra[] = {"--tls-cert", a_cert, "--tls-key", a_key, "--tls-strict-sni", NULL};
    (void)state;
    lab_start(&lab, extra);
    char *out = s_client(&lab, "-servername unknown.example", &st);
    assert_int_not_equal(st, 0);
    assert_non_null(strstr(out, "unrecognized name"));
    assert_null(strstr(out, "subject=CN"));
    free(out);
    out = s_client(&lab, "-servername a.example", &st);
    assert_non_null(strstr(out, "subject=CN = a.example"));
    free(out);
    /* no name at all: the default certificate still answers */
    out = s_client(&lab, "-noservername", &st);
    assert_non_null(strstr(out, "subject=CN = localhost"));
    free(out);
    assert_still_serving(&lab);
    lab_stop(&lab);
}

static void test_sessions_are_resumed_with_tls13_and_tls12(void **state)
{
    struct tls_lab lab;
    int st;
    static const char *const versions[] = {"-tls1_3", "-tls1_2"};
    (void)state;
    lab_start(&lab, NULL);
    for (size_t i = 0; i < 2; i++) {
        /* a whole request, read to lb's close: the session ticket arrives before the answer */
        char *out = harness_runf(&st,
                                 "printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: "
                                 "close\\r\\n\\r\\n' | openssl s_client -connect "
                                 "127.0.0.1:%u %s -ign_eof -sess_out %s/session 2>&1",
                                 (unsigned)lab.tls_port, versions[i], dir);
        assert_non_null(strstr(out, "HTTP/1.1 200"));
        assert_non_null(strstr(out, "New, TLSv1."));
        free(out);
        out = harness_runf(&st,
                           "printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: "
                           "close\\r\\n\\r\\n' | openssl s_client -connect 127.0.0.1:%u %s "
                           "-ign_eof -sess_in %s/session 2>&1",
                           (unsigned)lab.tls_port, versions[i], dir);
        if (strstr(out, "Reused, TLSv1.") == NULL)
            fail_msg("openssl s_client %s did not resume its session:\n%s", versions[i], out);
        assert_non_null(strstr(out, "HTTP/1.1 200"));
        free(out);
    }
    lab_stop(&lab);
}

static void test_lbtop_counts_handshakes_by_version_and_failures(void **state)
{
    struct tls_lab lab;
    int st;
    (void)state;
    publish_stats = true;
    lab_start(&lab, NULL);
    publish_stats = false;
    free(s_client(&lab, "-tls1_3", &st));
    free(s_client(&lab, "-tls1_2", &st));
    free(s_client(&lab, "-tls1_2", &st));
    free(s_client(&lab, "-tls1_1 -cipher 'DEFAULT@SECLEVEL=0'", &st)); /* refused: a failure */
    /* a TLS 1.3 session kept (its ticket comes before the answer), then resumed */
    for (int i = 0; i < 2; i++)
        free(harness_runf(&st,
                          "printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n"
                          "\\r\\n' | openssl s_client -connect 127.0.0.1:%u -ign_eof %s %s/stats-"
                          "session 2>&1",
                          (unsigned)lab.tls_port, i == 0 ? "-sess_out" : "-sess_in", dir));
    /* failures: the TLS 1.1 client, and the harness's own probe of the port (a connection that
     * closed before any handshake) */
    char want[160], *json = NULL;
    snprintf(want, sizeof(want),
             "\"https\": {\"listen\": \"127.0.0.1:%u\", \"handshakes\": 5, "
             "\"handshake_failures\": 2, \"versions\": {\"TLSv1.2\": 2, \"TLSv1.3\": 3}, "
             "\"resumed\": 1}",
             (unsigned)lab.tls_port);
    for (int i = 0; i < 50; i++) {
        free(json);
        json = harness_runf(&st, "%s -p %u --json 2>&1", harness_bin("lbtop"),
                            (unsigned)lab.lb_port);
        if (strstr(json, want) != NULL)
            break;
        harness_sleep_ms(100);
    }
    if (strstr(json, want) == NULL)
        fail_msg("lbtop --json never showed %s:\n%s", want, json);
    /* the two requests sent over TLS are in the ring as such */
    if (strstr(json, "\"client_tls\": true, \"backend_tls\": false") == NULL)
        fail_msg("lbtop --json does not mark the requests that came over TLS:\n%s", json);
    free(json);
    char *text = harness_runf(&st, "%s -p %u --once 2>&1", harness_bin("lbtop"),
                              (unsigned)lab.lb_port);
    assert_non_null(strstr(text, "HTTPS 127.0.0.1:"));
    assert_non_null(strstr(text, "handshakes 5 (TLS 1.3 3, TLS 1.2 2)  failed 2  resumed 1"));
    free(text);
    lab_stop(&lab);
}

/* Runs lb with the given TLS files (it should stop at start-up); returns its output and status. */
static char *lb_start_up(const char *cert_file, const char *key_file, int *st)
{
    return harness_runf(st,
                        "timeout 5 %s -l 127.0.0.1:%u -b 127.0.0.1:1 --no-stats --tls-cert %s "
                        "--tls-key %s --tls-listen 127.0.0.1:%u 2>&1",
                        harness_bin("lb"), (unsigned)harness_free_port(), cert_file, key_file,
                        (unsigned)harness_free_port());
}

static void test_missing_certificate_is_a_start_up_error_naming_it(void **state)
{
    int st;
    (void)state;
    char *missing = harness_fmt("%s/no-such-cert.pem", dir);
    char *out = lb_start_up(missing, key, &st);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_non_null(strstr(out, missing));
    free(out);
    free(missing);
}

static void test_key_not_matching_the_certificate_is_a_start_up_error(void **state)
{
    int st;
    (void)state;
    char *out = lb_start_up(cert, other_key, &st);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_non_null(strstr(out, other_key));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_https_request_reaches_the_backend_with_x_forwarded_proto_https),
        LB_TEST(test_keep_alive_serves_several_requests_on_one_tls_connection),
        LB_TEST(test_ten_mib_body_through_echo_over_tls_is_intact),
        LB_TEST(test_alpn_http11_and_tls12_are_offered),
        LB_TEST(test_tls10_and_tls11_are_refused),
        LB_TEST(test_plain_http_to_the_tls_port_gets_a_400_saying_so),
        LB_TEST(test_garbage_client_hello_costs_one_connection),
        LB_TEST(test_forty_hostile_clients_cost_forty_connections_only),
        LB_TEST(test_stalled_handshake_ends_at_the_client_timeout),
        LB_TEST(test_sni_chooses_the_certificate_and_unknown_names_get_the_default),
        LB_TEST(test_strict_sni_refuses_unknown_names_with_an_alert),
        LB_TEST(test_sessions_are_resumed_with_tls13_and_tls12),
        LB_TEST(test_lbtop_counts_handshakes_by_version_and_failures),
        LB_TEST(test_missing_certificate_is_a_start_up_error_naming_it),
        LB_TEST(test_key_not_matching_the_certificate_is_a_start_up_error),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
