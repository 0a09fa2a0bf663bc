/*
 * test_lb_busy_poll.c - end-to-end: lb --busy-poll USEC serves as usual, still fires its timers,
 * and goes to sleep when it is idle instead of polling for ever.
 *
 * A worker out of events polls epoll_wait() with a zero timeout for up to USEC microseconds
 * before it sleeps. What must hold: requests are answered (on one connection and on many),
 * --idle-timeout still closes an idle keep-alive client (the polling does not eat the timers),
 * and an idle lb uses next to no CPU: its time is read from /proc/PID/stat over two idle
 * seconds, where a worker that never slept would use about all of one CPU each.
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

#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 20000
#define IDLE_MS 2000

static const char req[] = "GET / HTTP/1.1\r\nHost: lb\r\n\r\n";

/* CPU time (user + system, all threads) that process pid has used, in clock ticks. */
static long cpu_ticks(pid_t pid)
{
    char *path = harness_fmt("/proc/%d/stat", (int)pid);
    char *stat = harness_read_file(path);
    free(path);
    assert_non_null(stat);
    const char *p = strrchr(stat, ')'); /* the name in brackets may hold spaces */
    assert_non_null(p);
    unsigned long utime = 0, stime = 0;
    /* after ") ": state, then fields 4..13, then utime (14) and stime (15) */
    assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                            &stime),
                     2);
    free(stat);
    return (long)(utime + stime);
}

static void test_busy_poll_serves_and_still_closes_idle_clients(void **state)
{
    (void)state;
    struct lb_fixture f;
    const char *args[] = {"--busy-poll", "1000", "--idle-timeout", "300", NULL};
    lb_fixture_start_one_worker(&f, NULL, 0, args);
    struct harness_conn c;
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    for (int i = 0; i < 20; i++)
        lb_fixture_request_ok(&c, req); /* one keep-alive connection */
    for (int i = 0; i < 5; i++) {
        struct harness_conn other;
        assert_int_equal(harness_conn_open(&other, f.lb_port, TIMEOUT_MS), 0);
        lb_fixture_request_ok(&other, req);
        harness_conn_close(&other);
    }
    /* the first connection now sits idle: --idle-timeout closes it, polling or not */
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_an_idle_lb_sleeps(void **state)
{
    (void)state;
    struct lb_fixture f;
    const char *args[] = {"--busy-poll", "1000", "-w", "2", NULL};
    lb_fixture_start(&f, NULL, 0, args);
    struct harness_conn c;
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    lb_fixture_request_ok(&c, req);
    harness_conn_close(&c);
    harness_sleep_ms(200); /* the close has been handled */
    long hz = sysconf(_SC_CLK_TCK);
    long before = cpu_ticks(f.lb);
    harness_sleep_ms(IDLE_MS);
    long used = cpu_ticks(f.lb) - before;
    /* two workers that never slept would use about 2 * IDLE_MS of CPU; an idle lb wakes only for
     * its timers (a few a second, each followed by at most a millisecond of polling). A quarter
     * of one CPU is a bound a sleeping lb cannot reach even on a loaded machine. */
    print_message("idle lb used %ld ticks of CPU in %d ms (%ld ticks a second)\n", used, IDLE_MS,
                  hz);
    assert_true(used * 1000 < hz * IDLE_MS / 4);
    lb_fixture_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_busy_poll_serves_and_still_closes_idle_clients),
        LB_TEST(test_an_idle_lb_sleeps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
