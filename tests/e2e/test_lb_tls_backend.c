/*
 * test_lb_tls_backend.c - end-to-end: TLS between lb and its backends, and TLS passing through
 * lb -m tcp untouched.
 *
 * backend-sim speaks HTTPS with --tls-cert/--tls-key (a self-signed certificate for
 * backend.example made with the openssl command line when the group starts; lb's HTTPS listener
 * uses another one, for localhost). What is checked: -b ...,tls with ca= verifies and serves,
 * keep-alive to the backend over one TLS connection; a new connection to a backend resumes the
 * session of an earlier one (openssl s_server -www says "Reused"); without ca= the backend is
 * not verified and still serves; a wrong CA is refused (503) with a log line saying why, and
 * health checks over TLS say the same; 100 MiB both ways through TLS on both legs, compared by
 * SHA-256 against the generator's own digest (streamed, never held in memory or on disk); in
 * -m tcp the client's TLS reaches backend-sim untouched (the certificate the client sees is the
 * backend's) and a 32 MiB body comes back intact; -m tcp refuses -b ...,tls with a message
 * saying why; a CA file lb cannot use stops it at start-up.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lb_fixture.h"

#define TIMEOUT_MS 10000
#define SHA256_OF_NOTHING "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static char dir[] = "/tmp/lblab-tlsb-XXXXXX";
static char *sim_cert, *sim_key, *lb_cert, *lb_key, *wrong_ca, *lb_log;

/* A deterministic stream of N pseudo-random bytes (AES-CTR of zeros), made as it is read. */
#define GENERATOR(N)                                                                           \
    "openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f "                     \
    "-iv 00000000000000000000000000000000 -in /dev/zero 2>/dev/null | head -c " #N

static int group_setup(void **state)
{
    int st;
    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    sim_cert = harness_fmt("%s/sim.crt", dir);
    sim_key = harness_fmt("%s/sim.key", dir);
    lb_cert = harness_fmt("%s/lb.crt", dir);
    lb_key = harness_fmt("%s/lb.key", dir);
    wrong_ca = harness_fmt("%s/wrong-ca.crt", dir);
    lb_log = harness_fmt("%s/lb.log", dir);
    free(harness_runf(&st, "mkdir -p %s/wrong && " /* three certificates: */
                      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                      "-nodes -days 2 -keyout %s -out %s -subj /CN=backend.example "
                      "-addext subjectAltName=DNS:backend.example,IP:127.0.0.1 2>/dev/null && "
                      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                      "-nodes -days 2 -keyout %s -out %s -subj /CN=localhost "
                      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null && "
                      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                      "-nodes -days 2 -keyout %s/wrong/key.pem -out %s -subj /CN=backend.example "
                      "-addext subjectAltName=DNS:backend.example,IP:127.0.0.1 2>/dev/null",
                      dir, sim_key, sim_cert, lb_key, lb_cert, dir, wrong_ca));
    if (st != 0) {
        fprintf(stderr, "test_lb_tls_backend: openssl could not make the certificates\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    int st;
    (void)state;
    free(harness_runf(&st, "rm -rf %s", dir));
    free(sim_cert);
    free(sim_key);
    free(lb_cert);
    free(lb_key);
    free(wrong_ca);
    free(lb_log);
    return 0;
}

/* backend-sim named b1 speaking HTTPS on a free port. */
static pid_t start_tls_sim(uint16_t *port)
{
    const char *tls[] = {"--tls-cert", sim_cert, "--tls-key", sim_key, NULL};
    return harness_start_backend_sim_args("b1", port, NULL, tls);
}

static bool publish_stats; /* the next lab_start publishes statistics (for lbtop) */

struct lab {
    pid_t sim, lb;
    uint16_t sim_port, lb_port, tls_port;
};

/* backend-sim over TLS, and lb with -b 127.0.0.1:PORT,<opts> (opts after "tls") and an HTTPS
 * listener of its own; more lb flags in extra (NULL-terminated, may be NULL). lb's standard
 * error goes to lb_log. */
static void lab_start(struct lab *lab, const char *opts, const char *const *extra)
{
    const char *args[32];
    size_t k = 0;
    char backend[512], tls_listen[32];

    lab->sim = start_tls_sim(&lab->sim_port);
    assert_true(lab->sim > 0);
    snprintf(backend, sizeof(backend), "127.0.0.1:%u,name=s1%s", (unsigned)lab->sim_port, opts);
    lab->tls_port = harness_free_port();
    snprintf(tls_listen, sizeof(tls_listen), "127.0.0.1:%u", (unsigned)lab->tls_port);
    args[k++] = "-b";
    args[k++] = backend;
    if (!publish_stats)
        args[k++] = "--no-stats";
    args[k++] = "-w";
    args[k++] = "2";
    args[k++] = "--tls-cert";
    args[k++] = lb_cert;
    args[k++] = "--tls-key";
    args[k++] = lb_key;
    args[k++] = "--tls-listen";
    args[k++] = tls_listen;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && k < 31; i++)
        args[k++] = extra[i];
    args[k] = NULL;
    unlink(lb_log);
    lab->lb = harness_start_lb(&lab->lb_port, NULL, 0, args, lb_log);
    assert_true(lab->lb > 0);
    assert_true(harness_wait_port(lab->tls_port, TIMEOUT_MS));
}

static void lab_stop(struct lab *lab)
{
    assert_int_equal(harness_stop(lab->lb, TIMEOUT_MS), 0);
    harness_stop(lab->sim, TIMEOUT_MS);
}

static char *read_log(void)
{
    int st;
    return harness_runf(&st, "cat %s", lb_log);
}

static void test_verified_tls_backend_serves_with_keep_alive(void **state)
{
    struct lab lab;
    int st;
    char opts[512];
    (void)state;
    /* one worker: each worker keeps its own idle backend connections, and which of two wakes
     * for a new client is the scheduler's choice */
    static const char *const one_worker[] = {"-w", "1", NULL};
    snprintf(opts, sizeof(opts), ",tls,ca=%s", sim_cert);
    lab_start(&lab, opts, one_worker);
    /* the plain listener, then lb's HTTPS one: backend-sim says which connection of its own
     * served each request; lb keeps its TLS connection to the backend for the next */
    char *out = harness_runf(&st,
                             "curl -sS --max-time 20 http://127.0.0.1:%u/whoami && "
                             "curl -sSk --max-time 20 https://127.0.0.1:%u/whoami",
                             (unsigned)lab.lb_port, (unsigned)lab.tls_port);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "Name: b1"));
    assert_non_null(strstr(out, "Connection-Requests: 1"));
    if (strstr(out, "Connection-Requests: 2") == NULL)
        fail_msg("lb did not reuse its TLS connection to the backend:\n%s", out);
    assert_non_null(strstr(out, "X-Forwarded-Proto: https"));
    free(out);
    lab_stop(&lab);
}

