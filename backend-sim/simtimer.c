/*
 * simtimer.c - binary min-heap of timer nodes (see simtimer.h). Each node remembers its index,
 * so moving or cancelling one is O(log n) without a search.
 */
#include "simtimer.h"

#include <errno.h>
#include <stdlib.h>

void simtimer_heap_init(struct simtimer_heap *h)
{
    h->nodes = NULL;
    h->len = h->cap = 0;
}

void simtimer_heap_free(struct simtimer_heap *h)
{
    for (size_t i = 0; i < h->len; i++)
        h->nodes[i]->index = SIMTIMER_NONE;
    free(h->nodes);
    simtimer_heap_init(h);
}

static void place(struct simtimer_heap *h, size_t i, struct simtimer_node *n)
{
    h->nodes[i] = n;
    n->index = i;
}

static void sift_up(struct simtimer_heap *h, size_t i)
{
    struct simtimer_node *n = h->nodes[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->nodes[parent]->deadline <= n->deadline)
            break;
        place(h, i, h->nodes[parent]);
        i = parent;
    }
    place(h, i, n);
}

static void sift_down(struct simtimer_heap *h, size_t i)
{
    struct simtimer_node *n = h->nodes[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && h->nodes[child + 1]->deadline < h->nodes[child]->deadline)
            child++;
        if (n->deadline <= h->nodes[child]->deadline)
            break;
        place(h, i, h->nodes[child]);
        i = child;
    }
    place(h, i, n);
}

int simtimer_set(struct simtimer_heap *h, struct simtimer_node *node, uint64_t deadline)
{
    if (simtimer_queued(node)) {
        uint64_t old = node->deadline;
        node->deadline = deadline;
        if (deadline < old)
            sift_up(h, node->index);
        else if (deadline > old)
            sift_down(h, node->index);
        return 0;
    }
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct simtimer_node **bigger = realloc(h->nodes, cap * sizeof(*bigger));
        if (bigger == NULL)
            return -ENOMEM;
        h->nodes = bigger;
        h->cap = cap;
    }
    node->deadline = deadline;
    place(h, h->len++, node);
    sift_up(h, node->index);
    return 0;
}

void simtimer_cancel(struct simtimer_heap *h, struct simtimer_node *node)
{
    size_t i = node->index;
    if (i == SIMTIMER_NONE)
        return;
    node->index = SIMTIMER_NONE;
    h->len--;
    if (i == h->len)
        return;
    place(h, i, h->nodes[h->len]);
    if (i > 0 && h->nodes[(i - 1) / 2]->deadline > h->nodes[i]->deadline)
        sift_up(h, i);
    else
        sift_down(h, i);
}

struct simtimer_node *simtimer_first(const struct simtimer_heap *h)
{
    return h->len > 0 ? h->nodes[0] : NULL;
}
