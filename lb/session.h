/*
 * session.h - one client connection's life in lb: the HTTP/1.x proxy state machine.
 *
 * A session reads a request head, has it parsed (common/http.h) and rewritten (headers.h), asks
 * the policy for a backend, connects without blocking (or takes an idle pooled connection),
 * streams the request head and body to the backend and the response back, then waits for the
 * next request on the same connection. Requests are handled one at a time per connection, so
 * pipelined requests are answered in order: bytes of the next request simply wait in the buffer.
 *
 * Memory is bounded and held only while it is used: a request in flight takes its state (the
 * exchange) and a block for the head lb wrote from its worker's pools, and each direction's
 * buffer holds a block only while bytes wait in it (buffer.h); an idle keep-alive connection
 * holds none of them. A side is read only while its buffer has room and written only what the
 * other side produced, so a slow reader slows the writer (backpressure) instead of growing
 * memory, whatever the body size.
 *
 * All functions run on the owning worker's thread.
 */
#ifndef LB_SESSION_H
#define LB_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "resolver.h"
#include "timer.h"
#include "worker.h"

struct worker;
struct session;
struct sessions;

/* One worker's set of sessions (w->sessions), created before its loop runs and destroyed after
 * every session was closed and reaped. Returns NULL on ENOMEM. */
struct sessions *sessions_create(void);
void sessions_destroy(struct sessions *set);

/* How many sessions are open; whether some used up their turn and want another. */
size_t sessions_count(const struct sessions *set);
bool sessions_deferred(const struct sessions *set);

/* Frees the pooled request state that stayed unused since the last call (pool.h); the worker
 * calls it every second. Returns how many blocks were freed. */
size_t sessions_trim(struct sessions *set);

/* Takes over an accepted, nonblocking client socket; with tls, the client speaks TLS (the
 * handshake with w->tls_ctx comes first). Returns 0, or -errno (fd closed then). */
int session_open(struct worker *w, int fd, const struct sockaddr *peer, socklen_t peer_len,
                 bool tls);

/* epoll reported events on a session's client socket; or on its backend connection's socket,
 * which upstream_event() took in and then named this session (ep) as the owner to run. */
void session_client_event(struct endpoint *ep, uint32_t events);
void session_backend_ready(struct endpoint *ep);

/* The session's timer expired (the worker pops it off its heap). */
void session_timer_expired(struct worker *w, struct timer *t);

/* Runs the sessions that used up their turn in an earlier round, or whose writes waited for the
 * end of the batch (worker_hold_client_write, worker_hold_backend_write): those writes first, all
 * together (sendbatch.h). */
void session_run_deferred(struct worker *w);

/* An on-demand name resolution came back (the worker took it off its reply queue). */
void session_resolved(struct worker *w, struct resolve_req *req);

/* Shutdown: close idle connections now, let the others finish their current request and close.
 * force: close everything now. */
void session_drain_all(struct worker *w, bool force);

/* Frees sessions and backend connections closed during this loop round (their epoll events may
 * still have been pending in the same round). */
void session_reap(struct worker *w);

#endif
