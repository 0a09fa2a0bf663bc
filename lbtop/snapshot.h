/*
 * snapshot.h - one reading of lb's statistics segment, summed over worker blocks, copied out of
 * shared memory into plain numbers and sanitised strings.
 *
 * Design: lbtop reads the segment once per refresh into this structure and everything after
 * that (rates, percentiles, drawing, JSON) works on the copy, so the model and the views are
 * pure functions that unit tests feed with hand-made snapshots, and nothing downstream ever
 * touches memory another process can change under it.
 */
#ifndef LBTOP_SNAPSHOT_H
#define LBTOP_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats.h"
#include "stats_shm.h"

/* Ring entries copied per snapshot (newest first). */
#define LBTOP_RECENT_MAX 256

struct lbtop_hist {
    uint64_t count;
    uint64_t sum_ns;
    uint64_t max_ns;
    uint64_t buckets[STATS_HIST_BUCKETS];
};

struct lbtop_backend_snap {
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
    struct lbtop_hist connect, ttfb, total;
};

struct lbtop_snapshot {
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
    char tls_listen_text[STATS_TEXT_LEN];
    uint64_t clients_active, clients_peak;
    /* summed over workers */
    uint64_t clients_accepted, clients_closed, clients_closed_requests;
    uint64_t requests, inflight;
    uint64_t responses[STATS_STATUS_CLASSES];
    uint64_t bytes_in, bytes_out;
    uint64_t client_timeouts, bad_requests, no_backend;
    uint64_t tls_handshakes, tls_handshake_failures, tls_v12, tls_v13; /* the HTTPS listener */
    struct lbtop_backend_snap backends[STATS_MAX_BACKENDS];
    /* the ring */
    uint64_t ring_head;
    size_t nrecent;
    struct stats_ring_entry recent[LBTOP_RECENT_MAX];
};

/* Reads shm (attached with stats_shm_attach) into *out at the given clock readings. Counts are
 * taken as found; indexes and strings are bounded. */
void lbtop_snapshot_take(const struct stats_shm *shm, struct lbtop_snapshot *out,
                         uint64_t now_mono_ns, uint64_t now_wall_ns);

/* Responses summed over all classes. */
uint64_t lbtop_responses_total(const uint64_t responses[STATS_STATUS_CLASSES]);

/* "UP", "DOWN", "DRAIN" or "?". */
const char *lbtop_state_name(uint32_t state);

/* "http", "tcp" or "?". */
const char *lbtop_mode_name(uint32_t mode);

#endif
