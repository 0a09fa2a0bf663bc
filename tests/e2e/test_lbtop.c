/* test_lbtop.c - end-to-end tests of lb's statistics as lbtop shows them: real backend-sim
 * backends and a real lb on free loopback ports, requests sent through lb, and bin/lbtop --json
 * (and the interactive screen, in tmux) must show exactly the requests each backend served, as
 * the client saw them (X-Backend-Port on each response). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "lbtop_tmux.h"

#define NB 3

struct rig {
    uint16_t lb_port, ports[NB];
    pid_t sim, lb;
    char log[128];
};

/* The rig of the running test, stopped by teardown() even when an assertion ends the test. */
static struct rig *active;

static pid_t start_lb(struct rig *r, unsigned nbackends, uint16_t extra_dead_port)
{
    char listen[32], b[NB + 1][32], *argv[32];
    int n = 0;

    snprintf(listen, sizeof(listen), "127.0.0.1:%u", (unsigned)r->lb_port);
    argv[n++] = (char *)harness_bin("lb");
    argv[n++] = "-l";
    argv[n++] = listen;
    argv[n++] = "-w";
    argv[n++] = "2";
    for (unsigned i = 0; i < nbackends; i++) {
        snprintf(b[i], sizeof(b[i]), "127.0.0.1:%u", (unsigned)r->ports[i]);
        argv[n++] = "-b";
        argv[n++] = b[i];
    }
    if (extra_dead_port != 0) {
        snprintf(b[NB], sizeof(b[NB]), "127.0.0.1:%u", (unsigned)extra_dead_port);
        argv[n++] = "-b";
        argv[n++] = b[NB];
    }
    argv[n] = NULL;
    pid_t pid = harness_spawn_listening(argv, r->lb_port, r->log);
    assert_true(pid > 0);
    /* lb listens a moment before it publishes its statistics: wait for the segment too */
    char seg[64];
    struct stat st;
    snprintf(seg, sizeof(seg), "/dev/shm/lblab-%u", (unsigned)r->lb_port);
    for (int i = 0; i < 1000 && stat(seg, &st) != 0; i++)
        harness_sleep_ms(10);
    assert_int_equal(stat(seg, &st), 0);
    return pid;
}

static void rig_up(struct rig *r, unsigned nbackends, uint16_t dead_port)
{
    char p[NB][32], *argv[2 * NB + 2];
    int n = 0;

    memset(r, 0, sizeof(*r));
    active = r;
    snprintf(r->log, sizeof(r->log), "/tmp/lblab-e2e-lbtop-%ld.log", (long)getpid());
    argv[n++] = (char *)harness_bin("backend-sim");
    assert_int_equal(harness_free_ports(r->ports, NB), 0);
    for (unsigned i = 0; i < NB; i++) {
        snprintf(p[i], sizeof(p[i]), "127.0.0.1:%u", (unsigned)r->ports[i]);
        argv[n++] = "-p";
        argv[n++] = p[i];
    }
    argv[n] = NULL;
    r->sim = harness_spawn_listening_ports(argv, r->ports, NB, r->log);
    assert_true(r->sim > 0);
    r->lb_port = harness_free_port();
    r->lb = start_lb(r, nbackends, dead_port);
}

static void rig_down(struct rig *r)
{
    if (r->lb > 0)
        harness_stop(r->lb, 10000);
    if (r->sim > 0)
        harness_stop(r->sim, 10000);
    r->lb = r->sim = 0;
    if (getenv("LBTOP_E2E_KEEP_LOG") == NULL) /* set it to read lb's and backend-sim's output */
        unlink(r->log);
    active = NULL;
}

static int teardown(void **state)
{
    (void)state;
    tmux_stop();
    if (active != NULL)
        rig_down(active);
    return 0;
}

/* Sends conns connections of per_conn keep-alive requests for path; counts, per backend, the
 * responses whose X-Backend-Port names it. Returns the last request id seen (static). */
