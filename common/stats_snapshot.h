/*
 * stats_snapshot.h - one reading of lb's statistics segment, summed over worker blocks, copied
 * out of shared memory into plain numbers and sanitised strings, and the percentiles of its
 * histograms.
 *
 * Design: lbtop reads the segment once per refresh into this structure and everything after
 * that (rates, percentiles, drawing, JSON) works on the copy, so the model and the views are
 * pure functions that unit tests feed with hand-made snapshots, and nothing downstream ever
 * touches memory another process can change under it. lb's admin endpoint reads its own
 * statistics through the same copy (GET /stats and GET /metrics), so what it answers and what
 * lbtop shows are the same sums of the same counters.
 */
#ifndef LBLAB_STATS_SNAPSHOT_H
#define LBLAB_STATS_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats.h"
#include "stats_shm.h"

/* Ring entries copied per snapshot (newest first). */
#define STATS_SNAPSHOT_RECENT 256
/* Worker blocks copied one by one (the totals sum them all, however many there are). */
#define STATS_SNAPSHOT_WORKERS 64

struct stats_snapshot_hist {
    uint64_t count;
    uint64_t sum_ns;
    uint64_t max_ns;
    uint64_t buckets[STATS_HIST_BUCKETS];
};

struct stats_snapshot_backend {
    char name[STATS_TEXT_LEN];
    char host[STATS_HOST_LEN];
    char pool[STATS_POOL_LEN]; /* "" from an lb that publishes none */
    uint16_t port;
    uint32_t state; /* STATS_BACKEND_*, anything else shown as unknown */
    uint32_t weight;
    uint64_t last_change_wall_ns;
    char reason[STATS_REASON_LEN];     /* why the state last changed, "" if it never did */
    uint64_t checks_total, checks_failed; /* active health checks (with lbtop_snapshot.checks) */
    uint64_t active, peak;             /* backend connections */
    struct stats_addr resolved;
    /* summed over workers */
    uint64_t conns_opened, conns_closed, conns_reused;
    uint64_t requests, requests_done, inflight;
    uint64_t responses[STATS_STATUS_CLASSES];
    uint64_t resp_502, resp_503, resp_504;
    uint64_t connect_errors, timeouts, retries;
    uint64_t bytes_in, bytes_out;
    struct stats_snapshot_hist connect, ttfb, total;
};

/* A worker's event loop (stats.h's loop_* and held_* counters), or all workers' summed:
 * epoll_wait() wake-ups with events and the events they returned, the writes held to the end of
 * a batch and the io_uring_enter() and sendmsg() calls that made them. */
struct stats_snapshot_loop {
    uint64_t wakeups, events;
    uint64_t held_writes, uring_calls, sendmsg_calls;
};

/* Spliced transfers (stats.h's spliced_bytes, splice_transfers, splice_pipes_made), summed over
 * workers: bytes moved socket to socket through kernel pipes, the transfers that took a pipe,
 * and how many of those pipes were made new rather than taken from a worker's cache. */
struct stats_snapshot_splice {
    uint64_t bytes, transfers, pipes_made;
};

/* One worker's own counters (its block of the segment). */
struct stats_snapshot_worker {
    uint64_t clients_accepted, clients_closed; /* open now: the difference */
    uint64_t requests, bytes_in, bytes_out;
    struct stats_snapshot_loop loop;
};

struct stats_snapshot {
    uint64_t taken_mono_ns, taken_wall_ns;
    /* from the header */
    int32_t pid;
    uint32_t mode;
    uint32_t nworkers, nbackends;
    uint64_t start_wall_ns, start_mono_ns, heartbeat_mono_ns;
    uint16_t listen_port;
    char listen_text[STATS_TEXT_LEN];
    struct stats_addr admin_addr;      /* lb's admin endpoint; family 0: none */
    char policy[32];
    char lb_version[16];
    char shm_name[STATS_SHM_NAME_MAX];
    bool checks;                       /* lb runs active health checks (STATS_FEATURE_CHECKS) */
    bool tls;                          /* lb has an HTTPS listener (STATS_FEATURE_TLS) */
    bool splice_on;                    /* lb may splice large bodies (STATS_FEATURE_SPLICE) */
    char tls_listen_text[STATS_TEXT_LEN];
    uint64_t clients_active, clients_peak;
    /* summed over workers */
    uint64_t clients_accepted, clients_closed, clients_closed_requests;
    uint64_t requests, inflight;
    uint64_t responses[STATS_STATUS_CLASSES];
    uint64_t bytes_in, bytes_out;
    uint64_t client_timeouts, bad_requests, no_backend;
    uint64_t tls_handshakes, tls_handshake_failures, tls_v12, tls_v13; /* the HTTPS listener */
    uint64_t tls_resumed;
    struct stats_snapshot_loop loop; /* the workers' event loops */
    struct stats_snapshot_splice splice;
    struct stats_snapshot_backend backends[STATS_MAX_BACKENDS];
    /* the first min(nworkers, STATS_SNAPSHOT_WORKERS) workers, each on its own */
    struct stats_snapshot_worker workers[STATS_SNAPSHOT_WORKERS];
    /* the ring */
    uint64_t ring_head;
    size_t nrecent;
    struct stats_ring_entry recent[STATS_SNAPSHOT_RECENT];
};

/* Reads shm (attached with stats_shm_attach) into *out at the given clock readings. Counts are
 * taken as found; indexes and strings are bounded. */
void stats_snapshot_take(const struct stats_shm *shm, struct stats_snapshot *out,
                         uint64_t now_mono_ns, uint64_t now_wall_ns);

/* Writes into out[len] the name a backend is shown by: name itself, or for the k-th backend
 * (k >= 2) of a name several backends share (the same host:port given twice) "name#k", so that
 * every backend has a name of its own in lbtop, lb's /stats and /metrics, and its admin paths.
 * stats_snapshot_take() names the backends of a snapshot this way. Returns out. */
char *stats_unique_name(char *out, size_t len, const char *name, unsigned k);

/* Responses summed over all classes. */
uint64_t stats_responses_total(const uint64_t responses[STATS_STATUS_CLASSES]);

/* "UP", "DOWN", "DRAIN" or "?". */
const char *stats_state_name(uint32_t state);

/* "http", "tcp" or "?". */
const char *stats_mode_name(uint32_t mode);

/* Percentiles of one histogram, in milliseconds. */
struct stats_percentiles {
    uint64_t count;
    double p50_ms, p90_ms, p99_ms, max_ms, mean_ms;
};

/* The value in microseconds below which a fraction p (0..1) of the recorded values fall,
 * reading h minus base (base may be NULL). Values are reported as the top of their bucket,
 * never above the largest value seen. 0 when empty. */
uint64_t stats_hist_quantile_us(const struct stats_snapshot_hist *h,
                                const struct stats_snapshot_hist *base, double p);

/* p50, p90, p99, max and mean of h minus base (base may be NULL). */
void stats_hist_percentiles(const struct stats_snapshot_hist *h,
                            const struct stats_snapshot_hist *base, struct stats_percentiles *out);

/* Adds src to dst bucket by bucket (count, sum and buckets add, max is the larger). */
void stats_hist_merge(struct stats_snapshot_hist *dst, const struct stats_snapshot_hist *src);

/* Requests per client connection: over closed connections when there are any, else requests per
 * accepted connection; 0 when nothing happened. */
double stats_requests_per_conn(const struct stats_snapshot *s);

#endif
