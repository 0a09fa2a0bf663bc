/*
 * events.c - where lb's observable events end up: the access log, and rate-limited warnings on
 * standard error for backend trouble and lb's own shortages (loglimit.h: at most one line per
 * backend, or per kind of shortage, per second, so a dead backend under load does not flood
 * the terminal), and the shared-memory statistics lbtop reads
 * (lb/stats_writer.h: one call per event, on this worker's own counters; a no-op with --no-stats).
 *
 * A backend's state (lb/backend.h: up, or down and resting after a failed connect) changes here:
 * a failed connect rests it, a successful one brings it back. The worker whose call changed the
 * state (one per change, however many workers saw it) prints one line about it and publishes it.
 *
 * The health subsystem (lb/health.h) reports its changes through events_backend_health(): the
 * one caller that made a change prints it, and publishes the backend's state, time and reason
 * under the backend's health lock, so the last publication is always of the newest state.
 */
#include "events.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "access_log.h"
#include "clock.h"
#include "connlimit.h"
#include "loglimit.h"
#include "stats_writer.h"
#include "worker.h"

/* Key of a backend's rate-limited warnings: one line per backend per second (loglimit.h). */
static void backend_key(char *key, size_t cap, const struct backend *b)
{
    snprintf(key, cap, "backend %u", (unsigned)b->index);
}

/* Errors that are lb's own (out of descriptors or memory) say nothing about the backend. */
static bool backend_to_blame(int err)
{
    return err != -EMFILE && err != -ENFILE && err != -ENOMEM && err != -ENOBUFS;
}

void events_loop_round(struct worker *w, unsigned events)
{
    const struct send_batch_counts *sent = send_batch_counts(&w->sends);
    const struct pipebuf_counts *spliced = &w->pipes.counts;
    stats_loop_wakeup(w->stats, events);
    stats_held_writes(w->stats, sent->writes, sent->uring_calls, sent->sendmsg_calls);
    stats_splices(w->stats, spliced->bytes, spliced->transfers, spliced->made);
}

void events_client_opened(struct worker *w)
{
    stats_client_accepted(w->stats);
}

void events_client_closed(struct worker *w, uint64_t requests)
{
    connlimit_give(w->conns);
    stats_client_closed(w->stats, requests);
}

void events_client_tls_handshake(struct worker *w, int version, bool resumed)
{
    stats_tls_handshake(w->stats, version, resumed);
}

void events_backend_tls_failed(struct worker *w, struct backend *b, const char *why)
{
    char key[LOGLIMIT_KEY_MAX];
    snprintf(key, sizeof(key), "tls-%zu", b->index); /* apart from the backend's other lines */
    loglimit_printf(w->warnings, key, w->now_ms, "lb: backend %s: TLS handshake failed: %s",
                    b->name, why != NULL ? why : "unknown reason");
}

void events_request_received(struct worker *w)
{
    stats_request_received(w->stats);
}

