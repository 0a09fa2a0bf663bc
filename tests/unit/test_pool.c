/* test_pool.c - unit tests of a worker's pool of fixed-size blocks and its trim (lb/pool.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../lb/pool.h"

static void test_a_given_block_is_the_next_one_taken(void **state)
{
    struct pool p;
    (void)state;
    pool_init(&p, 100, 0);
    char *a = pool_take(&p);
    assert_non_null(a);
    memset(a, 'x', 100); /* the whole block is the taker's */
    assert_int_equal(p.in_use, 1);
    pool_give(&p, a);
    assert_int_equal(p.in_use, 0);
    assert_int_equal(p.idle, 1);
    assert_ptr_equal(pool_take(&p), a);
    assert_int_equal(p.idle, 0);
    pool_give(&p, a);
    pool_fini(&p);
    assert_int_equal(p.idle, 0);
}

static void test_tiny_blocks_still_hold_the_free_list_link(void **state)
{
    struct pool p;
    (void)state;
    pool_init(&p, 1, 0);
    assert_true(p.block_size >= sizeof(void *));
    void *a = pool_take(&p), *b = pool_take(&p);
    pool_give(&p, a);
    pool_give(&p, b);
    assert_ptr_equal(pool_take(&p), b);
    assert_ptr_equal(pool_take(&p), a);
    pool_give(&p, a);
    pool_give(&p, b);
    pool_fini(&p);
}

enum { BURST = 50 };

/* A burst takes many blocks and gives them back: the first trim after it frees nothing (the
 * blocks were just in use), the next one frees all but the kept ones. */
static void test_trim_frees_what_stayed_idle_for_a_whole_interval(void **state)
{
    struct pool p;
    void *blocks[BURST];
    (void)state;
    pool_init(&p, 64, 4);
    for (int i = 0; i < BURST; i++)
        blocks[i] = pool_take(&p);
    for (int i = 0; i < BURST; i++)
        pool_give(&p, blocks[i]);
    assert_int_equal(p.idle, BURST);
    assert_int_equal(pool_trim(&p), 0);
    assert_int_equal(p.idle, BURST);
    assert_int_equal(pool_trim(&p), BURST - 4);
    assert_int_equal(p.idle, 4);
    assert_int_equal(pool_trim(&p), 0); /* the kept ones stay */
    pool_fini(&p);
}

/* Under steady use the blocks the load needs are not trimmed, only the ones it did not touch. */
static void test_trim_keeps_the_blocks_a_steady_load_uses(void **state)
{
    struct pool p;
    void *blocks[BURST];
    (void)state;
    pool_init(&p, 64, 0);
    for (int i = 0; i < BURST; i++)
        blocks[i] = pool_take(&p);
    for (int i = 0; i < BURST; i++)
        pool_give(&p, blocks[i]);
    (void)pool_trim(&p);
    /* during the next interval 10 of the 50 are in use at the peak */
    for (int i = 0; i < 10; i++)
        blocks[i] = pool_take(&p);
    for (int i = 0; i < 10; i++)
        pool_give(&p, blocks[i]);
    assert_int_equal(pool_trim(&p), BURST - 10);
    assert_int_equal(p.idle, 10);
    /* blocks in use are never counted as idle, and the list stays consistent after a trim */
    for (int i = 0; i < 10; i++)
        blocks[i] = pool_take(&p);
    assert_int_equal(p.idle, 0);
    assert_int_equal(p.in_use, 10);
    assert_int_equal(pool_trim(&p), 0);
    for (int i = 0; i < 10; i++)
        pool_give(&p, blocks[i]);
    pool_fini(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_given_block_is_the_next_one_taken),
        cmocka_unit_test(test_tiny_blocks_still_hold_the_free_list_link),
        cmocka_unit_test(test_trim_frees_what_stayed_idle_for_a_whole_interval),
        cmocka_unit_test(test_trim_keeps_the_blocks_a_steady_load_uses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
