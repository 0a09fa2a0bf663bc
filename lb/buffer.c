/*
 * buffer.c - byte buffers and the per-worker cache of request buffers (see buffer.h).
 */
#include "buffer.h"

#include <stdlib.h>
#include <string.h>

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

struct xbufs *buf_cache_take(struct buf_cache *c)
{
    struct xbufs *x = c->spare;
    if (x != NULL) {
        c->spare = x->next;
        c->count--;
    } else {
        x = malloc(sizeof(*x));
        if (x == NULL)
            return NULL;
    }
    x->next = NULL;
    buf_clear(&x->res);
    return x;
}

void buf_cache_give(struct buf_cache *c, struct xbufs *x)
{
    if (c->count >= BUF_CACHE_MAX) {
        free(x);
        return;
    }
    x->next = c->spare;
    c->spare = x;
    c->count++;
}

void buf_cache_flush(struct buf_cache *c)
{
    while (c->spare != NULL) {
        struct xbufs *x = c->spare;
        c->spare = x->next;
        free(x);
    }
    c->count = 0;
}
