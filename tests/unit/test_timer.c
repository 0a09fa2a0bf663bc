/* test_timer.c - unit tests of the per-worker deadline heap (lb/timer.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "../../lb/timer.h"

static void test_expired_timers_pop_in_deadline_order(void **state)
{
    struct timer_heap h;
    struct timer t[5];
    uint64_t d[5] = {50, 10, 40, 20, 30};
    (void)state;
    timer_heap_init(&h);
    for (int i = 0; i < 5; i++) {
        timer_init(&t[i]);
        assert_int_equal(timer_set(&h, &t[i], d[i]), 0);
    }
    assert_int_equal(timer_next_deadline(&h), 10);
    assert_null(timer_pop_expired(&h, 9));
    uint64_t last = 0;
    for (int i = 0; i < 5; i++) {
        struct timer *x = timer_pop_expired(&h, 100);
        assert_non_null(x);
        assert_false(timer_armed(x));
        assert_true(x->deadline == TIMER_NONE);
        uint64_t got = d[x - t];
        assert_true(got >= last);
        last = got;
    }
    assert_null(timer_pop_expired(&h, 1000));
    assert_int_equal(timer_next_deadline(&h), TIMER_NONE);
    timer_heap_fini(&h);
}

static void test_moving_and_cancelling_keep_the_heap_ordered(void **state)
{
    struct timer_heap h;
    struct timer t[200];
    uint64_t dl[200];
    (void)state;
    timer_heap_init(&h);
    srand(7);
    for (int i = 0; i < 200; i++) {
        timer_init(&t[i]);
        dl[i] = (uint64_t)(rand() % 1000) + 1;
        timer_set(&h, &t[i], dl[i]);
    }
    for (int i = 0; i < 200; i += 3)
        timer_cancel(&h, &t[i]);
    for (int i = 1; i < 200; i += 3)
    {
        dl[i] = (uint64_t)(rand() % 1000) + 1;
        timer_set(&h, &t[i], dl[i]); /* move, earlier or later */
    }
    timer_cancel(&h, &t[0]); /* cancelling twice is harmless */
    uint64_t last = 0;
    int popped = 0;
    struct timer *x;
    while ((x = timer_pop_expired(&h, 5000)) != NULL) {
        popped++;
        assert_true(dl[x - t] >= last);
        last = dl[x - t];
    }
    assert_int_equal(popped, 200 - 67);
    timer_heap_fini(&h);
}

static void test_wait_ms_for_epoll(void **state)
{
    struct timer_heap h;
    struct timer t;
    (void)state;
    timer_heap_init(&h);
    timer_init(&t);
    assert_int_equal(timer_wait_ms(&h, 100, -1), -1);
    assert_int_equal(timer_wait_ms(&h, 100, 50), 50);
    timer_set(&h, &t, 130);
    assert_int_equal(timer_wait_ms(&h, 100, -1), 30);
    assert_int_equal(timer_wait_ms(&h, 100, 10), 10);
    assert_int_equal(timer_wait_ms(&h, 200, -1), 0);
    timer_set(&h, &t, TIMER_NONE);
    assert_false(timer_armed(&t));
    timer_heap_fini(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expired_timers_pop_in_deadline_order),
        cmocka_unit_test(test_moving_and_cancelling_keep_the_heap_ordered),
        cmocka_unit_test(test_wait_ms_for_epoll),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
