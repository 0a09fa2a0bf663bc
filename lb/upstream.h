/*
 * upstream.h - lb's connections to backends, and each worker's pool of idle ones.
 *
 * A connection is opened for one request's exchange (upstream_connect), serves it, and then is
 * either kept for the next request to the same backend (upstream_release with keep: it waits in
 * the worker's pool, most recently used first) or closed. Taking a pooled connection skips the
 * TCP handshake and a round trip; the price is that the backend may close it while it sits idle,
 * which the session notices and answers by retrying on a fresh connection (a stale connection).
 *
 * The pool is bounded twice: at most --pool-max idle connections per backend (a release beyond
 * that closes the connection), and none idle longer than --pool-idle-timeout (a take skips and
 * closes it; upstreams_expire(), which the worker calls every second, closes the ones nobody
 * took). So a burst of requests leaves no crowd of idle backend connections behind.
 *
 * A connection's life: CONNECTING -> (HANDSHAKING ->) READY (serving its owner) -> IDLE (pooled)
 * -> READY ... and CLOSED at any point. HANDSHAKING is for a backend reached over TLS
 * (-b ...,tls): the connection is ready for a request only once its handshake completed, so a
 * backend whose certificate does not verify fails like one that refuses connections. Closed connections are freed by upstreams_reap() at the end of the
 * worker's loop round, because an epoll event for them may still be pending in the same round.
 *
 * Everything here belongs to one worker and runs on its thread: no locks.
 */
#ifndef LB_UPSTREAM_H
#define LB_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "backend.h"
#include "net.h"
#include "side.h"
#include "worker.h"

enum upstream_state {
    UPSTREAM_CONNECTING, /* the nonblocking connect has not finished */
    UPSTREAM_HANDSHAKING, /* connected; the transport's handshake (TLS) is under way */
    UPSTREAM_READY,      /* established and serving its owner */
    UPSTREAM_IDLE,       /* established, waiting in the pool for the next request */
    UPSTREAM_CLOSED,     /* closed; freed at the end of the loop round */
};

struct upstream {
    struct endpoint ep; /* first: epoll data */
    enum upstream_state state;
    struct side side;
    struct backend *backend;
    struct worker *w; /* the worker it belongs to */
    void *owner;    /* what it serves: a session's or a relay's struct endpoint; NULL while idle */
    bool reused;    /* taken from the pool for its current owner */
    uint64_t idle_since_ms;
    struct upstream *prev, *next; /* the pool's list; next also links the closed list */
    char addr[NET_ADDRSTR_LEN];     /* the backend's address, for logs */
    struct sockaddr_storage server; /* the backend's address */
    struct sockaddr_storage local;  /* lb's end of the connection */
};

/* One worker's backend connections: a pool per backend, and the closed ones not yet freed. */
struct upstreams;

/* Creates the pools for nbackends backend slots (backend->index < nbackends), bounded by w->cfg's
 * pool_max and pool_idle_timeout_ms. Returns NULL on ENOMEM. */
struct upstreams *upstreams_create(struct worker *w, size_t nbackends);

/* Closes every connection still pooled and frees what was closed, then ups itself. */
void upstreams_destroy(struct upstreams *ups);

/* Starts a nonblocking connection to backend b at server for owner, and watches it with epoll.
 * Returns 0 with *out set (state CONNECTING, or READY when the connect finished at once), or
 * -errno with nothing left open. */
int upstream_connect(struct upstreams *ups, struct backend *b, const struct sockaddr *server,
                     socklen_t server_len, void *owner, struct upstream **out);

/* For a CONNECTING or HANDSHAKING u that epoll reported: 0 when the connection is now READY
 * (u->local known), -EINPROGRESS while it is still on its way, or the connect's -errno (-EPROTO:
 * the TLS handshake failed; lb's standard error says why). */
int upstream_finish_connect(struct upstream *u);

/* The most recently used idle connection to b that is still good, now READY for owner (and
 * u->reused), or NULL. Stale ones met on the way are closed. */
struct upstream *upstream_take_idle(struct upstreams *ups, struct backend *b, void *owner);

/* u's owner is done with it: keep puts it in the pool (unless the pool is full or the worker is
 * draining, then it is closed), otherwise it is closed. */
void upstream_release(struct upstreams *ups, struct upstream *u, bool keep);

/* Closes u (a no-op when already closed); abort resets the connection. */
void upstream_close(struct upstreams *ups, struct upstream *u, bool abort);

/* A reload made rt the worker's snapshot: idle connections to backends rt no longer has (or whose
 * name now stands for another host or port) are closed; the others now belong to rt's backend
 * of the same slot. */
struct routing;
void upstreams_follow(struct upstreams *ups, const struct routing *rt);

/* Closes every idle connection (shutdown). */
void upstreams_close_idle(struct upstreams *ups);

/* Closes the idle connections that waited longer than --pool-idle-timeout. Returns how many. */
size_t upstreams_expire(struct upstreams *ups);

/* Idle connections in the pools, all backends together. */
size_t upstreams_idle_count(const struct upstreams *ups);

/* Frees the connections closed since the last call. */
void upstreams_reap(struct upstreams *ups);

/* epoll reported events on u. Returns u's owner, to be run, or NULL when there is none (an idle
 * connection that the backend closed or sent unasked-for bytes on is closed here). */
void *upstream_event(struct upstreams *ups, struct upstream *u, uint32_t events);

#endif
