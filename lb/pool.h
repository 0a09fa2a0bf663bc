/*
 * pool.h - one worker's pool of fixed-size memory blocks: what buffers and per-request state
 * are taken from while they are in use, and given back to when they are not.
 *
 * Taking a block pops the pool's free list (malloc() only when the list is empty); giving one
 * back pushes it, most recently used first, so the block taken next is the one still warm in
 * the cache. In the steady state a request takes and gives blocks without malloc() or a lock.
 *
 * A burst of connections leaves many blocks on the free list. pool_trim(), called by the
 * worker at a regular interval (every second), frees the ones that no taker needed since the
 * previous call: the fewest blocks the list held during that interval (its low-water mark),
 * beyond the few the pool always keeps. So the memory of a burst goes back within two
 * intervals, and a pool under steady load keeps what it uses.
 *
 * One thread at a time: a pool belongs to one worker.
 */
#ifndef LB_POOL_H
#define LB_POOL_H

#include <stddef.h>

struct pool_block; /* a free block's first bytes: the free list's link */

struct pool {
    size_t block_size; /* bytes of each block (at least a pointer) */
    size_t keep;       /* idle blocks a trim leaves */
    struct pool_block *free; /* idle blocks, most recently given back first */
    size_t idle;       /* blocks on the free list */
    size_t in_use;     /* blocks taken and not given back */
    size_t low_water;  /* the fewest idle blocks since the last trim */
};

/* Sets p up for blocks of block_size bytes; a trim leaves keep idle blocks. */
void pool_init(struct pool *p, size_t block_size, size_t keep);

/* A block of p->block_size bytes (contents undefined), or NULL on ENOMEM. */
void *pool_take(struct pool *p);

/* Gives back a block taken from p. */
void pool_give(struct pool *p, void *block);

/* Frees the idle blocks that stayed unused since the last trim, down to p->keep. Returns how
 * many were freed. */
size_t pool_trim(struct pool *p);

/* Frees every idle block (the blocks in use must have been given back first). */
void pool_fini(struct pool *p);

#endif
