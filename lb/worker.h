/*
 * worker.h - one worker thread: one epoll loop over its own client and backend connections.
 *
 * main() starts a fixed pool of workers. They share the listening socket, each registered with
 * EPOLLEXCLUSIVE so a new connection wakes one worker, and from accept() on a connection belongs
 * to that worker alone: its sessions, backend connections, idle-connection pool, timers and
 * access-log buffer are touched by no other thread, so the request path takes no lock. The only
 * shared state is read-mostly: the config, the backend table (addresses published by the
 * resolver, backend.h) and the pools' policies (atomic counters, routing.h). main() talks to a worker through
 * worker_stop(), which writes the worker's eventfd.
 */
#ifndef LB_WORKER_H
#define LB_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "access_log.h"
#include "backend.h"
#include "buffer.h"
#include "config.h"
#include "http.h"
#include "pipebuf.h"
#include "resolver.h"
#include "routing.h"
#include "sendbatch.h"
#include "timer.h"

struct checker;
struct handoff;
struct loglimit;
struct connlimit;
struct health;
struct admin;
struct reloads;
struct relays;
struct sessions;
struct stats_thread;
struct ssl_ctx_st;
struct sticky;
struct upstreams;

/* What an epoll event's data.ptr points to: the first member of each polled object. */
enum endpoint_kind {
    ENDPOINT_LISTENER,
    ENDPOINT_TLS_LISTENER, /* --tls-listen: its connections are TLS (lb/transport_tls.h) */
    ENDPOINT_CONTROL,
    ENDPOINT_RESOLVER,
    ENDPOINT_CLIENT, /* a session's client socket (-m http) */
    ENDPOINT_RELAY,  /* a relay's client socket (-m tcp) */
    ENDPOINT_BACKEND,
    ENDPOINT_CHECK, /* an active health check's socket (lb/checker.h) */
    ENDPOINT_ADMIN, /* the admin endpoint's listener or one of its connections (lb/admin.h) */
};

struct endpoint {
    enum endpoint_kind kind;
};

/* Everything a worker needs. Fields are grouped by who may touch them. */
struct worker {
    /* immutable after start-up */
    unsigned id;
    const struct config *cfg;
    struct routing *routing; /* the snapshot new requests start on (routing.h), held; main()
                                sets the first one, the worker's loop the next ones */
    struct resolver *resolver;
    const struct access_log *log;
    int listen_fd; /* shared with the other workers; owned by main() */
    struct ssl_ctx_st *tls_ctx; /* the TLS server context (shared, read-only), NULL: no HTTPS */
    int tls_listen_fd;          /* the HTTPS listener when tls_ctx is set, shared likewise */
    int admin_fd;  /* --admin's listener, served by this worker (worker 0), else -1; main()'s */
    struct reloads *reloads; /* with admin_fd: POST /reload's way to main() (reloads.h), shared */
    struct stats_thread *stats; /* this worker's statistics (lb/stats_writer.h), NULL when off */
    struct health *health;      /* what lb believes about each backend (lb/health.h), shared */
    unsigned nworkers;          /* how many workers share the backends' health checks */
    struct connlimit *conns;    /* --max-conns: client connections at once (connlimit.h), shared */
    struct loglimit *warnings;  /* rate-limits lines on standard error (loglimit.h), shared;
                                   NULL: every line is printed */
    struct handoff *handoff; /* spreads accepted connections over the workers (handoff.h);
                                shared; NULL: each worker serves what it accepts */
    pthread_t thread;

    /* atomic: written by main(), read by the worker (1 drain, 2 stop now) */
    atomic_int stop;
    /* atomic: a snapshot from worker_set_routing() that the worker has not taken yet (held) */
    _Atomic(struct routing *) next_routing;
    /* atomic: the generation of the snapshot new requests start on (written by the worker) */
    _Atomic uint64_t routing_generation;

