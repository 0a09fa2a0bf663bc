/*
 * stats_json.c - the JSON document of one statistics snapshot (see stats_json.h): the keys are
 * listed in docs/man/lbtop.1; lb's GET /stats writes the same document without rates.
 */
#include "stats_json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "version.h"

/* Writes lead as it is (the punctuation and key before the value), then v: whole numbers
 * without a fraction, others with three decimals, NaN and infinities as 0 (JSON has none). */
static void json_num(FILE *out, const char *lead, double v)
{
    fputs(lead, out);
    if (!isfinite(v))
        v = 0;
    if (v == floor(v) && fabs(v) < 1e15)
        fprintf(out, "%.0f", v);
    else
        fprintf(out, "%.3f", v);
}

/* Writes lead, then the address as a string, or null for none. */
static void json_addr(FILE *out, const char *lead, const struct stats_addr *a)
{
    char buf[64];

    fputs(lead, out);
    if (a->family == 0)
        fputs("null", out);
    else
        json_write_string(out, stats_addr_format(a, buf, sizeof(buf)));
}

static void json_pct(FILE *out, const char *indent, const char *key,
                     const struct stats_percentiles *p, bool last)
{
    fprintf(out, "%s\"%s\": {\"count\": %llu", indent, key, (unsigned long long)p->count);
    json_num(out, ", \"mean\": ", p->mean_ms);
    json_num(out, ", \"p50\": ", p->p50_ms);
    json_num(out, ", \"p90\": ", p->p90_ms);
    json_num(out, ", \"p99\": ", p->p99_ms);
    json_num(out, ", \"max\": ", p->max_ms);
    fprintf(out, "}%s\n", last ? "" : ",");
}

static void json_responses(FILE *out, const uint64_t r[STATS_STATUS_CLASSES])
{
    fprintf(out,
            "{\"none\": %llu, \"1xx\": %llu, \"2xx\": %llu, \"3xx\": %llu, \"4xx\": %llu, "
            "\"5xx\": %llu}",
            (unsigned long long)r[0], (unsigned long long)r[1], (unsigned long long)r[2],
            (unsigned long long)r[3], (unsigned long long)r[4], (unsigned long long)r[5]);
}

/* Rates; tcp (lb -m tcp) has no requests. */
static void json_rates(FILE *out, const struct stats_json_rates *r, bool tcp)
{
    if (tcp) {
        json_num(out, "{\"connections_per_s\": ", r->conn_s);
    } else {
        json_num(out, "{\"requests_per_s\": ", r->req_s);
        json_num(out, ", \"connections_per_s\": ", r->conn_s);
    }
    json_num(out, ", \"bytes_in_per_s\": ", r->in_s);
    json_num(out, ", \"bytes_out_per_s\": ", r->out_s);
    fputs("}", out);
}

/* Percentiles of backend b's connect (which 0), first-byte (1) or total (2) histogram since
 * d->base (NULL: lb's start). */
static void backend_percentiles(const struct stats_json_doc *d, unsigned b, unsigned which,
                                struct stats_percentiles *out)
{
    const struct stats_snapshot_backend *c = &d->cur->backends[b];
    const struct stats_snapshot_backend *o = d->base ? &d->base->backends[b] : NULL;
    const struct stats_snapshot_hist *h =
        which == 0 ? &c->connect : which == 1 ? &c->ttfb : &c->total;
    const struct stats_snapshot_hist *base =
        o == NULL ? NULL : which == 0 ? &o->connect : which == 1 ? &o->ttfb : &o->total;
    stats_hist_percentiles(h, base, out);
}

/* Total-time percentiles over all backends (histograms merged) since d->base. */
static void total_percentiles(const struct stats_json_doc *d, struct stats_percentiles *out)
{
    static const struct stats_snapshot_hist zero;
    struct stats_snapshot_hist *cur = malloc(sizeof(*cur)), *base = malloc(sizeof(*base));

    memset(out, 0, sizeof(*out));
    if (cur != NULL && base != NULL) {
        *cur = zero;
        *base = zero;
        for (uint32_t b = 0; b < d->cur->nbackends && b < STATS_MAX_BACKENDS; b++) {
            stats_hist_merge(cur, &d->cur->backends[b].total);
            if (d->base != NULL)
                stats_hist_merge(base, &d->base->backends[b].total);
        }
        stats_hist_percentiles(cur, d->base ? base : NULL, out);
    }
    free(cur);
    free(base);
}