static const char *send_requests(const struct rig *r, int conns, int per_conn, const char *path,
                                 unsigned counts[NB], uint16_t *client_port)
{
    static char last_id[128];
    char req[256];

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    for (int c = 0; c < conns; c++) {
        struct harness_conn conn;
        assert_int_equal(harness_conn_open(&conn, r->lb_port, 10000), 0);
        for (int i = 0; i < per_conn; i++) {
            struct harness_response resp;
            assert_int_equal(harness_send_all(conn.fd, req, strlen(req)), 0);
            assert_int_equal(harness_read_response(&conn, false, false, &resp), 0);
            const char *port = harness_header(&resp, "X-Backend-Port");
            assert_non_null(port);
            for (unsigned b = 0; b < NB; b++)
                if ((unsigned)atoi(port) == r->ports[b])
                    counts[b]++;
            const char *id = harness_header(&resp, "X-Request-ID");
            if (id != NULL)
                snprintf(last_id, sizeof(last_id), "%s", id);
            harness_response_free(&resp);
        }
        struct sockaddr_in me;
        socklen_t sl = sizeof(me);
        if (client_port != NULL && getsockname(conn.fd, (struct sockaddr *)&me, &sl) == 0)
            *client_port = ntohs(me.sin_port);
        harness_conn_close(&conn);
    }
    return last_id;
}

static char *lbtop_json(uint16_t lb_port, int *code)
{
    int status;
    char *out = harness_runf(&status, "%s -p %u --json 2>&1", harness_bin("lbtop"), (unsigned)lb_port);

    *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
}

/* The integer after "key": inside backend object whose "port" is port (-1 if absent). */
static long backend_field(const char *json, uint16_t port, const char *key)
{
    char want[64], k[64];
    const char *b = strstr(json, "\"backends\"");

    if (b == NULL)
        return -1;
    snprintf(want, sizeof(want), "\"port\": %u,", (unsigned)port);
    b = strstr(b, want);
    if (b == NULL)
        return -1;
    const char *end = strstr(b, "\"latency_ms\"");
    snprintf(k, sizeof(k), "\"%s\": ", key);
    const char *v = strstr(b, k);
    if (v == NULL || (end != NULL && v > end))
        return -1;
    return strtol(v + strlen(k), NULL, 10);
}

/* The string after "key": in backend port's object, into out ("" if absent). */
static const char *backend_text(const char *json, uint16_t port, const char *key, char *out,
                                size_t len)
{
    char want[64], k[64];
    const char *b = strstr(json, "\"backends\"");

    out[0] = '\0';
    snprintf(want, sizeof(want), "\"port\": %u,", (unsigned)port);
    if (b == NULL || (b = strstr(b, want)) == NULL)
        return out;
    const char *end = strstr(b, "\"latency_ms\"");
    snprintf(k, sizeof(k), "\"%s\": \"", key);
    const char *v = strstr(b, k);
    if (v == NULL || (end != NULL && v > end))
        return out;
    v += strlen(k);
    size_t n = strcspn(v, "\"");
    snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), v);
    return out;
}

static long total_field(const char *json, const char *key)
{
    char k[64];
    const char *t = strstr(json, "\"totals\"");

    if (t == NULL)
        return -1;
    snprintf(k, sizeof(k), "\"%s\": ", key);
    const char *v = strstr(t, k);
    return v ? strtol(v + strlen(k), NULL, 10) : -1;
}

/* The sum of "key" over the entries of "per_worker" in lbtop's JSON; *entries says how many
 * there were. */
static long per_worker_sum(const char *json, const char *key, int *entries)
{
    char k[64];
    const char *at = strstr(json, "\"per_worker\": [");
    const char *end = at != NULL ? strchr(at, ']') : NULL;
    long sum = 0;
    *entries = 0;
    if (at == NULL || end == NULL)
        return -1;
    snprintf(k, sizeof(k), "\"%s\": ", key);
    while ((at = strstr(at, "{\"worker\": ")) != NULL && at < end) {
        const char *v = strstr(at, k);
        const char *close = strchr(at, '}');
        if (v == NULL || close == NULL || v > close)
            return -1;
        sum += strtol(v + strlen(k), NULL, 10);
        (*entries)++;
        at = close;
    }
    return sum;
}