static void test_new_backend_connections_resume_the_tls_session(void **state)
{
    int st;
    uint16_t ss_port = 0, lb_port;
    pid_t ss = -1;
    char backend[600];
    (void)state;
    /* openssl s_server -www answers each request on a connection of its own and says whether
     * the client resumed a session ("Reused") or not ("New") */
    for (int attempt = 0; attempt < 3 && ss < 0; attempt++) {
        char accept[32];
        ss_port = harness_free_port();
        snprintf(accept, sizeof(accept), "127.0.0.1:%u", (unsigned)ss_port);
        char *argv[] = {"/usr/bin/env", "openssl", "s_server", "-accept", accept, "-cert",
                        sim_cert, "-key", sim_key, "-www", "-quiet", NULL};
        ss = harness_spawn_listening(argv, ss_port, "/dev/null");
    }
    assert_true(ss > 0);
    snprintf(backend, sizeof(backend), "127.0.0.1:%u,tls,ca=%s", (unsigned)ss_port, sim_cert);
    const char *extra[] = {"-b", backend, "-w", "1", "--no-stats", NULL};
    pid_t lb = harness_start_lb(&lb_port, NULL, 0, extra, NULL);
    assert_true(lb > 0);
    char *out = harness_runf(&st,
                             "for i in 1 2 3; do curl -sS --max-time 20 http://127.0.0.1:%u/; "
                             "done | grep -E '^(New|Reused), '",
                             (unsigned)lb_port);
    if (strncmp(out, "New, TLSv1.3", 12) != 0 || strstr(out, "\nReused, TLSv1.3") == NULL)
        fail_msg("lb did not resume its TLS session with the backend:\n%s", out);
    free(out);
    assert_int_equal(harness_stop(lb, TIMEOUT_MS), 0);
    harness_stop(ss, TIMEOUT_MS);
}

