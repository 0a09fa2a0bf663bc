/*
 * report.c - --once/-n text snapshots and --json documents (see report.h). The text report is the
 * interactive screens printed one after the other; the JSON document carries every number the
 * screens show, unrounded, under stable keys (listed in docs/man/lbtop.1).
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "json.h"
#include "render.h"
#include "version.h"

int lbtop_report_text(FILE *out, const struct lbtop_model *m, int width, bool utf8,
                      uint64_t now_wall_ns)
{
    struct lbtop_render_opts o = {
        .width = width,
        .utf8 = utf8,
        .view = LBTOP_VIEW_STATUS,
        .sort = LBTOP_SORT_INDEX,
        .selected = -1,
        .now_wall_ns = now_wall_ns,
        .max_requests = LBTOP_REPORT_RECENT,
    };
    struct lbtop_lines l;

    /* The header without its tab line (it only makes sense on a screen), then every view. */
    lbtop_lines_init(&l);
    lbtop_render_header(&l, m, &o, m->have_cur ? m->cur->shm_name : "");
    for (size_t i = 0; i + 1 < l.n; i++)
        fprintf(out, "%s\n", l.v[i].text);
    for (unsigned v = 1; v <= LBTOP_VIEWS; v++) {
        struct lbtop_render_opts vo = o;
        vo.view = v;
        lbtop_lines_clear(&l);
        lbtop_render_view(&l, m, &vo);
        fprintf(out, "\n== %u %s ==\n", v, lbtop_view_title(v, lbtop_model_tcp(m)));
        for (size_t i = 0; i < l.n; i++)
            fprintf(out, "%s\n", l.v[i].text);
    }
    lbtop_lines_free(&l);
    fflush(out);
    return ferror(out) ? -EIO : 0;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

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
                     const struct lbtop_percentiles *p, bool last)
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
static void json_rates(FILE *out, const struct lbtop_rates *r, bool tcp)
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

/* The rest of a backend's object when lb relays whole connections: connections, bytes each way
 * and their durations; no requests, responses or first byte. */
