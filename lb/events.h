/*
 * events.h - one function per observable event in lb's life.
 *
 * Every counter, log line or trace point about requests and connections hangs off these calls,
 * and each event is reported from one place in the code (lb/session.c for HTTP requests,
 * lb/relay.c for -m tcp connections, lb/dial.c for connects, lb/checker.c and lb/admin.c for
 * health), so statistics need one call in each function below and nothing else. All run on the
 * worker thread that saw the event; w->id says which.
 *
 * Request life, as seen through these calls: request_received (its head arrived; in -m tcp, the
 * connection was accepted), then for each backend tried either backend_connect_failed (and retry
 * with was_sent false) or backend_connected; request_sent (the request is now in flight at that
 * backend); possibly retry with was_sent true (it failed there before any answer: sent again on
 * a fresh connection or to another backend); timeout; finally exactly one request_done.
 */
#ifndef LB_EVENTS_H
#define LB_EVENTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "backend.h"
#include "health.h"
#include "request_record.h"

struct worker;

enum events_timeout {
    EVENTS_TIMEOUT_CLIENT_HEAD, /* request head incomplete --client-timeout after its first byte */
    EVENTS_TIMEOUT_CLIENT_IDLE, /* no request on a connection (keep-alive idle) */
    EVENTS_TIMEOUT_CLIENT_BODY, /* request body stalled for --client-timeout */
    EVENTS_TIMEOUT_CONNECT,     /* connecting to a backend */
    EVENTS_TIMEOUT_SERVER,      /* backend silent while a request was in flight (504 or cut) */
    EVENTS_TIMEOUT_TUNNEL,      /* upgraded connection idle */
};

/* The worker's event loop woke with events (> 0) and has handled them, the writes it held for
 * the end of the batch made (sendbatch.h counts how); its spliced transfers' totals go out
 * with them (pipebuf.h). */
void events_loop_round(struct worker *w, unsigned events);

/* A client connection was accepted / closed (requests: how many it carried). */
void events_client_opened(struct worker *w);
void events_client_closed(struct worker *w, uint64_t requests);

/* On the HTTPS listener: a client's TLS handshake completed with version (0x0303 TLS 1.2,
 * 0x0304 TLS 1.3), resumed or not, or, with version 0, its connection ended before the
 * handshake completed. */
void events_client_tls_handshake(struct worker *w, int version, bool resumed);

/* lb's TLS handshake with backend b failed; why is OpenSSL's reason (e.g. "certificate verify
 * failed: self-signed certificate"). One line on standard error, rate-limited like the other
 * warnings; the failed connect itself follows as events_backend_connect_failed with -EPROTO. */
void events_backend_tls_failed(struct worker *w, struct backend *b, const char *why);

/* A request's head arrived complete and parsed. */
void events_request_received(struct worker *w);

/* Connecting to backend b failed (err is -errno: -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH...).
 * Unless err is lb's own (EMFILE, ENFILE, ENOMEM, ENOBUFS), it is a failure of b's for passive
 * health (health.h); a change of b's state, if this report made one, is printed and published. */
void events_backend_connect_failed(struct worker *w, struct backend *b, int err);

/* A connection to b is ready for a request: a new one after connect_ns, or (reused) one taken
 * from the idle pool (connect_ns 0). */
void events_backend_connected(struct worker *w, struct backend *b, uint64_t connect_ns,
                              bool reused);

/* A connection to b that was established is closed (pool connections included). */
void events_backend_closed(struct worker *w, struct backend *b);

/* The current request is handed to backend b: it is in flight there now. */
void events_request_sent(struct worker *w, struct backend *b);

/* The request is tried again: was_sent false after a failed connect to from (on the next
 * backend), true when it reached from and failed there before any answer (sent again on a fresh
 * connection or another backend; the attempt at from ends here). The access log gets an
 * event=retry line with the request's id (id NULL in -m tcp) and why. */
void events_retry(struct worker *w, struct backend *from, bool was_sent, const char *why,
                  const char *id, size_t id_len);

/* A timeout fired; b is the backend concerned, or NULL. */
void events_timeout(struct worker *w, enum events_timeout kind, struct backend *b);

/* The client at client ("addr:port") took none of the response lb holds for it for timeout_ms
 * (--client-timeout): lb cuts the connection. Its fault, not the backend's: one line on standard
 * error (rate-limited), nothing against the backend's health. */
void events_client_stalled(struct worker *w, const char *client, uint32_t timeout_ms);

/* A backend broke a response after it started (closed or failed mid-body, bad chunking). */
void events_backend_broke(struct worker *w, struct backend *b, const char *why);

/* Backend b's health changed: the caller's report to h (health_report_*, health_admin) returned
 * true with chg. Prints one line on standard error, e.g. "lb: backend b2 DOWN (3 checks failed:
 * connect refused)", adds an event=health line to the access log, and publishes the state, the
 * time of the change and the reason. */
void events_backend_health(struct worker *w, struct health *h, struct backend *b,
                           const struct health_change *chg);

/* An active check of b finished, ok or not, and was reported to h; chg is the change that
 * report made, or NULL. Publishes the check counters (and the change as above). */
void events_health_check(struct worker *w, struct health *h, struct backend *b, bool ok,
                         const struct health_change *chg);

/* A request finished: answered, refused, or abandoned. r feeds both the access-log line and the
 * statistics. */
void events_request_done(struct worker *w, const struct request_record *r);

#endif
