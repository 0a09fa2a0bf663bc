/*
 * output.c - formatting only: every fact printed comes from the flow, the exchanges and the
 * pair record; nothing here changes state. Text views use fixed column widths so that the two
 * legs of a request line up under each other; JSON is written by hand (flat, small) with every
 * captured string escaped.
 */
#include "output.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "tlsrec.h"

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_BLUE "\033[34m"
#define C_MAGENTA "\033[35m"
#define C_CYAN "\033[36m"

#define ADDR_COL 47 /* "[v6]:port > [v6]:port" fits most lines; IPv4 needs 43 */

int output_parse_view(const char *s, enum output_view *view)
{
    if (strcmp(s, "l4") == 0)
        *view = OUTPUT_L4;
    else if (strcmp(s, "l7") == 0)
        *view = OUTPUT_L7;
    else if (strcmp(s, "both") == 0)
        *view = OUTPUT_BOTH;
    else
        return -EINVAL;
    return 0;
}

static const char *col(const struct output_opts *o, const char *code)
{
    return o->color ? code : "";
}

static const char *status_color(const struct output_opts *o, int status)
{
    if (!o->color)
        return "";
    if (status >= 500 || status == 0)
        return C_RED;
    if (status >= 400)
        return C_YELLOW;
    if (status >= 300)
        return C_CYAN;
    return C_GREEN;
}

