/*
 * test_lb_io_uring.c - end-to-end: lb says at start-up how its workers write what they held for
 * the end of a batch of events (lb/sendbatch.h), and serves the same either way.
 *
 * By default a worker makes those writes with one io_uring_enter() where the kernel grants a
 * ring that answers at once; lb's log then says "go out together (io_uring)", or, where it does
 * not, "no io_uring (why): one sendmsg() per write". With --no-io-uring it says neither. Both
 * ways, twenty clients sending at once (batches of events, held writes) each get their own
 * answer. The batch itself is tested case by case in tests/unit/test_sendbatch.c.
 *
 * lb's statistics show the batching (lbtop's "event loop" line, the JSON's event_loop): with lb
 * stopped (SIGSTOP) while twenty clients send, its next wake-up finds all twenty requests, and
 * with io_uring the twenty requests to the backend go out held, several per io_uring_enter().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 20000
#define CONNS 20

/* How many lines of the file at path hold needle. */
static int lines_with(const char *path, const char *needle)
{
    int status;
    char *out = harness_runf(&status, "grep -c -F '%s' %s", needle, path);
    int n = atoi(out);
    free(out);
    return n;
}

/* Starts lb with extra in front of one backend-sim, has CONNS clients send at once twice, and
 * checks that each got its own echo back. lb's log goes to dir/lb.log (its path in log). */
static void serve_many_at_once(const char *dir, const char *const *extra, char *log, size_t len)
{
    uint16_t backend, lb_port;
    snprintf(log, len, "%s/lb.log", dir);
    pid_t sim = harness_start_backend_sim("b1", &backend, NULL);
    assert_true(sim > 0);
    pid_t lb = harness_start_lb(&lb_port, &backend, 1, extra, log);
    assert_true(lb > 0);

    lb_fixture_echo_at_once(lb_port, CONNS, 2, TIMEOUT_MS);
    assert_int_equal(harness_stop(lb, 15000), 0);
    assert_int_equal(harness_stop(sim, 15000), 0);
}

/* The bytes waiting in the receive queues of lb's established IPv4 sockets on port (the ones
 * it accepted), from /proc/net/tcp. */
static long bytes_waiting_at(uint16_t port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    assert_non_null(f);
    char line[512];
    long sum = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned local_port, state;
        unsigned long tx, rx;
        if (sscanf(line, " %*u: %*8[0-9A-Fa-f]:%x %*8[0-9A-Fa-f]:%*x %x %lx:%lx", &local_port,
                   &state, &tx, &rx) == 4 &&
            local_port == port && state == 0x01 /* ESTABLISHED */)
            sum += (long)rx;
    }
    fclose(f);
    return sum;
}

/* Whether every thread of process pid is stopped (state T in /proc/pid/task/N/stat). */
static bool all_threads_stopped(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    assert_non_null(d);
    bool all = true;
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char stat_path[128], buf[512];
        int len = snprintf(stat_path, sizeof(stat_path), "%s/%s/stat", path, e->d_name);
        FILE *f = len > 0 && (size_t)len < sizeof(stat_path) ? fopen(stat_path, "r") : NULL;
        if (f == NULL)
            continue; /* a thread that just ended */
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *paren = strrchr(buf, ')'); /* the name may hold spaces: the state follows ") " */
        if (paren == NULL || paren[1] != ' ' || paren[2] != 'T')
            all = false;
        seen++;
    }
    closedir(d);
    return all && seen > 0;
}

/* One round of lb_fixture_echo_at_once()'s for the n clients c, with lb stopped while they send
 * (stop_lb_while_sending): it goes on only once the kernel has put every byte in lb's sockets. */
static void echo_round(struct harness_conn *c, int n, int round, bool stop_lb_while_sending,
                       pid_t lb, uint16_t lb_port)
{
    if (stop_lb_while_sending) {
        /* a stop takes effect when each thread next leaves the kernel: wait for all of them */
        assert_int_equal(kill(lb, SIGSTOP), 0);
        bool stopped = false;
        for (int tries = 0; tries < 500 && !(stopped = all_threads_stopped(lb)); tries++)
            harness_sleep_ms(10);
        if (!stopped)
            fail_msg("lb (pid %d) did not stop", (int)lb);
    }
    long sent = lb_fixture_echo_send(c, n, round);
    if (stop_lb_while_sending) {
        /* loopback delivers in the sender's system call, unless the kernel defers it to its
         * softirq thread: wait (bounded) until lb's sockets hold every byte */
        long waiting = 0;
        for (int tries = 0; tries < 500 && (waiting = bytes_waiting_at(lb_port)) < sent; tries++)
            harness_sleep_ms(10);
        if (waiting != sent)
            fail_msg("lb's sockets hold %ld bytes, %ld were sent", waiting, sent);
        assert_int_equal(kill(lb, SIGCONT), 0); /* its next wake-up finds every request */
    }
    lb_fixture_echo_read(c, n, round);
}

