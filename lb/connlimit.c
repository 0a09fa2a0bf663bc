/*
 * connlimit.c - the --max-conns counter (connlimit.h): one atomic shared by the workers. A slot
 * is taken with a compare-and-swap loop, so the limit is never passed, even for an instant, by
 * workers accepting at the same time.
 */
#include "connlimit.h"

#include <stddef.h>

void connlimit_init(struct connlimit *l, uint32_t max)
{
    l->max = max;
    atomic_init(&l->open, 0);
    atomic_init(&l->paused, 0);
}

bool connlimit_take(struct connlimit *l)
{
    if (l == NULL || l->max == 0)
        return true;
    unsigned open = atomic_load_explicit(&l->open, memory_order_relaxed);
    do {
        if (open >= l->max) {
            atomic_fetch_add_explicit(&l->paused, 1, memory_order_relaxed);
            return false;
        }
    } while (!atomic_compare_exchange_weak_explicit(&l->open, &open, open + 1,
                                                    memory_order_relaxed, memory_order_relaxed));
    return true;
}

void connlimit_give(struct connlimit *l)
{
    if (l == NULL || l->max == 0)
        return;
    atomic_fetch_sub_explicit(&l->open, 1, memory_order_relaxed);
}

uint32_t connlimit_open(struct connlimit *l)
{
    return l == NULL ? 0 : atomic_load_explicit(&l->open, memory_order_relaxed);
}
