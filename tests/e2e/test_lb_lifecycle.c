/*
 * test_lb_lifecycle.c - end-to-end: lb as a process. Bad flags exit 2 naming the flag, -h and -V,
 * SIGTERM lets an in-flight request finish and exits 0, SIGINT exits 0, a client vanishing
 * mid-response (SIGPIPE) does not kill lb, and the access log has one line per request with the
 * named fields.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "lb_fixture.h"
#include "clock.h"

#define TIMEOUT_MS 20000

/* Runs lb with args (shell words); returns its combined output and exit status. */
static char *run_lb(const char *args, int *exit_code)
{
    int status;
    char *out = harness_runf(&status, "exec timeout 20 %s %s 2>&1", harness_bin("lb"), args);
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
}

static void test_bad_flags_exit_2_with_a_message_naming_the_flag(void **state)
{
    static const struct {
        const char *args;
        const char *names[2]; /* the message names one of these */
    } cases[] = {
        {"-w abc", {"-w", "worker"}},
        {"-w 0", {"-w", "worker"}},
        {"--server-timeout abc", {"--server-timeout", NULL}},
        {"--connect-timeout -5", {"--connect-timeout", NULL}},
        {"--client-timeout 12x", {"--client-timeout", NULL}},
        {"--dns-ttl soon", {"--dns-ttl", NULL}},
        {"-l 99999", {"-l", "listen"}},
        {"-l 127.0.0.1:notaport", {"-l", "listen"}},
        {"-b nohostport", {"-b", "backend"}},
        {"-b 127.0.0.1:0", {"-b", "backend"}},
        {"--no-such-flag", {"--no-such-flag", NULL}},
        {"--server-timeout", {"--server-timeout", "server-timeout"}},
        {"--access-log /nonexistent-dir/access.log", {"--access-log", NULL}},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int code;
        char *out = run_lb(cases[i].args, &code);
        bool named = strstr(out, cases[i].names[0]) != NULL ||
                     (cases[i].names[1] && strcasestr(out, cases[i].names[1]) != NULL);
        if (code != 2 || !named) {
            fprintf(stderr, "lb %s: exit %d, output: %s\n", cases[i].args, code, out);
            fail();
        }
        free(out);
    }
}

static void test_listen_port_in_use_exits_2_naming_it(void **state)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    char args[128];
    int code;
    (void)state;

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    snprintf(args, sizeof(args), "-l 127.0.0.1:%u -b 127.0.0.1:1", (unsigned)ntohs(sa.sin_port));
    char *out = run_lb(args, &code);
    char port[16];
    snprintf(port, sizeof(port), "%u", (unsigned)ntohs(sa.sin_port));
    if (code != 2 || strstr(out, port) == NULL) {
        fprintf(stderr, "lb %s: exit %d, output: %s\n", args, code, out);
        fail();
    }
    free(out);
    close(fd);
}

static void test_help_exits_0_and_version_prints_the_version(void **state)
{
    int code;
    (void)state;
    char *out = run_lb("-h", &code);
    assert_int_equal(code, 0);
    assert_non_null(strcasestr(out, "usage"));
    assert_non_null(strstr(out, "--server-timeout"));
    free(out);
    out = run_lb("-V", &code);
    assert_int_equal(code, 0);
    assert_non_null(strstr(out, "lb (lblab) "));
    free(out);
}

