/*
 * buffer.h - the byte buffers a session moves data through, holding memory only while bytes
 * are in them.
 *
 * A struct buf is a window of unread bytes [start, end) in a block taken from the worker's
 * blocks (struct buf_blocks, two pools: pool.h). A buffer holds its block only while it holds
 * bytes: the reader takes one just before a read (buf_reserve) and the owner gives it back as
 * soon as the buffer is empty (buf_settle), so an idle connection costs its struct buf and no
 * block, whatever it carried before. Taking and giving are a pop and a push on the worker's free
 * list: no malloc() and no lock in the steady state.
 *
 * Blocks come in two sizes. A small one (BUF_SIZE) holds any head and most bodies. A buffer
 * whose last read filled the room it had (buf_commit), so that its peer sends faster than a
 * small block drains, is "bulk": its next block is a large one (BUF_LARGE_SIZE), taken when the
 * buffer is empty, and it moves a body in a sixteenth of the reads and writes. On a machine
 * where a system call is dear that is most of a large transfer's cost: 1 MiB responses through
 * lb, 1.24x the requests/s for 0.53x the CPU time per request (scripts/compare-lb.sh,
 * SIZE_KIB=1024). A worker lends at most BUF_LARGE_MAX large blocks at once, so a thousand
 * downloads cost no more than a few dozen; the others go on in small blocks.
 *
 * Bytes are appended at end and consumed from start; when end reaches the block's end the unread
 * bytes move to the front (buf_room), so positions kept as offsets from start stay valid. Fixed
 * sizes bound memory per connection whatever the body size: a full buffer simply stops reading
 * its side (backpressure).
 *
 * One thread at a time: a buffer and its blocks belong to one worker.
 */
#ifndef LB_BUFFER_H
#define LB_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool.h"

/* A request or response head must fit one small block (else 431 / 502). */
#define BUF_SIZE 16384
/* Rewritten heads grow by the fields lb adds. */
#define BUF_HEAD_OUT (BUF_SIZE + 4096)
/* A bulk buffer's block. */
#define BUF_LARGE_SIZE (256 * 1024)
/* Large blocks a worker lends at once (16 MiB). */
#define BUF_LARGE_MAX 64
/* Idle blocks a worker keeps however long they stay unused: small, large. */
#define BUF_POOL_KEEP 8
#define BUF_LARGE_KEEP 2

/* One worker's blocks. */
struct buf_blocks {
    struct pool small; /* BUF_SIZE bytes each */
    struct pool large; /* BUF_LARGE_SIZE bytes each, at most BUF_LARGE_MAX in use */
};

struct buf {
    char *data;          /* a block of size bytes, NULL while empty */
    uint32_t start, end; /* unread bytes are data[start..end) */
    uint32_t size;       /* BUF_SIZE or BUF_LARGE_SIZE while data is set */
    bool bulk;           /* the last read filled its room: the next block is a large one */
};

/* Sets up and tears down a worker's blocks (every block given back before the teardown). */
void buf_blocks_init(struct buf_blocks *blocks);
void buf_blocks_fini(struct buf_blocks *blocks);

/* Frees the idle blocks unused since the last trim (pool_trim). Returns how many. */
size_t buf_blocks_trim(struct buf_blocks *blocks);

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

/* Gives b a block to read into if it has none: a large one when b is bulk and the worker has
 * one to lend, else a small one. An empty bulk buffer that holds a small block trades it for a
 * large one. Returns 0 or -ENOMEM. */
int buf_reserve(struct buf *b, struct buf_blocks *blocks);

/* Gives b's block back to blocks when b holds no byte. */
void buf_settle(struct buf *b, struct buf_blocks *blocks);

/* Gives b's block back whatever it holds: b is empty and holds no block. */
void buf_release(struct buf *b, struct buf_blocks *blocks);

/* Room to append at the end of b (which has a block), moving the unread bytes to the front when
 * the end is reached. Returns 0 only when b is full. */
uint32_t buf_room(struct buf *b);

/* Appends the n bytes a read put at b's end, into room bytes of room (buf_room): a read that
 * filled its room, or brought a small block's worth, makes b bulk; a shorter one ends that. */
void buf_commit(struct buf *b, uint32_t n, uint32_t room);

#endif
