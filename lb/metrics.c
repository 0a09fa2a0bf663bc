/*
 * metrics.c - the Prometheus text format of a statistics snapshot (see metrics.h).
 *
 * One family at a time: its HELP and TYPE lines, then one sample per series, so each family's
 * samples stay together as the format requires. The per-backend families that are one number of
 * struct stats_snapshot_backend come from a table (name, type, help, field), the rest are
 * written one by one.
 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "version.h"

#define PREFIX "lblab_"
#define HIST_TOP_EXP 25 /* the largest finite bound: 2^25 us (33.55 s) */

static const char *const class_names[STATS_STATUS_CLASSES] = {"none", "1xx", "2xx",
                                                              "3xx",  "4xx", "5xx"};

/* A label value with \, " and newline escaped: the runs between them written whole. */
static void label_value(FILE *out, const char *v)
{
    for (;;) {
        size_t run = strcspn(v, "\\\"\n");
        fwrite(v, 1, run, out);
        v += run;
        if (*v == '\0')
            return;
        fputs(*v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : "\\n", out);
        v++;
    }
}

/* The HELP and TYPE lines of a family (help texts here have no \ or newline to escape). */
static void family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP " PREFIX "%s %s\n# TYPE " PREFIX "%s %s\n", name, help, name, type);
}

/* A backend's labels, without braces: pool="P",backend="B". */
static void backend_labels(FILE *out, const struct stats_snapshot_backend *b)
{
    fputs("pool=\"", out);
    label_value(out, b->pool);
    fputs("\",backend=\"", out);
    label_value(out, b->name);
    fputc('"', out);
}