static void test_unverified_tls_backend_serves(void **state)
{
    struct lab lab;
    int st;
    (void)state;
    lab_start(&lab, ",tls", NULL);
    char *out = harness_runf(&st, "curl -sS --max-time 20 -o /dev/null -w '%%{http_code}' "
                                  "http://127.0.0.1:%u/",
                             (unsigned)lab.lb_port);
    assert_int_equal(st, 0);
    assert_string_equal(out, "200");
    free(out);
    lab_stop(&lab);
}

static void test_wrong_ca_is_refused_with_a_clear_log_line(void **state)
{
    struct lab lab;
    int st;
    char opts[512];
    (void)state;
    snprintf(opts, sizeof(opts), ",tls,ca=%s", wrong_ca);
    publish_stats = true;
    lab_start(&lab, opts, NULL);
    publish_stats = false;
    char *out = harness_runf(&st, "curl -sS --max-time 20 -o /dev/null -w '%%{http_code}' "
                                  "http://127.0.0.1:%u/",
                             (unsigned)lab.lb_port);
    assert_int_equal(st, 0);
    if (strcmp(out, "503") != 0 && strcmp(out, "502") != 0)
        fail_msg("a backend with a certificate the CA did not sign answered %s", out);
    free(out);
    char *log = read_log();
    if (strstr(log, "lb: backend s1: TLS handshake failed: certificate verify failed") == NULL)
        fail_msg("lb did not say why it refused the backend:\n%s", log);
    free(log);
    /* a connection whose handshake failed was never opened, so it is not counted as closed
     * either: lbtop sees no connection at all */
    char *json = harness_runf(&st, "%s -p %u --json 2>&1", harness_bin("lbtop"),
                              (unsigned)lab.lb_port);
    if (strstr(json, "\"connections\": {\"active\": 0, \"peak\": 0, \"opened\": 0, "
                     "\"closed\": 0") == NULL)
        fail_msg("lbtop counts a connection that never completed its handshake:\n%s", json);
    free(json);
    lab_stop(&lab);
}

static void test_health_checks_speak_tls_and_say_why_they_fail(void **state)
{
    struct lab good, bad;
    int st;
    char opts[512];
    const char *extra[] = {"--health-path", "/health", "--health-interval", "100", NULL};
    (void)state;
    /* a verified backend passes its checks: lb serves from it */
    snprintf(opts, sizeof(opts), ",tls,ca=%s", sim_cert);
    lab_start(&good, opts, extra);
    harness_sleep_ms(500);
    char *out = harness_runf(&st, "curl -sS --max-time 20 -o /dev/null -w '%%{http_code}' "
                                  "http://127.0.0.1:%u/",
                             (unsigned)good.lb_port);
    assert_string_equal(out, "200");
    free(out);
    char *log = read_log();
    assert_null(strstr(log, "DOWN"));
    free(log);
    lab_stop(&good);
    /* a wrong CA: the checks fail, and the reason says it was the certificate */
    snprintf(opts, sizeof(opts), ",tls,ca=%s", wrong_ca);
    lab_start(&bad, opts, extra);
    log = NULL;
    for (int i = 0; i < 100; i++) {
        free(log);
        log = read_log();
        if (strstr(log, "DOWN (3 checks failed: TLS handshake failed: certificate verify failed"))
            break;
        harness_sleep_ms(100);
    }
    if (strstr(log, "DOWN (3 checks failed: TLS handshake failed: certificate verify failed") ==
        NULL)
        fail_msg("health checks over TLS did not take the backend down saying why:\n%s", log);
    free(log);
    lab_stop(&bad);
}

static void test_100_mib_both_ways_through_tls_on_both_legs(void **state)
{
    struct lab lab;
    int st;
    char opts[512];
    (void)state;
    snprintf(opts, sizeof(opts), ",tls,ca=%s", sim_cert);
    lab_start(&lab, opts, NULL);
    /* up and back: /echo streams the body back as it arrives; the client's digest of what came
     * back must be the generator's */
    char *want = harness_runf(&st, GENERATOR(104857600) " | sha256sum");
    assert_int_equal(st, 0);
    assert_null(strstr(want, SHA256_OF_NOTHING)); /* the generator made its bytes */
    char *got = harness_runf(&st,
                             GENERATOR(104857600) " | curl -sSk --max-time 120 -T - "
                             "-H 'Content-Type: application/octet-stream' "
                             "https://127.0.0.1:%u/echo | sha256sum",
                             (unsigned)lab.tls_port);
    assert_int_equal(st, 0);
    assert_string_equal(got, want);
    free(got);
    free(want);
    /* down: the same 100 MiB of backend-sim's pattern through lb and straight from backend-sim */
    want = harness_runf(&st, "curl -sSk --max-time 120 https://127.0.0.1:%u/bytes/104857600 | "
                             "sha256sum",
                        (unsigned)lab.sim_port);
    assert_int_equal(st, 0);
    assert_null(strstr(want, SHA256_OF_NOTHING));
    got = harness_runf(&st, "curl -sSk --max-time 120 https://127.0.0.1:%u/bytes/104857600 | "
                            "sha256sum",
                       (unsigned)lab.tls_port);
    assert_int_equal(st, 0);
    assert_string_equal(got, want);
    free(got);
    free(want);
    lab_stop(&lab);
}

