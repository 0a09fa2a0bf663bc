/*
 * test_backend_sim_conn.c - end-to-end tests of backend-sim's connection handling and command
 * line: --keepalive-timeout closes idle connections, --max-conns refuses beyond the limit,
 * --latency/--fail-rate apply to every request, bad flags exit 2 naming the flag, --name with
 * several ports, --log -, and SIGTERM stopping promptly with connections still open.
 * Each test starts its own backend-sim with the flags it examines.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "harness.h"

#define TIMEOUT_MS 10000

struct sim {
    pid_t pid;
    uint16_t port[3];
    char dir[64];
    char out_path[128]; /* the process's stdout and stderr */
};

/* The backend-sim of the running test, stopped by teardown() if the test failed half-way. */
static struct sim *live;

/* Starts backend-sim with nports free ports (as -p flags) and the extra flags (NULL-terminated). */
static void sim_start(struct sim *s, int nports, ...)
{
    char *argv[32];
    char ports[3][32];
    int argc = 0;
    va_list ap;

    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "/tmp/test_backend_sim_conn.XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    live = s;
    snprintf(s->out_path, sizeof(s->out_path), "%s/out.txt", s->dir);
    argv[argc++] = (char *)harness_bin("backend-sim");
    assert_int_equal(harness_free_ports(s->port, (size_t)nports), 0);
    for (int i = 0; i < nports; i++) {
        snprintf(ports[i], sizeof(ports[i]), "127.0.0.1:%u", s->port[i]);
        argv[argc++] = "-p";
        argv[argc++] = ports[i];
    }
    va_start(ap, nports);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    s->pid = harness_spawn_listening_ports(argv, s->port, (size_t)nports, s->out_path);
    assert_true(s->pid > 0);
}

/* Stops it with SIGTERM and expects exit status 0. */
static void sim_stop(struct sim *s)
{
    char cmd[128];
    int status = harness_stop(s->pid, TIMEOUT_MS);
    live = NULL;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
    assert_int_equal(system(cmd), 0);
}