/* nanoseconds as seconds, exactly: "12.000345678" */
static void seconds(FILE *out, uint64_t ns)
{
    fprintf(out, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
}

/* ---- lb as a whole ------------------------------------------------------------------------- */

static void global_counter(FILE *out, const char *name, const char *type, const char *help,
                           uint64_t v)
{
    family(out, name, type, help);
    fprintf(out, PREFIX "%s %" PRIu64 "\n", name, v);
}

static void write_global(FILE *out, const struct stats_snapshot *s)
{
    family(out, "build_info", "gauge", "lb's version (the label); always 1");
    fputs(PREFIX "build_info{version=\"", out);
    label_value(out, s->lb_version[0] ? s->lb_version : LBLAB_VERSION);
    fputs("\"} 1\n", out);
    family(out, "start_time_seconds", "gauge", "When lb started, in seconds since the Unix epoch");
    fputs(PREFIX "start_time_seconds ", out);
    seconds(out, s->start_wall_ns);
    fputc('\n', out);
    global_counter(out, "client_connections_accepted_total", "counter",
                   "Client connections accepted", s->clients_accepted);
    global_counter(out, "client_connections_closed_total", "counter", "Client connections closed",
                   s->clients_closed);
    global_counter(out, "client_connections", "gauge", "Client connections open now",
                   s->clients_active);
    global_counter(out, "client_connections_peak", "gauge",
                   "The most client connections ever open at once", s->clients_peak);
    global_counter(out, "requests_total", "counter",
                   "Requests received (head complete); with -m tcp, connections to relay",
                   s->requests);
    global_counter(out, "requests_in_flight", "gauge", "Requests received and not finished",
                   s->inflight);
    family(out, "responses_total", "counter",
           "Requests finished, by status class sent to the client (none: no status, e.g. closed "
           "before a response, or relayed with -m tcp)");
    for (unsigned c = 0; c < STATS_STATUS_CLASSES; c++)
        fprintf(out, PREFIX "responses_total{class=\"%s\"} %" PRIu64 "\n", class_names[c],
                s->responses[c]);
    global_counter(out, "received_bytes_total", "counter",
                   "Request body bytes received from clients (client to backend with -m tcp)",
                   s->bytes_in);
    global_counter(
        out, "sent_bytes_total", "counter",
        "Response bytes, heads included, sent to clients (backend to client with -m tcp)",
        s->bytes_out);
    global_counter(out, "client_timeouts_total", "counter",
                   "Requests not complete within --client-timeout (408 or close)",
                   s->client_timeouts);
    global_counter(out, "bad_requests_total", "counter",
                   "Requests refused as malformed (400, 414, 431, 501)", s->bad_requests);
    global_counter(out, "no_backend_total", "counter",
                   "Requests answered 503 because no backend was available", s->no_backend);
    global_counter(out, "loop_wakeups_total", "counter",
                   "Times a worker's epoll_wait() returned events to handle", s->loop.wakeups);
    global_counter(out, "loop_events_total", "counter",
                   "Events those wake-ups returned (events per wake-up: how much one finds)",
                   s->loop.events);
    global_counter(out, "held_writes_total", "counter",
                   "Writes held to the end of a batch of events, then made together",
                   s->loop.held_writes);
    family(out, "held_write_calls_total", "counter",
           "System calls that made the held writes, by call (io_uring_enter makes many at once)");
    fprintf(out, PREFIX "held_write_calls_total{call=\"io_uring_enter\"} %" PRIu64 "\n",
            s->loop.uring_calls);
    fprintf(out, PREFIX "held_write_calls_total{call=\"sendmsg\"} %" PRIu64 "\n",
            s->loop.sendmsg_calls);
    global_counter(out, "spliced_bytes_total", "counter",
                   "Bytes moved from socket to socket through a kernel pipe (splice), not through "
                   "lb's buffers; also counted in received_bytes_total or sent_bytes_total",
                   s->splice.bytes);
    global_counter(out, "splice_transfers_total", "counter",
                   "Large bodies and -m tcp bulk flows given a pipe to splice through",
                   s->splice.transfers);
    global_counter(out, "splice_pipes_made_total", "counter",
                   "Of those pipes, the ones made new: the rest came from a worker's cache",
                   s->splice.pipes_made);
    if (!s->tls)
        return; /* no HTTPS listener: no handshakes to count */
    family(out, "tls_handshakes_total", "counter",
           "TLS handshakes completed on the HTTPS listener, by protocol version");
    fprintf(out, PREFIX "tls_handshakes_total{version=\"TLSv1.2\"} %" PRIu64 "\n", s->tls_v12);
    fprintf(out, PREFIX "tls_handshakes_total{version=\"TLSv1.3\"} %" PRIu64 "\n", s->tls_v13);
    global_counter(out, "tls_handshake_failures_total", "counter",
                   "Connections to the HTTPS listener closed before their handshake completed",
                   s->tls_handshake_failures);
    global_counter(out, "tls_sessions_resumed_total", "counter",
                   "TLS handshakes on the HTTPS listener that resumed an earlier session",
                   s->tls_resumed);
}

/* ---- per backend --------------------------------------------------------------------------- */

struct backend_number {
    const char *name, *type, *help;
    size_t offset; /* of a uint64_t in struct stats_snapshot_backend */
};

#define FIELD(f) offsetof(struct stats_snapshot_backend, f)

static const struct backend_number backend_numbers[] = {
    {"backend_connections", "gauge", "Connections to the backend open now", FIELD(active)},
    {"backend_connections_peak", "gauge", "The most connections to the backend open at once",
     FIELD(peak)},
    {"backend_connections_opened_total", "counter", "Connections to the backend established",
     FIELD(conns_opened)},
    {"backend_connections_closed_total", "counter", "Connections to the backend closed",
     FIELD(conns_closed)},
    {"backend_connection_reuses_total", "counter",
     "Requests sent on an already open (pooled) connection", FIELD(conns_reused)},
    {"backend_requests_total", "counter", "Requests sent to the backend", FIELD(requests)},
    {"backend_requests_in_flight", "gauge", "Requests sent to the backend and not finished",
     FIELD(inflight)},
    {"backend_connect_errors_total", "counter",
     "Connects to the backend that failed (refused, unreachable, timed out)",
     FIELD(connect_errors)},
    {"backend_timeouts_total", "counter", "Responses slower than --server-timeout",
     FIELD(timeouts)},
    {"backend_retries_total", "counter",
     "Requests moved to another attempt after failing at the backend", FIELD(retries)},
    {"backend_received_bytes_total", "counter",
     "Request body bytes of the backend's requests (client to backend)", FIELD(bytes_in)},
    {"backend_sent_bytes_total", "counter",
     "Response bytes of the backend's requests as sent to the client", FIELD(bytes_out)},
};

static uint32_t nbackends(const struct stats_snapshot *s)
{
    return s->nbackends < STATS_MAX_BACKENDS ? s->nbackends : STATS_MAX_BACKENDS;
}

/* One sample per backend: prefix name{pool,backend[,extra]} value. */
static void backend_sample(FILE *out, const char *name, const struct stats_snapshot_backend *b,
                           const char *extra, uint64_t v)
{
    fprintf(out, PREFIX "%s{", name);
    backend_labels(out, b);
    fprintf(out, "%s} %" PRIu64 "\n", extra, v);
}

static void write_backends(FILE *out, const struct stats_snapshot *s)
{
    static const struct {
        uint32_t state;
        const char *label;
    } states[] = {
        {STATS_BACKEND_UP, "up"}, {STATS_BACKEND_DOWN, "down"}, {STATS_BACKEND_DRAINING, "drain"}};
    uint32_t n = nbackends(s);
    char extra[64];

    if (n == 0)
        return; /* no family without samples */
    family(out, "backend_state", "gauge",
           "1 for the state lb believes the backend is in (up, down, drain: no new requests), "
           "0 for the others");
    for (uint32_t i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
            snprintf(extra, sizeof(extra), ",state=\"%s\"", states[k].label);
            backend_sample(out, "backend_state", &s->backends[i], extra,
                           s->backends[i].state == states[k].state);
        }
    family(out, "backend_state_change_time_seconds", "gauge",
           "When the backend's state last changed (lb's start until the first change), in "
           "seconds since the Unix epoch");
    for (uint32_t i = 0; i < n; i++) {
        fputs(PREFIX "backend_state_change_time_seconds{", out);
        backend_labels(out, &s->backends[i]);
        fputs("} ", out);
        seconds(out, s->backends[i].last_change_wall_ns);
        fputc('\n', out);
    }
    family(out, "backend_weight", "gauge", "The backend's weight (-b ...,weight=N)");
    for (uint32_t i = 0; i < n; i++)
        backend_sample(out, "backend_weight", &s->backends[i], "", s->backends[i].weight);
    family(out, "backend_health_checks_total", "counter",
           "Active health checks of the backend (--health-path), by result: passed or failed");
    for (uint32_t i = 0; i < n; i++) {
        const struct stats_snapshot_backend *b = &s->backends[i];
        uint64_t failed = b->checks_failed < b->checks_total ? b->checks_failed : b->checks_total;
        backend_sample(out, "backend_health_checks_total", b, ",result=\"passed\"",
                       b->checks_total - failed);
        backend_sample(out, "backend_health_checks_total", b, ",result=\"failed\"", failed);
    }
    for (size_t f = 0; f < sizeof(backend_numbers) / sizeof(backend_numbers[0]); f++) {
        const struct backend_number *bn = &backend_numbers[f];
        family(out, bn->name, bn->type, bn->help);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t v;
            memcpy(&v, (const char *)&s->backends[i] + bn->offset, sizeof(v));
            backend_sample(out, bn->name, &s->backends[i], "", v);
        }
    }
    family(out, "backend_responses_total", "counter",
           "The backend's requests finished, by status class sent to the client");
    for (uint32_t i = 0; i < n; i++)
        for (unsigned c = 0; c < STATS_STATUS_CLASSES; c++) {
            snprintf(extra, sizeof(extra), ",class=\"%s\"", class_names[c]);
            backend_sample(out, "backend_responses_total", &s->backends[i], extra,
                           s->backends[i].responses[c]);
        }
}