static void test_tcp_mode_passes_tls_through_untouched(void **state)
{
    int st;
    uint16_t sim_port, lb_port;
    char backend[64];
    (void)state;
    pid_t sim = start_tls_sim(&sim_port);
    assert_true(sim > 0);
    snprintf(backend, sizeof(backend), "127.0.0.1:%u", (unsigned)sim_port);
    const char *extra[] = {"-m", "tcp", "-b", backend, "--no-stats", NULL};
    pid_t lb = harness_start_lb(&lb_port, NULL, 0, extra, NULL);
    assert_true(lb > 0);
    /* the certificate the client sees is the backend's: lb only relayed the handshake */
    char *out = harness_runf(&st,
                             "openssl s_client -connect 127.0.0.1:%u -servername "
                             "backend.example </dev/null 2>&1",
                             (unsigned)lb_port);
    assert_non_null(strstr(out, "subject=CN = backend.example"));
    free(out);
    /* and it is verified as the backend's, by name, through lb */
    out = harness_runf(&st,
                       "curl -sS --max-time 20 --cacert %s --resolve backend.example:%u:127.0.0.1 "
                       "https://backend.example:%u/whoami",
                       sim_cert, (unsigned)lb_port, (unsigned)lb_port);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "Name: b1"));
    assert_null(strstr(out, "X-Forwarded-For")); /* lb could not add a header: it cannot read */
    free(out);
    char *want = harness_runf(&st, GENERATOR(33554432) " | sha256sum");
    assert_null(strstr(want, SHA256_OF_NOTHING));
    char *got = harness_runf(&st,
                             GENERATOR(33554432) " | curl -sSk --max-time 120 -T - "
                             "https://127.0.0.1:%u/echo | sha256sum",
                             (unsigned)lb_port);
    assert_int_equal(st, 0);
    assert_string_equal(got, want);
    free(got);
    free(want);
    assert_int_equal(harness_stop(lb, TIMEOUT_MS), 0);
    harness_stop(sim, TIMEOUT_MS);
}

static void test_tcp_mode_refuses_tls_to_backends(void **state)
{
    int st;
    (void)state;
    char *out = harness_runf(&st, "%s -m tcp -l 127.0.0.1:%u -b 127.0.0.1:1,tls --no-stats 2>&1",
                             harness_bin("lb"), (unsigned)harness_free_port());
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    assert_non_null(strstr(out, "-b ...,tls (backend 1) needs -m http"));
    free(out);
}

static void test_unusable_ca_file_is_a_start_up_error_naming_it(void **state)
{
    int st;
    (void)state;
    char *out = harness_runf(&st,
                             "timeout 5 %s -l 127.0.0.1:%u -b 127.0.0.1:1,tls,ca=%s/no-such-ca.pem "
                             "--no-stats 2>&1",
                             harness_bin("lb"), (unsigned)harness_free_port(), dir);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_non_null(strstr(out, "no-such-ca.pem"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_verified_tls_backend_serves_with_keep_alive),
        LB_TEST(test_new_backend_connections_resume_the_tls_session),
        LB_TEST(test_unverified_tls_backend_serves),
        LB_TEST(test_wrong_ca_is_refused_with_a_clear_log_line),
        LB_TEST(test_health_checks_speak_tls_and_say_why_they_fail),
        LB_TEST(test_100_mib_both_ways_through_tls_on_both_legs),
        LB_TEST(test_tcp_mode_passes_tls_through_untouched),
        LB_TEST(test_tcp_mode_refuses_tls_to_backends),
        LB_TEST(test_unusable_ca_file_is_a_start_up_error_naming_it),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