/* Polls lbtop --json until every backend shows its expected request count (lb counts a request
 * once its response is out, which can be a moment after the client has read it). */
static char *wait_counts(const struct rig *r, const unsigned want[NB], long total)
{
    char *json = NULL;

    for (int tries = 0; tries < 100; tries++) {
        int code;
        bool all = true;
        free(json);
        json = lbtop_json(r->lb_port, &code);
        assert_int_equal(code, 0);
        /* "requests" counts a request when it is sent, "requests_done" when lb has finished it,
         * which may be a moment after the client read the last byte: wait for both */
        for (unsigned b = 0; b < NB; b++)
            if (backend_field(json, r->ports[b], "requests") != (long)want[b] ||
                backend_field(json, r->ports[b], "requests_done") != (long)want[b])
                all = false;
        if (all && total_field(json, "requests") == total)
            return json;
        usleep(100000);
    }
    fail_msg("lbtop never showed the expected counts:\n%s", json);
    return json;
}

static void test_json_shows_exactly_the_requests_each_backend_served(void **state)
{
    static struct rig r; /* static: teardown() stops it after a failed assertion */
    unsigned counts[NB] = {0};
    uint16_t client_port = 0;
    char want[128];
    (void)state;

    rig_up(&r, NB, 0);
    /* Connections so far: harness_spawn_listening()'s probe, once lb has accepted it (connect()
     * succeeds before lb's accept(), so wait for lb to count it). */
    long accepted0 = -1;
    for (int tries = 0; tries < 100 && accepted0 < 1; tries++) {
        int code;
        char *before = lbtop_json(r.lb_port, &code);
        assert_int_equal(code, 0);
        accepted0 = total_field(before, "accepted");
        free(before);
        if (accepted0 < 1)
            usleep(100000);
    }
    assert_int_equal(accepted0, 1);
    /* 7 connections: 4 requests each on keep-alive, spread by lb's policy. */
    const char *id = send_requests(&r, 7, 4, "/whoami", counts, &client_port);
    assert_int_equal(counts[0] + counts[1] + counts[2], 28);
    char *json = wait_counts(&r, counts, 28);

    for (unsigned b = 0; b < NB; b++) {
        assert_int_equal(backend_field(json, r.ports[b], "requests_done"), counts[b]);
        assert_int_equal(backend_field(json, r.ports[b], "in_flight"), 0);
        assert_int_equal(backend_field(json, r.ports[b], "2xx"), counts[b]);
        assert_int_equal(backend_field(json, r.ports[b], "connect_errors"), 0);
    }
    assert_int_equal(total_field(json, "2xx"), 28);
    assert_int_equal(total_field(json, "accepted") - accepted0, 7);
    /* lb -w 2: each worker's own counts, which add up to the totals */
    int workers;
    assert_int_equal(per_worker_sum(json, "requests", &workers), 28);
    assert_int_equal(workers, 2);
    assert_int_equal(per_worker_sum(json, "accepted", &workers), total_field(json, "accepted"));
    assert_true(per_worker_sum(json, "wakeups", &workers) > 0);
    snprintf(want, sizeof(want), "\"listen\": \"127.0.0.1:%u\"", (unsigned)r.lb_port);
    assert_non_null(strstr(json, want));
    assert_non_null(strstr(json, "\"mode\": \"http\""));

    /* The newest ring entry is our last request, with both legs. */
    const char *recent = strstr(json, "\"recent\"");
    assert_non_null(recent);
    if (id[0] != '\0') {
        snprintf(want, sizeof(want), "\"request_id\": \"%s\"", id);
        assert_non_null(strstr(recent, want));
    }
    snprintf(want, sizeof(want), "\"client\": \"127.0.0.1:%u\"", (unsigned)client_port);
    assert_non_null(strstr(recent, want));
    snprintf(want, sizeof(want), "\"lb_front\": \"127.0.0.1:%u\"", (unsigned)r.lb_port);
    assert_non_null(strstr(recent, want));
    assert_non_null(strstr(recent, "\"lb_back\": \"127.0.0.1:"));
    assert_non_null(strstr(recent, "\"path\": \"/whoami\""));
    free(json);
    rig_down(&r);
}