char *output_clock(uint64_t ts, char *buf, size_t len)
{
    time_t sec = (time_t)(ts / 1000000000u);
    struct tm tm;
    if (localtime_r(&sec, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    snprintf(buf, len, "%02d:%02d:%02d.%06u", tm.tm_hour, tm.tm_min, tm.tm_sec,
             (unsigned)(ts % 1000000000u / 1000u));
    return buf;
}

static void iso_time(uint64_t ts, char *buf, size_t len)
{
    time_t sec = (time_t)(ts / 1000000000u);
    struct tm tm;
    if (gmtime_r(&sec, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ts % 1000000000u / 1000u));
}

static const char *leg_tag(const struct flow *f)
{
    switch (f->leg) {
    case FLOW_LEG_CLIENT: return "C";
    case FLOW_LEG_BACKEND: return "B";
    default: return "?";
    }
}

static const char *leg_color(const struct output_opts *o, const struct flow *f)
{
    if (!o->color)
        return "";
    return f->leg == FLOW_LEG_CLIENT ? C_CYAN : f->leg == FLOW_LEG_BACKEND ? C_MAGENTA : C_DIM;
}

/* "FIN both", "FIN client", "RST by server", "open" */
static const char *close_str(const struct flow *f, char *buf, size_t len)
{
    const struct flow_dir *c = &f->dir[FLOW_C2S], *s = &f->dir[FLOW_S2C];
    if (c->rst || s->rst)
        snprintf(buf, len, "RST by %s", c->rst && s->rst ? "both" : c->rst ? "client" : "server");
    else if (c->fin && s->fin)
        snprintf(buf, len, "FIN both");
    else if (c->fin || s->fin)
        snprintf(buf, len, "FIN %s", c->fin ? "client" : "server");
    else
        snprintf(buf, len, "open");
    return buf;
}

/* The handshake time as "0.035", or "-" (JSON: "null") when the handshake was not captured. */
static const char *hs_str(const struct flow *f, bool json, char *buf, size_t len)
{
    uint64_t ns = flow_handshake_ns(f);
    if (ns == 0 && (f->syn_ts == 0 || f->established_ts == 0))
        snprintf(buf, len, "%s", json ? "null" : "-");
    else
        snprintf(buf, len, "%.3f", (double)ns / 1e6);
    return buf;
}

/* The server end of f as the text views print it: its address, followed for a backend leg by
 * the backend's name when lbtrace knows it, "127.0.0.1:3001 (b1)". Returns buf. */
static char *srv_str(const struct flow *f, char *buf, size_t len)
{
    char a[64];
    flow_addr_str(&f->srv, a, sizeof(a));
    if (f->leg == FLOW_LEG_BACKEND && f->name[0] != '\0')
        snprintf(buf, len, "%s (%s)", a, f->name);
    else
        snprintf(buf, len, "%s", a);
    return buf;
}

/* JSON: lead, then the backend's name for a backend leg (its address while the name is
 * unknown, as lb's own name for a backend without name= is its address); nothing otherwise. */
static void json_backend_name(const struct output_opts *o, const char *lead, const struct flow *f)
{
    char a[64];
    if (f->leg != FLOW_LEG_BACKEND)
        return;
    json_write_member(o->out, lead, f->name[0] ? f->name : flow_addr_str(&f->srv, a, sizeof(a)));
}

/* --- TLS -------------------------------------------------------------------------------- */

/* Milliseconds from a to b as JSON ("null" when either is 0). */
static const char *ms_json(uint64_t a, uint64_t b, char *buf, size_t len)
{
    if (a == 0 || b == 0 || b < a)
        snprintf(buf, len, "null");
    else
        snprintf(buf, len, "%.3f", (double)(b - a) / 1e6);
    return buf;
}

/* ,"tls":{...}: what the record layer of f showed (nothing when f carries no TLS). */
static void json_tls(const struct output_opts *o, const struct flow *f)
{
    FILE *out = o->out;
    if (f->tls == NULL)
        return;
    const struct tlsrec_info *in = tlsrec_info(f->tls);
    const struct tlsrec_dir_stats *c = &in->dir[0], *s = &in->dir[1];
    char v[32], m1[32], m2[32], m3[32], m4[32];
    fputs(",\"tls\":{\"version\":", out);
    if (in->version)
        json_write_string(out, tlsrec_version_str(in->version, v, sizeof(v)));
    else
        fputs("null", out);
    fputs(",\"offered_max\":", out);
    if (in->offered_max)
        json_write_string(out, tlsrec_version_str(in->offered_max, v, sizeof(v)));
    else
        fputs("null", out);
    if (in->server_hello_ts) {
        fprintf(out, ",\"cipher\":\"0x%04x\",\"cipher_name\":", (unsigned)in->cipher);
        const char *cn = tlsrec_cipher_name(in->cipher);
        if (cn)
            json_write_string(out, cn);
        else
            fputs("null", out);
    } else {
        fputs(",\"cipher\":null,\"cipher_name\":null", out);
    }
    fputs(",\"sni\":", out);
    if (in->sni[0])
        json_write_string(out, in->sni);
    else
        fputs("null", out);
    fputs(",\"alpn_offered\":[", out);
    const char *p = in->alpn_offered;
    for (bool first = true; *p != '\0'; first = false) {
        char one[TLSREC_ALPN_LEN];
        size_t n = strcspn(p, ",");
        snprintf(one, sizeof(one), "%.*s", (int)n, p);
        if (!first)
            fputc(',', out);
        json_write_string(out, one);
        p += n;
        if (*p == ',')
            p++;
    }
    fputs("],\"alpn\":", out);
    if (in->alpn[0])
        json_write_string(out, in->alpn);
    else
        fputs("null", out);
    fprintf(out, ",\"alpn_hidden\":%s,\"resumed\":%s,\"hello_retry\":%s,\"midstream\":%s,"
                 "\"client_hello_ms\":%s,\"server_hello_ms\":%s,\"finished_ms\":%s,\"handshake_ms\":%s,"
                 "\"records_c2s\":%" PRIu64 ",\"records_s2c\":%" PRIu64 ",\"bytes_c2s\":%" PRIu64
                 ",\"bytes_s2c\":%" PRIu64 ",\"app_records_c2s\":%" PRIu64 ",\"app_records_s2c\":%" PRIu64
                 ",\"app_bytes_c2s\":%" PRIu64 ",\"app_bytes_s2c\":%" PRIu64 ",\"data_bytes_c2s\":%" PRIu64
                 ",\"data_bytes_s2c\":%" PRIu64 ",\"exchanges\":%" PRIu64
                 ",\"encrypted_alerts\":%" PRIu64 ",\"readable\":false,\"alert\":",
            in->alpn_hidden ? "true" : "false", in->resumed ? "true" : "false",
            in->hello_retry ? "true" : "false", in->midstream ? "true" : "false",
            ms_json(f->first_ts, in->client_hello_ts, m1, sizeof(m1)),
            ms_json(f->first_ts, in->server_hello_ts, m2, sizeof(m2)),
            ms_json(f->first_ts, in->finished_ts, m3, sizeof(m3)),
            ms_json(in->client_hello_ts, in->finished_ts, m4, sizeof(m4)), c->records, s->records,
            c->bytes, s->bytes, c->app_records, s->app_records, c->app_bytes, s->app_bytes,
            c->data_bytes, s->data_bytes, in->exchanges, in->encrypted_alerts);
    if (in->alert_desc >= 0) {
        const char *name = tlsrec_alert_name(in->alert_desc);
        fprintf(out, "{\"from\":\"%s\",\"level\":\"%s\",\"description\":%d,\"name\":",
                in->alert_dir == 0 ? "client" : "server", in->alert_level == 2 ? "fatal" : "warning",
                in->alert_desc);
        if (name)
            json_write_string(out, name);
        else
            fputs("null", out);
        fputc('}', out);
    } else {
        fputs("null", out);
    }
    for (int d = 0; d < 2; d++) {
        fputs(d == 0 ? ",\"problem_c2s\":" : ",\"problem_s2c\":", out);
        if (in->problem[d])
            json_write_string(out, in->problem[d]);
        else
            fputs("null", out);
    }
    fputc('}', out);
}

/* The TLS lines under a leg's L4 line: the handshake as seen in clear, then the records and
 * what cannot be read; hint says where the bytes can be read instead ("" when nowhere). */
static void text_tls(const struct output_opts *o, const struct flow *f, const char *hint)
{
    if (f == NULL || f->tls == NULL)
        return;
    const struct tlsrec_info *in = tlsrec_info(f->tls);
    const struct tlsrec_dir_stats *c = &in->dir[0], *s = &in->dir[1];
    char v[32], w[32];
    FILE *out = o->out;

    fprintf(out, "  %-8s %s", "", col(o, C_GREEN));
    if (in->version)
        fprintf(out, "%s%s", tlsrec_version_str(in->version, v, sizeof(v)), col(o, C_RESET));
    else
        fprintf(out, "TLS%s", col(o, C_RESET));
    if (in->midstream)
        fputs(" (the capture began after the handshake)", out);
    else if (!in->version && in->offered_max)
        fprintf(out, " (the client offers up to %s; no ServerHello)",
                tlsrec_version_str(in->offered_max, v, sizeof(v)));
    if (in->server_hello_ts) {
        const char *cn = tlsrec_cipher_name(in->cipher);
        if (cn)
            fprintf(out, " %s", cn);
        else
            fprintf(out, " cipher 0x%04x", (unsigned)in->cipher);
    }
    if (!in->midstream)
        fprintf(out, "  SNI %s", in->sni[0] ? in->sni : "(none)");
    if (in->alpn_offered[0] || in->alpn[0]) {
        fprintf(out, "  ALPN %s", in->alpn_offered[0] ? in->alpn_offered : "(none offered)");
        if (in->alpn[0])
            fprintf(out, " -> %s", in->alpn[0] ? in->alpn : "");
        else if (in->alpn_hidden)
            fputs(" -> (chosen inside the encryption)", out);
    }
    if (in->client_hello_ts) {
        fputs("  handshake: ClientHello", out);
        if (in->hello_retry)
            fputs(", HelloRetryRequest", out);
        if (in->server_hello_ts)
            fprintf(out, ", ServerHello +%.3f ms", l7_ms(in->client_hello_ts, in->server_hello_ts));
        if (in->finished_ts)
            fprintf(out, ", finished +%.3f ms", l7_ms(in->client_hello_ts, in->finished_ts));
        else
            fprintf(out, ", %snot finished%s", col(o, C_YELLOW), col(o, C_RESET));
        if (in->resumed)
            fputs(" (session resumed)", out);
    }
    fputc('\n', out);

    if (in->finished_ts == 0 && !in->midstream && c->data_bytes + s->data_bytes == 0) {
        fprintf(out, "  %-8s records %" PRIu64 " > %" PRIu64 " <  bytes %" PRIu64 " > %" PRIu64
                     " <  no application data: the handshake did not finish\n",
                "", c->records, s->records, c->bytes, s->bytes);
    } else {
        fprintf(out, "  %-8s records %" PRIu64 " > %" PRIu64 " <  bytes %" PRIu64 " > %" PRIu64
                     " <  after the handshake %" PRIu64 " B > %" PRIu64 " B <: %sencrypted%s, lbtrace "
                     "cannot read it%s%s%s\n",
                "", c->records, s->records, c->bytes, s->bytes, c->data_bytes, s->data_bytes,
                col(o, C_BOLD), col(o, C_RESET), hint[0] ? " (" : "", hint, hint[0] ? ")" : "");
    }
    if (in->alert_desc >= 0) {
        const char *name = tlsrec_alert_name(in->alert_desc);
        fprintf(out, "  %-8s %salert from the %s in clear: %s %s%s\n", "", col(o, C_RED),
                in->alert_dir == 0 ? "client" : "server", in->alert_level == 2 ? "fatal" : "warning",
                name ? name : (snprintf(w, sizeof(w), "description %d", in->alert_desc), w),
                col(o, C_RESET));
    }
    for (int d = 0; d < 2; d++)
        if (in->problem[d])
            fprintf(out, "  %-8s %s%s: %s%s\n", "", col(o, C_YELLOW),
                    d == 0 ? "client to server" : "server to client", in->problem[d], col(o, C_RESET));
}

/* --- l4 ---------------------------------------------------------------------------------- */

void output_segment(const struct output_opts *o, const struct flow *f, int dir,
                    const struct decode_packet *p, enum reasm_verdict verdict, uint64_t ts)
{
    const struct flow_addr *src = dir == FLOW_C2S ? &f->cli : &f->srv;
    const struct flow_addr *dst = dir == FLOW_C2S ? &f->srv : &f->cli;
    const struct flow_dir *me = &f->dir[dir], *peer = &f->dir[1 - dir];
    char a[FLOW_NAME_LEN + 72], b[FLOW_NAME_LEN + 72], flags[16], t[64];
    uint32_t rseq = me->syn ? p->seq - me->isn : p->seq;
    uint32_t rack = peer->syn ? p->ack - peer->isn : p->ack;
    const char *mark = verdict == REASM_RETRANSMIT   ? "retransmission"
                       : verdict == REASM_OVERLAP    ? "partial retransmission"
                       : verdict == REASM_OUT_OF_ORDER ? "out-of-order"
                                                      : NULL;
    if (me->syn && p->flags & DECODE_TCP_SYN && me->isn == p->seq && me->retransmissions &&
        mark == NULL && me->segments > 1)
        mark = "retransmission";

    flow_addr_str(src, a, sizeof(a));
    flow_addr_str(dst, b, sizeof(b));
    decode_flags_str(p->flags, flags, sizeof(flags));

    if (o->json) {
        char iso[96];
        iso_time(ts, iso, sizeof(iso));
        fprintf(o->out, "{\"type\":\"segment\",\"time\":\"%s\",\"conn\":%" PRIu64
                        ",\"leg\":\"%s\",\"src\":\"%s\",\"dst\":\"%s\",\"flags\":\"%s\","
                        "\"seq\":%" PRIu32 ",\"ack\":%" PRIu32 ",\"win\":%u,\"len\":%zu",
                ts ? iso : "", f->id,
                f->leg == FLOW_LEG_CLIENT ? "client" : f->leg == FLOW_LEG_BACKEND ? "backend" : "other",
                a, b, flags, rseq, (p->flags & DECODE_TCP_ACK) ? rack : 0, (unsigned)p->window,
                p->wire_payload_len);
        if (mark)
            fprintf(o->out, ",\"mark\":\"%s\"", mark);
        json_backend_name(o, ",\"backend_name\":", f);
        fprintf(o->out, "}\n");
        return;
    }
    srv_str(f, dir == FLOW_C2S ? b : a, sizeof(a)); /* the text names the backend end */

    fprintf(o->out, "%s %s%s#%-4" PRIu64 "%s %s > %s: [%s]", output_clock(ts, t, sizeof(t)),
            leg_color(o, f), leg_tag(f), f->id, col(o, C_RESET), a, b, flags);
    if (p->wire_payload_len > 0 || (p->flags & (DECODE_TCP_SYN | DECODE_TCP_FIN)))
        fprintf(o->out, " seq %" PRIu32, rseq);
    if (p->wire_payload_len > 0)
        fprintf(o->out, ":%" PRIu32, rseq + (uint32_t)p->wire_payload_len);
    if (p->flags & DECODE_TCP_ACK)
        fprintf(o->out, " ack %" PRIu32, rack);
    fprintf(o->out, " win %u", (unsigned)p->window);
    if (p->has_mss)
        fprintf(o->out, " mss %u", (unsigned)p->mss);
    if (p->has_wscale)
        fprintf(o->out, " wscale %u", (unsigned)p->wscale);
    fprintf(o->out, " len %zu", p->wire_payload_len);
    if ((p->flags & DECODE_TCP_ACK) && !(p->flags & DECODE_TCP_SYN) && dir == FLOW_C2S &&
        f->established_ts == ts && f->syn_ts != 0)
        fprintf(o->out, " (handshake %.3f ms)", (double)flow_handshake_ns(f) / 1e6);
    if (mark)
        fprintf(o->out, " %s[%s]%s", col(o, C_YELLOW), mark, col(o, C_RESET));
    fputc('\n', o->out);
}

void output_flow_closed(const struct output_opts *o, const struct flow *f, unsigned requests)
{
    const struct flow_dir *c = &f->dir[FLOW_C2S], *s = &f->dir[FLOW_S2C];
    char a[64], b[FLOW_NAME_LEN + 72], t[64], cl[32], hs[32];
    uint64_t dur = f->last_ts > f->first_ts ? f->last_ts - f->first_ts : 0;
    flow_addr_str(&f->cli, a, sizeof(a));
    flow_addr_str(&f->srv, b, sizeof(b));
    close_str(f, cl, sizeof(cl));

    if (o->json) {
        fprintf(o->out, "{\"type\":\"connection\",\"conn\":%" PRIu64 ",\"leg\":\"%s\",\"client\":\"%s\","
                        "\"server\":\"%s\",\"handshake_ms\":%s,\"segments_c2s\":%" PRIu64
                        ",\"segments_s2c\":%" PRIu64 ",\"bytes_c2s\":%" PRIu64 ",\"bytes_s2c\":%" PRIu64
                        ",\"retransmissions\":%" PRIu64 ",\"out_of_order\":%" PRIu64
                        ",\"gaps\":%" PRIu64 ",\"close\":\"%s\",\"requests\":%u,\"duration_ms\":%.3f,"
                        "\"midstream\":%s",
                f->id,
                f->leg == FLOW_LEG_CLIENT ? "client" : f->leg == FLOW_LEG_BACKEND ? "backend" : "other",
                a, b, hs_str(f, true, hs, sizeof(hs)), c->segments, s->segments, c->bytes,
                s->bytes, c->retransmissions + s->retransmissions, c->out_of_order + s->out_of_order,
                c->reasm.gaps + s->reasm.gaps, cl, requests, (double)dur / 1e6,
                f->midstream ? "true" : "false");
        json_backend_name(o, ",\"backend_name\":", f);
        json_tls(o, f);
        fputs("}\n", o->out);
        return;
    }
    srv_str(f, b, sizeof(b));
    fprintf(o->out,
            "%s %s%s#%-4" PRIu64 "%s %s <> %s closed: hs %s ms, c>s %" PRIu64 " segs %" PRIu64
            " B, s>c %" PRIu64 " segs %" PRIu64 " B, rtx %" PRIu64 ", %s, %u req%s, %.3f ms%s\n",
            output_clock(f->last_ts, t, sizeof(t)), leg_color(o, f), leg_tag(f), f->id,
            col(o, C_RESET), a, b, hs_str(f, false, hs, sizeof(hs)), c->segments, c->bytes,
            s->segments, s->bytes, c->retransmissions + s->retransmissions, cl,
            f->tls ? (unsigned)tlsrec_info(f->tls)->exchanges : requests, f->tls ? " (encrypted)" : "",
            (double)dur / 1e6,
            c->reasm.gaps + s->reasm.gaps ? ", gaps in capture" : "");
    text_tls(o, f, "");
}

/* --- records ----------------------------------------------------------------------------- */

static const char *how_str(enum pair_how how)
{
    switch (how) {
    case PAIR_REQUEST_ID: return "request_id";
    case PAIR_CONNECTION: return "connection";
    case PAIR_LB_RING: return "lb_ring";
    case PAIR_TIMING: return "timing";
    default: return NULL;
    }
}

/* "conn":..,"src":..,"dst":..,"l4":{...}: one leg's TCP facts, no braces around */
static void json_l4_members(const struct output_opts *o, const struct flow *f)
{
    FILE *out = o->out;
    const struct flow_dir *c = &f->dir[FLOW_C2S], *s = &f->dir[FLOW_S2C];
    char a[64], b[64], cl[32], hs[32];

    fprintf(out, "\"conn\":%" PRIu64 ",\"src\":\"%s\",\"dst\":\"%s\",", f->id,
            flow_addr_str(&f->cli, a, sizeof(a)), flow_addr_str(&f->srv, b, sizeof(b)));
    fprintf(out, "\"l4\":{\"handshake_ms\":%s,\"segments_c2s\":%" PRIu64 ",\"segments_s2c\":%" PRIu64
                 ",\"bytes_c2s\":%" PRIu64 ",\"bytes_s2c\":%" PRIu64 ",\"retransmissions\":%" PRIu64
                 ",\"out_of_order\":%" PRIu64 ",\"gaps\":%" PRIu64 ",\"fin_c2s\":%s,\"fin_s2c\":%s,"
                 "\"rst\":%s,\"close\":\"%s\",\"midstream\":%s}",
            hs_str(f, true, hs, sizeof(hs)), c->segments, s->segments, c->bytes, s->bytes,
            c->retransmissions + s->retransmissions, c->out_of_order + s->out_of_order,
            c->reasm.gaps + s->reasm.gaps, c->fin ? "true" : "false", s->fin ? "true" : "false",
            f->reset ? "true" : "false", close_str(f, cl, sizeof(cl)), f->midstream ? "true" : "false");
    json_tls(o, f);
}

static void json_leg(const struct output_opts *o, const struct pair_leg *leg)
{
    FILE *out = o->out;
    if (leg->flow == NULL || leg->ex == NULL) {
        fputs("null", out);
        return;
    }
    const struct l7_exchange *ex = leg->ex;
    fputc('{', out);
    json_l4_members(o, leg->flow);
    if (ex->encrypted) {
        /* what the records tell of one request on a TLS connection: no HTTP to read */
        fprintf(out, ",\"l7\":{\"index\":%u,\"encrypted\":true,\"request_records\":%" PRIu64
                     ",\"request_bytes\":%" PRIu64 ",\"response_records\":%" PRIu64
                     ",\"response_bytes\":%" PRIu64 ",\"ttfb_ms\":%.3f,\"time_ms\":%.3f,\"request_id\":",
                ex->index, ex->request_records, ex->request_bytes, ex->response_records,
                ex->response_bytes, l7_ms(ex->t_request, ex->t_response),
                l7_ms(ex->t_request, ex->t_response_end));
        if (ex->request_id[0])
            json_write_string(out, ex->request_id);
        else
            fputs("null", out);
        fputs(",\"problem\":", out);
        if (ex->problem)
            json_write_string(out, ex->problem);
        else
            fputs("null", out);
        fputs("}}", out);
        return;
    }
    fprintf(out, ",\"l7\":{\"index\":%u", ex->index);
    json_write_member(out, ",\"method\":", ex->method);
    json_write_member(out, ",\"path\":", ex->path);
    json_write_member(out, ",\"host\":", ex->host);
    json_write_member(out, ",\"request_id\":",
                      ex->request_id[0] ? ex->request_id : ex->response_id);
    fprintf(out, ",\"status\":%d,\"request_bytes\":%" PRIu64 ",\"request_body\":%" PRIu64
                 ",\"response_bytes\":%" PRIu64 ",\"response_body\":%" PRIu64
                 ",\"ttfb_ms\":%.3f,\"time_ms\":%.3f,\"complete\":%s,\"problem\":",
            ex->status, ex->request_bytes, ex->request_body, ex->response_bytes, ex->response_body,
            l7_ms(ex->t_request, ex->t_response), l7_ms(ex->t_request, ex->t_response_end),
            ex->request_seen && ex->response_complete && !ex->problem ? "true" : "false");
    if (ex->problem)
        json_write_string(out, ex->problem);
    else
        fputs("null", out);
    fputs("}}", out);
}

static void json_record(const struct output_opts *o, const struct pair_record *r)
{
    const struct pair_leg *first = r->client.ex ? &r->client : &r->backend;
    char iso[96];
    iso_time(first->ex->t_request ? first->ex->t_request : first->ex->t_response, iso, sizeof(iso));
    fprintf(o->out, "{\"n\":%" PRIu64 ",\"time\":\"%s\"", r->number, iso);
    json_write_member(o->out, ",\"request_id\":", r->request_id);
    const char *how = how_str(r->how);
    fprintf(o->out, ",\"paired_by\":%s%s%s,\"confirmed\":%s,\"bytes_identical\":%s,\"client\":",
            how ? "\"" : "", how ? how : "null", how ? "\"" : "",
            r->confirmed < 0 ? "null" : r->confirmed ? "true" : "false",
            r->bytes_identical < 0 ? "null" : r->bytes_identical ? "true" : "false");
    json_leg(o, &r->client);
    fputs(",\"backend\":", o->out);
    json_leg(o, &r->backend);
    if (r->backend.flow != NULL && r->backend.ex != NULL)
        json_backend_name(o, ",\"backend_name\":", r->backend.flow);
    else
        fputs(",\"backend_name\":null", o->out);
    fputs("}\n", o->out);
}

/* "200  321 B  1.234 ms" or "---" with the problem; "TLS  1400 B  1.234 ms (1 > 2 records)"
 * for an encrypted exchange (its size is the response's ciphertext) */
static void l7_summary(const struct output_opts *o, const struct l7_exchange *ex)
{
    if (ex->encrypted && ex->index == 0) {
        fprintf(o->out, "%sTLS%s %8s   %9s     %s(%s)%s", col(o, C_RED), col(o, C_RESET), "-", "-",
                col(o, C_RED), ex->problem ? ex->problem : "no request", col(o, C_RESET));
        return;
    }
    if (ex->encrypted) {
        fprintf(o->out, "%sTLS%s %8" PRIu64 " B %9.3f ms  (%" PRIu64 " B in %" PRIu64 " record%s > %" PRIu64
                        " record%s <, ciphertext)",
                col(o, C_GREEN), col(o, C_RESET), ex->response_bytes,
                l7_ms(ex->t_request, ex->t_response_end), ex->request_bytes, ex->request_records,
                ex->request_records == 1 ? "" : "s", ex->response_records,
                ex->response_records == 1 ? "" : "s");
        return;
    }
    if (ex->status)
        fprintf(o->out, "%s%3d%s %8" PRIu64 " B %9.3f ms", status_color(o, ex->status), ex->status,
                col(o, C_RESET), ex->response_body, l7_ms(ex->t_request, ex->t_response_end));
    else
        fprintf(o->out, "%s---%s %8s   %9s   ", col(o, C_RED), col(o, C_RESET), "-", "-");
    if (ex->problem)
        fprintf(o->out, "  %s(%s)%s", col(o, C_RED), ex->problem, col(o, C_RESET));
}

/* Why a backend leg has no client leg: with a request id it was an attempt lb gave up on (and
 * retried, or answered with an error); without, lb's own request (a health check). */
static const char *lone_backend_str(const struct pair_record *r)
{
    return r->request_id[0] ? "(no client leg: an attempt lb gave up on)"
                            : "(no client leg: lb's own request)";
}

static void text_l7_line(const struct output_opts *o, const struct pair_record *r)
{
    const struct pair_leg *c = &r->client, *b = &r->backend;
    const struct pair_leg *first = c->ex ? c : b;
    char t[64], a[64], x[64], y[FLOW_NAME_LEN + 72];

    output_clock(first->ex->t_request ? first->ex->t_request : first->ex->t_response, t, sizeof(t));
    fprintf(o->out, "%s ", t);
    if (c->ex && c->ex->encrypted) {
        const struct tlsrec_info *in = c->flow->tls ? tlsrec_info(c->flow->tls) : NULL;
        fprintf(o->out, "%s%-21s%s %s(encrypted)%s  SNI %s  ", col(o, C_CYAN),
                flow_addr_str(&c->flow->cli, a, sizeof(a)), col(o, C_RESET), col(o, C_BOLD),
                col(o, C_RESET), in && in->sni[0] ? in->sni : "-");
        l7_summary(o, c->ex);
    } else if (c->ex) {
        fprintf(o->out, "%s%-21s%s %s%s %s%s  %s  ", col(o, C_CYAN), flow_addr_str(&c->flow->cli, a, sizeof(a)),
                col(o, C_RESET), col(o, C_BOLD), c->ex->method[0] ? c->ex->method : "-",
                c->ex->path[0] ? c->ex->path : "-", col(o, C_RESET), c->ex->host[0] ? c->ex->host : "-");
        l7_summary(o, c->ex);
    } else {
        fprintf(o->out, "%s%s%s", col(o, C_DIM), lone_backend_str(r), col(o, C_RESET));
    }
    fputs("  | ", o->out);
    if (b->ex) {
        fprintf(o->out, "%s%s > %s%s ", col(o, C_MAGENTA), flow_addr_str(&b->flow->cli, x, sizeof(x)),
                srv_str(b->flow, y, sizeof(y)), col(o, C_RESET));
        if ((!c->ex || c->ex->encrypted) && !b->ex->encrypted)
            fprintf(o->out, "%s %s  ", b->ex->method[0] ? b->ex->method : "-", b->ex->path);
        else if (b->ex->encrypted)
            fputs("(encrypted)  ", o->out);
        l7_summary(o, b->ex);
    } else {
        fprintf(o->out, "%sno backend leg%s", col(o, C_DIM), col(o, C_RESET));
    }
    if (r->request_id[0])
        fprintf(o->out, "  id=%s", r->request_id);
    else if (r->how == PAIR_CONNECTION)
        fprintf(o->out, "  by connection%s", r->bytes_identical == 1 ? ", same bytes"
                                             : r->bytes_identical == 0 ? ", bytes differ" : "");
    if (r->how == PAIR_LB_RING)
        fputs("  by lb's ring", o->out);
    else if (r->how == PAIR_TIMING)
        fputs("  by timing", o->out);
    if (r->confirmed == 1)
        fputs(" (confirmed by lb)", o->out);
    else if (r->confirmed == 0)
        fprintf(o->out, " %s(lb's ring disagrees)%s", col(o, C_RED), col(o, C_RESET));
    fputc('\n', o->out);
}

/* The L4 line of one leg: "  client   #1    a > b   hs ... segs ... bytes ... FIN both". */
static void text_l4(const struct output_opts *o, const char *name, const struct flow *f)
{
    char a[64], b[FLOW_NAME_LEN + 72], ab[FLOW_NAME_LEN + 144], cl[32], hs[32];
    if (f == NULL) {
        fprintf(o->out, "  %s%-8s%s %s(none)%s\n", col(o, C_DIM), name, col(o, C_RESET), col(o, C_DIM),
                col(o, C_RESET));
        return;
    }
    const struct flow_dir *c = &f->dir[FLOW_C2S], *s = &f->dir[FLOW_S2C];
    uint64_t rtx = c->retransmissions + s->retransmissions;
    snprintf(ab, sizeof(ab), "%s > %s", flow_addr_str(&f->cli, a, sizeof(a)),
             srv_str(f, b, sizeof(b)));
    fprintf(o->out, "  %s%-8s%s #%-4" PRIu64 " %-*s hs %7s ms  segs %4" PRIu64 " > %4" PRIu64
                    " <  bytes %8" PRIu64 " > %8" PRIu64 " <  %s",
            leg_color(o, f), name, col(o, C_RESET), f->id, ADDR_COL, ab,
            hs_str(f, false, hs, sizeof(hs)), c->segments, s->segments, c->bytes, s->bytes,
            close_str(f, cl, sizeof(cl)));
    if (rtx)
        fprintf(o->out, "  %srtx %" PRIu64 "%s", col(o, C_YELLOW), rtx, col(o, C_RESET));
    if (f->midstream)
        fputs("  (mid-stream)", o->out);
    fputc('\n', o->out);
}

/* Where an encrypted leg's bytes can be read instead, for the TLS lines: on the other leg of
 * the record when that one is plain ("" when it is missing or encrypted too). */
static const char *tls_hint(const char *other_name, const struct pair_leg *other, char *buf,
                            size_t len)
{
    if (other->ex == NULL || other->flow == NULL)
        snprintf(buf, len, "%s", "");
    else if (other->flow->tls != NULL)
        snprintf(buf, len, "lb decrypts it and encrypts again: neither leg can be read here");
    else
        snprintf(buf, len, "lb decrypts it: the %s leg shows the request in clear", other_name);
    return buf;
}

static void text_leg(const struct output_opts *o, const char *name, const struct pair_leg *leg,
                     const char *other_name, const struct pair_leg *other)
{
    char hint[128];
    text_l4(o, name, leg->ex != NULL ? leg->flow : NULL);
    if (leg->ex == NULL)
        return;
    text_tls(o, leg->flow, tls_hint(other_name, other, hint, sizeof(hint)));
    const struct l7_exchange *ex = leg->ex;
    if (ex->encrypted) {
        char what[64];
        if (ex->index == 0)
            snprintf(what, sizeof(what), "(no request)");
        else
            snprintf(what, sizeof(what), "(request %u, encrypted)", ex->index);
        fprintf(o->out, "  %-8s #%-4u %s%-*s%s Host %-22s ", "", ex->index, col(o, C_BOLD), 40, what,
                col(o, C_RESET), ex->index ? "(encrypted)" : "-");
        l7_summary(o, ex);
        if (ex->request_id[0])
            fprintf(o->out, "  lb's ring: id %s", ex->request_id);
        fputc('\n', o->out);
        return;
    }
    char req[L7_METHOD_LEN + L7_PATH_LEN + 2];
    snprintf(req, sizeof(req), "%s %s", ex->method[0] ? ex->method : "-", ex->path[0] ? ex->path : "-");
    fprintf(o->out, "  %-8s #%-4u %s%-*s%s Host %-22s ", "", ex->index, col(o, C_BOLD), 40, req,
            col(o, C_RESET), ex->host[0] ? ex->host : "-");
    l7_summary(o, ex);
    fputc('\n', o->out);
}

static void text_block(const struct output_opts *o, const struct pair_record *r)
{
    const struct pair_leg *first = r->client.ex ? &r->client : &r->backend;
    char t[64];
    output_clock(first->ex->t_request ? first->ex->t_request : first->ex->t_response, t, sizeof(t));
    fprintf(o->out, "%s%s request %" PRIu64 "%s", col(o, C_BOLD), t, r->number, col(o, C_RESET));
    if (r->request_id[0])
        fprintf(o->out, "  id %s", r->request_id);
    if (r->how == PAIR_REQUEST_ID)
        fputs("  paired by X-Request-ID", o->out);
    else if (r->how == PAIR_CONNECTION)
        fputs("  paired by connection", o->out);
    else if (r->how == PAIR_LB_RING)
        fputs("  paired by lb's ring (one leg is encrypted)", o->out);
    else if (r->how == PAIR_TIMING)
        fputs("  paired by timing (one leg is encrypted, no lb ring to ask)", o->out);
    else
        fprintf(o->out, "  %s", r->client.ex == NULL ? lone_backend_str(r)
                                : r->client.ex->encrypted && r->client.ex->index == 0
                                    ? "no backend leg: the TLS connection carried no request"
                                    : "no backend leg (answered by lb)");
    if (r->confirmed == 1)
        fputs(", confirmed by lb", o->out);
    else if (r->confirmed == 0)
        fprintf(o->out, ", %slb's ring disagrees%s", col(o, C_RED), col(o, C_RESET));
    if (r->bytes_identical == 1)
        fputs(", bytes carried unchanged", o->out);
    else if (r->bytes_identical == 0)
        fprintf(o->out, ", %sbytes differ between legs%s", col(o, C_YELLOW), col(o, C_RESET));
    fputc('\n', o->out);
    text_leg(o, "client", &r->client, "backend", &r->backend);
    text_leg(o, "backend", &r->backend, "client", &r->client);
}

void output_record(const struct output_opts *o, const struct pair_record *r)
{
    if (r->client.ex == NULL && r->backend.ex == NULL)
        return;
    if (o->json)
        json_record(o, r);
    else if (o->view == OUTPUT_L7)
        text_l7_line(o, r);
    else
        text_block(o, r);
}

/* --- lb -m tcp: whole connections -------------------------------------------------------- */

void output_tcp_mode_note(const struct output_opts *o)
{
    if (o->json || o->view == OUTPUT_L4)
        return;
    fprintf(o->out, "%slb relays whole connections here (-m tcp): one backend per connection; it "
                    "did not read these requests%s\n", col(o, C_BOLD), col(o, C_RESET));
}

static const char *tri_json(int v)
{
    return v < 0 ? "null" : v ? "true" : "false";
}

/* 1 when both directions are identical, 0 when one differs, -1 when either is unknown */
static int conn_identical(const struct connpair_record *r)
{
    if (r->same_up == 0 || r->same_down == 0)
        return 0;
    return r->same_up == 1 && r->same_down == 1 ? 1 : -1;
}

/* Every listed request reached the backend leg (and there is one). */
static bool conn_one_backend(const struct connpair_record *r)
{
    if (r->backend == NULL || r->client == NULL)
        return false;
    for (size_t i = 0; i < r->nrequests; i++)
        if (!r->requests[i].on_backend)
            return false;
    return true;
}

/* The backend's name, or its address while the name is unknown. Returns buf. */
static const char *conn_backend_str(const struct connpair_record *r, char *buf, size_t len)
{
    if (r->backend == NULL)
        snprintf(buf, len, "-");
    else if (r->backend->name[0] != '\0')
        snprintf(buf, len, "%s", r->backend->name);
    else
        flow_addr_str(&r->backend->srv, buf, len);
    return buf;
}

static uint64_t conn_time(const struct connpair_record *r)
{
    return r->client ? r->client->first_ts : r->backend->first_ts;
}

static void json_connection(const struct output_opts *o, const struct connpair_record *r)
{
    FILE *out = o->out;
    char iso[96], name[FLOW_NAME_LEN + 72];
    iso_time(conn_time(r), iso, sizeof(iso));
    fprintf(out, "{\"type\":\"tcp_connection\",\"n\":%" PRIu64 ",\"time\":\"%s\",\"lb_mode\":\"tcp\","
                 "\"paired_by\":%s,\"confirmed\":%s,\"bytes_identical\":%s,\"bytes\":{"
                 "\"client_to_lb\":%" PRIu64 ",\"lb_to_backend\":%" PRIu64 ",\"backend_to_lb\":%" PRIu64
                 ",\"lb_to_client\":%" PRIu64 ",\"proxy_header\":%" PRIu64 ",\"up_identical\":%s,"
                 "\"down_identical\":%s},\"client\":",
            r->number, iso,
            r->how == CONNPAIR_RING ? "\"lb_ring\"" : r->how == CONNPAIR_TIMING ? "\"timing\"" : "null",
            tri_json(r->confirmed), tri_json(conn_identical(r)), r->client_to_lb, r->lb_to_backend,
            r->backend_to_lb, r->lb_to_client, r->proxy_header, tri_json(r->same_up),
            tri_json(r->same_down));
    for (int leg = 0; leg < 2; leg++) {
        const struct flow *f = leg == 0 ? r->client : r->backend;
        if (leg == 1)
            fputs(",\"backend\":", out);
        if (f == NULL) {
            fputs("null", out);
            continue;
        }
        fputc('{', out);
        json_l4_members(o, f);
        fputc('}', out);
    }
    if (r->backend != NULL)
        json_write_member(out, ",\"backend_name\":", conn_backend_str(r, name, sizeof(name)));
    else
        fputs(",\"backend_name\":null", out);
    fputs(",\"lb\":", out);
    if (r->have_lb)
        fprintf(out, "{\"conn_id\":%" PRIu64 ",\"worker\":%u,\"backend_index\":%d,\"bytes_in\":%" PRIu64
                     ",\"bytes_out\":%" PRIu64 ",\"connect_ms\":%.3f,\"total_ms\":%.3f}",
                r->lb.conn_id, r->lb.worker, r->lb.backend_index, r->lb.bytes_in, r->lb.bytes_out,
                (double)r->lb.connect_ns / 1e6, (double)r->lb.total_ns / 1e6);
    else
        fputs("null", out);
    fputs(",\"requests\":[", out);
    for (size_t i = 0; i < r->nrequests; i++) {
        const struct l7_exchange *ex = r->requests[i].ex;
        fprintf(out, "%s{\"index\":%u", i ? "," : "", ex->index);
        json_write_member(out, ",\"method\":", ex->method);
        json_write_member(out, ",\"path\":", ex->path);
        json_write_member(out, ",\"host\":", ex->host);
        fprintf(out, ",\"status\":%d,\"response_bytes\":%" PRIu64 ",\"time_ms\":%.3f,\"on_backend\":%s}",
                ex->status, ex->response_bytes, l7_ms(ex->t_request, ex->t_response_end),
                r->requests[i].on_backend && r->backend ? "true" : "false");
    }
    fprintf(out, "],\"more_requests\":%" PRIu64 ",\"backend_requests\":%u,\"one_backend\":%s}\n",
            r->more_requests, r->backend_requests, conn_one_backend(r) ? "true" : "false");
}

/* "client>lb 62 B = lb>backend 62 B" for one direction */
static void text_bytes_dir(const struct output_opts *o, const char *a, uint64_t x, const char *b,
                           uint64_t y, int same)
{
    fprintf(o->out, "%s %" PRIu64 " B %s%s%s %s %" PRIu64 " B", a, x,
            same == 0 ? col(o, C_YELLOW) : "", same == 1 ? "=" : same == 0 ? "!=" : "?",
            same == 0 ? col(o, C_RESET) : "", b, y);
}

static void text_connection(const struct output_opts *o, const struct connpair_record *r)
{
    char t[64], name[FLOW_NAME_LEN + 72], addr[FLOW_NAME_LEN + 72];
    output_clock(conn_time(r), t, sizeof(t));
    fprintf(o->out, "%s%s connection %" PRIu64 "%s", col(o, C_BOLD), t, r->number, col(o, C_RESET));
    if (r->how == CONNPAIR_RING)
        fputs("  paired by lb's ring", o->out);
    else if (r->how == CONNPAIR_TIMING)
        fputs("  paired by timing", o->out);
    else if (r->client != NULL)
        fputs("  no backend leg (lb reached no backend and closed the connection)", o->out);
    else
        fputs("  no client leg: lb's own connection (a health check?)", o->out);
    if (r->have_lb)
        fprintf(o->out, " (lb's connection %" PRIu64 " on worker %u)", r->lb.conn_id, r->lb.worker);
    if (r->confirmed == 0)
        fprintf(o->out, ", %slb's ring names another backend connection%s", col(o, C_RED), col(o, C_RESET));
    int same = conn_identical(r);
    if (r->client != NULL && r->backend != NULL)
        fprintf(o->out, "%s%s%s", same == 0 ? col(o, C_YELLOW) : "",
                same == 1   ? ", bytes carried unchanged both ways"
                : same == 0 ? ", bytes differ between legs"
                            : ", bytes not comparable (capture gaps)",
                same == 0 ? col(o, C_RESET) : "");
    fputc('\n', o->out);
    const char *passthrough = "lb relays it without decrypting it (tcp mode): only the two ends can";
    text_l4(o, "client", r->client);
    text_tls(o, r->client, passthrough);
    text_l4(o, "backend", r->backend);
    text_tls(o, r->backend, passthrough);
    if (r->client != NULL && r->backend != NULL) {
        fprintf(o->out, "  %-8s ", "bytes");
        text_bytes_dir(o, "client>lb", r->client_to_lb, "lb>backend", r->lb_to_backend, r->same_up);
        if (r->proxy_header)
            fprintf(o->out, " (after a %" PRIu64 " B PROXY header)", r->proxy_header);
        fputs(", ", o->out);
        text_bytes_dir(o, "backend>lb", r->backend_to_lb, "lb>client", r->lb_to_client, r->same_down);
        fputc('\n', o->out);
    }
    if (r->have_lb) {
        fprintf(o->out, "  %-8s counted %" PRIu64 " B in, %" PRIu64 " B out", "lb", r->lb.bytes_in,
                r->lb.bytes_out);
        if (r->client != NULL)
            fputs(r->lb.bytes_in == r->client_to_lb && r->lb.bytes_out == r->lb_to_client
                      ? " (as on the wire)" : " (not as on the wire)", o->out);
        fprintf(o->out, ", connect %.3f ms, open %.3f ms\n", (double)r->lb.connect_ns / 1e6,
                (double)r->lb.total_ns / 1e6);
    }
    conn_backend_str(r, name, sizeof(name));
    if (r->nrequests == 0 && ((r->client && r->client->tls) || (r->backend && r->backend->tls))) {
        fprintf(o->out, "  %-8s none readable: the connection carries TLS, passed through unread "
                        "(the backend terminates it)\n", "requests");
        return;
    }
    if (r->nrequests == 0) {
        fprintf(o->out, "  %-8s none parsed (the bytes are not HTTP, or no request was sent)\n", "requests");
        return;
    }
    uint64_t n = r->nrequests + r->more_requests;
    if (r->client == NULL)
        fprintf(o->out, "  %-8s %" PRIu64 " on lb's own connection\n", "requests", n);
    else if (conn_one_backend(r))
        fprintf(o->out, "  %-8s %" PRIu64 " on the client connection, all to %s\n", "requests", n,
                srv_str(r->backend, addr, sizeof(addr)));
    else
        fprintf(o->out, "  %-8s %" PRIu64 " on the client connection\n", "requests", n);
    for (size_t i = 0; i < r->nrequests; i++) {
        const struct l7_exchange *ex = r->requests[i].ex;
        char req[L7_METHOD_LEN + L7_PATH_LEN + 2];
        snprintf(req, sizeof(req), "%s %s", ex->method[0] ? ex->method : "-", ex->path[0] ? ex->path : "-");
        fprintf(o->out, "  %-8s #%-4u %s%-40s%s Host %-22s ", "", ex->index, col(o, C_BOLD), req,
                col(o, C_RESET), ex->host[0] ? ex->host : "-");
        l7_summary(o, ex);
        if (r->client != NULL)
            fprintf(o->out, "  -> %s", r->requests[i].on_backend && r->backend ? name : "(not seen on a backend leg)");
        fputc('\n', o->out);
    }
    if (r->more_requests)
        fprintf(o->out, "  %-8s ... %" PRIu64 " more\n", "", r->more_requests);
}

/* --view l7: one line per request on the client leg (or one for the connection when none) */
static void text_connection_l7(const struct output_opts *o, const struct connpair_record *r)
{
    char t[64], a[64], name[FLOW_NAME_LEN + 72], x[64];
    int same = conn_identical(r);
    const char *tail = same == 1 ? ", same bytes" : same == 0 ? ", bytes differ" : "";
    output_clock(conn_time(r), t, sizeof(t));
    conn_backend_str(r, name, sizeof(name));
    if (r->client == NULL) {
        fprintf(o->out, "%s %s(no client leg: lb's own connection)%s  | %s%s > %s%s  %" PRIu64
                        " B > %" PRIu64 " B <\n",
                t, col(o, C_DIM), col(o, C_RESET), col(o, C_MAGENTA),
                flow_addr_str(&r->backend->cli, a, sizeof(a)), srv_str(r->backend, name, sizeof(name)),
                col(o, C_RESET), r->lb_to_backend, r->backend_to_lb);
        return;
    }
    flow_addr_str(&r->client->cli, a, sizeof(a));
    size_t lines = r->nrequests ? r->nrequests : 1;
    for (size_t i = 0; i < lines; i++) {
        const struct l7_exchange *ex = r->nrequests ? r->requests[i].ex : NULL;
        char lt[64], y[FLOW_NAME_LEN + 72];
        output_clock(ex && ex->t_request ? ex->t_request : conn_time(r), lt, sizeof(lt));
        fprintf(o->out, "%s %s%-21s%s ", lt, col(o, C_CYAN), a, col(o, C_RESET));
        if (ex == NULL && r->client->tls != NULL) {
            const struct tlsrec_info *in = tlsrec_info(r->client->tls);
            fprintf(o->out, "(TLS, SNI %s, encrypted) %" PRIu64 " B > %" PRIu64 " B <",
                    in->sni[0] ? in->sni : "-", r->client_to_lb, r->lb_to_client);
        } else if (ex == NULL) {
            fprintf(o->out, "(no HTTP request) %" PRIu64 " B > %" PRIu64 " B <", r->client_to_lb,
                    r->lb_to_client);
        } else {
            fprintf(o->out, "%s%s %s%s  %s  ", col(o, C_BOLD), ex->method[0] ? ex->method : "-",
                    ex->path[0] ? ex->path : "-", col(o, C_RESET), ex->host[0] ? ex->host : "-");
            l7_summary(o, ex);
        }
        fputs("  | ", o->out);
        if (r->backend == NULL)
            fprintf(o->out, "%sno backend leg%s\n", col(o, C_DIM), col(o, C_RESET));
        else
            fprintf(o->out, "%s%s > %s%s  connection %" PRIu64 ", relayed whole%s\n",
                    col(o, C_MAGENTA), flow_addr_str(&r->backend->cli, x, sizeof(x)),
                    srv_str(r->backend, y, sizeof(y)), col(o, C_RESET), r->number, tail);
    }
}

void output_connection(const struct output_opts *o, const struct connpair_record *r)
{
    if (r->client == NULL && r->backend == NULL)
        return;
    if (o->json)
        json_connection(o, r);
    else if (o->view == OUTPUT_L7)
        text_connection_l7(o, r);
    else
        text_connection(o, r);
}
