/*
 * timer.h - the deadlines of one event loop (an lb worker, a backend-sim server thread): a binary
 * min-heap of struct timer, each embedded in the object it times (a session, a connection) and
 * knowing its own heap slot, so arming, moving and cancelling never allocate a node and cost
 * O(log n), and the earliest deadline is O(1). Owned by one thread: no locks.
 *
 * Deadlines are in milliseconds on the monotonic clock (clock_mono_ms()).
 */
#ifndef LBLAB_TIMER_H
#define LBLAB_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIMER_NONE UINT64_MAX

struct timer {
    uint64_t deadline; /* TIMER_NONE when not armed */
    size_t slot;       /* private: index in the heap */
    void *owner;       /* the caller's, never looked at here: what to tell when it fires */
};

struct timer_heap {
    struct timer **items;
    size_t count, cap;
};

void timer_heap_init(struct timer_heap *h);
/* Frees the heap; timers still armed in it are disarmed. */
void timer_heap_fini(struct timer_heap *h);

/* Prepares t, not armed, for owner (may be NULL). */
void timer_init(struct timer *t, void *owner);
bool timer_armed(const struct timer *t);

/* Arms t at deadline, or moves it there if armed; TIMER_NONE cancels. Returns 0 or -ENOMEM. */
int timer_set(struct timer_heap *h, struct timer *t, uint64_t deadline);

/* Disarms t (no-op when not armed). */
void timer_cancel(struct timer_heap *h, struct timer *t);

/* The earliest deadline, or TIMER_NONE. */
uint64_t timer_next_deadline(const struct timer_heap *h);

/* Removes and returns a timer whose deadline is <= now, or NULL. */
struct timer *timer_pop_expired(struct timer_heap *h, uint64_t now);

/* Milliseconds from now until the earliest deadline, for epoll_wait: -1 when none, 0 if due,
 * capped at max_ms. */
int timer_wait_ms(const struct timer_heap *h, uint64_t now, int max_ms);

#endif
