/*
 * test_lb_routing.c - end-to-end: which backend lb sends each request to. Round robin per request
 * (also on one keep-alive connection), a failed connect retried on the next backend (refused, or
 * timing out after --connect-timeout; 503 when it was the only one), a backend that never answers
 * while the others are still served, a backend killed mid-run, and backend names resolved
 * (-b localhost:PORT). Real lb and backend-sim processes on free loopback ports;
 * a scripted backend (harness_sb_*) where a test needs one that misbehaves on purpose.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 15000

/* The X-Backend of one GET path on a fresh connection to port, or "" (status in *status). */
static void get_backend(uint16_t port, const char *path, int *status, char *backend, size_t len)
{
    char req[512];
    struct harness_response resp;

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n", path);
    backend[0] = '\0';
    *status = -1;
    if (harness_exchange(port, req, strlen(req), TIMEOUT_MS, &resp) == 0) {
        const char *b = harness_header(&resp, "X-Backend");
        *status = resp.status;
        snprintf(backend, len, "%s", b ? b : "");
    }
    harness_response_free(&resp);
}

static void test_round_robin_per_request_on_one_keepalive_connection(void **state)
{
    struct harness_lab lab;
    struct harness_conn c;
    char seen[9][32];
    (void)state;

    assert_int_equal(harness_lab_start(&lab, 3, NULL), 0);
    assert_int_equal(harness_conn_open(&c, lab.lb_port, TIMEOUT_MS), 0);
    for (int i = 0; i < 9; i++) {
        struct harness_response resp;
        assert_int_equal(
            harness_conn_request(&c, "GET /whoami HTTP/1.1\r\nHost: lb\r\n\r\n", &resp), 0);
        assert_int_equal(resp.status, 200);
        assert_true(resp.complete);
        assert_false(resp.closed);
        const char *b = harness_header(&resp, "X-Backend");
        assert_non_null(b);
        snprintf(seen[i], sizeof(seen[i]), "%s", b);
        harness_response_free(&resp);
    }
    /* a fresh lb takes turns from the first backend: b1 b2 b3 b1 b2 b3 ... */
    for (int i = 0; i < 9; i++) {
        char want[8];
        snprintf(want, sizeof(want), "b%d", i % 3 + 1);
        assert_string_equal(seen[i], want);
    }
    harness_conn_close(&c);
    assert_int_equal(harness_lab_stop(&lab), 0);
}

static void test_round_robin_reaches_every_backend_across_connections(void **state)
{
    struct harness_lab lab;
    (void)state;

    assert_int_equal(harness_lab_start(&lab, 3, NULL), 0);
    /* one request per connection, one after the other: the turns are lb's, not a worker's */
    for (int i = 0; i < 12; i++) {
        int status;
        char b[32], want[8];
        get_backend(lab.lb_port, "/whoami", &status, b, sizeof(b));
        assert_int_equal(status, 200);
        snprintf(want, sizeof(want), "b%d", i % 3 + 1);
        assert_string_equal(b, want);
    }
    assert_int_equal(harness_lab_stop(&lab), 0);
}

static void test_failed_connect_is_retried_on_next_backend(void **state)
{
    struct lb_fixture f;
    pid_t sims[2];
    uint16_t ports[3];
    struct harness_conn c;
    (void)state;

    sims[0] = harness_start_backend_sim("b1", &ports[0], NULL);
    assert_true(sims[0] > 0);
    ports[1] = harness_free_port(); /* nobody listens here: connect is refused */
    sims[1] = harness_start_backend_sim("b3", &ports[2], NULL);
    assert_true(sims[1] > 0);
    lb_fixture_start_ports(&f, ports, 3, NULL);

    /* b1, then the refused one's turn goes to b3 (and it rests), then b1, b3, ... */
    for (int i = 0; i < 12; i++) {
        int status;
        char b[32];
        get_backend(f.lb_port, "/whoami", &status, b, sizeof(b));
        assert_int_equal(status, 200);
        assert_string_equal(b, i % 2 == 0 ? "b1" : "b3");
    }
    /* the same on one keep-alive connection */
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    for (int i = 0; i < 12; i++) {
        struct harness_response resp;
        assert_int_equal(harness_conn_request(&c, "GET / HTTP/1.1\r\nHost: lb\r\n\r\n", &resp), 0);
        assert_int_equal(resp.status, 200);
        harness_response_free(&resp);
    }
    harness_conn_close(&c);
    lb_fixture_stop(&f);
    harness_stop(sims[0], 10000);
    harness_stop(sims[1], 10000);
}

