/* test_lb_health.c - end-to-end tests of lb's health subsystem with real backend-sim backends:
 * a killed backend is DOWN after --health-fall failed checks and UP again after --health-rise
 * good ones, without a GET lost meanwhile; without checks, a refused connect ejects a backend
 * for 5 s, and a trial request after that brings it back; lbtop --json shows the reason. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 5000

struct rig {
    uint16_t ports[2];
    pid_t sim[2];
    struct lb_fixture lb;
    char dir[64], *log;
};

/* Starts backend-sim named name on 127.0.0.1:port (port 0: a free one, written back). */
static pid_t start_sim(const char *name, uint16_t *port)
{
    if (*port == 0)
        return harness_start_backend_sim(name, port, NULL);
    char *listen = harness_fmt("127.0.0.1:%u", (unsigned)*port);
    char *argv[] = {(char *)harness_bin("backend-sim"), "-p", listen, "--name", (char *)name,
                    NULL};
    pid_t pid = harness_spawn_listening(argv, *port, NULL);
    free(listen);
    assert_true(pid > 0);
    return pid;
}

static void rig_up(struct rig *r, const char *const *extra)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "/tmp/lbtest-health-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    r->log = harness_fmt("%s/lb.log", r->dir);
    r->sim[0] = start_sim("b1", &r->ports[0]);
    r->sim[1] = start_sim("b2", &r->ports[1]);
    assert_true(r->sim[0] > 0 && r->sim[1] > 0);
    r->lb.sb = NULL;
    r->lb.lb = harness_start_lb(&r->lb.lb_port, r->ports, 2, extra, r->log);
    assert_true(r->lb.lb > 0);
}

static void rig_down(struct rig *r)
{
    lb_fixture_stop(&r->lb);
    for (int i = 0; i < 2; i++)
        if (r->sim[i] > 0)
            harness_stop(r->sim[i], 5000);
    unlink(r->log);
    rmdir(r->dir);
    free(r->log);
}

/* lb's standard error so far. */
static char *lb_log(struct rig *r)
{
    int code;
    char *cmd = harness_fmt("cat '%s'", r->log);
    char *out = harness_run(cmd, &code);
    free(cmd);
    assert_non_null(out);
    return out;
}

/* Waits up to ms for line in lb's standard error; returns when it appeared (ms after start). */
static uint64_t wait_line(struct rig *r, const char *line, int ms)
{
    uint64_t start = clock_mono_ms();
    for (;;) {
        char *log = lb_log(r);
        bool found = strstr(log, line) != NULL;
        if (found || clock_mono_ms() - start > (uint64_t)ms) {
            if (!found)
                fail_msg("no line \"%s\" in %d ms; lb said:\n%s", line, ms, log);
            free(log);
            return clock_mono_ms() - start;
        }
        free(log);
        harness_sleep_ms(20);
    }
}

/* Sends n GETs through lb; every one must be answered 200. */
static void gets_all_answered(struct rig *r, int n)
{
    for (int i = 0; i < n; i++) {
        struct harness_response resp;
        const char *req = "GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_int_equal(harness_exchange(r->lb.lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
        assert_int_equal(resp.status, 200);
        harness_response_free(&resp);
    }
}

static void test_a_killed_backend_is_down_after_fall_checks_and_up_after_rise(void **state)
{
    static struct rig r; /* static: the teardown stops what an assertion left running */
    const char *const extra[] = {"--health-path", "/health", "--health-interval", "100",
                                 "--health-timeout", "100", "--health-fall", "3",
                                 "--health-rise", "2", "--max-fails", "0", NULL};
    (void)state;

    rig_up(&r, extra);
    gets_all_answered(&r, 4);
    assert_int_equal(harness_stop(r.sim[1], 5000) >= 0, 1);
    r.sim[1] = 0;
    char *down = harness_fmt("lb: backend 127.0.0.1:%u DOWN (3 checks failed: connect refused)",
                             (unsigned)r.ports[1]);
    /* fall x interval, and scheduling slack */
    assert_true(wait_line(&r, down, 3 * 100 + 1500) <= 3 * 100 + 1500);
    gets_all_answered(&r, 6); /* b2 gets none, and no GET is lost */

    r.sim[1] = start_sim("b2", &r.ports[1]);
    char *up = harness_fmt("lb: backend 127.0.0.1:%u UP (2 checks passed)", (unsigned)r.ports[1]);
    wait_line(&r, up, 2 * 100 + 1500);
    gets_all_answered(&r, 4);

    char *log = lb_log(&r);
    assert_null(strstr(strstr(log, down) + strlen(down), " DOWN ")); /* one line per change */
    free(log);
    free(down);
    free(up);
    rig_down(&r);
}

