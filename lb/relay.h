/*
 * relay.h - lb -m tcp: each client connection relayed whole to one backend (layer 4).
 *
 * What a layer-4 balancer does, and all it can do: pick a backend when a connection arrives
 * (the policy sees only the client's address), connect to it (the next backend when one
 * refuses or does not answer, before the client has seen anything), then copy bytes both ways
 * until each side has closed, without reading them. So six HTTP requests on one keep-alive
 * connection all go to the one backend that connection got, and nothing can be added to them
 * (no X-Forwarded-For): the lesson -m http is compared against.
 *
 * Bytes move with splice(2) through a pipe per direction, so they go from one socket to the
 * other inside the kernel without being copied to lb's memory; where splice cannot be used,
 * through a buffer (read and write). Memory per connection is bounded either way (a pipe's 64
 * KiB, or one buffer), and a side is read only while the other can take what was read
 * (backpressure). A side that ends its sending (FIN) has that passed on to the other once every
 * byte before it is through (half-close); a reset from the backend resets the client too.
 *
 * All functions run on the owning worker's thread.
 */
#ifndef LB_RELAY_H
#define LB_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "resolver.h"
#include "timer.h"
#include "worker.h"

struct relays;

/* One worker's set of relays (w->relays), created before its loop runs and destroyed after
 * every relay was closed and reaped. Returns NULL on ENOMEM. */
struct relays *relays_create(void);
void relays_destroy(struct relays *set);

/* How many relays are open; whether some used up their turn and want another. */
size_t relays_count(const struct relays *set);
bool relays_deferred(const struct relays *set);

/* Takes over an accepted, nonblocking client socket. Returns 0, or -errno (fd closed then). */
int relay_open(struct worker *w, int fd, const struct sockaddr *peer, socklen_t peer_len);

/* epoll reported events on a relay's client socket (ep is the relay's endpoint). */
void relay_client_event(struct endpoint *ep, uint32_t events);

/* The relay whose endpoint is ep had events on its backend connection (upstream_event() told). */
void relay_backend_ready(struct endpoint *ep);

/* The resolver answered a relay's question (--dns-ttl 0). */
void relay_resolved(struct worker *w, struct resolve_req *req);

/* A relay's timer expired (t->owner is the relay's endpoint). */
void relay_timer_expired(struct worker *w, struct timer *t);

/* Runs the relays that used up their turn in an earlier round, or whose bytes waited for the end
 * of the batch (worker_hold_client_write, worker_hold_backend_write): those bytes first, written
 * all together (sendbatch.h). */
void relay_run_deferred(struct worker *w);

/* Shutdown: force closes every relay now (a reset: the byte streams are cut); otherwise relays
 * still connecting are closed and the others may finish until the drain deadline. */
void relay_drain_all(struct worker *w, bool force);

/* Frees the relays closed during this loop round. */
void relay_reap(struct worker *w);

#endif
