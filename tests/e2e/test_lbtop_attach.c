/* test_lbtop_attach.c - end-to-end tests of how lbtop finds, validates and follows lb's
 * statistics segment, with no lb at all: the test itself plays lb's part and writes segments with
 * common/stats_shm (a correct one, one of another layout version, a corrupt one), and runs the
 * real bin/lbtop against them, in batch mode and in a real terminal (tmux). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "lbtop_tmux.h"
#include "stats.h"
#include "stats_shm.h"

/* Segments the running test created, removed by teardown() even when an assertion ends it. */
static struct stats_shm *made[4];

static int teardown(void **state)
{
    (void)state;
    tmux_stop();
    for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
        if (made[i] != NULL)
            stats_shm_destroy(made[i]);
        made[i] = NULL;
    }
    return 0;
}

/* Plays lb: a published segment named name with two backends and known counts. The heartbeat is
 * set ahead of time so the segment looks alive without a heartbeat thread. */
static void fake_lb(struct stats_shm *w, const char *name, uint16_t port, uint32_t version)
{
    char err[256];

    if (stats_shm_create(w, name, 2, 2, err, sizeof(err)) < 0)
        fail_msg("create %s: %s", name, err);
    for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++)
        if (made[i] == NULL || made[i] == w) {
            made[i] = w;
            break;
        }
    struct stats_segment *seg = w->seg;
    struct stats_header *h = &seg->header;
    h->version = version;
    h->mode = STATS_MODE_HTTP;
    h->listen_port = port;
    snprintf(h->listen_text, sizeof(h->listen_text), "127.0.0.1:%u", (unsigned)port);
    snprintf(h->policy, sizeof(h->policy), "rr");
    atomic_store(&h->heartbeat_mono_ns, UINT64_MAX / 2);
    snprintf(seg->backends[0].name, sizeof(seg->backends[0].name), "alpha-backend");
    snprintf(seg->backends[1].name, sizeof(seg->backends[1].name), "beta-backend");
    atomic_store(&seg->backends[0].state, STATS_BACKEND_UP);
    atomic_store(&seg->backends[1].state, STATS_BACKEND_DOWN);
    /* 7 requests to alpha from worker 0, 4 + 1 to beta from both workers. */
    atomic_store(&seg->workers[0].backends[0].requests, 7);
    atomic_store(&seg->workers[0].backends[0].requests_done, 7);
    atomic_store(&seg->workers[0].backends[0].responses[2], 7);
    atomic_store(&seg->workers[0].backends[1].requests, 4);
    atomic_store(&seg->workers[0].backends[1].requests_done, 4);
    atomic_store(&seg->workers[1].backends[1].requests, 1);
    atomic_store(&seg->workers[1].backends[1].requests_done, 1);
    atomic_store(&seg->workers[0].backends[1].responses[5], 5);
    atomic_store(&seg->workers[0].backends[1].resp_503, 5);
    atomic_store(&seg->workers[0].global.requests, 12);
    atomic_store(&seg->workers[0].global.responses[2], 7);
    atomic_store(&seg->workers[0].global.responses[5], 5);
    stats_shm_publish(w);
}

static char *run(const char *args, int *code)
{
    int status;
    char *out = harness_runf(&status, "%s %s 2>&1", harness_bin("lbtop"), args);

    *code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return out;
}

static void test_once_without_lb_says_so_and_fails(void **state)
{
    char args[64];
    int code;
    uint16_t port = harness_free_port();
    (void)state;

    snprintf(args, sizeof(args), "-p %u --once", (unsigned)port);
    char *out = run(args, &code);
    assert_int_equal(code, 1);
    char want[32];
    snprintf(want, sizeof(want), "/lblab-%u", (unsigned)port);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "not running"));
    free(out);
}

static void test_json_reads_the_sums_over_workers(void **state)
{
    static struct stats_shm w; /* static: teardown() may destroy it after a failed assertion */
    char name[64], args[128];
    int code;
    (void)state;

    snprintf(name, sizeof(name), "/lblab-e2e-%ld-json", (long)getpid());
    fake_lb(&w, name, 4321, STATS_VERSION);
    snprintf(args, sizeof(args), "--shm %s --json", name);
    char *out = run(args, &code);
    assert_int_equal(code, 0);
    const char *a = strstr(out, "\"name\": \"alpha-backend\"");
    const char *b = strstr(out, "\"name\": \"beta-backend\"");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(strstr(a, "\"requests\": 7,"));
    assert_non_null(strstr(b, "\"requests\": 5,"));
    assert_non_null(strstr(b, "\"503\": 5,"));
    assert_non_null(strstr(b, "\"state\": \"DOWN\""));
    assert_non_null(strstr(out, "\"listen\": \"127.0.0.1:4321\""));
    free(out);

    snprintf(args, sizeof(args), "--shm %s -n 2 -d 0.2", name);
    out = run(args, &code);
    assert_int_equal(code, 0);
    /* two text snapshots */
    const char *first = strstr(out, "== 1 STATUS ==");
    assert_non_null(first);
    assert_non_null(strstr(first + 1, "== 1 STATUS =="));
    free(out);
    stats_shm_destroy(&w);
}

