/*
 * events.c - where lb's observable events end up: the access log, and rate-limited warnings on
 * standard error for backend trouble (at most one line per backend per second, so a dead
 * backend under load does not flood the terminal). Counters for lbtop hook in here too.
 */
#include "events.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
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

void events_client_opened(struct worker *w)
{
    (void)w;
}

void events_client_closed(struct worker *w, uint64_t requests)
{
    (void)w;
    (void)requests;
}

void events_request_received(struct worker *w)
{
    (void)w;
}

void events_backend_connect_failed(struct worker *w, struct backend *b, int err)
{
    (void)w;
    if (warn_allowed(b))
        fprintf(stderr, "lb: backend %s: connect failed: %s\n", b->name, strerror(-err));
}

void events_backend_connected(struct worker *w, struct backend *b, uint64_t connect_ns,
                              bool reused)
{
    (void)w;
    (void)b;
    (void)connect_ns;
    (void)reused;
}

void events_backend_closed(struct worker *w, struct backend *b)
{
    (void)w;
    (void)b;
}

void events_request_sent(struct worker *w, struct backend *b)
{
    (void)w;
    (void)b;
}

void events_retry(struct worker *w, struct backend *from, bool was_sent, const char *why)
{
    (void)w;
    (void)from;
    (void)was_sent;
    (void)why;
}

void events_timeout(struct worker *w, enum events_timeout kind, struct backend *b)
{
    (void)w;
    (void)kind;
    (void)b;
}

void events_backend_broke(struct worker *w, struct backend *b, const char *why)
{
    (void)w;
    if (warn_allowed(b))
        fprintf(stderr, "lb: backend %s: %s\n", b->name, why);
}

void events_request_done(struct worker *w, const struct events_request *r)
{
    access_log_append(w->log, &w->log_buf, &r->log);
}
