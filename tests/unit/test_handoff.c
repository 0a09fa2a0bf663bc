/* test_handoff.c - unit tests of how lb spreads accepted connections over its workers
 * (lb/handoff.c): who is chosen, the queue between workers, and a worker that drains. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../../lb/handoff.h"

static struct handoff_conn conn(int fd)
{
    struct handoff_conn c = {.fd = fd, .peer_len = sizeof(struct sockaddr_in)};
    return c;
}

/* A worker keeps what it accepts while it holds no more than one connection above the least
 * loaded ready worker; beyond that the least loaded one is chosen. */
static void test_choose_keeps_unless_another_holds_fewer(void **state)
{
    (void)state;
    struct handoff *h = handoff_create(3);
    assert_non_null(h);
    int efd[3];
    for (unsigned i = 0; i < 3; i++) {
        efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        assert_true(efd[i] >= 0);
        handoff_ready(h, i, efd[i]);
    }
    handoff_set_load(h, 0, 5);
    handoff_set_load(h, 1, 4);
    handoff_set_load(h, 2, 7);
    assert_int_equal(handoff_choose(h, 0), 0); /* 5 is within one of 4 */
    assert_int_equal(handoff_choose(h, 2), 1); /* 7 is three above 4 */
    handoff_count_one(h, 0);
    assert_int_equal(handoff_choose(h, 0), 1); /* now 6 */
    for (unsigned i = 0; i < 3; i++)
        close(efd[i]);
    handoff_destroy(h);
}

/* A worker not ready (not started, or draining) is never chosen and refuses pushes. */
static void test_a_worker_not_ready_is_never_chosen(void **state)
{
    (void)state;
    struct handoff *h = handoff_create(2);
    assert_non_null(h);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(efd >= 0);
    handoff_ready(h, 0, efd);
    handoff_set_load(h, 0, 100);
    assert_int_equal(handoff_choose(h, 0), 0); /* worker 1 never became ready */
    struct handoff_conn c = conn(-1);
    assert_false(handoff_push(h, 1, &c));
    handoff_retire(h, 0);
    assert_false(handoff_push(h, 0, &c));
    close(efd);
    handoff_destroy(h);
}

/* Queued connections come out in order, the owner is woken once per empty queue, and what is
 * queued counts towards the owner's load so a burst spreads instead of piling on one worker. */
static void test_push_take_and_wake(void **state)
{
    (void)state;
    struct handoff *h = handoff_create(2);
    assert_non_null(h);
    int efd[2];
    for (unsigned i = 0; i < 2; i++) {
        efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        assert_true(efd[i] >= 0);
        handoff_ready(h, i, efd[i]);
    }
    handoff_set_load(h, 0, 3);
    handoff_set_load(h, 1, 0);
    assert_int_equal(handoff_choose(h, 0), 1);
    for (int fd = 10; fd < 13; fd++) {
        struct handoff_conn c = conn(fd);
        assert_true(handoff_push(h, 1, &c));
    }
    /* 0 + 3 queued against 3: worker 0 keeps the next one */
    assert_int_equal(handoff_choose(h, 0), 0);

    uint64_t v = 0;
    assert_int_equal(read(efd[1], &v, sizeof(v)), (ssize_t)sizeof(v));
    assert_int_equal(v, 1); /* one wake-up for three connections */
    assert_int_equal(read(efd[0], &v, sizeof(v)), -1); /* worker 0 was not woken */

    struct handoff_conn out[2];
    assert_int_equal(handoff_take(h, 1, out, 2), 2);
    assert_int_equal(out[0].fd, 10);
    assert_int_equal(out[1].fd, 11);
    assert_int_equal(handoff_take(h, 1, out, 2), 1);
    assert_int_equal(out[0].fd, 12);
    assert_int_equal(handoff_take(h, 1, out, 2), 0);
    for (unsigned i = 0; i < 2; i++)
        close(efd[i]);
    handoff_destroy(h);
}

/* A full queue refuses (the accepting worker serves the connection itself); what is still queued
 * when lb stops is closed, not leaked. */
static void test_full_queue_refuses_and_destroy_closes(void **state)
{
    (void)state;
    struct handoff *h = handoff_create(2);
    assert_non_null(h);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(efd >= 0);
    handoff_ready(h, 1, efd);
    int pushed = 0, last_fd = -1;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        struct handoff_conn c = conn(fd);
        if (!handoff_push(h, 1, &c)) {
            close(fd);
            break;
        }
        last_fd = fd;
        pushed++;
        assert_true(pushed <= 1000);
    }
    assert_true(pushed >= 8);
    close(efd);
    handoff_destroy(h);
    assert_int_equal(fcntl(last_fd, F_GETFD), -1); /* closed by handoff_destroy */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_choose_keeps_unless_another_holds_fewer),
        cmocka_unit_test(test_a_worker_not_ready_is_never_chosen),
        cmocka_unit_test(test_push_take_and_wake),
        cmocka_unit_test(test_full_queue_refuses_and_destroy_closes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