/* ---- histograms ---------------------------------------------------------------------------- */

/* The series of one histogram; labels: the pool's or a backend's, written by the caller's
 * function into each line. */
struct series {
    const char *pool;                             /* a pool's series: its name ... */
    const struct stats_snapshot_backend *backend; /* ... or a backend's */
};

static void series_labels(FILE *out, const struct series *se)
{
    if (se->backend != NULL) {
        backend_labels(out, se->backend);
    } else {
        fputs("pool=\"", out);
        label_value(out, se->pool);
        fputc('"', out);
    }
}

/* One histogram series: 27 buckets, _sum and _count. Its labels are escaped once, into
 * memory, and copied into each of its 29 lines. */
static void histogram(FILE *out, const char *name, const struct series *se,
                      const struct stats_snapshot_hist *h)
{
    char labels[512];
    size_t labels_len = 0;
    FILE *lf = fmemopen(labels, sizeof(labels), "w");
    uint64_t cum = 0;
    unsigned k = 0;

    if (lf != NULL) {
        series_labels(lf, se);
        labels_len = (size_t)ftell(lf);
        if (fclose(lf) != 0 || labels_len >= sizeof(labels))
            labels_len = 0; /* cannot happen: names and pools are short; then no labels */
    }
    labels[labels_len] = '\0';
    for (unsigned b = 0; b < STATS_HIST_BUCKETS; b++) {
        cum += h->buckets[b];
        if (k <= HIST_TOP_EXP && stats_hist_bucket_high(b) == UINT64_C(1) << k) {
            uint64_t us = UINT64_C(1) << k;
            fprintf(out, PREFIX "%s_bucket{%s,le=\"%" PRIu64 ".%06" PRIu64 "\"} %" PRIu64 "\n",
                    name, labels, us / 1000000u, us % 1000000u, cum);
            k++;
        }
    }
    /* cum now counts every bucket: the count is their sum, so +Inf and _count always agree */
    fprintf(out, PREFIX "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n" PREFIX "%s_sum{%s} ", name,
            labels, cum, name, labels);
    seconds(out, h->sum_ns);
    fprintf(out, "\n" PREFIX "%s_count{%s} %" PRIu64 "\n", name, labels, cum);
}