static void test_sigterm_lets_an_in_flight_request_finish_then_exits_0(void **state)
{
    struct lb_fixture f;
    struct harness_sb_step step = {.delay_ms = 1500};
    struct harness_conn c;
    struct harness_response resp;
    int status;
    (void)state;
    lb_fixture_start_named(&f, "slow", &step, 1, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    const char *req = "GET /delay HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
    /* the request is at the backend, which answers 1.5 s later */
    assert_true(harness_sb_wait_requests(f.sb, 1, TIMEOUT_MS));
    assert_int_equal(kill(f.lb, SIGTERM), 0);
    assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_true(resp.complete);
    assert_string_equal(resp.body, "slow");
    harness_response_free(&resp);
    harness_conn_close(&c);

    /* lb exits 0 on its own (bounded wait), and stopped listening */
    uint64_t deadline = clock_mono_ms() + TIMEOUT_MS;
    while (harness_alive(f.lb, &status) && clock_mono_ms() < deadline)
        harness_sleep_ms(20);
    if (clock_mono_ms() >= deadline) {
        harness_stop(f.lb, 1000);
        fail_msg("lb did not exit after SIGTERM");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(harness_connect(f.lb_port, 1000) < 0);
    harness_sb_stop(f.sb);
}

static void test_sigterm_during_backend_sim_delay_finishes_it(void **state)
{
    struct harness_lab lab;
    struct harness_conn c;
    struct harness_response resp;
    (void)state;

    assert_int_equal(harness_lab_start(&lab, 1, NULL), 0);
    assert_int_equal(harness_conn_open(&c, lab.lb_port, TIMEOUT_MS), 0);
    const char *req = "GET /delay/1000 HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
    harness_sleep_ms(500); /* let lb take the request: not an assertion on time */
    assert_int_equal(kill(lab.lb_pid, SIGTERM), 0);
    assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_true(resp.complete);
    harness_response_free(&resp);
    harness_conn_close(&c);
    assert_int_equal(harness_lab_stop(&lab), 0);
}

/* Ten 5 MB downloads under way when SIGTERM comes: every one completes (within lb's drain time,
 * set long for a slow sanitized build), then lb exits 0. */
static void test_sigterm_lets_ten_large_downloads_finish(void **state)
{
    enum { N = 10 };
    struct harness_lab lab;
    struct harness_conn c[N];
    const char *req = "GET /bytes/5242880 HTTP/1.1\r\nHost: x\r\n\r\n";
    /* the test reads the downloads one after another, so the others wait unread meanwhile: a
     * client timeout as long as the drain keeps lb from cutting them as stalled clients (in a
     * slow sanitized build a download can take seconds) */
    const char *extra[] = {"--drain-timeout", "60000", "--client-timeout", "60000", NULL};
    int status;
    (void)state;

    assert_int_equal(harness_lab_start(&lab, 3, extra), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(harness_conn_open(&c[i], lab.lb_port, TIMEOUT_MS), 0);
        assert_int_equal(harness_send_all(c[i].fd, req, strlen(req)), 0);
    }
    /* each download has started: its first bytes arrived */
    for (int i = 0; i < N; i++) {
        char byte;
        assert_int_equal(recv(c[i].fd, &byte, 1, MSG_PEEK), 1);
    }
    pid_t lb = lab.lb_pid;
    assert_int_equal(kill(lb, SIGTERM), 0);
    for (int i = 0; i < N; i++) {
        struct harness_response resp;
        assert_int_equal(harness_read_response(&c[i], false, false, &resp), 0);
        assert_int_equal(resp.status, 200);
        assert_true(resp.complete);
        assert_int_equal(resp.body_len, 5242880);
        harness_response_free(&resp);
        harness_conn_close(&c[i]);
    }
    uint64_t deadline = clock_mono_ms() + TIMEOUT_MS;
    while (harness_alive(lb, &status) && clock_mono_ms() < deadline)
        harness_sleep_ms(20);
    lab.lb_pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    harness_lab_stop(&lab);
}

/* An idle keep-alive connection does not hold up shutdown: lb closes it and exits (well within
 * its drain time, which only in-flight requests may use). */
static void test_sigterm_closes_idle_keepalive_connections(void **state)
{
    struct harness_lab lab;
    struct harness_conn c;
    struct harness_response resp;
    int status;
    const char *extra[] = {"--drain-timeout", "30000", NULL};
    (void)state;

    assert_int_equal(harness_lab_start(&lab, 1, extra), 0);
    assert_int_equal(harness_conn_open(&c, lab.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_conn_request(&c, "GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n", &resp),
                     0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
    pid_t lb = lab.lb_pid;
    assert_int_equal(kill(lb, SIGTERM), 0);
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    uint64_t deadline = clock_mono_ms() + TIMEOUT_MS;
    while (harness_alive(lb, &status) && clock_mono_ms() < deadline)
        harness_sleep_ms(20);
    lab.lb_pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    harness_conn_close(&c);
    harness_lab_stop(&lab);
}

static void test_sigint_exits_0(void **state)
{
    struct lb_fixture f;
    uint16_t closed = harness_free_port();
    int status;
    (void)state;
    lb_fixture_start_ports(&f, &closed, 1, NULL);
    assert_int_equal(kill(f.lb, SIGINT), 0);
    uint64_t deadline = clock_mono_ms() + TIMEOUT_MS;
    while (harness_alive(f.lb, &status) && clock_mono_ms() < deadline)
        harness_sleep_ms(20);
    if (clock_mono_ms() >= deadline) {
        harness_stop(f.lb, 1000);
        fail_msg("lb did not exit after SIGINT");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_client_vanishing_mid_response_does_not_kill_lb(void **state)
{
    struct harness_lab lab;
    struct harness_response resp;
    (void)state;

    assert_int_equal(harness_lab_start(&lab, 2, NULL), 0);
    for (int i = 0; i < 5; i++) {
        struct harness_conn c;
        char buf[4096];
        const char *req = "GET /bytes/20971520 HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_int_equal(harness_conn_open(&c, lab.lb_port, TIMEOUT_MS), 0);
        assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
        assert_true(recv(c.fd, buf, sizeof(buf), 0) > 0);
        /* leave with a reset while lb is still writing */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        harness_conn_close(&c);
    }
    harness_sleep_ms(200);
    assert_true(harness_alive(lab.lb_pid, NULL));
    const char *req = "GET /bytes/1000 HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 4; i++) {
        assert_int_equal(harness_exchange(lab.lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
        assert_int_equal(resp.status, 200);
        assert_int_equal(resp.body_len, 1000);
        harness_response_free(&resp);
    }
    assert_int_equal(harness_lab_stop(&lab), 0);
}

static void test_access_log_has_one_line_per_request_with_named_fields(void **state)
{
    char dir[] = "/tmp/lbtest-log-XXXXXX";
    char path[256];
    struct harness_lab lab;
    char client[3][64];
    int n_lines = 0;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/access.log", dir);
    const char *extra[] = {"--access-log", path, NULL};
    assert_int_equal(harness_lab_start(&lab, 1, extra), 0);
    for (int i = 0; i < 3; i++) {
        struct harness_conn c;
        struct harness_response resp;
        struct sockaddr_in sa;
        socklen_t sl = sizeof(sa);
        char req[256];
        snprintf(req, sizeof(req), "GET /bytes/%d?n=%d HTTP/1.1\r\nHost: x\r\n"
                 "X-Request-ID: log-test-%d\r\n\r\n", 10 + i, i, i);
        assert_int_equal(harness_conn_open(&c, lab.lb_port, TIMEOUT_MS), 0);
        assert_int_equal(getsockname(c.fd, (struct sockaddr *)&sa, &sl), 0);
        snprintf(client[i], sizeof(client[i]), "%u", (unsigned)ntohs(sa.sin_port));
        assert_int_equal(harness_conn_request(&c, req, &resp), 0);
        assert_int_equal(resp.status, 200);
        harness_response_free(&resp);
        harness_conn_close(&c);
    }
    assert_int_equal(harness_lab_stop(&lab), 0); /* flushes the log */

    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    char backend_port[16];
    snprintf(backend_port, sizeof(backend_port), "%u", (unsigned)lab.sim_port[0]);
    bool seen[3] = {false, false, false};
    /* lines may come in any order (workers log on their own), each request exactly once */
    while (fgets(line, sizeof(line), f) != NULL) {
        char want[64];
        int k = -1;
        assert_true(n_lines < 3);
        for (int i = 0; i < 3; i++) {
            snprintf(want, sizeof(want), "log-test-%d", i);
            if (strstr(line, want) != NULL)
                k = i;
        }
        if (k < 0 || seen[k]) {
            fprintf(stderr, "access log line for no request, or twice: %s", line);
            fail();
        }
        seen[k] = true;
        snprintf(want, sizeof(want), "/bytes/%d", 10 + k);
        assert_non_null(strstr(line, want));
        assert_non_null(strstr(line, "GET"));
        assert_non_null(strstr(line, "200"));
        assert_non_null(strstr(line, "127.0.0.1"));
        assert_non_null(strstr(line, client[k]));    /* client port */
        assert_non_null(strstr(line, backend_port)); /* backend port */
        /* each field is named */
        static const char *const names[] = {"time", "client", "backend", "backend_addr", "id",
                                            "method", "path", "status", "bytes", "connect",
                                            "first", "total"};
        for (size_t j = 0; j < sizeof(names) / sizeof(names[0]); j++)
            if (strcasestr(line, names[j]) == NULL) {
                fprintf(stderr, "access log line lacks a field named %s: %s", names[j], line);
                fail();
            }
        n_lines++;
    }
    fclose(f);
    assert_int_equal(n_lines, 3);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_bad_flags_exit_2_with_a_message_naming_the_flag),
        LB_TEST(test_listen_port_in_use_exits_2_naming_it),
        LB_TEST(test_help_exits_0_and_version_prints_the_version),
        LB_TEST(test_sigterm_lets_an_in_flight_request_finish_then_exits_0),
        LB_TEST(test_sigterm_during_backend_sim_delay_finishes_it),
        LB_TEST(test_sigterm_lets_ten_large_downloads_finish),
        LB_TEST(test_sigterm_closes_idle_keepalive_connections),
        LB_TEST(test_sigint_exits_0),
        LB_TEST(test_client_vanishing_mid_response_does_not_kill_lb),
        LB_TEST(test_access_log_has_one_line_per_request_with_named_fields),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("lb lifecycle", tests, NULL, NULL);
}