/* The rest of a backend's object when lb relays whole connections: connections, bytes each way
 * and their durations; no requests, responses or first byte. */
static void json_backend_tcp(FILE *out, const struct stats_json_doc *d, unsigned b, bool last)
{
    const struct stats_snapshot_backend *s = &d->cur->backends[b];
    struct stats_percentiles p;

    fprintf(out,
            ",\n      \"weight\": %u,\n"
            "      \"connections\": {\"active\": %llu, \"peak\": %llu, \"opened\": %llu, "
            "\"closed\": %llu, \"relayed\": %llu},\n"
            "      \"connect_errors\": %llu,\n      \"timeouts\": %llu,\n      \"retries\": %llu,\n"
            "      \"bytes_in\": %llu,\n      \"bytes_out\": %llu",
            s->weight, (unsigned long long)s->active, (unsigned long long)s->peak,
            (unsigned long long)s->conns_opened, (unsigned long long)s->conns_closed,
            (unsigned long long)s->responses[0], (unsigned long long)s->connect_errors,
            (unsigned long long)s->timeouts, (unsigned long long)s->retries,
            (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out);
    if (d->with_rates) {
        fputs(",\n      \"rates\": ", out);
        json_rates(out, &d->backend_rate[b], true);
    }
    fputs(",\n      \"latency_ms\": {\n", out);
    backend_percentiles(d, b, 0, &p);
    json_pct(out, "        ", "connect", &p, false);
    backend_percentiles(d, b, 2, &p);
    json_pct(out, "        ", "duration", &p, true);
    fprintf(out, "      }\n    }%s\n", last ? "" : ",");
}

static void json_backend(FILE *out, const struct stats_json_doc *d, unsigned b, bool last)
{
    const struct stats_snapshot_backend *s = &d->cur->backends[b];
    struct stats_percentiles p;
    bool tcp = d->cur->mode == STATS_MODE_TCP;

    fprintf(out, "    {\n      \"index\": %u", b);
    json_write_member(out, ",\n      \"name\": ", s->name);
    json_write_member(out, ",\n      \"host\": ", s->host);
    fprintf(out, ",\n      \"port\": %u", (unsigned)s->port);
    json_addr(out, ",\n      \"address\": ", &s->resolved);
    json_write_member(out, ",\n      \"state\": ", stats_state_name(s->state));
    json_num(out, ",\n      \"last_change\": ", (double)s->last_change_wall_ns / 1e9);
    json_write_member(out, ",\n      \"reason\": ", s->reason);
    json_write_member(out, ",\n      \"pool\": ", s->pool);
    if (d->cur->checks)
        fprintf(out, ",\n      \"checks\": {\"total\": %llu, \"failed\": %llu}",
                (unsigned long long)s->checks_total, (unsigned long long)s->checks_failed);
    if (tcp) {
        json_backend_tcp(out, d, b, last);
        return;
    }
    fprintf(out,
            ",\n      \"weight\": %u,\n"
            "      \"connections\": {\"active\": %llu, \"peak\": %llu, \"opened\": %llu, "
            "\"closed\": %llu, \"reused\": %llu},\n"
            "      \"requests\": %llu,\n      \"requests_done\": %llu,\n"
            "      \"in_flight\": %llu,\n      \"responses\": ",
            s->weight, (unsigned long long)s->active, (unsigned long long)s->peak,
            (unsigned long long)s->conns_opened, (unsigned long long)s->conns_closed,
            (unsigned long long)s->conns_reused, (unsigned long long)s->requests,
            (unsigned long long)s->requests_done, (unsigned long long)s->inflight);
    json_responses(out, s->responses);
    fprintf(out,
            ",\n      \"502\": %llu,\n      \"503\": %llu,\n      \"504\": %llu,\n"
            "      \"connect_errors\": %llu,\n      \"timeouts\": %llu,\n      \"retries\": %llu,\n"
            "      \"bytes_in\": %llu,\n      \"bytes_out\": %llu",
            (unsigned long long)s->resp_502, (unsigned long long)s->resp_503,
            (unsigned long long)s->resp_504, (unsigned long long)s->connect_errors,
            (unsigned long long)s->timeouts, (unsigned long long)s->retries,
            (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out);
    if (d->with_rates) {
        fputs(",\n      \"rates\": ", out);
        json_rates(out, &d->backend_rate[b], false);
    }
    fputs(",\n      \"latency_ms\": {\n", out);
    backend_percentiles(d, b, 0, &p);
    json_pct(out, "        ", "connect", &p, false);
    backend_percentiles(d, b, 1, &p);
    json_pct(out, "        ", "first_byte", &p, false);
    backend_percentiles(d, b, 2, &p);
    json_pct(out, "        ", "total", &p, true);
    fprintf(out, "      }\n    }%s\n", last ? "" : ",");
}

/* What every ring entry says first: when, what kind, the four ends and the backend. */
static void json_entry_start(FILE *out, const struct stats_snapshot *s,
                             const struct stats_ring_entry *e)
{
    json_num(out, "    {\"time\": ", (double)(e->start_wall_ns / 1000000u) / 1e3);
    fprintf(out, ", \"kind\": \"%s\"", e->kind == STATS_ENTRY_TCP ? "tcp" : "http");
    json_addr(out, ", \"client\": ", &e->client);
    json_addr(out, ", \"lb_front\": ", &e->lb_front);
    json_addr(out, ", \"lb_back\": ", &e->lb_back);
    json_addr(out, ", \"backend\": ", &e->backend);
    fprintf(out, ", \"backend_index\": %d, \"backend_name\": ", (int)e->backend_index);
    if (e->backend_index >= 0 && (uint32_t)e->backend_index < s->nbackends)
        json_write_string(out, s->backends[e->backend_index].name);
    else
        fputs("null", out);
    fprintf(out, ", \"worker\": %u", (unsigned)e->worker);
}

static void json_entry(FILE *out, const struct stats_snapshot *s, const struct stats_ring_entry *e,
                       bool last)
{
    json_entry_start(out, s, e);
    json_write_member(out, ", \"request_id\": ", e->request_id);
    json_write_member(out, ", \"method\": ", e->method);
    json_write_member(out, ", \"path\": ", e->path);
    fprintf(out, ", \"status\": %u", (unsigned)e->status);
    json_num(out, ", \"connect_ms\": ", (double)e->connect_ns / 1e6);
    json_num(out, ", \"first_byte_ms\": ", (double)e->ttfb_ns / 1e6);
    json_num(out, ", \"total_ms\": ", (double)e->total_ns / 1e6);
    fprintf(out,
            ", \"bytes_in\": %llu, \"bytes_out\": %llu, \"connection\": %llu, "
            "\"connection_request\": %u, \"retries\": %u, \"reused\": %s, \"generated\": %s, "
            "\"client_tls\": %s, \"backend_tls\": %s, \"spliced\": %s}%s\n",
            (unsigned long long)e->bytes_in, (unsigned long long)e->bytes_out,
            (unsigned long long)e->client_conn_id, e->conn_request, e->retries,
            e->flags & STATS_ENTRY_REUSED ? "true" : "false",
            e->flags & STATS_ENTRY_GENERATED ? "true" : "false",
            e->flags & STATS_ENTRY_CLIENT_TLS ? "true" : "false",
            e->flags & STATS_ENTRY_BACKEND_TLS ? "true" : "false",
            e->flags & STATS_ENTRY_SPLICED ? "true" : "false", last ? "" : ",");
}

/* The event-loop counters, as members of an object lead has opened (event_loop, per_worker). */
static void json_loop(FILE *out, const char *lead, const struct stats_snapshot_loop *l)
{
    fprintf(out,
            "%s\"wakeups\": %llu, \"events\": %llu, \"held_writes\": %llu, "
            "\"io_uring_enter_calls\": %llu, \"sendmsg_calls\": %llu}",
            lead, (unsigned long long)l->wakeups, (unsigned long long)l->events,
            (unsigned long long)l->held_writes, (unsigned long long)l->uring_calls,
            (unsigned long long)l->sendmsg_calls);
}

/* "per_worker": each worker's own counters (the first STATS_SNAPSHOT_WORKERS of them); with -m
 * tcp, no requests. */
static void json_per_worker(FILE *out, const struct stats_snapshot *s)
{
    uint32_t shown = s->nworkers < STATS_SNAPSHOT_WORKERS ? s->nworkers : STATS_SNAPSHOT_WORKERS;
    fputs(", \"per_worker\": [", out);
    for (uint32_t w = 0; w < shown; w++) {
        const struct stats_snapshot_worker *k = &s->workers[w];
        fprintf(out, "%s\n    {\"worker\": %u, \"accepted\": %llu, \"closed\": %llu", w ? "," : "",
                w, (unsigned long long)k->clients_accepted, (unsigned long long)k->clients_closed);
        if (s->mode != STATS_MODE_TCP)
            fprintf(out, ", \"requests\": %llu", (unsigned long long)k->requests);
        fprintf(out, ", \"bytes_in\": %llu, \"bytes_out\": %llu", (unsigned long long)k->bytes_in,
                (unsigned long long)k->bytes_out);
        json_loop(out, ", ", &k->loop);
    }
    fputs(shown ? "\n  ]" : "]", out);
}

/* "totals" for lb -m http: requests, responses, connections, bytes. */
static void json_totals_http(FILE *out, const struct stats_json_doc *d)
{
    const struct stats_snapshot *s = d->cur;
    struct stats_percentiles tp;

    fprintf(out,
            "},\n  \"totals\": {\n    \"requests\": %llu,\n    \"in_flight\": %llu,\n"
            "    \"connections\": {\"accepted\": %llu, \"active\": %llu, \"peak\": %llu, "
            "\"closed\": %llu}",
            (unsigned long long)s->requests, (unsigned long long)s->inflight,
            (unsigned long long)s->clients_accepted, (unsigned long long)s->clients_active,
            (unsigned long long)s->clients_peak, (unsigned long long)s->clients_closed);
    json_num(out, ",\n    \"requests_per_connection\": ", stats_requests_per_conn(s));
    fputs(",\n    \"responses\": ", out);
    json_responses(out, s->responses);
    fprintf(out,
            ",\n    \"bytes_in\": %llu,\n    \"bytes_out\": %llu,\n    \"client_timeouts\": %llu,\n"
            "    \"bad_requests\": %llu,\n    \"no_backend\": %llu,\n    \"latency_ms\": {\n",
            (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
            (unsigned long long)s->client_timeouts, (unsigned long long)s->bad_requests,
            (unsigned long long)s->no_backend);
    total_percentiles(d, &tp);
    json_pct(out, "      ", "total", &tp, true);
    fputs("    }\n  },\n  \"backends\": [\n", out);
}

/* One relayed connection (lb -m tcp): its addresses, bytes each way and times. */
static void json_entry_tcp(FILE *out, const struct stats_snapshot *s,
                           const struct stats_ring_entry *e, bool last)
{
    json_entry_start(out, s, e);
    json_num(out, ", \"connect_ms\": ", (double)e->connect_ns / 1e6);
    json_num(out, ", \"duration_ms\": ", (double)e->total_ns / 1e6);
    fprintf(out,
            ", \"bytes_in\": %llu, \"bytes_out\": %llu, \"connection\": %llu, \"retries\": %u, "
            "\"spliced\": %s}%s\n",
            (unsigned long long)e->bytes_in, (unsigned long long)e->bytes_out,
            (unsigned long long)e->client_conn_id, e->retries,
            e->flags & STATS_ENTRY_SPLICED ? "true" : "false", last ? "" : ",");
}

/* "totals" when lb relays whole connections: no requests, responses or in-flight. */
static void json_totals_tcp(FILE *out, const struct stats_json_doc *d)
{
    const struct stats_snapshot *s = d->cur;
    struct stats_percentiles tp;

    fprintf(out,
            "},\n  \"totals\": {\n"
            "    \"connections\": {\"accepted\": %llu, \"active\": %llu, \"peak\": %llu, "
            "\"closed\": %llu},\n"
            "    \"bytes_in\": %llu,\n    \"bytes_out\": %llu,\n    \"client_timeouts\": %llu,\n"
            "    \"latency_ms\": {\n",
            (unsigned long long)s->clients_accepted, (unsigned long long)s->clients_active,
            (unsigned long long)s->clients_peak, (unsigned long long)s->clients_closed,
            (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
            (unsigned long long)s->client_timeouts);
    total_percentiles(d, &tp);
    json_pct(out, "      ", "duration", &tp, true);
    fputs("    }\n  },\n  \"backends\": [\n", out);
}

int stats_json_write(FILE *out, const struct stats_json_doc *d)
{
    const struct stats_snapshot *s = d->cur;
    bool tcp = s->mode == STATS_MODE_TCP;
    uint64_t now_wall_ns = d->now_wall_ns;

    fprintf(out, "{\n  \"%s\": \"%s\",\n  \"layout_version\": %u", d->producer, LBLAB_VERSION,
            STATS_VERSION);
    json_write_member(out, ",\n  \"shm\": ", s->shm_name);
    json_num(out, ",\n  \"time\": ", (double)(now_wall_ns / 1000000u) / 1e3);
    fprintf(out, ",\n  \"lb\": {\"pid\": %d", (int)s->pid);
    json_write_member(out, ", \"listen\": ", s->listen_text);
    fprintf(out, ", \"port\": %u, \"mode\": \"%s\"", (unsigned)s->listen_port,
            stats_mode_name(s->mode));
    json_write_member(out, ", \"policy\": ", s->policy);
    fprintf(out, ", \"workers\": %u, \"health_checks\": %s", s->nworkers,
            s->checks ? "true" : "false");
    json_write_member(out, ", \"version\": ", s->lb_version);
    json_num(out, ", \"started\": ", (double)(s->start_wall_ns / 1000000u) / 1e3);
    json_num(out, ", \"uptime_s\": ",
             s->taken_mono_ns > s->start_mono_ns
                 ? (double)((s->taken_mono_ns - s->start_mono_ns) / 1000000u) / 1e3
                 : 0);
    json_addr(out, ", \"admin\": ", &s->admin_addr);
    if (s->tls) {
        json_write_member(out, ", \"https\": {\"listen\": ", s->tls_listen_text);
        fprintf(out,
                ", \"handshakes\": %llu, \"handshake_failures\": %llu, "
                "\"versions\": {\"TLSv1.2\": %llu, \"TLSv1.3\": %llu}, \"resumed\": %llu}",
                (unsigned long long)s->tls_handshakes,
                (unsigned long long)s->tls_handshake_failures, (unsigned long long)s->tls_v12,
                (unsigned long long)s->tls_v13, (unsigned long long)s->tls_resumed);
    } else {
        fputs(", \"https\": null", out);
    }
    json_loop(out, ", \"event_loop\": {", &s->loop);
    fprintf(out,
            ", \"splice\": {\"on\": %s, \"bytes\": %llu, \"transfers\": %llu, "
            "\"pipes_made\": %llu}",
            s->splice_on ? "true" : "false", (unsigned long long)s->splice.bytes,
            (unsigned long long)s->splice.transfers, (unsigned long long)s->splice.pipes_made);
    json_per_worker(out, s);
    if (d->with_rates) {
        json_num(out, "},\n  \"rates\": {\"window_s\": ", d->rate_window_s);
        fprintf(out, ", \"since_start\": %s, \"values\": ",
                d->rates_since_start ? "true" : "false");
        json_rates(out, &d->rate, tcp);
    }
    if (tcp)
        json_totals_tcp(out, d);
    else
        json_totals_http(out, d);
    for (uint32_t b = 0; b < s->nbackends && b < STATS_MAX_BACKENDS; b++)
        json_backend(out, d, b, b + 1 == s->nbackends);
    fprintf(out, "  ],\n  \"ring\": {\"capacity\": %u, \"written\": %llu},\n  \"recent\": [\n",
            STATS_RING_CAPACITY, (unsigned long long)s->ring_head);
    size_t n = s->nrecent < d->recent ? s->nrecent : d->recent;
    for (size_t i = 0; i < n; i++)
        if (tcp)
            json_entry_tcp(out, s, &s->recent[i], i + 1 == n);
        else
            json_entry(out, s, &s->recent[i], i + 1 == n);
    fputs("  ]\n}\n", out);
    fflush(out);
    return ferror(out) ? -EIO : 0;
}
