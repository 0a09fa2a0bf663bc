/*
 * buffer.h - the byte buffers a session moves data through, and one worker's cache of the
 * buffers a request needs only while it is in progress.
 *
 * A struct buf is a fixed array with a window of unread bytes [start, end). Bytes are appended at
 * end and consumed from start; when end reaches the array's end the unread bytes move to the
 * front (buf_room), so positions kept as offsets from start stay valid. Fixed sizes bound memory
 * per connection whatever the body size: a full buffer simply stops reading its side
 * (backpressure).
 *
 * An idle keep-alive connection holds only its request buffer; the response buffer and the
 * buffer for rewritten heads (struct xbufs) come from the worker's cache when a request begins
 * and go back when it ends. The cache keeps a bounded number of spares, so a burst of requests
 * does not pay malloc() each time yet a quiet worker does not hoard them.
 *
 * One thread at a time: a cache belongs to one worker.
 */
#ifndef LB_BUFFER_H
#define LB_BUFFER_H

#include <stddef.h>
#include <stdint.h>

/* A request or response head must fit one buffer (else 431 / 502). */
#define BUF_SIZE 16384
/* Rewritten heads grow by the fields lb adds. */
#define BUF_HEAD_OUT (BUF_SIZE + 4096)
/* Spare xbufs a worker keeps. */
#define BUF_CACHE_MAX 64

struct buf {
    uint32_t start, end; /* unread bytes are data[start..end) */
    char data[BUF_SIZE];
};

/* The per-request buffers: the response from the backend, and heads lb writes itself. */
struct xbufs {
    struct xbufs *next; /* in the cache */
    struct buf res;
    char head[BUF_HEAD_OUT];
};

struct buf_cache {
    struct xbufs *spare;
    size_t count;
};

/* Unread bytes in b. */
static inline uint32_t buf_len(const struct buf *b)
{
    return b->end - b->start;
}

/* Forgets every byte in b. */
static inline void buf_clear(struct buf *b)
{
    b->start = b->end = 0;
}

/* Room to append at the end of b, moving the unread bytes to the front when the end is reached.
 * Returns 0 only when b is full. */
uint32_t buf_room(struct buf *b);

/* An xbufs with an empty res, from the cache or malloc(). Returns NULL on ENOMEM. */
struct xbufs *buf_cache_take(struct buf_cache *c);

/* Gives x back (kept as a spare, or freed when the cache is full). */
void buf_cache_give(struct buf_cache *c, struct xbufs *x);

/* Frees every spare. */
void buf_cache_flush(struct buf_cache *c);

#endif
