/*
 * buffer.c - byte buffers that hold a pooled block only while bytes are in them (see buffer.h).
 */
#include "buffer.h"

#include <errno.h>
#include <string.h>

void buf_blocks_init(struct buf_blocks *blocks)
{
    pool_init(&blocks->small, BUF_SIZE, BUF_POOL_KEEP);
    pool_init(&blocks->large, BUF_LARGE_SIZE, BUF_LARGE_KEEP);
}

void buf_blocks_fini(struct buf_blocks *blocks)
{
    pool_fini(&blocks->small);
    pool_fini(&blocks->large);
}

size_t buf_blocks_trim(struct buf_blocks *blocks)
{
    return pool_trim(&blocks->small) + pool_trim(&blocks->large);
}

/* Takes a large block for b when the worker has one to lend. */
static bool take_large(struct buf *b, struct buf_blocks *blocks)
{
    if (blocks->large.in_use >= BUF_LARGE_MAX)
        return false;
    char *block = pool_take(&blocks->large);
    if (block == NULL)
        return false; /* a small block may still be had */
    b->data = block;
    b->size = BUF_LARGE_SIZE;
    return true;
}

int buf_reserve(struct buf *b, struct buf_blocks *blocks)
{
    if (b->data != NULL) {
        if (!b->bulk || b->size == BUF_LARGE_SIZE || b->start != b->end)
            return 0;
        buf_release(b, blocks); /* empty and bulk: trade the small block for a large one */
    }
    b->start = b->end = 0;
    if (b->bulk && take_large(b, blocks))
        return 0;
    b->data = pool_take(&blocks->small);
    b->size = BUF_SIZE;
    return b->data != NULL ? 0 : -ENOMEM;
}

void buf_settle(struct buf *b, struct buf_blocks *blocks)
{
    if (b->data != NULL && b->start == b->end)
        buf_release(b, blocks);
}

void buf_release(struct buf *b, struct buf_blocks *blocks)
{
    if (b->data != NULL)
        pool_give(b->size == BUF_LARGE_SIZE ? &blocks->large : &blocks->small, b->data);
    b->data = NULL;
    b->start = b->end = 0;
}

uint32_t buf_room(struct buf *b)
{
    if (b->start == b->end) {
        b->start = b->end = 0;
    } else if (b->end == b->size && b->start > 0) {
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
    }
    return b->size - b->end;
}

void buf_commit(struct buf *b, uint32_t n, uint32_t room)
{
    b->end += n;
    b->bulk = n == room || n >= BUF_SIZE;
}
