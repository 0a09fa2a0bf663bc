/*
 * stats_writer.h - lb's statistics writer: one call per observable event, published in the
 * shared-memory segment of common/stats.h for lbtop and lbtrace.
 *
 * Design: every worker thread gets its own counter block (stats_thread), so the request path
 * never takes a lock and never does an atomic read-modify-write on a shared cache line: each
 * counter is bumped with a relaxed load and a relaxed store by the only thread that writes it.
 * The only shared writes are the connection gauges (active/peak, once per connection), a
 * backend's state when it changes, and one fetch-add per finished request to claim a slot in the
 * ring of recent requests. A small thread refreshes the heartbeat every 250 ms.
 *
 * Every function accepts a NULL handle and then does nothing, so lb can run with statistics off
 * (--no-stats) without an "if" at each call site. Backend indexes at or beyond the number given
 * to stats_open() (at most STATS_MAX_BACKENDS) count in the global totals only.
 */
#ifndef LB_STATS_WRITER_H
#define LB_STATS_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "request_record.h"
#include "stats.h" /* the layout, common/stats.h */
#include "stats_shm.h"

struct stats;        /* the writer: the segment and the heartbeat thread */
struct stats_thread; /* one worker's counters; used by that worker only */

/* What stats_open() publishes about this lb. Strings are copied (and cut to their field). */
struct stats_config {
    const char *shm_name;             /* NULL: stats_shm_name(listen_port) */
    bool private_memory;              /* in this process's memory only, no name (stats_shm.h) */
    uint16_t listen_port;
    const struct sockaddr *listen_addr; /* NULL: every address */
    const char *listen_text;          /* as printed, e.g. "0.0.0.0:3000" */
    uint32_t mode;                    /* STATS_MODE_HTTP or STATS_MODE_TCP */
    const char *policy;               /* e.g. "rr" */
    unsigned nworkers;                /* worker threads: stats_for_worker(0 .. nworkers-1) */
    size_t nbackends;                 /* entries in the arrays below */
    const char *const *backend_names; /* shown by lbtop, e.g. "localhost:3001" */
    const char *const *backend_hosts; /* as configured (NULL: the names) */
    const uint16_t *backend_ports;
    const uint32_t *backend_weights;  /* NULL: all 1 */
    const char *const *backend_pools; /* the pool each serves in (NULL: all "") */
    const struct sockaddr *admin_addr; /* the admin endpoint's address (NULL: none) */
    uint32_t features;                /* STATS_FEATURE_*, e.g. active health checks run */
    const char *tls_listen_text;      /* the HTTPS listener as printed; NULL or "": none */
};

/* Creates and publishes the segment, starts the heartbeat thread. Backends start UP. Returns the writer, or NULL
 * with a message in err (e.g. another lb already publishes under that name). */
struct stats *stats_open(const struct stats_config *cfg, char *err, size_t err_len);

struct config;
struct backend_table;

/* stats_open() for lb itself: publishes cfg's policy, whether it runs health checks
 * (--health-path), its backends (names from table, all in the pool "default"), the address
 * listening socket lfd is bound to, the admin endpoint's (admin_fd's; -1: none), and nworkers
 * worker blocks, under the name "/lblab-<cfg->listen_port>", or with private_memory in memory
 * no other process sees (--no-stats with --admin). Returns NULL with a message in err. */
struct stats *stats_open_lb(const struct config *cfg, const struct backend_table *table, int lfd,
                            int admin_fd, unsigned nworkers, bool private_memory, char *err,
                            size_t err_len);

/* Stops the heartbeat, marks the segment stopping and removes it. NULL is fine. */
void stats_close(struct stats *s);

/* Worker w's handle (w < nworkers), or NULL when s is NULL or w out of range. */
struct stats_thread *stats_for_worker(struct stats *s, unsigned w);

/* The whole segment t's worker writes in, to be read as lbtop reads it (stats_snapshot_take()),
 * or NULL for NULL. */
const struct stats_shm *stats_thread_shm(const struct stats_thread *t);

/* The segment's name, e.g. "/lblab-3000" ("" for NULL or in private memory). */
const char *stats_name(const struct stats *s);

/* Gives the named segment to uid/gid before lb changes user (--user), so it can still remove it
 * on exit; it stays writable by lb alone (0644). s NULL: nothing to do. Returns 0 or -errno with
 * a message in err. */
