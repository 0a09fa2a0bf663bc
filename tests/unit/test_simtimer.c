/* test_simtimer.c - unit tests of the timer heap (backend-sim/simtimer.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "../../backend-sim/simtimer.h"

static void test_first_is_the_earliest_deadline(void **state)
{
    struct simtimer_heap h;
    struct simtimer_node n[5];
    uint64_t deadlines[5] = {50, 10, 40, 30, 20};
    (void)state;
    simtimer_heap_init(&h);
    for (int i = 0; i < 5; i++) {
        simtimer_node_init(&n[i]);
        assert_int_equal(simtimer_set(&h, &n[i], deadlines[i]), 0);
    }
    for (uint64_t want = 10; want <= 50; want += 10) {
        struct simtimer_node *f = simtimer_first(&h);
        assert_non_null(f);
        assert_int_equal(f->deadline, want);
        simtimer_cancel(&h, f);
        assert_false(simtimer_queued(f));
    }
    assert_null(simtimer_first(&h));
    simtimer_heap_free(&h);
}

static void test_moving_and_cancelling_keep_the_order(void **state)
{
    struct simtimer_heap h;
    enum { N = 500 };
    struct simtimer_node *n = calloc(N, sizeof(*n));
    uint64_t last = 0;
    (void)state;
    simtimer_heap_init(&h);
    srand(7);
    for (int i = 0; i < N; i++) {
        simtimer_node_init(&n[i]);
        simtimer_set(&h, &n[i], (uint64_t)(rand() % 10000));
    }
    for (int i = 0; i < N; i += 3)
        simtimer_set(&h, &n[i], (uint64_t)(rand() % 10000)); /* move */
    for (int i = 1; i < N; i += 5)
        simtimer_cancel(&h, &n[i]);
    simtimer_cancel(&h, &n[1]); /* twice: harmless */
    size_t count = 0;
    struct simtimer_node *f;
    while ((f = simtimer_first(&h)) != NULL) {
        assert_true(f->deadline >= last);
        last = f->deadline;
        simtimer_cancel(&h, f);
        count++;
    }
    assert_int_equal(count, N - N / 5);
    simtimer_heap_free(&h);
    free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_is_the_earliest_deadline),
        cmocka_unit_test(test_moving_and_cancelling_keep_the_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
