/*
 * simtimer.h - the timers of one event loop: a binary min-heap of deadlines (milliseconds on the
 * monotonic clock). Each connection embeds one node, so arming, moving and cancelling a timer
 * never allocates, and the loop sleeps in epoll_wait exactly until the earliest deadline.
 *
 * Not thread-safe: a heap belongs to one event loop thread.
 */
#ifndef LBLAB_SIMTIMER_H
#define LBLAB_SIMTIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIMTIMER_NONE SIZE_MAX

struct simtimer_node {
    uint64_t deadline; /* ms, valid while queued */
    size_t index;      /* position in the heap, SIMTIMER_NONE when not queued */
};

struct simtimer_heap {
    struct simtimer_node **nodes;
    size_t len, cap;
};

void simtimer_heap_init(struct simtimer_heap *h);
void simtimer_heap_free(struct simtimer_heap *h);

static inline void simtimer_node_init(struct simtimer_node *n)
{
    n->deadline = 0;
    n->index = SIMTIMER_NONE;
}

static inline bool simtimer_queued(const struct simtimer_node *n)
{
    return n->index != SIMTIMER_NONE;
}

/* Arms node for deadline (queues it, or moves it if queued). Returns 0 or -ENOMEM. */
int simtimer_set(struct simtimer_heap *h, struct simtimer_node *node, uint64_t deadline);

/* Removes node if queued. */
void simtimer_cancel(struct simtimer_heap *h, struct simtimer_node *node);

/* The node with the earliest deadline, or NULL when the heap is empty. */
struct simtimer_node *simtimer_first(const struct simtimer_heap *h);

#endif
