/*
 * handoff.c - per-worker slots: a published connection count and a small queue of connections
 * handed over by other workers. See handoff.h.
 */
#include "handoff.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* Connections queued to one worker at most; beyond it the accepting worker keeps them. */
#define HANDOFF_QUEUE 64
/* A worker keeps what it accepts while it holds at most this many more than the least loaded. */
#define HANDOFF_SLACK 1

struct handoff_slot {
    /* read by every worker: on a cache line of their own, away from the other slots' */
    _Alignas(64) atomic_size_t load; /* what the owner published, plus what it took itself since */
    atomic_size_t queued;            /* connections in the queue (changed under lock) */
    atomic_bool ready;               /* changed under lock, read without it by handoff_choose */

    pthread_mutex_t lock;
    int wake_fd;
    unsigned head; /* the oldest queued connection */
    struct handoff_conn queue[HANDOFF_QUEUE];
};

struct handoff {
    unsigned count;
    struct handoff_slot *slots;
};

struct handoff *handoff_create(unsigned nworkers)
{
    struct handoff *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->slots = aligned_alloc(64, sizeof(*h->slots) * (nworkers ? nworkers : 1));
    if (h->slots == NULL) {
        free(h);
        return NULL;
    }
    h->count = nworkers;
    for (unsigned i = 0; i < nworkers; i++) {
        struct handoff_slot *s = &h->slots[i];
        atomic_init(&s->load, 0);
        atomic_init(&s->queued, 0);
        atomic_init(&s->ready, false);
        int rc = pthread_mutex_init(&s->lock, NULL);
        if (rc != 0) {
            while (i-- > 0)
                pthread_mutex_destroy(&h->slots[i].lock);
            free(h->slots);
            free(h);
            errno = rc;
            return NULL;
        }
        s->wake_fd = -1;
        s->head = 0;
    }
    return h;
}

void handoff_destroy(struct handoff *h)
{
    if (h == NULL)
        return;
    for (unsigned i = 0; i < h->count; i++) {
        struct handoff_slot *s = &h->slots[i];
        size_t n = atomic_load(&s->queued);
        for (size_t k = 0; k < n; k++)
            close(s->queue[(s->head + k) % HANDOFF_QUEUE].fd);
        pthread_mutex_destroy(&s->lock);
    }
    free(h->slots);
    free(h);
}

void handoff_ready(struct handoff *h, unsigned id, int wake_fd)
{
    struct handoff_slot *s = &h->slots[id];
    pthread_mutex_lock(&s->lock);
    s->wake_fd = wake_fd;
    atomic_store(&s->ready, true);
    pthread_mutex_unlock(&s->lock);
}

void handoff_retire(struct handoff *h, unsigned id)
{
    struct handoff_slot *s = &h->slots[id];
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->ready, false);
    pthread_mutex_unlock(&s->lock);
}

void handoff_set_load(struct handoff *h, unsigned id, size_t load)
{
    atomic_store_explicit(&h->slots[id].load, load, memory_order_relaxed);
}

void handoff_count_one(struct handoff *h, unsigned id)
{
    atomic_fetch_add_explicit(&h->slots[id].load, 1, memory_order_relaxed);
}

static size_t slot_load(struct handoff_slot *s)
{
    return atomic_load_explicit(&s->load, memory_order_relaxed) +
           atomic_load_explicit(&s->queued, memory_order_relaxed);
}

unsigned handoff_choose(struct handoff *h, unsigned self)
{
    size_t mine = slot_load(&h->slots[self]);
    unsigned best = self;
    size_t best_load = mine;
    for (unsigned i = 0; i < h->count; i++) {
        struct handoff_slot *s = &h->slots[i];
        if (i == self || !atomic_load_explicit(&s->ready, memory_order_relaxed))
            continue;
        size_t load = slot_load(s);
        if (load < best_load) {
            best = i;
            best_load = load;
        }
    }
    return mine > best_load + HANDOFF_SLACK ? best : self;
}

bool handoff_push(struct handoff *h, unsigned to, const struct handoff_conn *c)
{
    struct handoff_slot *s = &h->slots[to];
    bool wake = false;
    pthread_mutex_lock(&s->lock);
    size_t n = atomic_load(&s->queued);
    if (!atomic_load(&s->ready) || n == HANDOFF_QUEUE) {
        pthread_mutex_unlock(&s->lock);
        return false;
    }
    s->queue[(s->head + n) % HANDOFF_QUEUE] = *c;
    atomic_store(&s->queued, n + 1);
    wake = n == 0; /* the owner takes everything at once: one wake-up per empty queue */
    int fd = s->wake_fd;
    pthread_mutex_unlock(&s->lock);
    if (wake) {
        uint64_t one = 1;
        /* an eventfd write fails only when its counter would overflow: then it is readable */
        while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
            ;
    }
    return true;
}

size_t handoff_take(struct handoff *h, unsigned self, struct handoff_conn *out, size_t max)
{
    struct handoff_slot *s = &h->slots[self];
    if (atomic_load_explicit(&s->queued, memory_order_relaxed) == 0)
        return 0;
    pthread_mutex_lock(&s->lock);
    size_t n = atomic_load(&s->queued);
    if (n > max)
        n = max;
    for (size_t k = 0; k < n; k++)
        out[k] = s->queue[(s->head + k) % HANDOFF_QUEUE];
    s->head = (unsigned)((s->head + n) % HANDOFF_QUEUE);
    atomic_store(&s->queued, atomic_load(&s->queued) - n);
    pthread_mutex_unlock(&s->lock);
    return n;
}