/* The number after "key": in the JSON text json (past the event_loop key). */
static unsigned long long loop_number(const char *json, const char *key)
{
    const char *loop = strstr(json, "\"event_loop\": {");
    if (loop == NULL)
        fail_msg("no event_loop in lbtop's JSON: %s", json);
    char want[64];
    snprintf(want, sizeof(want), "\"%s\": ", key);
    const char *at = strstr(loop, want);
    if (at == NULL)
        fail_msg("no %s in event_loop: %s", key, loop);
    return strtoull(at + strlen(want), NULL, 10);
}

/* lb (-w 1 and extra) stopped while CONNS warm clients send: its statistics must show one
 * wake-up that found them all, and how the held writes went out (uring: through io_uring). */
static void statistics_show_the_batch(const char *const *extra, bool uring)
{
    uint16_t backend, lb_port;
    pid_t sim = harness_start_backend_sim("b1", &backend, NULL);
    assert_true(sim > 0);
    pid_t lb = harness_start_lb(&lb_port, &backend, 1, extra, NULL);
    assert_true(lb > 0);
    struct harness_conn c[CONNS];
    for (int i = 0; i < CONNS; i++)
        assert_int_equal(harness_conn_open(&c[i], lb_port, TIMEOUT_MS), 0);
    echo_round(c, CONNS, 0, false, lb, lb_port); /* all accepted, backend connections pooled */
    echo_round(c, CONNS, 1, true, lb, lb_port);
    /* one request more: lb publishes a round's counts after it, so by the time this one is
     * answered, the rounds before are all counted */
    echo_round(c, 1, 2, false, lb, lb_port);

    int status;
    char *json = harness_runf(&status, "%s -p %u --json 2>&1", harness_bin("lbtop"),
                              (unsigned)lb_port);
    assert_non_null(json);
    assert_int_equal(status, 0);
    unsigned long long wakeups = loop_number(json, "wakeups"), events = loop_number(json, "events");
    unsigned long long held = loop_number(json, "held_writes");
    unsigned long long enters = loop_number(json, "io_uring_enter_calls");
    unsigned long long sendmsgs = loop_number(json, "sendmsg_calls");
    fprintf(stderr, "# %llu wake-ups, %llu events, %llu held writes, %llu io_uring_enter, "
            "%llu sendmsg\n", wakeups, events, held, enters, sendmsgs);
    assert_true(wakeups > 0);
    /* every wake-up has an event; the one after SIGCONT had CONNS at least */
    assert_true(events >= wakeups + CONNS - 1);
    if (uring) {
        /* the CONNS requests to the backend were held, and went out several per call */
        assert_true(held >= CONNS);
        assert_true(enters > 0);
        assert_true(held > enters + sendmsgs);
    } else {
        assert_int_equal(enters, 0);
        assert_int_equal(sendmsgs, held); /* one sendmsg() per held write */
    }
    free(json);
    for (int i = 0; i < CONNS; i++)
        harness_conn_close(&c[i]);
    assert_int_equal(harness_stop(lb, 15000), 0);
    assert_int_equal(harness_stop(sim, 15000), 0);
}

static void test_statistics_show_one_wake_up_finding_every_request(void **state)
{
    (void)state;
    const char *extra[] = {"-w", "1", NULL};
    /* whether lb has io_uring here: its start-up line says (checked above) */
    char dir[] = "/tmp/lbtest-uring-XXXXXX", log[256];
    assert_non_null(mkdtemp(dir));
    serve_many_at_once(dir, extra, log, sizeof(log));
    bool uring = lines_with(log, "go out together (io_uring)") == 1;
    unlink(log);
    rmdir(dir);
    if (!uring)
        fprintf(stderr, "# lb found no io_uring here: its held writes are one sendmsg() each\n");
    statistics_show_the_batch(extra, uring);
    const char *off[] = {"-w", "1", "--no-io-uring", NULL};
    statistics_show_the_batch(off, false);
}

static void test_lb_says_how_it_writes_a_batch(void **state)
{
    char dir[] = "/tmp/lbtest-uring-XXXXXX", log[256];
    (void)state;
    assert_non_null(mkdtemp(dir));
    const char *extra[] = {"-w", "1", NULL};
    serve_many_at_once(dir, extra, log, sizeof(log));
    int on = lines_with(log, "lb: the writes of a batch of events go out together (io_uring)");
    int off = lines_with(log, "): one sendmsg() per write");
    assert_int_equal(on + off, 1); /* one or the other, once */
    if (off == 1)
        fprintf(stderr, "# lb found no io_uring here (its log says why)\n");
    unlink(log);
    rmdir(dir);
}

static void test_no_io_uring_serves_the_same_and_says_nothing_of_it(void **state)
{
    char dir[] = "/tmp/lbtest-uring-XXXXXX", log[256];
    (void)state;
    assert_non_null(mkdtemp(dir));
    const char *extra[] = {"-w", "1", "--no-io-uring", NULL};
    serve_many_at_once(dir, extra, log, sizeof(log));
    assert_int_equal(lines_with(log, "io_uring"), 0);
    unlink(log);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_lb_says_how_it_writes_a_batch),
        LB_TEST(test_no_io_uring_serves_the_same_and_says_nothing_of_it),
        LB_TEST(test_statistics_show_one_wake_up_finding_every_request),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("lb io_uring", tests, NULL, NULL);
}