/* After each test: a backend-sim left running by a failed assertion is stopped by its PID. */
static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    if (live != NULL) {
        harness_stop(live->pid, TIMEOUT_MS);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", live->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", live->dir);
        live = NULL;
    }
    return 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 1 << 20);
    if (f != NULL) {
        size_t n = fread(buf, 1, (1 << 20) - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

static int get(uint16_t port, const char *request, struct harness_response *resp)
{
    return harness_exchange(port, request, strlen(request), TIMEOUT_MS, resp);
}

/* Reads until EOF; returns true when the server closed the connection (not a timeout). */
static bool closed_by_server(int fd)
{
    char buf[4096];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        return n == 0 || (n < 0 && errno == ECONNRESET);
    }
}

static void test_keepalive_timeout_closes_idle_connections(void **state)
{
    struct sim s;
    struct harness_conn c;
    struct harness_response r;
    const char *req = "GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n";
    (void)state;
    sim_start(&s, 1, "--keepalive-timeout", "0.5", NULL);
    assert_int_equal(harness_conn_open(&c, s.port[0], TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
    assert_int_equal(harness_read_response(&c, false, false, &r), 0);
    assert_int_equal(r.status, 200);
    assert_false(r.closed);
    harness_response_free(&r);
    /* idle now: the server closes it (the receive timeout of 10 s would report a timeout) */
    assert_true(closed_by_server(c.fd));
    harness_conn_close(&c);

    /* a connection that never sends a request is idle too */
    int fd = harness_connect(s.port[0], TIMEOUT_MS);
    assert_true(fd >= 0);
    assert_true(closed_by_server(fd));
    close(fd);
    sim_stop(&s);
}

static void test_keepalive_timeout_zero_closes_after_each_response(void **state)
{
    struct sim s;
    struct harness_response r;
    (void)state;
    sim_start(&s, 1, "--keepalive-timeout", "0", NULL);
    assert_int_equal(get(s.port[0], "GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.closed);
    assert_string_equal(harness_header(&r, "Connection"), "close");
    harness_response_free(&r);
    sim_stop(&s);
}

static void test_max_conns_refuses_beyond_the_limit(void **state)
{
    struct sim s;
    struct harness_conn a, b, c;
    struct harness_response r;
    const char *req = "GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n";
    (void)state;
    sim_start(&s, 1, "--max-conns", "2", NULL);
    /* a and b get served (retrying while the start-up probe connection is still counted) */
    for (struct harness_conn *x = &a; x != NULL; x = x == &a ? &b : NULL) {
        bool served = false;
        for (int attempt = 0; attempt < 100 && !served; attempt++) {
            assert_int_equal(harness_conn_open(x, s.port[0], TIMEOUT_MS), 0);
            assert_int_equal(harness_send_all(x->fd, req, strlen(req)), 0);
            assert_int_equal(harness_read_response(x, false, false, &r), 0);
            served = r.status == 200;
            harness_response_free(&r);
            if (!served) {
                struct timespec ts = {0, 50 * 1000000L};
                harness_conn_close(x);
                nanosleep(&ts, NULL);
            }
        }
        assert_true(served);
    }
    /* both are open and counted: the third is refused */
    assert_int_equal(harness_conn_open(&c, s.port[0], TIMEOUT_MS), 0);
    assert_int_equal(harness_read_response(&c, false, false, &r), 0);
    assert_int_equal(r.status, 503);
    assert_true(r.closed);
    assert_non_null(strstr(r.body, "--max-conns 2"));
    harness_response_free(&r);
    harness_conn_close(&c);

    /* when one leaves, a new connection is served again */
    harness_conn_close(&a);
    bool served = false;
    for (int attempt = 0; attempt < 50 && !served; attempt++) {
        assert_int_equal(get(s.port[0], req, &r), 0);
        served = r.status == 200;
        harness_response_free(&r);
        if (!served) {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    assert_true(served);
    harness_conn_close(&b);
    sim_stop(&s);
}

static void test_fail_rate_one_fails_everything_but_admin(void **state)
{
    struct sim s;
    struct harness_response r;
    (void)state;
    sim_start(&s, 1, "--fail-rate", "1", NULL);
    assert_int_equal(get(s.port[0], "GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 500);
    assert_non_null(harness_header(&r, "X-Backend"));
    harness_response_free(&r);
    assert_int_equal(get(s.port[0], "GET /admin/health HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
    sim_stop(&s);
}

static void test_log_dash_writes_json_lines_to_stdout(void **state)
{
    struct sim s;
    struct harness_response r;
    char *out = NULL;
    (void)state;
    sim_start(&s, 1, "--latency", "150", "--jitter", "50", "--log", "-", NULL);
    assert_int_equal(
        get(s.port[0], "GET /whoami HTTP/1.1\r\nHost: t\r\nX-Request-ID: dash-1\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
    uint64_t deadline = clock_mono_ms() + TIMEOUT_MS;
    const char *line = NULL;
    while (clock_mono_ms() < deadline) {
        free(out);
        out = read_file(s.out_path);
        line = strstr(out, "{\"time\":");
        if (line != NULL && strstr(line, "dash-1") != NULL)
            break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_non_null(line);
    assert_non_null(strstr(line, "\"request_id\":\"dash-1\""));
    /* 150 +- 50 ms of latency: at least 100 ms */
    const char *d = strstr(line, "\"duration_ms\":");
    assert_non_null(d);
    assert_true(atof(d + strlen("\"duration_ms\":")) >= 100.0);
    free(out);
    sim_stop(&s);
}

static void test_one_name_for_several_ports_is_a_prefix(void **state)
{
    struct sim s;
    struct harness_response r;
    (void)state;
    sim_start(&s, 3, "--name", "web", NULL);
    for (int i = 0; i < 3; i++) {
        char want[16];
        assert_int_equal(get(s.port[i], "GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
        snprintf(want, sizeof(want), "web%d", i + 1);
        assert_string_equal(harness_header(&r, "X-Backend"), want);
        harness_response_free(&r);
    }
    sim_stop(&s);
}

static void test_sigterm_stops_promptly_with_connections_open(void **state)
{
    struct sim s;
    struct harness_conn hung, idle;
    const char *req = "GET /hang HTTP/1.1\r\nHost: t\r\n\r\n";
    (void)state;
    sim_start(&s, 2, NULL);
    assert_int_equal(harness_conn_open(&hung, s.port[0], TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(hung.fd, req, strlen(req)), 0);
    assert_int_equal(harness_conn_open(&idle, s.port[1], TIMEOUT_MS), 0);
    /* sim_stop() asserts exit status 0 within the harness's bound */
    sim_stop(&s);
    /* and the connections were closed, not left hanging */
    assert_true(closed_by_server(hung.fd));
    assert_true(closed_by_server(idle.fd));
    harness_conn_close(&hung);
    harness_conn_close(&idle);
}

static void expect_usage_error(const char *flags, const char *named)
{
    int status;
    char *out = harness_runf(&status, "'%s' %s 2>&1", harness_bin("backend-sim"), flags);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    if (strstr(out, named) == NULL)
        fail_msg("'backend-sim %s' printed '%s', which does not name %s", flags, out, named);
    free(out);
}

static void test_bad_flags_exit_2_naming_the_flag(void **state)
{
    (void)state;
    expect_usage_error("--latency abc", "--latency");
    expect_usage_error("--jitter -5", "--jitter");
    expect_usage_error("--fail-rate 2", "--fail-rate");
    expect_usage_error("--keepalive-timeout soon", "--keepalive-timeout");
    expect_usage_error("--max-conns 0", "--max-conns");
    expect_usage_error("-p 99999", "-p");
    expect_usage_error("--name 'a b'", "--name");
    expect_usage_error("--bogus", "--bogus");
    expect_usage_error("--latency", "--latency");
    expect_usage_error("--docroot /nonexistent/dir", "--docroot");
    expect_usage_error("--max-size 1Q", "--max-size");
    expect_usage_error("--log /nonexistent/dir/requests.log", "--log");
}

static void test_help_and_version_exit_0(void **state)
{
    int status;
    (void)state;
    char *out = harness_runf(&status, "'%s' -h", harness_bin("backend-sim"));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_non_null(strstr(out, "usage: backend-sim"));
    assert_non_null(strstr(out, "--max-conns"));
    free(out);
    out = harness_runf(&status, "'%s' -V", harness_bin("backend-sim"));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_string_equal(out, "backend-sim (lblab) 0.1.0\n");
    free(out);
}

static void test_busy_port_is_reported(void **state)
{
    struct sim s;
    int status;
    (void)state;
    sim_start(&s, 1, NULL);
    char *out = harness_runf(&status, "'%s' -p %u 2>&1", harness_bin("backend-sim"), s.port[0]);
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(out, "in use"));
    free(out);
    sim_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_keepalive_timeout_closes_idle_connections, teardown),
        cmocka_unit_test_teardown(test_keepalive_timeout_zero_closes_after_each_response, teardown),
        cmocka_unit_test_teardown(test_max_conns_refuses_beyond_the_limit, teardown),
        cmocka_unit_test_teardown(test_fail_rate_one_fails_everything_but_admin, teardown),
        cmocka_unit_test_teardown(test_log_dash_writes_json_lines_to_stdout, teardown),
        cmocka_unit_test_teardown(test_one_name_for_several_ports_is_a_prefix, teardown),
        cmocka_unit_test_teardown(test_sigterm_stops_promptly_with_connections_open, teardown),
        cmocka_unit_test_teardown(test_bad_flags_exit_2_naming_the_flag, teardown),
        cmocka_unit_test_teardown(test_help_and_version_exit_0, teardown),
        cmocka_unit_test_teardown(test_busy_port_is_reported, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
