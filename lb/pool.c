/*
 * pool.c - a worker's pool of fixed-size blocks with a trim of idle ones (see pool.h).
 */
#include "pool.h"

#include <stdlib.h>

struct pool_block {
    struct pool_block *next;
};

void pool_init(struct pool *p, size_t block_size, size_t keep)
{
    *p = (struct pool){
        .block_size = block_size < sizeof(struct pool_block) ? sizeof(struct pool_block)
                                                              : block_size,
        .keep = keep,
    };
}

void *pool_take(struct pool *p)
{
    struct pool_block *b = p->free;
    if (b != NULL) {
        p->free = b->next;
        p->idle--;
        if (p->idle < p->low_water)
            p->low_water = p->idle;
    } else {
        b = malloc(p->block_size);
        if (b == NULL)
            return NULL;
    }
    p->in_use++;
    return b;
}

void pool_give(struct pool *p, void *block)
{
    struct pool_block *b = block;
    b->next = p->free;
    p->free = b;
    p->idle++;
    p->in_use--;
}

size_t pool_trim(struct pool *p)
{
    /* the low-water mark counts blocks nobody took since the last trim; they are the coldest,
     * at the list's tail */
    size_t surplus = p->low_water < p->idle ? p->low_water : p->idle;
    size_t spare = p->idle > p->keep ? p->idle - p->keep : 0;
    if (surplus > spare)
        surplus = spare;
    if (surplus > 0) {
        struct pool_block **link = &p->free;
        for (size_t kept = p->idle - surplus; kept > 0; kept--)
            link = &(*link)->next;
        struct pool_block *b = *link;
        *link = NULL;
        while (b != NULL) {
            struct pool_block *next = b->next;
            free(b);
            b = next;
        }
        p->idle -= surplus;
    }
    p->low_water = p->idle;
    return surplus;
}

void pool_fini(struct pool *p)
{
    while (p->free != NULL) {
        struct pool_block *b = p->free;
        p->free = b->next;
        free(b);
    }
    p->idle = p->low_water = 0;
}