static void test_another_layout_version_is_refused_naming_both(void **state)
{
    static struct stats_shm w; /* static: teardown() may destroy it after a failed assertion */
    char name[64], args[128], want[32];
    int code;
    bool ok;
    (void)state;

    snprintf(name, sizeof(name), "/lblab-e2e-%ld-version", (long)getpid());
    fake_lb(&w, name, 4322, 99);
    snprintf(args, sizeof(args), "--shm %s --json", name);
    char *out = run(args, &code);
    assert_int_equal(code, 1);
    snprintf(want, sizeof(want), "version %u", STATS_VERSION);
    assert_non_null(strstr(out, "version 99"));
    assert_non_null(strstr(out, want));
    assert_null(strstr(out, "\"backends\""));
    free(out);

    /* On the screen too, and it keeps waiting instead of exiting. */
    assert_int_equal(tmux_start("%s --shm %s", harness_bin("lbtop"), name), 0);
    char *screen = tmux_wait_for(10000, &ok, "Refusing", "version 99", want, (char *)NULL);
    if (!ok)
        fail_msg("screen:\n%s", screen);
    free(screen);
    tmux_stop();
    stats_shm_destroy(&w);
}

static void test_corrupt_segment_cannot_crash_lbtop(void **state)
{
    static struct stats_shm w; /* static: teardown() may destroy it after a failed assertion */
    char name[64], args[128];
    int code;
    (void)state;

    snprintf(name, sizeof(name), "/lblab-e2e-%ld-corrupt", (long)getpid());
    fake_lb(&w, name, 4323, STATS_VERSION);
    struct stats_segment *seg = w.seg;
    srand(42);
    /* Garbage everywhere a writer could scribble after the header's geometry. */
    unsigned char *p = (unsigned char *)seg->backends;
    size_t n = w.size - offsetof(struct stats_segment, backends);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)rand();
    memset(seg->header.listen_text, 'A', sizeof(seg->header.listen_text)); /* unterminated */
    memset(seg->header.policy, '\033', sizeof(seg->header.policy));
    /* Ring slots that claim to be complete, full of garbage. */
    atomic_store(&seg->ring.head, 10);
    for (uint64_t pos = 0; pos < 10; pos++)
        atomic_store(&seg->ring.slots[pos].seq, 2 * pos + 2);

    snprintf(args, sizeof(args), "--shm %s --json", name);
    char *out = run(args, &code);
    assert_int_equal(code, 0);
    assert_non_null(strstr(out, "\"backends\""));
    assert_null(strstr(out, "\033"));
    free(out);
    snprintf(args, sizeof(args), "--shm %s --once", name);
    out = run(args, &code);
    assert_int_equal(code, 0);
    assert_non_null(strstr(out, "== 5 REQUESTS =="));
    free(out);
    stats_shm_destroy(&w);
}

static void test_screen_waits_for_lb_attaches_and_follows_a_restart(void **state)
{
    static struct stats_shm w; /* static: teardown() may destroy it after a failed assertion */
    char name[64], title[64];
    uint16_t port = harness_free_port();
    bool ok;
    (void)state;

    stats_shm_name(port, name, sizeof(name));
    assert_int_equal(tmux_start("%s -p %u -d 0.2", harness_bin("lbtop"), (unsigned)port), 0);
    char *screen = tmux_wait_for(10000, &ok, "Waiting for lb", name, "not running", (char *)NULL);
    if (!ok)
        fail_msg("screen:\n%s", screen);
    free(screen);

    /* lb starts: lbtop attaches by itself. */
    fake_lb(&w, name, port, STATS_VERSION);
    snprintf(title, sizeof(title), "lb 127.0.0.1:%u", (unsigned)port);
    screen = tmux_wait_for(10000, &ok, title, "[1 STATUS]", "alpha-backend", "beta-backend",
                           "DOWN", (char *)NULL);
    if (!ok)
        fail_msg("screen:\n%s", screen);
    free(screen);

    /* lb stops: back to waiting. */
    stats_shm_destroy(&w);
    screen = tmux_wait_for(10000, &ok, "Waiting for lb", "stopped", (char *)NULL);
    if (!ok)
        fail_msg("screen:\n%s", screen);
    free(screen);

    /* lb comes back with other numbers: they show. */
    fake_lb(&w, name, port, STATS_VERSION);
    atomic_store(&w.seg->workers[0].backends[0].requests, 1234567);
    screen = tmux_wait_for(10000, &ok, "alpha-backend", "1234567", (char *)NULL);
    if (!ok)
        fail_msg("screen:\n%s", screen);
    free(screen);
    tmux_keys("q");
    tmux_stop();
    stats_shm_destroy(&w);
}