static void test_errors_and_statuses_are_counted_per_backend(void **state)
{
    static struct rig r; /* static: teardown() stops it after a failed assertion */
    unsigned counts[NB] = {0};
    uint16_t dead = harness_free_port(); /* nothing listens there */
    int code;
    (void)state;

    rig_up(&r, 1, dead); /* backend 0 alive, then a dead one */
    send_requests(&r, 1, 6, "/status/404", counts, NULL);
    assert_int_equal(counts[0], 6); /* the dead backend's share was retried on the live one */
    char *json = NULL;
    for (int tries = 0; tries < 100; tries++) {
        free(json);
        json = lbtop_json(r.lb_port, &code);
        if (backend_field(json, r.ports[0], "4xx") == 6 && total_field(json, "4xx") == 6)
            break;
        usleep(100000);
    }
    assert_int_equal(backend_field(json, r.ports[0], "4xx"), 6);
    assert_int_equal(backend_field(json, r.ports[0], "requests"), 6);
    assert_true(backend_field(json, dead, "connect_errors") >= 1);
    assert_true(backend_field(json, dead, "retries") >= 1);
    assert_int_equal(backend_field(json, dead, "requests"), 0);
    assert_int_equal(backend_field(json, dead, "in_flight"), 0);
    free(json);
    rig_down(&r);
}

static void test_a_refusing_backend_shows_down_and_the_live_one_up(void **state)
{
    static struct rig r; /* static: teardown() stops it after a failed assertion */
    unsigned counts[NB] = {0};
    uint16_t dead = harness_free_port(); /* nothing listens there */
    char st[32];
    int code;
    (void)state;

    rig_up(&r, 1, dead); /* backend 0 alive, then a dead one */
    char *json = lbtop_json(r.lb_port, &code);
    assert_int_equal(code, 0);
    assert_string_equal(backend_text(json, dead, "state", st, sizeof(st)), "UP"); /* no news yet */
    free(json);
    send_requests(&r, 1, 2, "/", counts, NULL); /* round robin: one of the two tries the dead one */
    assert_int_equal(counts[0], 2);
    json = lbtop_json(r.lb_port, &code);
    assert_int_equal(code, 0);
    assert_string_equal(backend_text(json, dead, "state", st, sizeof(st)), "DOWN");
    assert_string_equal(backend_text(json, r.ports[0], "state", st, sizeof(st)), "UP");
    assert_int_equal(backend_field(json, dead, "weight"), 1);
    assert_int_equal(backend_field(json, r.ports[0], "weight"), 1);
    assert_null(strstr(json, "\"checks\"")); /* lb runs no health checks (yet) */
    free(json);

    char *log = NULL, cmd[256];
    snprintf(cmd, sizeof(cmd), "cat '%s'", r.log);
    for (int tries = 0; tries < 50; tries++) {
        free(log);
        log = harness_run(cmd, &code);
        if (log != NULL && strstr(log, "DOWN (ejected for 5 s after 1 failure in 10 s: connect "
                                       "refused)"))
            break;
        usleep(100000);
    }
    assert_non_null(log);
    snprintf(cmd, sizeof(cmd), "lb: backend 127.0.0.1:%u DOWN (ejected for 5 s after 1 failure in "
             "10 s: connect refused)\n", (unsigned)dead);
    assert_non_null(strstr(log, cmd));
    assert_null(strstr(strstr(log, cmd) + strlen(cmd), " DOWN ")); /* one line per change */
    free(log);
    rig_down(&r);
}

