/*
 * simlog.h - backend-sim's request log: one JSON object per line, so labs and tests grade from
 * it with any JSON reader. A line looks like
 *   {"time":"2026-11-27T05:00:00.123Z","backend":"b1","local_addr":"127.0.0.1",
 *    "local_port":3001,"peer_addr":"127.0.0.1","peer_port":51234,"method":"GET",
 *    "path":"/whoami","request_id":"abc","x_forwarded_for":null,"status":200,"bytes":312,
 *    "conn_requests":1,"duration_ms":0.084}
 * time is when the request's head arrived (UTC, milliseconds); status 0 means no response was
 * sent (/hang, /reset, or the client went away); bytes counts response body bytes sent;
 * request_id and x_forwarded_for are null when the request had no such header. With
 * --accept-proxy, peer_addr and peer_port are the client named by the connection's PROXY header,
 * and two members follow peer_port: "proxy":"v1" (or "v2") and "proxy_from":"127.0.0.1:40122"
 * (the connection's own peer: the balancer); without it they are absent.
 *
 * Each event-loop thread formats lines into its own buffer and hands whole lines to the shared
 * writer, which serialises the write() calls with a mutex: lines never interleave.
 */
#ifndef LBLAB_SIMLOG_H
#define LBLAB_SIMLOG_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "simbuf.h"

struct simlog_entry {
    uint64_t time_ns; /* wall clock when the head arrived */
    const char *backend;
    const char *local_addr;
    uint16_t local_port;
    const char *peer_addr;
    uint16_t peer_port;
    const char *proxy;      /* "v1" or "v2": peer_* came from a PROXY header; NULL: no header */
    const char *proxy_from; /* with proxy: the connection's own peer ("ip:port"), the balancer */
    const char *method; /* NULL: the request line could not be parsed */
    size_t method_len;
    const char *path;
    size_t path_len;
    const char *request_id; /* NULL: absent */
    size_t request_id_len;
    const char *xff; /* NULL: absent */
    size_t xff_len;
    int status;
    uint64_t bytes;
    uint64_t conn_requests;
    uint64_t duration_us;
};

/* Appends one line (with its newline) to b. */
void simlog_format(struct simbuf *b, const struct simlog_entry *e);

/* The shared writer. fd is owned by the caller. */
struct simlog {
    int fd;
    pthread_mutex_t lock;
};

/* Returns 0 or -errno. */
int simlog_init(struct simlog *log, int fd);
void simlog_destroy(struct simlog *log);

/* Writes data[0..len) (whole lines) under the lock, looping on short writes. Returns 0 or -errno
 * (a failing log costs its lines, never the process). */
int simlog_write(struct simlog *log, const char *data, size_t len);

#endif