int stats_chown(struct stats *s, uid_t uid, gid_t gid, char *err, size_t err_len);

/* ---- client connections (the worker that owns the connection) ---------------------------- */

void stats_client_accepted(struct stats_thread *t);
/* requests: how many requests the connection carried. */
void stats_client_closed(struct stats_thread *t, uint64_t requests);
/* A request's header block arrived completely. */
void stats_request_received(struct stats_thread *t);
/* A request's head did not arrive within --client-timeout (408 or close). */
void stats_client_timeout(struct stats_thread *t);
/* A TLS handshake on the HTTPS listener completed with version (0x0303 TLS 1.2, 0x0304 TLS
 * 1.3), resumed or not, or, with version 0, a client connection closed before its handshake
 * completed. */
void stats_tls_handshake(struct stats_thread *t, int version, bool resumed);

/* ---- the worker's event loop --------------------------------------------------------------- */

/* epoll_wait() woke the worker with events (> 0) to handle. */
void stats_loop_wakeup(struct stats_thread *t, unsigned events);
/* The writes the worker has held to the end of a batch and made together since it started, and
 * the io_uring_enter() and sendmsg() calls that made them (sendbatch.h's counts): totals, not
 * increments. */
void stats_held_writes(struct stats_thread *t, uint64_t writes, uint64_t uring_calls,
                       uint64_t sendmsg_calls);
/* The bytes the worker has spliced into sockets since it started, the transfers that took a
 * pipe, and how many of those pipes it made new (pipebuf.h's counts): totals, not increments. */
void stats_splices(struct stats_thread *t, uint64_t bytes, uint64_t transfers, uint64_t made);

/* ---- backend connections and requests ----------------------------------------------------- */

/* A connection to backend b is established after connect_ns nanoseconds. */
void stats_backend_conn_opened(struct stats_thread *t, int b, uint64_t connect_ns);
void stats_backend_conn_closed(struct stats_thread *t, int b);
/* A request goes out on an already open (pooled) connection to b. */
void stats_backend_conn_reused(struct stats_thread *t, int b);
/* Connecting to b failed (refused, unreachable, connect timeout). */
void stats_connect_error(struct stats_thread *t, int b);
/* A request is handed to backend b (it is now in flight there). */
void stats_request_sent(struct stats_thread *t, int b);
/* A request is tried again after failing at b: after a failed connect (was_sent false), or
 * after the request had been sent to b (was_sent true: its attempt at b ends here). */
void stats_retry(struct stats_thread *t, int b, bool was_sent);
/* Backend b did not answer within --server-timeout (the client gets a 504). */
void stats_timeout(struct stats_thread *t, int b);

/* Counts a finished request (global totals, backend r->backend, latency histograms) and appends
 * it to the ring of recent requests (its start: r->wall_ns, or now, minus r->total_ns). */
void stats_request_done(struct stats_thread *t, const struct request_record *r);

/* ---- backend state (any worker's handle: the state is shared) ------------------------------ */

/* Backend b's health as lb/health.h knows it: state (STATS_BACKEND_*), when it last changed
 * (changed_wall_ns, 0: leave as is), why (reason, NULL: leave as is), and its active check
 * counters. Called with b's health lock held (health_publish()), so one writer at a time. */
void stats_backend_health(struct stats_thread *t, int b, uint32_t state, uint64_t changed_wall_ns,
                          const char *reason, uint64_t checks_total, uint64_t checks_failed);

/* A reload made rt the snapshot lb serves instead of old (lb/routing.h): each backend slot
 * follows its backend by name, so a backend rt keeps goes on counting where it was (its weight
 * updated), and one rt removed shows DOWN with the reason "removed from the configuration by a
 * reload" (written under its health lock in h, which may be NULL); a backend rt adds gets an entry of its own (the number of entries grows, up to
 * STATS_MAX_BACKENDS; beyond, it counts in the totals only). main()'s thread. */
struct routing;
struct health;
void stats_follow_routing(struct stats *s, struct health *h, const struct routing *old,
                          const struct routing *rt);

/* b's host now resolves to sa (the address lb connects to). Any thread. */
void stats_backend_resolved(struct stats *s, int b, const struct sockaddr *sa);

#endif
