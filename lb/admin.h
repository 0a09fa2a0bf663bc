/*
 * admin.h - lb's admin endpoint (--admin [ADDR:]PORT, off by default): a small HTTP service on a
 * listening socket of its own, served by worker 0's event loop like any other socket (it never
 * blocks a worker and takes no lock beyond what health.c takes for a change).
 *
 * What it answers today:
 *   POST /backends/NAME/drain     NAME takes no new requests; the ones in flight finish (DRAINING)
 *   POST /backends/NAME/enable    NAME is UP again, whatever took it out
 *   POST /backends/NAME/disable   NAME is DOWN until enabled (checks and trials do not end it)
 *   POST /reload                  read the -c file again, as SIGHUP does; the answer waits for
 *                                 the outcome: 200 {"reloaded": true, "generation": N, ...} or
 *                                 422 {"reloaded": false, "errors": "FILE:LINE:COL: ..."}
 * with 200 and {"backend": NAME, "state": ...}; 404 for an unknown backend or path, 405 (with
 * Allow: POST) for another method on those paths. Every change is the same line on standard
 * error, in the access log and in the statistics as any other change of health, with the reason
 * "admin". One request per connection: the answer ends with Connection: close.
 *
 * All functions run on the owning worker's thread.
 */
#ifndef LB_ADMIN_H
#define LB_ADMIN_H

#include <stdint.h>

#include "worker.h"

struct admin;

/* Serves the listening socket listen_fd (nonblocking, owned by main()) from w's event loop.
 * Returns NULL with errno set on failure. */
struct admin *admin_create(struct worker *w, int listen_fd);

/* Closes every admin connection and stops watching the listener. NULL is fine. */
void admin_destroy(struct admin *a);

/* epoll reported events on ep, the listener's or an admin connection's endpoint. */
void admin_event(struct admin *a, struct endpoint *ep, uint32_t events);

/* main() answered reload requests (w->reloads): the POST /reload connections waiting for them
 * get their answer. NULL is fine. */
void admin_reloads_done(struct admin *a);

/* Closes connections whose request did not come in time (5 s); timeout is what epoll_wait()
 * would wait, returned shortened to the next such deadline. NULL is fine. */
int admin_run_due(struct admin *a, uint64_t now_ms, int timeout);

#endif