/* A listener whose accept queue is full and never drained: the kernel drops further SYNs, so a
 * connect to it neither succeeds nor fails until the connecting side gives up. Returns its fd and
 * port; the two queue-filling connections go to fillers[2]. */
static int blackhole(uint16_t *port, int fillers[2])
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 0), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    for (int i = 0; i < 2; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        connect(fillers[i], (struct sockaddr *)&sa, sizeof(sa)); /* EINPROGRESS is fine */
    }
    harness_sleep_ms(100); /* let the handshakes land in the queue */
    return fd;
}

static void test_backend_not_answering_syns_is_skipped_after_connect_timeout(void **state)
{
    struct lb_fixture f;
    int fillers[2];
    uint16_t ports[2];
    const char *extra[] = {"--connect-timeout", "500", NULL};
    (void)state;

    int hole = blackhole(&ports[0], fillers);
    pid_t sim = harness_start_backend_sim("b2", &ports[1], NULL);
    assert_true(sim > 0);
    lb_fixture_start_ports(&f, ports, 2, extra);
    for (int i = 0; i < 6; i++) {
        int status;
        char b[32];
        get_backend(f.lb_port, "/whoami", &status, b, sizeof(b));
        assert_int_equal(status, 200);
        assert_string_equal(b, "b2");
    }
    lb_fixture_stop(&f);
    harness_stop(sim, 10000);
    close(fillers[0]);
    close(fillers[1]);
    close(hole);
}

static void test_only_backend_not_answering_syns_gets_503(void **state)
{
    struct lb_fixture f;
    int fillers[2];
    uint16_t port;
    const char *extra[] = {"--connect-timeout", "500", NULL};
    int status;
    char b[32];
    (void)state;

    int hole = blackhole(&port, fillers);
    lb_fixture_start_ports(&f, &port, 1, extra);
    get_backend(f.lb_port, "/", &status, b, sizeof(b));
    assert_int_equal(status, 503);
    lb_fixture_stop(&f);
    close(fillers[0]);
    close(fillers[1]);
    close(hole);
}

static void test_backend_given_as_localhost_is_resolved(void **state)
{
    struct lb_fixture f;
    uint16_t sim_port;
    char arg[64];
    int status;
    char b[32];
    (void)state;

    pid_t sim = harness_start_backend_sim("bl", &sim_port, NULL);
    assert_true(sim > 0);
    snprintf(arg, sizeof(arg), "localhost:%u", (unsigned)sim_port);
    const char *extra[] = {"-b", arg, NULL};
    lb_fixture_start_ports(&f, NULL, 0, extra);
    for (int i = 0; i < 3; i++) {
        get_backend(f.lb_port, "/whoami", &status, b, sizeof(b));
        assert_int_equal(status, 200);
        assert_string_equal(b, "bl");
    }
    lb_fixture_stop(&f);
    harness_stop(sim, 10000);
}

/* Reads responses on the connections still without one (status[i] == 0) until every
 * connection has one or is parked on the silent backend sb (the requests it got beyond its first
 * `before`), or timeout_ms passed. Returns how many connections have a response. */
static int collect_responses(struct harness_conn *conns, int n, int *status, char (*backend)[32],
                             struct harness_sb *sb, int before, int timeout_ms)
{
    int got = 0, waited = 0;