static const struct {
    const char *suffix, *help;
    unsigned which; /* 0 connect, 1 first byte, 2 total */
} latencies[] = {
    {"connect_duration_seconds", "Time to establish a new connection to the backend", 0},
    {"first_byte_duration_seconds", "Time from a request sent to the first byte of its response",
     1},
    {"request_duration_seconds",
     "Time from a request's first byte to its response's last (with -m tcp, a whole relayed "
     "connection)",
     2},
};

static const struct stats_snapshot_hist *pick(const struct stats_snapshot_backend *b, unsigned w)
{
    return w == 0 ? &b->connect : w == 1 ? &b->ttfb : &b->total;
}

/* The pools of s in order of first appearance; returns how many (pool names point into s). */
static uint32_t pools_of(const struct stats_snapshot *s, const char *pools[STATS_MAX_BACKENDS])
{
    uint32_t np = 0;
    for (uint32_t i = 0; i < nbackends(s); i++) {
        bool seen = false;
        for (uint32_t p = 0; p < np && !seen; p++)
            seen = strcmp(pools[p], s->backends[i].pool) == 0;
        if (!seen)
            pools[np++] = s->backends[i].pool;
    }
    return np;
}

static int write_histograms(FILE *out, const struct stats_snapshot *s)
{
    const char *pools[STATS_MAX_BACKENDS];
    uint32_t np = pools_of(s, pools);
    struct stats_snapshot_hist *merged;
    char name[96], help[200];

    if (nbackends(s) == 0)
        return 0;
    merged = malloc(sizeof(*merged));
    if (merged == NULL)
        return -ENOMEM;
    for (size_t l = 0; l < sizeof(latencies) / sizeof(latencies[0]); l++) {
        snprintf(name, sizeof(name), "backend_%s", latencies[l].suffix);
        family(out, name, "histogram", latencies[l].help);
        for (uint32_t i = 0; i < nbackends(s); i++) {
            struct series se = {.backend = &s->backends[i]};
            histogram(out, name, &se, pick(&s->backends[i], latencies[l].which));
        }
    }
    for (size_t l = 0; l < sizeof(latencies) / sizeof(latencies[0]); l++) {
        snprintf(name, sizeof(name), "pool_%s", latencies[l].suffix);
        snprintf(help, sizeof(help), "%s, over all the backends of the pool", latencies[l].help);
        family(out, name, "histogram", help);
        for (uint32_t p = 0; p < np; p++) {
            struct series se = {.pool = pools[p]};
            memset(merged, 0, sizeof(*merged));
            for (uint32_t i = 0; i < nbackends(s); i++)
                if (strcmp(s->backends[i].pool, pools[p]) == 0)
                    stats_hist_merge(merged, pick(&s->backends[i], latencies[l].which));
            histogram(out, name, &se, merged);
        }
    }
    free(merged);
    return 0;
}

int metrics_write(FILE *out, const struct stats_snapshot *s)
{
    write_global(out, s);
    write_backends(out, s);
    if (write_histograms(out, s) != 0)
        return -ENOMEM;
    fflush(out);
    return ferror(out) ? -EIO : 0;
}