    /* the worker thread only */
    int epfd;
    int ctl_efd;
    struct endpoint listener_ep, tls_listener_ep, control_ep, resolver_ep;
    struct resolve_reply replies;
    struct timer_heap timers;
    struct sessions *sessions;   /* this worker's client connections in -m http (session.h) */
    struct relays *relays;       /* ... and in -m tcp (relay.h) */
    struct upstreams *upstreams; /* backend connections and their idle pools (upstream.h) */
    struct checker *checker;     /* this worker's share of the health checks, NULL when off */
    struct admin *admin;         /* --admin on this worker (admin.h), else NULL */
    struct buf_blocks blocks;    /* buffer blocks, taken while bytes are in flight (buffer.h) */
    struct pipebuf_cache pipes;  /* empty pipes for spliced transfers (pipebuf.h) */
    struct send_batch sends;     /* the client writes held for the end of a batch (sendbatch.h) */
    struct access_log_buf log_buf;
    struct http_header scratch[HTTP_LIMITS_DEFAULT_HEADERS]; /* for the parser, per call */
    struct http_limits limits;
    uint64_t rng[2];
    uint64_t now_ms; /* clock_mono_ms() at the start of this loop round */
    uint64_t conn_serial; /* client connections accepted so far */
    /* the local address of the plain [0] and HTTPS [1] listener when it is bound to one address
     * (every connection it accepts then has it), else AF_UNSPEC: see worker_client_front() */
    struct sockaddr_storage listen_front[2];
    bool hold_client_writes;     /* in a batch of events: see worker_hold_client_write() */
    unsigned client_writes_held; /* sessions or relays it made wait in this batch */
    unsigned backend_writes_held; /* sessions whose request it made wait in this batch */
    uint64_t trim_next_ms;  /* when memory is next given back (worker.c's trim()) */
    size_t trim_peak_conns; /* the most connections open at once since the last trim */
    bool listening;
    bool draining;
    uint64_t drain_deadline_ms;
    uint64_t accept_resume_ms; /* out of descriptors: accept again after this */
};

/* Prepares w (epoll, eventfds) for its thread; the caller filled the immutable fields. Returns 0
 * or -errno with a message in err. */
int worker_init(struct worker *w, char *err, size_t err_len);

/* Starts the thread. Returns 0 or -errno. */
int worker_start(struct worker *w);

/* Asks the worker to finish: drain (finish in-flight requests, at most cfg->drain_timeout_ms)
 * or, with now, to close everything at once. Any thread, async-signal-safe. */
void worker_stop(struct worker *w, bool now);

/* A reload: new requests on w start on rt from the next loop round on (w holds a reference; the
 * requests in flight keep theirs). Any thread. */
void worker_set_routing(struct worker *w, struct routing *rt);

/* Wakes w's loop (main() answered a POST /reload it serves). Any thread. */
void worker_wake(struct worker *w);

/* True once w starts new requests on a snapshot of generation at least gen. Any thread. */
bool worker_routing_at(const struct worker *w, uint64_t gen);

/* Waits for the thread, then releases everything w holds. */
void worker_join(struct worker *w);
void worker_fini(struct worker *w);

/* --- services for session.c (worker thread only) --------------------------------------------- */

/* Registers fd (edge-triggered, in and out) with ep as its data. Returns 0 or -errno. */
int worker_watch(struct worker *w, int fd, struct endpoint *ep);

/* Writes lb's end of the client connection fd (accepted on the HTTPS listener when tls) into
 * front (len bytes of room): the listener's own address when it is bound to one, which costs no
 * system call, else getsockname()'s answer; family AF_UNSPEC when that fails. */
void worker_client_front(struct worker *w, int fd, bool tls, struct sockaddr *front,
                         socklen_t len);

/* While the worker goes through a batch of events (more than one from epoll_wait()), writes to
 * clients wait for the end of the batch: a client with several answers in it is then woken once
 * for them, not once each (session.c tells what that measured). A session or relay with bytes for
 * its client asks first; queued says whether it is queued to run after this round already. True:
 * it should queue itself (if it is not) and write then; false: write now (no batch, or 32 writes
 * held already in this one). */
bool worker_hold_client_write(struct worker *w, bool queued);

/* The same for a write to a backend over a plain socket, with one more condition: the worker
 * makes its held writes with io_uring (sendbatch.h), so that holding it saves a system call. (Held
 * without io_uring a request only waits: measured, no better than written at once.) */
bool worker_hold_backend_write(struct worker *w, bool queued);

/* Writes a new random request id (32 hex digits, NUL-terminated) into id[33]. */
void worker_request_id(struct worker *w, char id[33]);

#endif
