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
    struct buf b = {.data = block, .size = BUF_SIZE};
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
    struct buf b = {.data = block, .size = BUF_SIZE};
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
    struct buf_blocks blocks;
    struct buf b = {0};
    (void)state;
    buf_blocks_init(&blocks);
    buf_settle(&b, &blocks); /* nothing to give back */
    assert_null(b.data);
    assert_int_equal(buf_reserve(&b, &blocks), 0);
    assert_non_null(b.data);
    assert_int_equal(b.size, BUF_SIZE);
    char *block = b.data;
    assert_int_equal(buf_reserve(&b, &blocks), 0); /* it keeps the one it has */
    assert_ptr_equal(b.data, block);
    memcpy(b.data, "abc", 3);
    b.end = 3;
    buf_settle(&b, &blocks); /* bytes are in it: it keeps its block */
    assert_ptr_equal(b.data, block);
    assert_int_equal(blocks.small.in_use, 1);
    b.start = 3;
    buf_settle(&b, &blocks); /* all read: the block goes back */
    assert_null(b.data);
    assert_int_equal(blocks.small.in_use, 0);
    assert_int_equal(blocks.small.idle, 1);
    assert_int_equal(buf_reserve(&b, &blocks), 0);
    assert_ptr_equal(b.data, block); /* the warm one comes back */
    assert_int_equal(buf_len(&b), 0);
    b.end = 10;
    buf_release(&b, &blocks); /* dropped with its bytes */
    assert_null(b.data);
    assert_int_equal(buf_len(&b), 0);
    assert_int_equal(blocks.small.in_use, 0);
    buf_blocks_fini(&blocks);
}

static void test_a_read_that_fills_its_room_makes_the_next_block_large(void **state)
{
    struct buf_blocks blocks;
    struct buf b = {0};
    (void)state;
    buf_blocks_init(&blocks);
    assert_int_equal(buf_reserve(&b, &blocks), 0);
    uint32_t room = buf_room(&b);
    buf_commit(&b, 100, room); /* a short read: the peer sent less than a block */
    assert_false(b.bulk);
    assert_int_equal(buf_len(&b), 100);
    room = buf_room(&b);
    buf_commit(&b, room, room); /* filled: the peer sends faster than a small block drains */
    assert_true(b.bulk);
    assert_int_equal(buf_room(&b), 0);
    assert_int_equal(buf_reserve(&b, &blocks), 0); /* bytes in it: it keeps the small block */
    assert_int_equal(b.size, BUF_SIZE);
    b.start = b.end;
    assert_int_equal(buf_reserve(&b, &blocks), 0); /* empty: traded for a large one */
    assert_int_equal(b.size, BUF_LARGE_SIZE);
    assert_int_equal(blocks.small.in_use, 0);
    assert_int_equal(blocks.large.in_use, 1);
    assert_int_equal(buf_room(&b), BUF_LARGE_SIZE);
    buf_commit(&b, BUF_SIZE, BUF_LARGE_SIZE); /* a small block's worth: still bulk */
    assert_true(b.bulk);
    buf_commit(&b, 1000, buf_room(&b)); /* the transfer slows down */
    assert_false(b.bulk);
    b.start = b.end;
    buf_settle(&b, &blocks);
    assert_int_equal(blocks.large.in_use, 0);
    assert_int_equal(buf_reserve(&b, &blocks), 0); /* not bulk any more: small again */
    assert_int_equal(b.size, BUF_SIZE);
    buf_release(&b, &blocks);
    buf_blocks_fini(&blocks);
}

static void test_large_blocks_lent_at_once_are_bounded(void **state)
{
    struct buf_blocks blocks;
    static struct buf bufs[BUF_LARGE_MAX + 1];
    (void)state;
    buf_blocks_init(&blocks);
    for (int i = 0; i <= BUF_LARGE_MAX; i++) {
        bufs[i] = (struct buf){.bulk = true};
        assert_int_equal(buf_reserve(&bufs[i], &blocks), 0);
        /* every one gets a block; past the bound a small one */
        assert_int_equal(bufs[i].size, i < BUF_LARGE_MAX ? BUF_LARGE_SIZE : BUF_SIZE);
    }
    assert_int_equal(blocks.large.in_use, BUF_LARGE_MAX);
    assert_int_equal(blocks.small.in_use, 1);
    for (int i = 0; i <= BUF_LARGE_MAX; i++)
        buf_release(&bufs[i], &blocks); /* each goes back to the pool of its size */
    assert_int_equal(blocks.large.in_use, 0);
    assert_int_equal(blocks.small.in_use, 0);
    assert_int_equal(blocks.large.idle, BUF_LARGE_MAX);
    assert_int_equal(buf_blocks_trim(&blocks), 0); /* used since the last trim: kept once */
    assert_int_equal(buf_blocks_trim(&blocks), BUF_LARGE_MAX - BUF_LARGE_KEEP); /* then freed */
    assert_int_equal(blocks.large.idle, BUF_LARGE_KEEP);
    buf_blocks_fini(&blocks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_room_compacts_unread_bytes_only_at_the_end),
        cmocka_unit_test(test_room_of_an_emptied_buffer_is_all_of_it),
        cmocka_unit_test(test_a_buffer_holds_a_block_only_while_it_holds_bytes),
        cmocka_unit_test(test_a_read_that_fills_its_room_makes_the_next_block_large),
        cmocka_unit_test(test_large_blocks_lent_at_once_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