static void test_a_refused_connect_ejects_until_a_trial_succeeds(void **state)
{
    static struct rig r;
    (void)state;

    rig_up(&r, NULL);
    harness_stop(r.sim[1], 5000);
    r.sim[1] = 0;
    uint64_t t0 = clock_mono_ms();
    gets_all_answered(&r, 4); /* one of them tries b2, is refused, and goes to b1 */
    char *down = harness_fmt("lb: backend 127.0.0.1:%u DOWN (ejected for 5 s after 1 failure "
                             "in 10 s: connect refused)",
                             (unsigned)r.ports[1]);
    wait_line(&r, down, 2000);

    int code;
    char *json = harness_runf(&code, "'%s' -p %u --json", harness_bin("lbtop"),
                              (unsigned)r.lb.lb_port);
    assert_int_equal(code, 0);
    assert_non_null(strstr(json, "\"reason\": \"ejected for 5 s after 1 failure in 10 s: "
                                 "connect refused\""));
    assert_non_null(strstr(json, "\"health_checks\": false"));
    free(json);

    r.sim[1] = start_sim("b2", &r.ports[1]);
    while (clock_mono_ms() - t0 < 5200)
        harness_sleep_ms(50);
    gets_all_answered(&r, 4); /* the first to pick b2 is its trial */
    char *up = harness_fmt("lb: backend 127.0.0.1:%u UP (trial request succeeded)",
                           (unsigned)r.ports[1]);
    wait_line(&r, up, 2000);
    free(down);
    free(up);
    rig_down(&r);
}

/* A number field of backend name in lbtop --json on the lb at port, or -1. */
static long lbtop_backend_field(uint16_t port, const char *name, const char *field)
{
    int status;
    char *out = harness_runf(&status, "%s --json -p %u", harness_bin("lbtop"), (unsigned)port);
    long v = -1;
    if (out == NULL)
        return -1;
    char key[64], fkey[64];
    snprintf(key, sizeof(key), "\"name\": \"%s\"", name);
    snprintf(fkey, sizeof(fkey), "\"%s\": ", field);
    const char *b = strstr(out, key);
    const char *f = b ? strstr(b, fkey) : NULL;
    if (f != NULL)
        v = strtol(f + strlen(fkey), NULL, 10);
    free(out);
    return v;
}

/* GETs in a loop on keep-alive connections until told to stop; counts answers. */
struct load {
    uint16_t port;
    atomic_bool stop;
    atomic_int ok, failed;
    atomic_int per_backend[3];
    int max; /* 0: until stop */
};

static void *get_loop(void *arg)
{
    struct load *l = arg;
    struct harness_conn c;
    bool open = false;
    while (!atomic_load(&l->stop)) {
        if (l->max > 0 && atomic_load(&l->ok) + atomic_load(&l->failed) >= l->max)
            break;
        if (!open && harness_conn_open(&c, l->port, TIMEOUT_MS) != 0) {
            atomic_fetch_add(&l->failed, 1);
            harness_sleep_ms(10);
            continue;
        }
        open = true;
        struct harness_response resp;
        if (harness_conn_request(&c, "GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n", &resp) != 0) {
            atomic_fetch_add(&l->failed, 1);
            harness_conn_close(&c);
            open = false;
            continue;
        }
        if (resp.status == 200) {
            atomic_fetch_add(&l->ok, 1);
            const char *b = strstr(resp.head, "\r\nX-Backend: b");
            if (b != NULL && b[14] >= '1' && b[14] <= '3')
                atomic_fetch_add(&l->per_backend[b[14] - '1'], 1);
        } else {
            atomic_fetch_add(&l->failed, 1);
        }
        if (resp.closed) {
            harness_conn_close(&c);
            open = false;
        }
        harness_response_free(&resp);
    }
    if (open)
        harness_conn_close(&c);
    return NULL;
}

static void test_frozen_backend_is_taken_out_and_no_get_fails(void **state)
{
    static struct harness_lab lab;
    const char *extra[] = {"-w", "2", "--server-timeout", "500", NULL};
    static struct load l;
    pthread_t t[8];
    (void)state;
    assert_int_equal(harness_lab_start(&lab, 3, extra), 0);
    assert_int_equal(harness_freeze(lab.sim_pid[2], 5000), 0);
    memset(&l, 0, sizeof(l));
    l.port = lab.lb_port;
    l.max = 300;
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, get_loop, &l), 0);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(kill(lab.sim_pid[2], SIGCONT), 0);
    printf("GETs with b3 frozen: %d ok (b1 %d, b2 %d, b3 %d), %d failed\n", atomic_load(&l.ok),
           atomic_load(&l.per_backend[0]), atomic_load(&l.per_backend[1]),
           atomic_load(&l.per_backend[2]), atomic_load(&l.failed));
    assert_int_equal(atomic_load(&l.failed), 0);
    assert_true(atomic_load(&l.ok) >= 300);
    assert_int_equal(atomic_load(&l.per_backend[2]), 0); /* frozen: it answered nothing */
    /* passive health took it out after its first timeouts: round robin alone would have sent
     * it every third request (100 of 300), each costing a --server-timeout */
    char b3[32];
    snprintf(b3, sizeof(b3), "127.0.0.1:%u", (unsigned)lab.sim_port[2]); /* lb's name for it */
    long sent_to_b3 = lbtop_backend_field(lab.lb_port, b3, "requests");
    printf("requests lb sent to frozen b3: %ld\n", sent_to_b3);
    assert_true(sent_to_b3 >= 1 && sent_to_b3 <= 40);
    assert_int_equal(harness_lab_stop(&lab), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_a_killed_backend_is_down_after_fall_checks_and_up_after_rise),
        LB_TEST(test_a_refused_connect_ejects_until_a_trial_succeeds),
        LB_TEST(test_frozen_backend_is_taken_out_and_no_get_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