void events_backend_connect_failed(struct worker *w, struct backend *b, int err)
{
    stats_connect_error(w->stats, (int)b->index);
    if (backend_to_blame(err) && w->health != NULL) {
        struct health_change chg;
        if (health_report_failure(w->health, b->index,
                                  err == -ETIMEDOUT ? HEALTH_FAIL_TIMEOUT : HEALTH_FAIL_CONNECT,
                                  health_connect_why(-err), w->now_ms, &chg))
            events_backend_health(w, w->health, b, &chg);
    } else if (backend_to_blame(err)) {
        char key[LOGLIMIT_KEY_MAX];
        backend_key(key, sizeof(key), b);
        loglimit_printf(w->warnings, key, w->now_ms, "lb: backend %s: connect failed: %s",
                        b->name, strerror(-err));
    } else if (err == -EMFILE || err == -ENFILE) {
        /* lb's own shortage: the backend did nothing wrong */
        loglimit_printf(w->warnings, "lb-fd", w->now_ms,
                        "lb: out of file descriptors (%s): cannot connect to backend %s; the "
                        "request gets 503, the backend is not blamed",
                        strerror(-err), b->name);
    } else {
        loglimit_printf(w->warnings, "lb-memory", w->now_ms,
                        "lb: out of memory (%s): cannot connect to backend %s; the request gets "
                        "503, the backend is not blamed",
                        strerror(-err), b->name);
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
}

void events_backend_closed(struct worker *w, struct backend *b)
{
    stats_backend_conn_closed(w->stats, (int)b->index);
}

void events_request_sent(struct worker *w, struct backend *b)
{
    stats_request_sent(w->stats, (int)b->index);
}

void events_retry(struct worker *w, struct backend *from, bool was_sent, const char *why,
                  const char *id, size_t id_len)
{
    stats_retry(w->stats, (int)from->index, was_sent);
    access_log_append_retry(w->log, &w->log_buf, clock_wall_ns(), id, id_len, from->name, was_sent,
                            why);
}

void events_timeout(struct worker *w, enum events_timeout kind, struct backend *b)
{
    if (kind == EVENTS_TIMEOUT_CLIENT_HEAD)
        stats_client_timeout(w->stats);
    else if (kind == EVENTS_TIMEOUT_SERVER && b != NULL)
        stats_timeout(w->stats, (int)b->index);
}

void events_client_stalled(struct worker *w, const char *client, uint32_t timeout_ms)
{
    loglimit_printf(w->warnings, "client-stalled", w->now_ms,
                    "lb: client %s stopped reading its response (no progress for %u ms, "
                    "--client-timeout): connection cut; the backend is not blamed",
                    client, (unsigned)timeout_ms);
}

void events_backend_broke(struct worker *w, struct backend *b, const char *why)
{
    char key[LOGLIMIT_KEY_MAX];
    backend_key(key, sizeof(key), b);
    loglimit_printf(w->warnings, key, w->now_ms, "lb: backend %s: %s", b->name, why);
}

/* A time on lb's monotonic clock (ms), as wall-clock time (ns since the epoch). */
static uint64_t mono_ms_to_wall_ns(uint64_t ms)
{
    uint64_t now = clock_mono_ms(), ago = now > ms ? now - ms : 0;
    return clock_wall_ns() - ago * 1000000u;
}

/* Runs under b's health lock (health_publish), so publications follow the changes in order. */
static void publish_health(const struct health_snapshot *snap, void *arg)
{
    struct worker *w = ((void **)arg)[0];
    struct backend *b = ((void **)arg)[1];
    static const uint32_t state[] = {
        [HEALTH_UP] = STATS_BACKEND_UP,
        [HEALTH_DOWN] = STATS_BACKEND_DOWN,
        [HEALTH_DRAINING] = STATS_BACKEND_DRAINING,
    };
    uint64_t wall = 0;

    if (snap->changes > 0)
        wall = mono_ms_to_wall_ns(snap->changed_ms);
    stats_backend_health(w->stats, (int)b->index, state[snap->state], wall,
                         snap->changes > 0 ? snap->reason : NULL, snap->checks_total,
                         snap->checks_failed);
}

void events_backend_health(struct worker *w, struct health *h, struct backend *b,
                           const struct health_change *chg)
{
    void *arg[2] = {w, b};

    fprintf(stderr, "lb: backend %s %s (%s)\n", b->name, health_state_name(chg->to),
            chg->reason);
    if (w->log != NULL)
        access_log_append_health(w->log, &w->log_buf, mono_ms_to_wall_ns(chg->at_ms), b->name,
                                 health_state_name(chg->to), chg->reason);
    health_publish(h, b->index, publish_health, arg);
}

void events_health_check(struct worker *w, struct health *h, struct backend *b, bool ok,
                         const struct health_change *chg)
{
    void *arg[2] = {w, b};

    (void)ok; /* counted by health.c, published from its snapshot */
    if (chg != NULL)
        events_backend_health(w, h, b, chg);
    else
        health_publish(h, b->index, publish_health, arg);
}

void events_request_done(struct worker *w, const struct request_record *r)
{
    access_log_append(w->log, &w->log_buf, r);
    stats_request_done(w->stats, r);
}