    for (;;) {
        struct pollfd p[64];
        got = 0;
        for (int i = 0; i < n; i++) {
            got += status[i] != 0;
            p[i] = (struct pollfd){.fd = status[i] != 0 ? -1 : conns[i].fd, .events = POLLIN};
        }
        if (got + (harness_sb_requests(sb) - before) >= n || waited >= timeout_ms)
            return got;
        int r = poll(p, (nfds_t)n, 100);
        waited += 100;
        for (int i = 0; r > 0 && i < n; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            struct harness_response resp;
            status[i] = -1;
            if (harness_read_response(&conns[i], false, false, &resp) == 0) {
                const char *b = harness_header(&resp, "X-Backend");
                status[i] = resp.status;
                snprintf(backend[i], 32, "%s", b ? b : "");
            }
            harness_response_free(&resp);
        }
    }
}

static void test_backend_that_never_answers_does_not_stop_the_others(void **state)
{
    struct lb_fixture f;
    struct harness_sb_step hang = {.mode = HARNESS_SB_HANG};
    struct harness_sb *sb = harness_sb_start("hang", &hang, 1);
    pid_t sims[2];
    uint16_t ports[3];
    struct harness_conn held;
    struct harness_conn conns[9];
    int status[9];
    char backend[9][32];
    const char *extra[] = {"--server-timeout", "60000", NULL};
    int before, answered, to_hang;
    (void)state;

    assert_non_null(sb);
    sims[0] = harness_start_backend_sim("b1", &ports[0], NULL);
    ports[1] = harness_sb_port(sb);
    sims[1] = harness_start_backend_sim("b3", &ports[2], NULL);
    assert_true(sims[0] > 0 && sims[1] > 0);
    lb_fixture_start_ports(&f, ports, 3, extra);

    /* park one request on the silent backend and keep it waiting: send requests one connection
     * at a time until one reaches it (the others are answered by the live backends) */
    held.fd = -1;
    for (int attempt = 0; attempt < 6 && held.fd < 0; attempt++) {
        struct harness_conn c;
        assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
        const char *req = "GET /whoami HTTP/1.1\r\nHost: lb\r\n\r\n";
        assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
        struct pollfd p = {.fd = c.fd, .events = POLLIN};
        for (int waited = 0; waited < TIMEOUT_MS && held.fd < 0; waited += 50) {
            if (harness_sb_requests(sb) > 0)
                held = c;
            else if (poll(&p, 1, 50) > 0)
                break;
        }
        if (held.fd >= 0)
            break;
        struct harness_response resp;
        assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
        assert_int_equal(resp.status, 200);
        harness_response_free(&resp);
        harness_conn_close(&c);
    }
    assert_true(held.fd >= 0);

    /* nine more requests at once, while that one hangs: all but those sent to the silent backend
     * are answered, by the two live backends */
    memset(status, 0, sizeof(status));
    memset(backend, 0, sizeof(backend));
    before = harness_sb_requests(sb);
    for (int i = 0; i < 9; i++) {
        const char *req = "GET /whoami HTTP/1.1\r\nHost: lb\r\n\r\n";
        assert_int_equal(harness_conn_open(&conns[i], f.lb_port, TIMEOUT_MS), 0);
        assert_int_equal(harness_send_all(conns[i].fd, req, strlen(req)), 0);
    }
    answered = collect_responses(conns, 9, status, backend, sb, before, 20000);
    to_hang = harness_sb_requests(sb) - before;
    assert_true(to_hang < 9);
    assert_int_equal(answered, 9 - to_hang);
    for (int i = 0; i < 9; i++) {
        if (status[i] == 0)
            continue; /* still waiting on the silent backend */
        assert_int_equal(status[i], 200);
        assert_true(strcmp(backend[i], "b1") == 0 || strcmp(backend[i], "b3") == 0);
    }
    /* the parked request is still unanswered: nothing was serialised behind it */
    struct pollfd p = {.fd = held.fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);
    assert_int_equal(held.len, 0);

    for (int i = 0; i < 9; i++)
        harness_conn_close(&conns[i]);
    harness_conn_close(&held);
    lb_fixture_stop(&f);
    harness_stop(sims[0], 10000);
    harness_stop(sims[1], 10000);
    harness_sb_stop(sb);
}