static void test_keys_switch_views_in_a_terminal(void **state)
{
    static struct stats_shm w; /* static: teardown() may destroy it after a failed assertion */
    char name[64];
    bool ok;
    char *screen;
    (void)state;

    snprintf(name, sizeof(name), "/lblab-e2e-%ld-keys", (long)getpid());
    fake_lb(&w, name, 4324, STATS_VERSION);
    assert_int_equal(tmux_start("%s --shm %s -d 0.3", harness_bin("lbtop"), name), 0);
    screen = tmux_wait_for(10000, &ok, "[1 STATUS]", "LASTCHG", "alpha-backend", (char *)NULL);
    if (!ok)
        fail_msg("STATUS:\n%s", screen);
    free(screen);
    static const struct {
        const char *key, *tab, *heading;
    } steps[] = {
        {"2", "[2 TRAFFIC]", "REQ/S HISTORY"}, {"3", "[3 HTTP]", "CONNERR"},
        {"4", "[4 TIMING]", "FIRST BYTE"},     {"5", "[5 REQUESTS]", "no requests yet"},
        {"6", "[6 WORKERS]", "EV/WAKE"},       {"Tab", "[1 STATUS]", "LASTCHG"},
        {"Tab", "[2 TRAFFIC]", "CONN/S"},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        tmux_keys(steps[i].key);
        screen = tmux_wait_for(10000, &ok, steps[i].tab, steps[i].heading, (char *)NULL);
        if (!ok)
            fail_msg("after key %s:\n%s", steps[i].key, screen);
        free(screen);
    }
    /* HTTP view shows the summed counts: beta got 5 requests, all 503. */
    tmux_keys("3");
    screen = tmux_wait_for(10000, &ok, "[3 HTTP]", (char *)NULL);
    assert_true(ok);
    const char *beta = strstr(screen, "beta-backend");
    assert_non_null(beta);
    int reqs = -1, x1, x2, x3, x4, x5, r502, r503;
    assert_int_equal(sscanf(beta, "beta-backend %d %d %d %d %d %d %d %d", &reqs, &x1, &x2, &x3,
                            &x4, &x5, &r502, &r503),
                     8);
    assert_int_equal(reqs, 5);
    assert_int_equal(x5, 5);
    assert_int_equal(r503, 5);
    free(screen);
    /* Sort by requests: shown in the header. Detail page of the selected backend. */
    tmux_keys("1");
    for (int i = 0; i < 8; i++)
        tmux_keys("s");
    screen = tmux_wait_for(10000, &ok, "sort: REQS", (char *)NULL);
    if (!ok)
        fail_msg("sort:\n%s", screen);
    free(screen);
    tmux_keys("Down");
    tmux_keys("Enter");
    screen = tmux_wait_for(10000, &ok, "BACKEND 0: alpha-backend", "TIMING (ms)", (char *)NULL);
    if (!ok)
        fail_msg("detail:\n%s", screen);
    free(screen);
    tmux_keys("Escape");
    tmux_keys("?");
    screen = tmux_wait_for(10000, &ok, "lbtop keys", (char *)NULL);
    assert_true(ok);
    free(screen);
    tmux_keys("x");
    tmux_keys("p");
    screen = tmux_wait_for(10000, &ok, "PAUSED", (char *)NULL);
    assert_true(ok);
    free(screen);
    tmux_keys("q");
    /* q ends lbtop, and with it the tmux session. */
    for (int i = 0; i < 50 && tmux_cmd("has-session") == 0; i++)
        usleep(100000);
    assert_int_not_equal(tmux_cmd("has-session"), 0);
    tmux_stop();
    stats_shm_destroy(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_once_without_lb_says_so_and_fails, teardown),
        cmocka_unit_test_teardown(test_json_reads_the_sums_over_workers, teardown),
        cmocka_unit_test_teardown(test_another_layout_version_is_refused_naming_both, teardown),
        cmocka_unit_test_teardown(test_corrupt_segment_cannot_crash_lbtop, teardown),
        cmocka_unit_test_teardown(test_screen_waits_for_lb_attaches_and_follows_a_restart, teardown),
        cmocka_unit_test_teardown(test_keys_switch_views_in_a_terminal, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
