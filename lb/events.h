/*
 * events.h - one function per observable event in lb's life.
 *
 * Every counter, log line or trace point about requests and connections hangs off these calls,
 * and each event is reported from exactly one place in the code, so statistics (issue 4) need one
 * call in each function below and nothing else. All run on the worker thread that saw the event.
 */
#ifndef LB_EVENTS_H
#define LB_EVENTS_H

#include <stdbool.h>

#include "access_log.h"
#include "backend.h"

struct worker;

enum events_timeout {
    EVENTS_TIMEOUT_CLIENT_HEAD, /* request head incomplete --client-timeout after its first byte */
    EVENTS_TIMEOUT_CLIENT_IDLE, /* keep-alive connection idle */
    EVENTS_TIMEOUT_CONNECT,     /* connecting to a backend */
    EVENTS_TIMEOUT_SERVER,      /* backend silent while a request was in flight */
    EVENTS_TIMEOUT_TUNNEL,      /* upgraded connection idle */
};

/* A client connection was accepted / closed. */
void events_client_opened(struct worker *w);
void events_client_closed(struct worker *w);

/* A request finished (answered, refused, or abandoned): r is its access-log record. */
void events_request_done(struct worker *w, const struct access_record *r);

/* Connecting to backend b failed (err is -errno: -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH...). */
void events_backend_connect_failed(struct worker *w, struct backend *b, int err);

/* A new connection to b was established; reused: an idle pooled one was taken instead. */
void events_backend_connected(struct worker *w, struct backend *b, bool reused);

/* A request is tried again: on the next backend after a failed connect, or on a fresh
 * connection after a reused one broke before answering. */
void events_retry(struct worker *w, struct backend *from, const char *why);

/* A timeout fired. */
void events_timeout(struct worker *w, enum events_timeout kind);

/* A backend response was truncated (backend closed or failed mid-body). */
void events_backend_broke(struct worker *w, struct backend *b, const char *why);

#endif
