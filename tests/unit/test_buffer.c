/* test_buffer.c - unit tests of lb's byte buffers, which hold a pooled block only while bytes are
 * in them (lb/buffer.c). */
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
    static char block[BUF_SIZE];
    struct buf b = {.data = block};
    (void)state;
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
    static char block[BUF_SIZE];
    struct buf b = {.data = block};
    (void)state;
    b.start = b.end = 5000;
    assert_int_equal(buf_room(&b), BUF_SIZE);
    assert_int_equal(b.start, 0);
    assert_int_equal(b.end, 0);
    b.start = 0;
    b.end = BUF_SIZE;
    assert_int_equal(buf_room(&b), 0); /* full: the reader must wait */
}

static void test_a_buffer_holds_a_block_only_while_it_holds_bytes(void **state)
{
    struct pool blocks;
    struct buf b = {0};
    (void)state;
    pool_init(&blocks, BUF_SIZE, 0);
    buf_settle(&b, &blocks); /* nothing to give back */
    assert_null(b.data);
    assert_int_equal(buf_reserve(&b, &blocks), 0);
    assert_non_null(b.data);
    char *block = b.data;
    assert_int_equal(buf_reserve(&b, &blocks), 0); /* it keeps the one it has */
    assert_ptr_equal(b.data, block);
    memcpy(b.data, "abc", 3);
    b.end = 3;
    buf_settle(&b, &blocks); /* bytes are in it: it keeps its block */
    assert_ptr_equal(b.data, block);
    assert_int_equal(blocks.in_use, 1);
    b.start = 3;
    buf_settle(&b, &blocks); /* all read: the block goes back */
    assert_null(b.data);
    assert_int_equal(blocks.in_use, 0);
    assert_int_equal(blocks.idle, 1);
    assert_int_equal(buf_reserve(&b, &blocks), 0);
    assert_ptr_equal(b.data, block); /* the warm one comes back */
    assert_int_equal(buf_len(&b), 0);
    b.end = 10;
    buf_release(&b, &blocks); /* dropped with its bytes */
    assert_null(b.data);
    assert_int_equal(buf_len(&b), 0);
    assert_int_equal(blocks.in_use, 0);
    pool_fini(&blocks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_room_compacts_unread_bytes_only_at_the_end),
        cmocka_unit_test(test_room_of_an_emptied_buffer_is_all_of_it),
        cmocka_unit_test(test_a_buffer_holds_a_block_only_while_it_holds_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
