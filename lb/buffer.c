/*
 * buffer.c - byte buffers that hold a pooled block only while bytes are in them (see buffer.h).
 */
#include "buffer.h"

#include <errno.h>
#include <string.h>

int buf_reserve(struct buf *b, struct pool *blocks)
{
    if (b->data != NULL)
        return 0;
    b->data = pool_take(blocks);
    b->start = b->end = 0;
    return b->data != NULL ? 0 : -ENOMEM;
}

void buf_settle(struct buf *b, struct pool *blocks)
{
    if (b->data != NULL && b->start == b->end)
        buf_release(b, blocks);
}

void buf_release(struct buf *b, struct pool *blocks)
{
    if (b->data != NULL)
        pool_give(blocks, b->data);
    b->data = NULL;
    b->start = b->end = 0;
}

uint32_t buf_room(struct buf *b)
{
    if (b->start == b->end) {
        b->start = b->end = 0;
    } else if (b->end == BUF_SIZE && b->start > 0) {
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
    }
    return BUF_SIZE - b->end;
}
