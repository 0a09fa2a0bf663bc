/*
 * buffer.h - the byte buffers a session moves data through, holding memory only while bytes
 * are in them.
 *
 * A struct buf is a window of unread bytes [start, end) in a block of BUF_SIZE bytes taken from
 * the worker's pool of blocks (pool.h). A buffer holds its block only while it holds bytes: the
 * reader takes one just before a read (buf_reserve) and the owner gives it back as soon as the
 * buffer is empty (buf_settle), so an idle connection costs its struct buf (16 bytes) and no
 * block, whatever it carried before. Taking and giving are a pop and a push on the worker's free
 * list: no malloc() and no lock in the steady state.
 *
 * Bytes are appended at end and consumed from start; when end reaches the block's end the unread
 * bytes move to the front (buf_room), so positions kept as offsets from start stay valid. Fixed
 * sizes bound memory per connection whatever the body size: a full buffer simply stops reading
 * its side (backpressure).
 *
 * One thread at a time: a buffer and its pool belong to one worker.
 */
#ifndef LB_BUFFER_H
#define LB_BUFFER_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"

/* A request or response head must fit one buffer (else 431 / 502). */
#define BUF_SIZE 16384
/* Rewritten heads grow by the fields lb adds. */
#define BUF_HEAD_OUT (BUF_SIZE + 4096)
/* Idle blocks a worker's pool keeps however long they stay unused. */
#define BUF_POOL_KEEP 8

struct buf {
    char *data;          /* a block of BUF_SIZE bytes from the pool, NULL while empty */
    uint32_t start, end; /* unread bytes are data[start..end) */
};

/* Unread bytes in b. */
static inline uint32_t buf_len(const struct buf *b)
{
    return b->end - b->start;
}

/* The first unread byte (b holds some). */
static inline char *buf_unread(const struct buf *b)
{
    return b->data + b->start;
}

/* Forgets every byte in b (its block, if any, stays). */
static inline void buf_clear(struct buf *b)
{
    b->start = b->end = 0;
}

/* Gives b a block from blocks if it has none, to read into. Returns 0 or -ENOMEM. */
int buf_reserve(struct buf *b, struct pool *blocks);

/* Gives b's block back to blocks when b holds no byte. */
void buf_settle(struct buf *b, struct pool *blocks);

/* Gives b's block back whatever it holds: b is empty and holds no block. */
void buf_release(struct buf *b, struct pool *blocks);

/* Room to append at the end of b (which has a block), moving the unread bytes to the front when
 * the end is reached. Returns 0 only when b is full. */
uint32_t buf_room(struct buf *b);

#endif
