/* test_policy.c - unit tests of the policy registry and round robin (lb/policy*.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../lb/policy.h"
#include "clock.h"

static struct backend_table *make_table(size_t n)
{
    const char *hosts[8] = {"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4",
                            "127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8"};
    uint16_t ports[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct backend_table *t = backend_table_create(hosts, ports, n);
    assert_non_null(t);
    return t;
}

static void test_registry_finds_rr_and_nothing_else(void **state)
{
    (void)state;
    assert_ptr_equal(policy_find("rr"), &policy_rr_ops);
    assert_null(policy_find("nope"));
    assert_non_null(strstr(policy_names(), "rr"));
}

static void test_rr_cycles_in_order(void **state)
{
    struct policy p;
    struct backend_table *t = make_table(3);
    (void)state;
    assert_int_equal(policy_init(&p, &policy_rr_ops, t), 0);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 3; i++)
            assert_int_equal(policy_pick(&p, NULL), i);
    policy_fini(&p);
    backend_table_destroy(t);
}

static void test_rr_skips_tried_backends_to_the_next(void **state)
{
    struct policy p;
    uint64_t tried[POLICY_TRIED_WORDS] = {0};
    struct backend_table *t = make_table(3);
    struct policy_request req = {.tried = tried};
    (void)state;
    assert_int_equal(policy_init(&p, &policy_rr_ops, t), 0);
    assert_int_equal(policy_pick(&p, &req), 0);
    policy_mark_tried(tried, 1);
    assert_int_equal(policy_pick(&p, &req), 2); /* turn 1 is tried: the next one */
    policy_mark_tried(tried, 0);
    policy_mark_tried(tried, 2);
    assert_int_equal(policy_pick(&p, &req), -1);
    policy_fini(&p);
    backend_table_destroy(t);
}

static void test_rr_skips_backends_without_addresses(void **state)
{
    struct policy p;
    const char *hosts[] = {"127.0.0.1", "unresolved.example", "127.0.0.3"};
    uint16_t ports[] = {1, 2, 3};
    struct backend_table *t = backend_table_create(hosts, ports, 3);
    (void)state;
    assert_int_equal(policy_init(&p, &policy_rr_ops, t), 0);
    /* backend 1's turns pass to backend 2: 0 2 0 2 ... (30 picks take 45 turns) */
    for (int i = 0; i < 30; i++)
        assert_int_equal(policy_pick(&p, NULL), i % 2 == 0 ? 0 : 2);
    /* with --dns-ttl 0 the name is resolved on demand, so it is tried in its turn */
    t->backends[1].on_demand = true;
    for (int i = 0; i < 3; i++)
        assert_int_equal(policy_pick(&p, NULL), i);
    policy_fini(&p);
    backend_table_destroy(t);
}

static void test_rr_with_no_backends_picks_nothing(void **state)
{
    struct policy p;
    struct backend_table *t = make_table(0);
    (void)state;
    assert_int_equal(policy_init(&p, &policy_rr_ops, t), 0);
    assert_int_equal(policy_pick(&p, NULL), -1);
    policy_fini(&p);
    backend_table_destroy(t);
}

/* Marks backend i of t as resting after a failed connect for another ms milliseconds (a negative
 * ms: its rest is over). */
static void rest(struct backend_table *t, size_t i, int64_t ms)
{
    atomic_store(&t->backends[i].down_until_ms, (uint64_t)((int64_t)clock_mono_ms() + ms));
}

static void test_rr_skips_a_resting_backend_and_keeps_equal_shares(void **state)
{
    struct policy p;
    struct backend_table *t = make_table(3);
    (void)state;
    assert_int_equal(policy_init(&p, &policy_rr_ops, t), 0);
    rest(t, 0, 60000);
    /* 1 2 1 2 ...: equal shares, not 1 1 2 (the turns of the resting one are not all its
     * neighbour's) */
    for (int i = 0; i < 30; i++)
        assert_int_equal(policy_pick(&p, NULL), i % 2 == 0 ? 1 : 2);
    policy_fini(&p);
    backend_table_destroy(t);
}

static void test_rr_picks_a_resting_backend_when_no_other_can_be_picked(void **state)
{
    struct policy p;
    uint64_t tried[POLICY_TRIED_WORDS] = {0};
    struct policy_request req = {.tried = tried};
    struct backend_table *t = make_table(2);
    (void)state;
    assert_int_equal(policy_init(&p, &policy_rr_ops, t), 0);
    rest(t, 0, 60000);
    rest(t, 1, 60000);
    /* both rest: the first in turn, then the other, then none */
    assert_int_equal(policy_pick(&p, &req), 0);
    policy_mark_tried(tried, 0);
    assert_int_equal(policy_pick(&p, &req), 1);
    policy_mark_tried(tried, 1);
    assert_int_equal(policy_pick(&p, &req), -1);
    policy_fini(&p);
    backend_table_destroy(t);
}

static void test_rr_picks_a_backend_again_once_its_rest_is_over(void **state)
{
    struct policy p;
    struct backend_table *t = make_table(3);
    (void)state;
    assert_int_equal(policy_init(&p, &policy_rr_ops, t), 0);
    rest(t, 1, -1);
    for (int i = 0; i < 6; i++)
        assert_int_equal(policy_pick(&p, NULL), i % 3);
    policy_fini(&p);
    backend_table_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_finds_rr_and_nothing_else),
        cmocka_unit_test(test_rr_cycles_in_order),
        cmocka_unit_test(test_rr_skips_tried_backends_to_the_next),
        cmocka_unit_test(test_rr_skips_backends_without_addresses),
        cmocka_unit_test(test_rr_with_no_backends_picks_nothing),
        cmocka_unit_test(test_rr_skips_a_resting_backend_and_keeps_equal_shares),
        cmocka_unit_test(test_rr_picks_a_resting_backend_when_no_other_can_be_picked),
        cmocka_unit_test(test_rr_picks_a_backend_again_once_its_rest_is_over),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
