/*
 * events.c - where lb's observable events end up: the access log, and rate-limited warnings on
 * standard error for backend trouble (at most one line per backend per second, so a dead
 * backend under load does not flood the terminal), and the shared-memory statistics lbtop reads
 * (lb/stats_writer.h: one call per event, on this worker's own counters; a no-op with --no-stats).
 *
 * A backend's state (lb/backend.h: up, or down and resting after a failed connect) changes here:
 * a failed connect rests it, a successful one brings it back. The worker whose call changed the
 * state (one per change, however many workers saw it) prints one line about it and publishes it.
 */
#include "events.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "access_log.h"
#include "clock.h"
#include "stats_writer.h"
#include "worker.h"

static bool warn_allowed(struct backend *b)
{
    uint64_t now = clock_mono_ms();
    uint64_t last = atomic_load_explicit(&b->last_warn_ms, memory_order_relaxed);
    if (last != 0 && now - last < 1000)
        return false;
    return atomic_compare_exchange_strong_explicit(&b->last_warn_ms, &last, now ? now : 1,
                                                   memory_order_relaxed, memory_order_relaxed);
}

/* Publishes b's state as it is now. Another worker may change it back between our change and
 * our store; so we read it again after storing and store again if it moved: whoever stores last
 * has read the state after every change before it (all sequentially consistent), so the
 * statistics end up with the true state. */
static void publish_state(struct worker *w, struct backend *b)
{
    bool up;

    do {
        up = backend_is_up(b);
        stats_backend_state(w->stats, (int)b->index, up ? STATS_BACKEND_UP : STATS_BACKEND_DOWN);
    } while (backend_is_up(b) != up);
}

/* Errors that are lb's own (out of descriptors or memory) say nothing about the backend. */
static bool backend_to_blame(int err)
{
    return err != -EMFILE && err != -ENFILE && err != -ENOMEM && err != -ENOBUFS;
}

void events_client_opened(struct worker *w)
{
    stats_client_accepted(w->stats);
}

void events_client_closed(struct worker *w, uint64_t requests)
{
    stats_client_closed(w->stats, requests);
}

void events_request_received(struct worker *w)
{
    stats_request_received(w->stats);
}

void events_backend_connect_failed(struct worker *w, struct backend *b, int err)
{
    stats_connect_error(w->stats, (int)b->index);
    if (backend_to_blame(err) && backend_rest(b, w->now_ms)) {
        fprintf(stderr, "lb: backend %s DOWN (connect failed: %s), resting %d s\n", b->name,
                strerror(-err), BACKEND_DOWN_MS / 1000);
        publish_state(w, b);
    } else if (warn_allowed(b)) {
        fprintf(stderr, "lb: backend %s: connect failed: %s\n", b->name, strerror(-err));
    }
}

void events_backend_connected(struct worker *w, struct backend *b, uint64_t connect_ns,
                              bool reused)
{
    if (reused) {
        stats_backend_conn_reused(w->stats, (int)b->index);
        return; /* an old connection says nothing about whether b accepts new ones */
    }
    stats_backend_conn_opened(w->stats, (int)b->index, connect_ns);
    if (backend_set_up(b)) {
        fprintf(stderr, "lb: backend %s UP\n", b->name);
        publish_state(w, b);
    }
}

void events_backend_closed(struct worker *w, struct backend *b)
{
    stats_backend_conn_closed(w->stats, (int)b->index);
}

void events_request_sent(struct worker *w, struct backend *b)
{
    stats_request_sent(w->stats, (int)b->index);
}

void events_retry(struct worker *w, struct backend *from, bool was_sent, const char *why)
{
    (void)why;
    stats_retry(w->stats, (int)from->index, was_sent);
}

void events_timeout(struct worker *w, enum events_timeout kind, struct backend *b)
{
    if (kind == EVENTS_TIMEOUT_CLIENT_HEAD)
        stats_client_timeout(w->stats);
    else if (kind == EVENTS_TIMEOUT_SERVER && b != NULL)
        stats_timeout(w->stats, (int)b->index);
}

void events_backend_broke(struct worker *w, struct backend *b, const char *why)
{
    (void)w;
    if (warn_allowed(b))
        fprintf(stderr, "lb: backend %s: %s\n", b->name, why);
}

void events_request_done(struct worker *w, const struct request_record *r)
{
    access_log_append(w->log, &w->log_buf, r);
    stats_request_done(w->stats, r);
}
