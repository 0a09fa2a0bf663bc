/*
 * timer.c - the min-heap of deadlines of one event loop (see timer.h).
 *
 * A heap rather than a timing wheel: a few thousand timers per loop, deadlines of very different
 * sizes (milliseconds to minutes) and no tick to maintain; callers re-arm lazily (only when a
 * deadline moves earlier), so most requests touch the heap once or twice.
 */
#include "timer.h"

#include <errno.h>
#include <stdlib.h>

void timer_heap_init(struct timer_heap *h)
{
    h->items = NULL;
    h->count = h->cap = 0;
}

void timer_heap_fini(struct timer_heap *h)
{
    for (size_t i = 0; i < h->count; i++)
        h->items[i]->deadline = TIMER_NONE;
    free(h->items);
    timer_heap_init(h);
}

void timer_init(struct timer *t, void *owner)
{
    t->deadline = TIMER_NONE;
    t->slot = 0;
    t->owner = owner;
}

bool timer_armed(const struct timer *t)
{
    return t->deadline != TIMER_NONE;
}

static void place(struct timer_heap *h, size_t i, struct timer *t)
{
    h->items[i] = t;
    t->slot = i;
}

static void sift_up(struct timer_heap *h, size_t i)
{
    struct timer *t = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent]->deadline <= t->deadline)
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(struct timer_heap *h, size_t i)
{
    struct timer *t = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->count)
            break;
        if (child + 1 < h->count && h->items[child + 1]->deadline < h->items[child]->deadline)
            child++;
        if (t->deadline <= h->items[child]->deadline)
            break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, t);
}

int timer_set(struct timer_heap *h, struct timer *t, uint64_t deadline)
{
    if (deadline == TIMER_NONE) {
        timer_cancel(h, t);
        return 0;
    }
    if (timer_armed(t)) {
        uint64_t old = t->deadline;
        t->deadline = deadline;
        if (deadline < old)
            sift_up(h, t->slot);
        else
            sift_down(h, t->slot);
        return 0;
    }
    if (h->count == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct timer **items = realloc(h->items, cap * sizeof(*items));
        if (items == NULL)
            return -ENOMEM;
        h->items = items;
        h->cap = cap;
    }
    t->deadline = deadline;
    place(h, h->count++, t);
    sift_up(h, t->slot);
    return 0;
}

void timer_cancel(struct timer_heap *h, struct timer *t)
{
    if (!timer_armed(t))
        return;
    size_t i = t->slot;
    struct timer *last = h->items[--h->count];
    t->deadline = TIMER_NONE;
    if (i == h->count)
        return;
    place(h, i, last);
    if (i > 0 && h->items[(i - 1) / 2]->deadline > last->deadline)
        sift_up(h, i);
    else
        sift_down(h, i);
}

uint64_t timer_next_deadline(const struct timer_heap *h)
{
    return h->count ? h->items[0]->deadline : TIMER_NONE;
}

struct timer *timer_pop_expired(struct timer_heap *h, uint64_t now)
{
    if (h->count == 0 || h->items[0]->deadline > now)
        return NULL;
    struct timer *t = h->items[0];
    timer_cancel(h, t);
    return t;
}

int timer_wait_ms(const struct timer_heap *h, uint64_t now, int max_ms)
{
    uint64_t d = timer_next_deadline(h);
    if (d == TIMER_NONE)
        return max_ms;
    if (d <= now)
        return 0;
    uint64_t left = d - now;
    if (max_ms >= 0 && left > (uint64_t)max_ms)
        return max_ms;
    return left > 0x7fffffff ? 0x7fffffff : (int)left;
}
