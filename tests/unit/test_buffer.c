/* test_buffer.c - unit tests of lb's byte buffers and the per-worker cache of request buffers
 * (lb/buffer.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../lb/buffer.h"

static void test_room_compacts_unread_bytes_only_at_the_end(void **state)
{
    static struct buf b;
    (void)state;
    buf_clear(&b);
    assert_int_equal(buf_room(&b), BUF_SIZE);
    memset(b.data, 'x', BUF_SIZE);
    memcpy(b.data + 100, "keep", 4);
    b.start = 100;
    b.end = 2000;
    /* not at the end yet: nothing moves, room is what is left after end */
    assert_int_equal(buf_room(&b), BUF_SIZE - 2000);
    assert_int_equal(b.start, 100);
    b.end = BUF_SIZE;
    /* at the end: the unread bytes move to the front */
    assert_int_equal(buf_room(&b), 100);
    assert_int_equal(b.start, 0);
    assert_int_equal(buf_len(&b), BUF_SIZE - 100);
    assert_memory_equal(b.data, "keep", 4);
}

static void test_room_of_an_emptied_buffer_is_all_of_it(void **state)
{
    static struct buf b;
    (void)state;
    b.start = b.end = 5000;
    assert_int_equal(buf_room(&b), BUF_SIZE);
    assert_int_equal(b.start, 0);
    assert_int_equal(b.end, 0);
    b.start = 0;
    b.end = BUF_SIZE;
    assert_int_equal(buf_room(&b), 0); /* full: the reader must wait */
}

static void test_cache_reuses_what_it_was_given_and_keeps_a_bounded_number(void **state)
{
    struct buf_cache c = {0};
    struct xbufs *x[BUF_CACHE_MAX + 5];
    (void)state;
    for (size_t i = 0; i < BUF_CACHE_MAX + 5; i++) {
        x[i] = buf_cache_take(&c);
        assert_non_null(x[i]);
        x[i]->res.end = 7; /* dirty it */
    }
    for (size_t i = 0; i < BUF_CACHE_MAX + 5; i++)
        buf_cache_give(&c, x[i]);
    assert_int_equal(c.count, BUF_CACHE_MAX);
    struct xbufs *again = buf_cache_take(&c);
    assert_ptr_equal(again, x[BUF_CACHE_MAX - 1]); /* the last one kept comes back first */
    assert_int_equal(buf_len(&again->res), 0);
    assert_int_equal(again->res.end, 0);
    assert_int_equal(c.count, BUF_CACHE_MAX - 1);
    buf_cache_give(&c, again);
    buf_cache_flush(&c);
    assert_int_equal(c.count, 0);
    assert_null(c.spare);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_room_compacts_unread_bytes_only_at_the_end),
        cmocka_unit_test(test_room_of_an_emptied_buffer_is_all_of_it),
        cmocka_unit_test(test_cache_reuses_what_it_was_given_and_keeps_a_bounded_number),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