static void test_killed_backend_traffic_moves_to_the_others(void **state)
{
    struct harness_lab lab;
    int ok = 0, last_ok = 0;
    (void)state;

    assert_int_equal(harness_lab_start(&lab, 3, NULL), 0);
    for (int i = 0; i < 6; i++) {
        int status;
        char b[32];
        get_backend(lab.lb_port, "/whoami", &status, b, sizeof(b));
        assert_int_equal(status, 200);
    }
    /* kill b2 outright */
    assert_int_equal(kill(lab.sim_pid[1], SIGKILL), 0);
    assert_int_equal(waitpid(lab.sim_pid[1], NULL, 0), lab.sim_pid[1]);
    lab.sim_pid[1] = 0;

    for (int i = 0; i < 12; i++) {
        int status;
        char b[32];
        get_backend(lab.lb_port, "/whoami", &status, b, sizeof(b));
        assert_true(status == 200 || status == 502 || status == 503);
        assert_string_not_equal(b, "b2");
        if (status == 200) {
            assert_true(strcmp(b, "b1") == 0 || strcmp(b, "b3") == 0);
            ok++;
            last_ok = i >= 9 ? last_ok + 1 : last_ok;
        }
    }
    assert_true(ok >= 6);
    assert_int_equal(last_ok, 3);
    /* lb itself is fine */
    assert_true(harness_alive(lab.lb_pid, NULL));
    assert_int_equal(harness_lab_stop(&lab), 0);
}

/* A backend killed while it holds requests: those get 502 (or are retried elsewhere), never a
 * hang and never a 200 from the dead backend; the others' requests are untouched. */
static void test_backend_killed_with_requests_in_flight(void **state)
{
    struct harness_lab lab;
    struct harness_conn c[6];
    int n200 = 0;
    (void)state;

    assert_int_equal(harness_lab_start(&lab, 3, NULL), 0);
    for (int i = 0; i < 6; i++) {
        const char *req = "GET /delay/1500 HTTP/1.1\r\nHost: lb\r\n\r\n";
        assert_int_equal(harness_conn_open(&c[i], lab.lb_port, TIMEOUT_MS), 0);
        assert_int_equal(harness_send_all(c[i].fd, req, strlen(req)), 0);
    }
    harness_sleep_ms(500); /* the requests are at the backends (not an assertion on time) */
    assert_int_equal(kill(lab.sim_pid[1], SIGKILL), 0);
    assert_int_equal(waitpid(lab.sim_pid[1], NULL, 0), lab.sim_pid[1]);
    lab.sim_pid[1] = 0;
    for (int i = 0; i < 6; i++) {
        struct harness_response resp;
        int rc = harness_read_response(&c[i], false, false, &resp);
        assert_int_equal(rc, 0);
        if (resp.status == 200) {
            const char *b = harness_header(&resp, "X-Backend");
            assert_non_null(b);
            assert_string_not_equal(b, "b2");
            assert_true(resp.complete);
            n200++;
        } else {
            assert_true(resp.status == 502 || resp.status == 503);
        }
        harness_response_free(&resp);
        harness_conn_close(&c[i]);
    }
    assert_true(n200 >= 4); /* b1's and b3's requests */
    assert_true(harness_alive(lab.lb_pid, NULL));
    assert_int_equal(harness_lab_stop(&lab), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_round_robin_per_request_on_one_keepalive_connection),
        LB_TEST(test_round_robin_reaches_every_backend_across_connections),
        LB_TEST(test_failed_connect_is_retried_on_next_backend),
        LB_TEST(test_backend_not_answering_syns_is_skipped_after_connect_timeout),
        LB_TEST(test_only_backend_not_answering_syns_gets_503),
        LB_TEST(test_backend_given_as_localhost_is_resolved),
        LB_TEST(test_backend_that_never_answers_does_not_stop_the_others),
        LB_TEST(test_killed_backend_traffic_moves_to_the_others),
        LB_TEST(test_backend_killed_with_requests_in_flight),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("lb routing", tests, NULL, NULL);
}