static void test_segment_lives_and_dies_with_lb(void **state)
{
    static struct rig r; /* static: teardown() stops it after a failed assertion */
    char path[64];
    struct stat st;
    int code;
    (void)state;

    rig_up(&r, NB, 0);
    snprintf(path, sizeof(path), "/dev/shm/lblab-%u", (unsigned)r.lb_port);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_true(WIFEXITED(harness_stop(r.lb, 15000)));
    r.lb = 0;
    assert_int_not_equal(stat(path, &st), 0);
    free(harness_runf(&code, "%s -p %u --once 2>&1", harness_bin("lbtop"), (unsigned)r.lb_port));
    assert_int_equal(WEXITSTATUS(code), 1);
    rig_down(&r);
}

static void test_screen_shows_live_counts_and_follows_a_restart(void **state)
{
    static struct rig r; /* static: teardown() stops it after a failed assertion */
    unsigned counts[NB] = {0};
    char line[64];
    bool ok;
    char *screen;
    (void)state;

    rig_up(&r, NB, 0);
    assert_int_equal(tmux_start("%s -p %u -d 0.2", harness_bin("lbtop"), (unsigned)r.lb_port), 0);
    screen = tmux_wait_for(10000, &ok, "[1 STATUS]", "LASTCHG", (char *)NULL);
    if (!ok)
        fail_msg("STATUS:\n%s", screen);
    free(screen);

    send_requests(&r, 3, 4, "/whoami", counts, NULL);
    tmux_keys("3");
    /* HTTP view: each backend's line shows its request count, then 0 1xx, then its 2xx. */
    for (unsigned b = 0; b < NB; b++) {
        snprintf(line, sizeof(line), ":%u ", (unsigned)r.ports[b]); /* end of its name */
        bool found = false;
        for (int tries = 0; tries < 100 && !found; tries++) {
            screen = tmux_capture();
            const char *at = strstr(screen, "[3 HTTP]") ? strstr(screen, line) : NULL;
            if (at != NULL) {
                unsigned reqs = 0, c1 = 0, c2 = 0;
                at += strlen(line);
                if (sscanf(at, " %u %u %u", &reqs, &c1, &c2) == 3 && reqs == counts[b] &&
                    c2 == counts[b])
                    found = true;
            }
            if (!found && tries == 99)
                fail_msg("backend %u should show %u requests:\n%s", (unsigned)r.ports[b],
                         counts[b], screen);
            free(screen);
            if (!found)
                usleep(100000);
        }
    }
    tmux_keys("6");
    /* WORKERS view: lb's two workers, then all of them, with the header's event-loop line */
    screen = tmux_wait_for(10000, &ok, "[6 WORKERS]", "EV/WAKE", "event loop  ",
                           "   all ", (char *)NULL);
    if (!ok)
        fail_msg("WORKERS:\n%s", screen);
    free(screen);
    tmux_keys("5");
    screen = tmux_wait_for(10000, &ok, "[5 REQUESTS]", "/whoami", (char *)NULL);
    if (!ok)
        fail_msg("REQUESTS:\n%s", screen);
    free(screen);

    /* lb stops: lbtop waits; lb starts again on the same port: lbtop follows it. */
    harness_stop(r.lb, 15000);
    screen = tmux_wait_for(10000, &ok, "Waiting for lb", (char *)NULL);
    if (!ok)
        fail_msg("after lb stopped:\n%s", screen);
    free(screen);
    r.lb = start_lb(&r, NB, 0);
    snprintf(line, sizeof(line), "pid %d", (int)r.lb);
    screen = tmux_wait_for(10000, &ok, line, "[5 REQUESTS]", (char *)NULL);
    if (!ok)
        fail_msg("after lb restarted:\n%s", screen);
    free(screen);
    tmux_keys("q");
    tmux_stop();
    rig_down(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_json_shows_exactly_the_requests_each_backend_served,
                                  teardown),
        cmocka_unit_test_teardown(test_errors_and_statuses_are_counted_per_backend, teardown),
        cmocka_unit_test_teardown(test_a_refusing_backend_shows_down_and_the_live_one_up,
                                  teardown),
        cmocka_unit_test_teardown(test_segment_lives_and_dies_with_lb, teardown),
        cmocka_unit_test_teardown(test_screen_shows_live_counts_and_follows_a_restart, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
