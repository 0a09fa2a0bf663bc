/* test_timer.c - unit tests of the deadline heap shared by lb and backend-sim (common/timer.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "timer.h"

static void test_expired_timers_pop_in_deadline_order(void **state)
{
    struct timer_heap h;
    struct timer t[5];
    uint64_t d[5] = {50, 10, 40, 20, 30};
    (void)state;
    timer_heap_init(&h);
    for (int i = 0; i < 5; i++) {
        timer_init(&t[i], NULL);
        assert_int_equal(timer_set(&h, &t[i], d[i]), 0);
    }
    assert_int_equal(timer_next_deadline(&h), 10);
    assert_null(timer_pop_expired(&h, 9));
    for (uint64_t want = 10; want <= 50; want += 10) {
        assert_int_equal(timer_next_deadline(&h), want);
        struct timer *x = timer_pop_expired(&h, 100);
        assert_non_null(x);
        assert_int_equal(d[x - t], want);
        assert_false(timer_armed(x));
        assert_true(x->deadline == TIMER_NONE);
    }
    assert_null(timer_pop_expired(&h, 1000));
    assert_int_equal(timer_next_deadline(&h), TIMER_NONE);
    timer_heap_fini(&h);
}

static void test_moving_and_cancelling_keep_the_heap_ordered(void **state)
{
    enum { N = 500 };
    struct timer_heap h;
    struct timer *t = calloc(N, sizeof(*t));
    uint64_t *dl = calloc(N, sizeof(*dl));
    (void)state;
    assert_non_null(t);
    assert_non_null(dl);
    timer_heap_init(&h);
    srand(7);
    for (int i = 0; i < N; i++) {
        timer_init(&t[i], NULL);
        dl[i] = (uint64_t)(rand() % 1000) + 1;
        assert_int_equal(timer_set(&h, &t[i], dl[i]), 0);
    }
    for (int i = 0; i < N; i += 3)
        timer_cancel(&h, &t[i]);
    for (int i = 1; i < N; i += 3) {
        dl[i] = (uint64_t)(rand() % 1000) + 1;
        assert_int_equal(timer_set(&h, &t[i], dl[i]), 0); /* move, earlier or later */
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
    assert_int_equal(popped, N - (N + 2) / 3);
    timer_heap_fini(&h);
    free(dl);
    free(t);
}

static void test_setting_none_cancels(void **state)
{
    struct timer_heap h;
    struct timer t;
    (void)state;
    timer_heap_init(&h);
    timer_init(&t, NULL);
    assert_false(timer_armed(&t));
    assert_int_equal(timer_set(&h, &t, 30), 0);
    assert_true(timer_armed(&t));
    assert_int_equal(timer_set(&h, &t, TIMER_NONE), 0);
    assert_false(timer_armed(&t));
    assert_int_equal(timer_next_deadline(&h), TIMER_NONE);
    timer_heap_fini(&h);
}

static void test_fini_disarms_the_timers_left_in_the_heap(void **state)
{
    struct timer_heap h;
    struct timer a, b;
    (void)state;
    timer_heap_init(&h);
    timer_init(&a, NULL);
    timer_init(&b, NULL);
    assert_int_equal(timer_set(&h, &a, 10), 0);
    assert_int_equal(timer_set(&h, &b, 20), 0);
    timer_heap_fini(&h);
    assert_false(timer_armed(&a));
    assert_false(timer_armed(&b));
    assert_int_equal(timer_next_deadline(&h), TIMER_NONE);
}

static void test_wait_ms_for_epoll(void **state)
{
    struct timer_heap h;
    struct timer t;
    (void)state;
    timer_heap_init(&h);
    timer_init(&t, NULL);
    assert_int_equal(timer_wait_ms(&h, 100, -1), -1);
    assert_int_equal(timer_wait_ms(&h, 100, 50), 50);
    assert_int_equal(timer_set(&h, &t, 130), 0);
    assert_int_equal(timer_wait_ms(&h, 100, -1), 30);
    assert_int_equal(timer_wait_ms(&h, 100, 10), 10);
    assert_int_equal(timer_wait_ms(&h, 200, -1), 0);
    timer_heap_fini(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expired_timers_pop_in_deadline_order),
        cmocka_unit_test(test_moving_and_cancelling_keep_the_heap_ordered),
        cmocka_unit_test(test_setting_none_cancels),
        cmocka_unit_test(test_fini_disarms_the_timers_left_in_the_heap),
        cmocka_unit_test(test_wait_ms_for_epoll),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