static void json_backend_tcp(FILE *out, const struct lbtop_model *m, unsigned b, bool last)
{
    const struct lbtop_backend_snap *s = &m->cur->backends[b];
    struct lbtop_percentiles p;

    fprintf(out,
            ",\n      \"weight\": %u,\n"
            "      \"connections\": {\"active\": %llu, \"peak\": %llu, \"opened\": %llu, "
            "\"closed\": %llu, \"relayed\": %llu},\n"
            "      \"connect_errors\": %llu,\n      \"timeouts\": %llu,\n      \"retries\": %llu,\n"
            "      \"bytes_in\": %llu,\n      \"bytes_out\": %llu,\n      \"rates\": ",
            s->weight, (unsigned long long)s->active, (unsigned long long)s->peak,
            (unsigned long long)s->conns_opened, (unsigned long long)s->conns_closed,
            (unsigned long long)s->responses[0], (unsigned long long)s->connect_errors,
            (unsigned long long)s->timeouts, (unsigned long long)s->retries,
            (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out);
    json_rates(out, &m->backend_rate[b], true);
    fputs(",\n      \"latency_ms\": {\n", out);
    lbtop_model_backend_percentiles(m, b, 0, &p);
    json_pct(out, "        ", "connect", &p, false);
    lbtop_model_backend_percentiles(m, b, 2, &p);
    json_pct(out, "        ", "duration", &p, true);
    fprintf(out, "      }\n    }%s\n", last ? "" : ",");
}

static void json_backend(FILE *out, const struct lbtop_model *m, unsigned b, bool last)
{
    const struct lbtop_backend_snap *s = &m->cur->backends[b];
    struct lbtop_percentiles p;
    bool tcp = lbtop_model_tcp(m);

    fprintf(out, "    {\n      \"index\": %u", b);
    json_write_member(out, ",\n      \"name\": ", s->name);
    json_write_member(out, ",\n      \"host\": ", s->host);
    fprintf(out, ",\n      \"port\": %u", (unsigned)s->port);
    json_addr(out, ",\n      \"address\": ", &s->resolved);
    json_write_member(out, ",\n      \"state\": ", lbtop_state_name(s->state));
    json_num(out, ",\n      \"last_change\": ", (double)s->last_change_wall_ns / 1e9);
    json_write_member(out, ",\n      \"reason\": ", s->reason);
    if (m->cur->checks)
        fprintf(out, ",\n      \"checks\": {\"total\": %llu, \"failed\": %llu}",
                (unsigned long long)s->checks_total, (unsigned long long)s->checks_failed);
    if (tcp) {
        json_backend_tcp(out, m, b, last);
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
            "      \"bytes_in\": %llu,\n      \"bytes_out\": %llu,\n      \"rates\": ",
            (unsigned long long)s->resp_502, (unsigned long long)s->resp_503,
            (unsigned long long)s->resp_504, (unsigned long long)s->connect_errors,
            (unsigned long long)s->timeouts, (unsigned long long)s->retries,
            (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out);
    json_rates(out, &m->backend_rate[b], false);
    fputs(",\n      \"latency_ms\": {\n", out);
    lbtop_model_backend_percentiles(m, b, 0, &p);
    json_pct(out, "        ", "connect", &p, false);
    lbtop_model_backend_percentiles(m, b, 1, &p);
    json_pct(out, "        ", "first_byte", &p, false);
    lbtop_model_backend_percentiles(m, b, 2, &p);
    json_pct(out, "        ", "total", &p, true);
    fprintf(out, "      }\n    }%s\n", last ? "" : ",");
}

/* What every ring entry says first: when, what kind, the four ends and the backend. */
static void json_entry_start(FILE *out, const struct lbtop_snapshot *s,
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

static void json_entry(FILE *out, const struct lbtop_snapshot *s, const struct stats_ring_entry *e,
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
            "\"connection_request\": %u, \"retries\": %u, \"reused\": %s, \"generated\": %s}%s\n",
            (unsigned long long)e->bytes_in, (unsigned long long)e->bytes_out,
            (unsigned long long)e->client_conn_id, e->conn_request, e->retries,
            e->flags & STATS_ENTRY_REUSED ? "true" : "false",
            e->flags & STATS_ENTRY_GENERATED ? "true" : "false", last ? "" : ",");
}

/* "totals" for lb -m http: requests, responses, connections, bytes. */
static void json_totals_http(FILE *out, const struct lbtop_model *m)
{
    const struct lbtop_snapshot *s = m->cur;
    struct lbtop_percentiles tp;

    fprintf(out,
            "},\n  \"totals\": {\n    \"requests\": %llu,\n    \"in_flight\": %llu,\n"
            "    \"connections\": {\"accepted\": %llu, \"active\": %llu, \"peak\": %llu, "
            "\"closed\": %llu}",
            (unsigned long long)s->requests, (unsigned long long)s->inflight,
            (unsigned long long)s->clients_accepted, (unsigned long long)s->clients_active,
            (unsigned long long)s->clients_peak, (unsigned long long)s->clients_closed);
    json_num(out, ",\n    \"requests_per_connection\": ", lbtop_requests_per_conn(s));
    fputs(",\n    \"responses\": ", out);
    json_responses(out, s->responses);
    fprintf(out,
            ",\n    \"bytes_in\": %llu,\n    \"bytes_out\": %llu,\n    \"client_timeouts\": %llu,\n"
            "    \"bad_requests\": %llu,\n    \"no_backend\": %llu,\n    \"latency_ms\": {\n",
            (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
            (unsigned long long)s->client_timeouts, (unsigned long long)s->bad_requests,
            (unsigned long long)s->no_backend);
    lbtop_model_total_percentiles(m, &tp);
    json_pct(out, "      ", "total", &tp, true);
    fputs("    }\n  },\n  \"backends\": [\n", out);
}

/* One relayed connection (lb -m tcp): its addresses, bytes each way and times. */
static void json_entry_tcp(FILE *out, const struct lbtop_snapshot *s,
                           const struct stats_ring_entry *e, bool last)
{
    json_entry_start(out, s, e);
    json_num(out, ", \"connect_ms\": ", (double)e->connect_ns / 1e6);
    json_num(out, ", \"duration_ms\": ", (double)e->total_ns / 1e6);
    fprintf(out, ", \"bytes_in\": %llu, \"bytes_out\": %llu, \"connection\": %llu, \"retries\": %u}%s\n",
            (unsigned long long)e->bytes_in, (unsigned long long)e->bytes_out,
            (unsigned long long)e->client_conn_id, e->retries, last ? "" : ",");
}

/* "totals" when lb relays whole connections: no requests, responses or in-flight. */
static void json_totals_tcp(FILE *out, const struct lbtop_model *m)
{
    const struct lbtop_snapshot *s = m->cur;
    struct lbtop_percentiles tp;

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
    lbtop_model_total_percentiles(m, &tp);
    json_pct(out, "      ", "duration", &tp, true);
    fputs("    }\n  },\n  \"backends\": [\n", out);
}

int lbtop_report_json(FILE *out, const struct lbtop_model *m, uint64_t now_wall_ns)
{
    const struct lbtop_snapshot *s = m->cur;
    bool tcp = lbtop_model_tcp(m);

    if (!m->have_cur)
        return -EINVAL;
    fprintf(out, "{\n  \"lbtop\": \"%s\",\n  \"layout_version\": %u", LBLAB_VERSION, STATS_VERSION);
    json_write_member(out, ",\n  \"shm\": ", s->shm_name);
    json_num(out, ",\n  \"time\": ", (double)(now_wall_ns / 1000000u) / 1e3);
    fprintf(out, ",\n  \"lb\": {\"pid\": %d", (int)s->pid);
    json_write_member(out, ", \"listen\": ", s->listen_text);
    fprintf(out, ", \"port\": %u, \"mode\": \"%s\"", (unsigned)s->listen_port,
            lbtop_mode_name(s->mode));
    json_write_member(out, ", \"policy\": ", s->policy);
    fprintf(out, ", \"workers\": %u, \"health_checks\": %s", s->nworkers,
            s->checks ? "true" : "false");
    json_write_member(out, ", \"version\": ", s->lb_version);
    json_num(out, ", \"started\": ", (double)(s->start_wall_ns / 1000000u) / 1e3);
    json_num(out, ", \"uptime_s\": ",
             s->taken_mono_ns > s->start_mono_ns
                 ? (double)((s->taken_mono_ns - s->start_mono_ns) / 1000000u) / 1e3
                 : 0);
    if (s->tls) {
        json_write_member(out, ", \"https\": {\"listen\": ", s->tls_listen_text);
        fprintf(out,
                ", \"handshakes\": %llu, \"handshake_failures\": %llu, "
                "\"versions\": {\"TLSv1.2\": %llu, \"TLSv1.3\": %llu}}",
                (unsigned long long)s->tls_handshakes,
                (unsigned long long)s->tls_handshake_failures, (unsigned long long)s->tls_v12,
                (unsigned long long)s->tls_v13);
    } else {
        fputs(", \"https\": null", out);
    }
    json_num(out, "},\n  \"rates\": {\"window_s\": ", m->rate_span_s);
    fprintf(out, ", \"since_start\": %s, \"values\": ", m->rates_since_start ? "true" : "false");
    json_rates(out, &m->rate, tcp);
    if (tcp)
        json_totals_tcp(out, m);
    else
        json_totals_http(out, m);
    for (uint32_t b = 0; b < s->nbackends && b < STATS_MAX_BACKENDS; b++)
        json_backend(out, m, b, b + 1 == s->nbackends);
    fprintf(out, "  ],\n  \"ring\": {\"capacity\": %u, \"written\": %llu},\n  \"recent\": [\n",
            STATS_RING_CAPACITY, (unsigned long long)s->ring_head);
    size_t n = s->nrecent < LBTOP_REPORT_RECENT ? s->nrecent : LBTOP_REPORT_RECENT;
    for (size_t i = 0; i < n; i++)
        if (tcp)
            json_entry_tcp(out, s, &s->recent[i], i + 1 == n);
        else
            json_entry(out, s, &s->recent[i], i + 1 == n);
    fputs("  ]\n}\n", out);
    fflush(out);
    return ferror(out) ? -EIO : 0;
}
