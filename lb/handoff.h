/*
 * handoff.h - spreading accepted connections evenly over the workers.
 *
 * The workers share one listening socket, and the kernel wakes whichever worker is waiting: a
 * burst of new connections (wrk opening 50 at once) can land mostly on one worker, which then
 * does most of the work for as long as those connections live while the other worker idles.
 * So after accept() a worker asks handoff_choose() who should serve the connection: itself,
 * unless another worker holds fewer connections by more than a small slack; then it queues the
 * connection to that worker (handoff_push) and the owner picks it up on its next round
 * (handoff_take). HAProxy does the same between its threads.
 *
 * Each worker has one slot: the number of connections it holds (published by the worker itself
 * once a round, plus what is queued to it), and a small queue guarded by a mutex (taken only
 * when a connection changes hands, never per request). A worker that is not ready (not started,
 * or draining) is never chosen and refuses pushes.
 */
#ifndef LB_HANDOFF_H
#define LB_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* An accepted connection on its way to the worker that will serve it. */
struct handoff_conn {
    int fd;
    bool tls; /* accepted on the HTTPS listener */
    socklen_t peer_len;
    struct sockaddr_storage peer;
};

struct handoff;

/* One slot per worker, none ready yet. Returns NULL on ENOMEM. */
struct handoff *handoff_create(unsigned nworkers);

/* Closes the descriptors of connections still queued, then frees h. NULL is fine. */
void handoff_destroy(struct handoff *h);

/* Worker id takes connections from now on; wake_fd (an eventfd) is written when one is queued
 * to it while its queue was empty. */
void handoff_ready(struct handoff *h, unsigned id, int wake_fd);

/* Worker id takes no more (it drains): pushes to it fail from now on. What was queued before
 * stays for handoff_take(). */
void handoff_retire(struct handoff *h, unsigned id);

/* Worker id holds load connections now (sessions and relays it serves). */
void handoff_set_load(struct handoff *h, unsigned id, size_t load);

/* Worker id took one more connection itself (counted until its next handoff_set_load). */
void handoff_count_one(struct handoff *h, unsigned id);

/* Which worker should serve a connection worker self has just accepted: self, unless a ready
 * worker holds fewer connections by more than the slack. */
unsigned handoff_choose(struct handoff *h, unsigned self);

/* Queues c to worker to. Returns false when to is not ready or its queue is full: then the
 * caller serves c itself. */
bool handoff_push(struct handoff *h, unsigned to, const struct handoff_conn *c);

/* Moves up to max connections queued to worker self into out. Returns how many. */
size_t handoff_take(struct handoff *h, unsigned self, struct handoff_conn *out, size_t max);

#endif
