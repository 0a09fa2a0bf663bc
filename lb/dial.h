/*
 * dial.h - getting a backend connection: for one request (-m http) or for one client connection
 * (-m tcp). Ask the policy for a backend not tried yet, take an idle pooled connection to it or
 * resolve its name (--dns-ttl 0) and connect without blocking, try its next address when a
 * connect fails, and tell the owner when a connection is ready or when the backend could not be
 * reached at all (then the owner decides: another backend, or an error for the client).
 *
 * A dial moves through named states:
 *   IDLE -> (RESOLVING ->) CONNECTING -> READY        a connection to d->backend is in d->up
 *                                     -> FAILED       no address of d->backend took it (d->err)
 * Each call below returns with d in one of these states; RESOLVING and CONNECTING wait for the
 * resolver's answer (dial_resolved), an epoll event (dial_poll) or --connect-timeout
 * (dial_timed_out). The owner's struct endpoint is what the resolver's answer and the backend
 * connection's events are addressed to.
 *
 * One dial belongs to one owner on one worker thread.
 */
#ifndef LB_DIAL_H
#define LB_DIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "policy.h"
#include "resolver.h"
#include "routing.h"
#include "upstream.h"
#include "worker.h"

enum dial_state { DIAL_IDLE, DIAL_RESOLVING, DIAL_CONNECTING, DIAL_READY, DIAL_FAILED };

struct dial {
    struct worker *w;
    struct endpoint *owner;
    enum dial_state state;
    struct routing *rt;        /* the snapshot it picks in, held from dial_use() to
                                  dial_finish() (routing.h); NULL before */
    struct routing_pool *pool; /* the pool of rt it picks in: the default pool until the owner
                                  routes the request elsewhere; NULL: none */
    struct backend *backend;  /* being tried or connected to; NULL before the first pick */
    bool acquired;            /* policy_acquired() was called for backend */
    uint64_t tried[POLICY_TRIED_WORDS]; /* pool indexes */
    struct upstream *up;      /* CONNECTING or READY: the connection */
    struct backend_addr addrs[BACKEND_MAX_ADDRS];
    size_t num_addrs, addr_first, addr_tried;
    struct resolve_req *resolving;
    uint64_t start_ms;   /* this attempt began (worker milliseconds): --connect-timeout */
    uint64_t t_start_ns; /* the same on clock_mono_ns(), for the connect time */
    uint64_t connect_ns; /* READY on a new connection: how long connecting took; 0 if pooled */
    uint32_t failed;     /* backends that could not be reached so far */
    int err;             /* FAILED: why (-ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, ...) */
};

/* Prepares d for owner on w (nothing picked, nothing tried, no snapshot held). */
void dial_init(struct dial *d, struct worker *w, struct endpoint *owner);

/* Holds the worker's current snapshot (w->routing) for d, when d holds none yet, and sets
 * d->pool to its default pool. Returns d->rt. */
struct routing *dial_use(struct dial *d);

/* Lets go of d's snapshot (after the last look at d->backend: a request's log line). */
void dial_finish(struct dial *d);

/* Asks d->pool's policy for a backend not tried yet (key: what hashing policies hash), or takes
 * preferred (>= 0: a backend of the pool chosen otherwise, e.g. by a sticky cookie; a pool
 * index). The current backend, if any, is released and marked tried first. Returns the backend's
 * pool index, or -1 when none is left (or d->pool is NULL). */
int dial_pick(struct dial *d, const char *key, size_t key_len, int preferred);

/* Starts getting a connection to d->backend: an idle pooled one when allow_pool and there is
 * one, else a new one. Returns with d READY, RESOLVING, CONNECTING or FAILED. */
void dial_start(struct dial *d, bool allow_pool);

/* The resolver answered req (the worker hands every answer to its owner). Returns false when
 * req was not d's (an answer that came too late: it is freed); else d moves on as dial_start. */
bool dial_resolved(struct dial *d, struct resolve_req *req);

/* Frees an answered name resolution (and lets go of the snapshot it held). */
void dial_free_resolve(struct resolve_req *req);

/* After an event on d->up while CONNECTING: READY, still CONNECTING, or the next address. */
void dial_poll(struct dial *d);

/* --connect-timeout passed while RESOLVING or CONNECTING: the next address, or FAILED. */
void dial_timed_out(struct dial *d);

/* Lets go of the connection (closed, or given to the caller: set d->up to NULL first) and of
 * any pending name resolution. The backend stays picked. */
void dial_drop(struct dial *d);

/* The request or connection is done with d->backend: the policy stops counting it there. */
void dial_release(struct dial *d);

#endif
