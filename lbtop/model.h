/*
 * model.h - what lbtop shows, computed from successive snapshots: rates over a sliding window,
 * 60-sample sparkline histories, latency percentiles from the histograms, and the order of the
 * backend rows for a sort column. Pure: no terminal, no shared memory, no clock reads.
 *
 * Rates are averaged over the last LBTOP_WINDOW intervals (or since the last reset, when that is
 * shorter); with a single snapshot they are averages since lb started. Latency percentiles cover
 * lb's whole life until the user resets the window ('r'); after that, they cover what happened
 * since the reset (histograms subtract bucket by bucket).
 */
#ifndef LBTOP_MODEL_H
#define LBTOP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats_snapshot.h"

#define LBTOP_HISTORY 60 /* sparkline samples */
#define LBTOP_WINDOW 5   /* intervals averaged for rates */

struct lbtop_rates {
    double req_s;  /* requests per second (global: received; backend: sent to it) */
    double conn_s; /* connections per second (global: accepted; backend: opened) */
    double in_s;   /* request bytes per second */
    double out_s;  /* response bytes per second */
};

/* The counters rates are computed from, at one moment. */
struct lbtop_counts {
    uint64_t requests, conns, bytes_in, bytes_out;
};

/* What the workers' event loops did over the rate window: how much work one wake-up found, and
 * how many of the writes held for the end of a batch one system call made. */
struct lbtop_loop {
    double wakeups_s;         /* epoll_wait() wake-ups with events, per second */
    double events_per_wakeup; /* 0: no wake-up */
    double held_writes_s;     /* writes held to the end of a batch, per second */
    double writes_per_call;   /* held writes per io_uring_enter() or sendmsg(); 0: none */
    double uring_share;       /* of those calls, the share that were io_uring_enter() (0..1) */
};

/* What went through kernel pipes over the rate window (lb/pipebuf.h): large bodies and -m tcp
 * bulk flows that lb splices from socket to socket instead of copying through its buffers. */
struct lbtop_splice {
    double bytes_s;      /* bytes spliced per second */
    double share;        /* of the bytes lb moved (in and out), the share spliced (0..1) */
    double transfers_s;  /* transfers given a pipe, per second */
    double cached_share; /* of those pipes, the share a worker's cache lent (0..1) */
};

/* One worker's counters at one moment, and its rates over the window. */
struct lbtop_worker_counts {
    uint64_t requests, conns;
    struct stats_snapshot_loop loop;
};
struct lbtop_worker_rates {
    double req_s, conn_s;
    struct lbtop_loop loop;
};

struct lbtop_sample {
    uint64_t t_ns;
    struct stats_snapshot_loop loop; /* the workers' event loops, summed */
    struct stats_snapshot_splice splice;
    struct lbtop_counts global;
    struct lbtop_worker_counts worker[STATS_SNAPSHOT_WORKERS];
    struct lbtop_counts backend[STATS_MAX_BACKENDS];
};

struct lbtop_history {
    float v[LBTOP_HISTORY]; /* oldest first; n valid, at the end */
    unsigned n;
};

struct lbtop_model {
    struct stats_snapshot *cur;  /* the latest snapshot (valid when have_cur) */
    struct stats_snapshot *base; /* subtracted from histograms after a reset (when have_base) */
    bool have_cur, have_base;

    struct lbtop_sample window[LBTOP_WINDOW + 1]; /* ring of samples */
    unsigned window_n, window_next;

    struct lbtop_rates rate;                       /* global */
    struct lbtop_loop loop;                        /* the event loops, over the same window */
    struct lbtop_splice splice;                    /* spliced transfers, over the same window */
    struct lbtop_worker_rates worker_rate[STATS_SNAPSHOT_WORKERS]; /* each worker's */
    struct lbtop_rates backend_rate[STATS_MAX_BACKENDS];
    double rate_span_s;      /* seconds the rates average over */
    bool rates_since_start;  /* only one sample so far: averages since lb started */

    struct lbtop_history req_history;                   /* global requests/s */
    struct lbtop_history backend_req_history[STATS_MAX_BACKENDS];
    struct lbtop_history backend_conn_history[STATS_MAX_BACKENDS];

    uint64_t reset_mono_ns; /* when the window was last reset (0: never) */
};


/* Allocates the snapshots. Returns 0 or -ENOMEM. */
int lbtop_model_init(struct lbtop_model *m);
void lbtop_model_free(struct lbtop_model *m);

/* Forgets everything (lb restarted: its counters start again from zero). */
void lbtop_model_clear(struct lbtop_model *m);

/* Adds a snapshot: it becomes the current one, rates and histories move on. A snapshot whose
 * counters went backwards (another lb) clears the model first. */
void lbtop_model_push(struct lbtop_model *m, const struct stats_snapshot *snap);

/* 'r': rates, sparklines and percentiles start again from the current snapshot. */
void lbtop_model_reset(struct lbtop_model *m);


/* Percentiles of backend b's connect, ttfb or total histogram, honouring a reset. which: 0
 * connect, 1 first byte, 2 total. */
void lbtop_model_backend_percentiles(const struct lbtop_model *m, unsigned b, unsigned which,
                                     struct stats_percentiles *out);

/* Total-time percentiles over all backends (histograms merged), honouring a reset. */
void lbtop_model_total_percentiles(const struct lbtop_model *m, struct stats_percentiles *out);

/* Sort columns for the backend tables. */
enum lbtop_sort {
    LBTOP_SORT_INDEX,
    LBTOP_SORT_NAME,
    LBTOP_SORT_STATE,
    LBTOP_SORT_WEIGHT,
    LBTOP_SORT_ACTIVE,
    LBTOP_SORT_PEAK,
    LBTOP_SORT_INFLIGHT,
    LBTOP_SORT_CONNS,
    LBTOP_SORT_REQUESTS,
    LBTOP_SORT_REQ_RATE,
    LBTOP_SORT_CONN_RATE,
    LBTOP_SORT_BYTES_IN,
    LBTOP_SORT_BYTES_OUT,
    LBTOP_SORT_2XX,
    LBTOP_SORT_4XX,
    LBTOP_SORT_5XX,
    LBTOP_SORT_ERRORS,
    LBTOP_SORT_P50,
    LBTOP_SORT_P99,
    LBTOP_SORT_COUNT
};

/* The column's name as shown in the header, e.g. "REQS". */
const char *lbtop_sort_name(enum lbtop_sort key);

/* True when lb relays whole connections (-m tcp): there are no requests and no status codes,
 * and the views count connections, bytes and connection durations instead. */
bool lbtop_model_tcp(const struct lbtop_model *m);

/* True when key sorts something the mode has (tcp: no requests, in-flight or status classes). */
bool lbtop_sort_applies(enum lbtop_sort key, bool tcp);

/* Writes the backend indexes 0..nbackends-1 into order[] sorted by key: numbers descending,
 * INDEX, NAME and STATE ascending, ties by index. Returns the number of backends. */
size_t lbtop_model_order(const struct lbtop_model *m, enum lbtop_sort key,
                         unsigned order[STATS_MAX_BACKENDS]);

/* Errors seen at backend b: connect errors + timeouts + 5xx responses. */
uint64_t lbtop_backend_errors(const struct stats_snapshot_backend *b);


#endif
