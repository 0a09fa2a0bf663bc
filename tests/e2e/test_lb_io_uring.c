/*
 * test_lb_io_uring.c - end-to-end: lb says at start-up how its workers write what they held for
 * the end of a batch of events (lb/sendbatch.h), and serves the same either way.
 *
 * By default a worker makes those writes with one io_uring_enter() where the kernel grants a
 * ring that answers at once; lb's log then says "go out together (io_uring)", or, where it does
 * not, "no io_uring (why): one sendmsg() per write". With --no-io-uring it says neither. Both
 * ways, twenty clients sending at once (batches of events, held writes) each get their own
 * answer. The batch itself is tested case by case in tests/unit/test_sendbatch.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

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
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("lb io_uring", tests, NULL, NULL);
}
