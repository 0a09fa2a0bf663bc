/*
 * access_log.h - one line per request, `key=value` fields:
 *
 *   time=2026-11-27T05:12:01.123Z client=127.0.0.1:40000 backend=b1
 *   backend_addr=127.0.0.1:3001 id=5f0c... method=GET path="/index.html" status=200
 *   req_bytes=0 bytes=1234 connect_ms=0.120 first_byte_ms=0.480 total_ms=0.610
 *
 * (one line in the file), from the request's struct request_record (request_record.h): time is
 * when it finished, backend the backend's display name (the one lbtop and lbtrace show) and
 * backend_addr the address lb connected to, connect_ms 0.000 for a reused connection,
 * first_byte_ms counts from the request's first byte. A request lb cut short for a timeout ends
 * with end=client_timeout (the client stopped reading) or end=server_timeout (the backend went
 * silent mid-response). A value lb does not have is "-". The path
 * is quoted, with '"', '\' and bytes outside printable ASCII written as \xHH, and cut at 1024
 * bytes. A change of a backend's health is a line of its own, with event=health
 * (access_log_format_health()).
 *
 * Each worker formats lines into its own struct access_log_buf and writes whole lines with one
 * write() of at most ACCESS_LOG_BUF bytes (PIPE_BUF), at the end of each event-loop round or when
 * the buffer fills: the file is opened O_APPEND, so lines from different workers never
 * interleave, and no lock is taken.
 */
#ifndef LB_ACCESS_LOG_H
#define LB_ACCESS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "request_record.h"

#define ACCESS_LOG_BUF 4096
#define ACCESS_LOG_MAX_PATH 1024

struct access_log {
    /* immutable after start-up */
    int fd; /* -1: logging off */
    bool owned;
};

struct access_log_buf {
    size_t len;
    char data[ACCESS_LOG_BUF];
};

/* Opens the log: path NULL or "" is off, "-" is standard output, anything else a file created
 * or appended to. Returns 0, or -errno with a message in err. */
int access_log_open(struct access_log *log, const char *path, char *err, size_t err_len);
void access_log_close(struct access_log *log);

bool access_log_enabled(const struct access_log *log);

/* Formats one line, newline included, into out. Returns its length (cut to fit cap). */
size_t access_log_format(char *out, size_t cap, const struct request_record *r);

/* Adds r's line to buf, flushing buf first if the line does not fit. */
void access_log_append(const struct access_log *log, struct access_log_buf *buf,
                       const struct request_record *r);

/* Formats one line about a change of a backend's health, newline included, e.g.
 *   time=2026-11-27T05:12:01.123Z event=health backend=b2 state=DOWN reason="3 checks failed:
 *   connect refused"
 * (one line; the reason quoted like a path, but with its spaces kept). Returns its length. */
size_t access_log_format_health(char *out, size_t cap, uint64_t wall_ns, const char *backend,
                                const char *state, const char *reason);

/* Adds such a line to buf, like access_log_append(). */
void access_log_append_health(const struct access_log *log, struct access_log_buf *buf,
                              uint64_t wall_ns, const char *backend, const char *state,
                              const char *reason);

/* Formats one line about an attempt that failed and was made again (on another backend, or on a
 * fresh connection), newline included, e.g.
 *   time=2026-11-27T05:12:01.123Z event=retry id=5f0c... backend=b1 sent=no why="connect failed"
 * id is the request's (the same as on its own line; NULL: "-", as in -m tcp); sent tells whether
 * the request had reached the backend. Returns its length. */
size_t access_log_format_retry(char *out, size_t cap, uint64_t wall_ns, const char *id,
                               size_t id_len, const char *backend, bool sent, const char *why);

/* Adds such a line to buf, like access_log_append(). */
void access_log_append_retry(const struct access_log *log, struct access_log_buf *buf,
                             uint64_t wall_ns, const char *id, size_t id_len, const char *backend,
                             bool sent, const char *why);

/* Writes out what buf holds. Returns 0 or -errno (the lines are dropped then). */
int access_log_flush(const struct access_log *log, struct access_log_buf *buf);

#endif
