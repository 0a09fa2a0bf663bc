/* test_connlimit.c - unit tests of --max-conns' counter (lb/connlimit.c), from one thread and
 * from several taking and giving slots at once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "../../lb/connlimit.h"

static void test_slots_run_out_at_the_limit_and_come_back(void **state)
{
    struct connlimit l;
    (void)state;
    connlimit_init(&l, 3);
    assert_true(connlimit_take(&l));
    assert_true(connlimit_take(&l));
    assert_true(connlimit_take(&l));
    assert_false(connlimit_take(&l));
    assert_false(connlimit_take(&l));
    assert_int_equal(connlimit_open(&l), 3);
    assert_int_equal(atomic_load(&l.paused), 2);
    connlimit_give(&l);
    assert_true(connlimit_take(&l));
    assert_false(connlimit_take(&l));
}

static void test_no_limit_counts_nothing(void **state)
{
    struct connlimit l;
    (void)state;
    connlimit_init(&l, 0);
    for (int i = 0; i < 1000; i++)
        assert_true(connlimit_take(&l));
    connlimit_give(&l);
    assert_int_equal(connlimit_open(&l), 0);
    assert_true(connlimit_take(NULL));
    connlimit_give(NULL);
}

struct racer {
    struct connlimit *l;
    atomic_uint *held, *most;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    for (int i = 0; i < 20000; i++) {
        if (!connlimit_take(r->l))
            continue;
        unsigned now = atomic_fetch_add(r->held, 1) + 1;
        unsigned most = atomic_load(r->most);
        while (now > most && !atomic_compare_exchange_weak(r->most, &most, now))
            ;
        atomic_fetch_sub(r->held, 1);
        connlimit_give(r->l);
    }
    return NULL;
}

static void test_threads_taking_at_once_never_pass_the_limit(void **state)
{
    struct connlimit l;
    atomic_uint held = 0, most = 0;
    pthread_t t[4];
    struct racer r = {&l, &held, &most};
    (void)state;
    connlimit_init(&l, 2);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race, &r), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_true(atomic_load(&most) <= 2);
    assert_int_equal(connlimit_open(&l), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots_run_out_at_the_limit_and_come_back),
        cmocka_unit_test(test_no_limit_counts_nothing),
        cmocka_unit_test(test_threads_taking_at_once_never_pass_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
