/*
 * render.c - lbtop's screens as lines of text (see render.h). Each view is a fixed set of columns
 * sized for an 80-column terminal, with the name column and the sparkline growing into wider
 * ones; lines are cut to the width at the end, never wrapped.
 */
#include "render.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "version.h"

void lbtop_lines_init(struct lbtop_lines *l)
{
    memset(l, 0, sizeof(*l));
}

void lbtop_lines_free(struct lbtop_lines *l)
{
    free(l->v);
    memset(l, 0, sizeof(*l));
}

void lbtop_lines_clear(struct lbtop_lines *l)
{
    l->n = 0;
}

/* Cuts s to width display columns. */
static void cut(char *s, int width)
{
    size_t col = 0;
    char *p;

    if (width < 0)
        width = 0;
    for (p = s; *p; p++) {
        if (((unsigned char)*p & 0xc0) != 0x80) {
            if (col == (size_t)width) {
                *p = '\0';
                return;
            }
            col++;
        }
    }
}

static struct lbtop_line *add(struct lbtop_lines *l, const struct lbtop_render_opts *o,
                              uint8_t attr, int row, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static struct lbtop_line *add(struct lbtop_lines *l, const struct lbtop_render_opts *o,
                              uint8_t attr, int row, const char *fmt, ...)
{
    static struct lbtop_line overflow; /* when memory runs out, lines go nowhere */
    struct lbtop_line *line;
    va_list ap;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct lbtop_line *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL) {
            memset(&overflow, 0, sizeof(overflow));
            return &overflow;
        }
        l->v = v;
        l->cap = cap;
    }
    line = &l->v[l->n++];
    line->attr = attr;
    line->row = row;
    line->span_col = 0;
    line->span_len = 0;
    line->span_attr = LBTOP_ATTR_NORMAL;
    va_start(ap, fmt);
    vsnprintf(line->text, sizeof(line->text), fmt, ap);
    va_end(ap);
    cut(line->text, o->width);
    return line;
}

/* Highlights the first occurrence of word at or after column from in line. */
static void span(struct lbtop_line *line, const char *word, size_t from, uint8_t attr)
{
    const char *p;

    if (word == NULL || *word == '\0' || from >= strlen(line->text))
        return;
    p = strstr(line->text + from, word);
    if (p == NULL)
        return;
    /* The text before a span is ASCII, so bytes are columns. */
    line->span_col = (uint16_t)(p - line->text);
    line->span_len = (uint16_t)strlen(word);
    line->span_attr = attr;
}

/* ---- formatting ------------------------------------------------------------------------------ */

static const char *scaled(double v, const char *units, char *buf, size_t len)
{
    unsigned u = 0;

    while (v >= 1000.0 && units[u + 1] != '\0') {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%.0f", v);
    else if (v < 10)
        snprintf(buf, len, "%.2f%c", v, units[u]);
    else if (v < 100)
        snprintf(buf, len, "%.1f%c", v, units[u]);
    else
        snprintf(buf, len, "%.0f%c", v, units[u]);
    return buf;
}

char *lbtop_fmt_bytes(uint64_t n, char *buf, size_t len)
{
    scaled((double)n, " KMGTPE", buf, len);
    return buf;
}

char *lbtop_fmt_rate(double per_s, char *buf, size_t len)
{
    if (per_s < 0)
        per_s = 0;
    if (per_s == 0)
        snprintf(buf, len, "0");
    else if (per_s < 10)
        snprintf(buf, len, "%.2f", per_s);
    else if (per_s < 1000)
        snprintf(buf, len, "%.1f", per_s);
    else
        scaled(per_s, " KMGTPE", buf, len);
    return buf;
}

char *lbtop_fmt_ms(double ms, char *buf, size_t len)
{
    if (ms <= 0)
        snprintf(buf, len, "-");
    else if (ms < 0.1)
        snprintf(buf, len, "%.3f", ms);
    else if (ms < 10)
        snprintf(buf, len, "%.2f", ms);
    else if (ms < 100)
        snprintf(buf, len, "%.1f", ms);
    else
        snprintf(buf, len, "%.0f", ms);
    return buf;
}

char *lbtop_fmt_age(uint64_t s, char *buf, size_t len)
{
    if (s < 60)
        snprintf(buf, len, "%llus", (unsigned long long)s);
    else if (s < 3600)
        snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    else if (s < 86400)
        snprintf(buf, len, "%lluh%02llum", (unsigned long long)(s / 3600),
                 (unsigned long long)(s / 60 % 60));
    else
        snprintf(buf, len, "%llud%02lluh", (unsigned long long)(s / 86400),
                 (unsigned long long)(s / 3600 % 24));
    return buf;
}

char *lbtop_fmt_clock(uint64_t wall_ns, bool ms, char *buf, size_t len)
{
    time_t t = (time_t)(wall_ns / 1000000000u);
    struct tm tm;

    if (wall_ns == 0 || localtime_r(&t, &tm) == NULL) {
        snprintf(buf, len, "-");
        return buf;
    }
    if (ms)
        snprintf(buf, len, "%02d:%02d:%02d.%03u", tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (unsigned)(wall_ns / 1000000u % 1000u));
    else
        snprintf(buf, len, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

char *lbtop_sparkline(const struct lbtop_history *h, int width, bool utf8, char *buf, size_t len)
{
    static const char *const blocks[8] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                          "\u2585", "\u2586", "\u2587", "\u2588"};
    static const char ascii[] = "_.-:=+*#";
    float max = 0;
    size_t at = 0;
    unsigned n = h->n < LBTOP_HISTORY ? h->n : LBTOP_HISTORY;
    unsigned first;

    if (len == 0)
        return buf;
    buf[0] = '\0';
    if (width <= 0)
        return buf;
    if ((unsigned)width > LBTOP_HISTORY)
        width = LBTOP_HISTORY;
    first = n > (unsigned)width ? n - (unsigned)width : 0;
    for (unsigned i = first; i < n; i++)
        if (h->v[i] > max)
            max = h->v[i];
    /* Pad on the left so the newest sample is always in the last column. */
    for (int i = 0; i < width - (int)(n - first) && at + 1 < len; i++)
        buf[at++] = ' ';
    for (unsigned i = first; i < n; i++) {
        float v = h->v[i] > 0 ? h->v[i] : 0;
        int level = max > 0 ? (int)(v / max * 7.0f + 0.5f) : 0;
        if (level > 7)
            level = 7;
        if (utf8) {
            if (v == 0) {
                if (at + 1 < len)
                    buf[at++] = ' ';
                continue;
            }
            const char *g = blocks[level];
            size_t gl = strlen(g);
            if (at + gl >= len)
                break;
            memcpy(buf + at, g, gl);
            at += gl;
        } else if (at + 1 < len) {
            buf[at++] = v == 0 ? ' ' : ascii[level];
        }
    }
    buf[at] = '\0';
    return buf;
}

const char *lbtop_view_name(unsigned view)
{
    static const char *const names[] = {"?",      "STATUS",   "TRAFFIC", "HTTP",
                                        "TIMING", "REQUESTS", "WORKERS"};
    return view >= 1 && view <= LBTOP_VIEWS ? names[view] : names[0];
}

const char *lbtop_view_title(unsigned view, bool tcp)
{
    if (tcp && view == LBTOP_VIEW_HTTP)
        return "CONNS";
    if (tcp && view == LBTOP_VIEW_REQUESTS)
        return "RECENT";
    return lbtop_view_name(view);
}

static uint8_t state_attr(uint32_t state)
{
    return state == STATS_BACKEND_UP     ? LBTOP_ATTR_GOOD
           : state == STATS_BACKEND_DOWN ? LBTOP_ATTR_BAD
                                         : LBTOP_ATTR_WARN;
}

static uint8_t status_attr(unsigned status)
{
    return status >= 500 ? LBTOP_ATTR_BAD : status >= 400 ? LBTOP_ATTR_WARN : LBTOP_ATTR_NORMAL;
}

/* The width of the name column: the longest name shown, within what the line has room for
 * once the fixed columns take fixed, and at most max. */
static int name_width(const struct lbtop_model *m, const struct lbtop_render_opts *o, int fixed,
                      int max)
{
    int longest = 4, room = o->width - fixed;

    for (uint32_t b = 0; b < m->cur->nbackends && b < STATS_MAX_BACKENDS; b++) {
        int n = (int)strlen(m->cur->backends[b].name);
        if (n > longest)
            longest = n;
    }
    if (longest > max)
        longest = max;
    if (longest > room)
        longest = room;
    return longest < 8 ? 8 : longest;
}

/* ---- header ------------------------------------------------------------------------------- */

/* The header's second and third lines: requests, connections, responses, bytes. */
static void header_http(struct lbtop_lines *l, const struct lbtop_model *m,
                        const struct lbtop_render_opts *o)
{
    const struct stats_snapshot *s = m->cur;
    char rq[32], cr[32], in[32], out[32], p50[16], p99[16];
    struct stats_percentiles tp;
    struct lbtop_line *line;

    add(l, o, LBTOP_ATTR_NORMAL, -1,
        "requests %llu  %s req/s  in flight %llu  |  connections active %llu  peak %llu  "
        "total %llu  %s conn/s  |  req/conn %.2f",
        (unsigned long long)s->requests, lbtop_fmt_rate(m->rate.req_s, rq, sizeof(rq)),
        (unsigned long long)s->inflight, (unsigned long long)s->clients_active,
        (unsigned long long)s->clients_peak, (unsigned long long)s->clients_accepted,
        lbtop_fmt_rate(m->rate.conn_s, cr, sizeof(cr)), stats_requests_per_conn(s));
    lbtop_model_total_percentiles(m, &tp);
    line = add(l, o, LBTOP_ATTR_NORMAL, -1,
               "responses 1xx %llu  2xx %llu  3xx %llu  4xx %llu  5xx %llu  |  bytes in %s  "
               "out %s  |  total p50 %s ms  p99 %s ms",
               (unsigned long long)s->responses[1], (unsigned long long)s->responses[2],
               (unsigned long long)s->responses[3], (unsigned long long)s->responses[4],
               (unsigned long long)s->responses[5], lbtop_fmt_bytes(s->bytes_in, in, sizeof(in)),
               lbtop_fmt_bytes(s->bytes_out, out, sizeof(out)),
               lbtop_fmt_ms(tp.p50_ms, p50, sizeof(p50)), lbtop_fmt_ms(tp.p99_ms, p99, sizeof(p99)));
    if (s->responses[5] > 0)
        span(line, "5xx", 0, LBTOP_ATTR_BAD);
    if (s->tls) {
        /* the HTTPS listener: TLS ends at lb, so its handshakes are lb's to count */
        line = add(l, o, LBTOP_ATTR_NORMAL, -1,
                   "HTTPS %s  handshakes %llu (TLS 1.3 %llu, TLS 1.2 %llu)  failed %llu  "
                   "resumed %llu",
                   s->tls_listen_text[0] ? s->tls_listen_text : "?",
                   (unsigned long long)s->tls_handshakes, (unsigned long long)s->tls_v13,
                   (unsigned long long)s->tls_v12, (unsigned long long)s->tls_handshake_failures,
                   (unsigned long long)s->tls_resumed);
        if (s->tls_handshake_failures > 0)
            span(line, "failed", 0, LBTOP_ATTR_BAD);
    }
}

/* lb -m tcp: connections, bytes each way and connection durations; lb reads no requests. */
static void header_tcp(struct lbtop_lines *l, const struct lbtop_model *m,
                       const struct lbtop_render_opts *o)
{
    const struct stats_snapshot *s = m->cur;
    char cr[32], in[32], out[32], ins[32], outs[32], p50[16], p99[16];
    struct stats_percentiles tp;

    add(l, o, LBTOP_ATTR_NORMAL, -1,
        "connections active %llu  peak %llu  total %llu  closed %llu  %s conn/s  |  lb relays "
        "whole connections: no requests, no status codes",
        (unsigned long long)s->clients_active, (unsigned long long)s->clients_peak,
        (unsigned long long)s->clients_accepted, (unsigned long long)s->clients_closed,
        lbtop_fmt_rate(m->rate.conn_s, cr, sizeof(cr)));
    lbtop_model_total_percentiles(m, &tp);
    add(l, o, LBTOP_ATTR_NORMAL, -1,
        "bytes in %s  out %s  |  in %s/s  out %s/s  |  connection duration p50 %s ms  p99 %s ms",
        lbtop_fmt_bytes(s->bytes_in, in, sizeof(in)), lbtop_fmt_bytes(s->bytes_out, out, sizeof(out)),
        lbtop_fmt_bytes((uint64_t)m->rate.in_s, ins, sizeof(ins)),
        lbtop_fmt_bytes((uint64_t)m->rate.out_s, outs, sizeof(outs)),
        lbtop_fmt_ms(tp.p50_ms, p50, sizeof(p50)), lbtop_fmt_ms(tp.p99_ms, p99, sizeof(p99)));
}

/* The workers' event loops: how much work one wake-up finds, and how the writes a worker holds
 * for the end of a batch of events go out (lb/sendbatch.h): together, with one io_uring_enter(),
 * or one sendmsg() each. With one event per wake-up nothing is held; under load both numbers
 * grow, and that is the batching that makes each request cheaper. */
static void header_loop(struct lbtop_lines *l, const struct lbtop_model *m,
                        const struct lbtop_render_opts *o)
{
    const struct lbtop_loop *lp = &m->loop;
    char wk[32], hw[32], how[64];

    if (lp->wakeups_s <= 0) {
        add(l, o, LBTOP_ATTR_NORMAL, -1, "event loop  idle: no wake-up with events");
        return;
    }
    if (lp->writes_per_call <= 0)
        snprintf(how, sizeof(how), "(a wake-up with one event writes at once)");
    else if (lp->uring_share >= 0.5)
        snprintf(how, sizeof(how), "%.1f per io_uring_enter()", lp->writes_per_call);
    else
        snprintf(how, sizeof(how), "one sendmsg() each (no io_uring)");
    add(l, o, LBTOP_ATTR_NORMAL, -1,
        "event loop  wake-ups %s/s  %.1f events each  |  held writes %s/s  %s",
        lbtop_fmt_rate(lp->wakeups_s, wk, sizeof(wk)), lp->events_per_wakeup,
        lbtop_fmt_rate(lp->held_writes_s, hw, sizeof(hw)), how);
}

/* What lb splices (lb/pipebuf.h): the rest of a body of 64 KiB or more, and -m tcp's bulk
 * flows, go from socket to socket through a kernel pipe, never through lb's memory, and each
 * worker lends its empty pipes again. Small responses are never spliced: the share of the bytes
 * says how much of the traffic skipped lb's buffers. */
static void header_splice(struct lbtop_lines *l, const struct lbtop_model *m,
                          const struct lbtop_render_opts *o)
{
    const struct lbtop_splice *sp = &m->splice;
    const struct stats_snapshot *s = m->cur;
    char rate[32], total[32], ts[32], cache[64] = "";

    if (sp->bytes_s <= 0 && sp->transfers_s <= 0) {
        if (!s->splice_on)
            add(l, o, LBTOP_ATTR_NORMAL, -1,
                "splice      off (--no-splice): every body is copied through lb's buffers");
        else if (s->splice.transfers == 0)
            add(l, o, LBTOP_ATTR_NORMAL, -1,
                "splice      none yet: lb splices the rest of a body once 64 KiB or more of it "
                "is to come");
        else
            add(l, o, LBTOP_ATTR_NORMAL, -1,
                "splice      idle  |  %s spliced in %llu transfer%s since lb started",
                lbtop_fmt_bytes(s->splice.bytes, total, sizeof(total)),
                (unsigned long long)s->splice.transfers, s->splice.transfers == 1 ? "" : "s");
        return;
    }
    if (sp->transfers_s > 0)
        snprintf(cache, sizeof(cache), ", %.0f%% of their pipes from the cache",
                 100.0 * sp->cached_share);
    add(l, o, LBTOP_ATTR_NORMAL, -1,
        "splice      %s/s through pipes, %.0f%% of the bytes  |  transfers %s/s%s",
        lbtop_fmt_bytes((uint64_t)sp->bytes_s, rate, sizeof(rate)), 100.0 * sp->share,
        lbtop_fmt_rate(sp->transfers_s, ts, sizeof(ts)), cache);
}

size_t lbtop_render_header(struct lbtop_lines *l, const struct lbtop_model *m,
                           const struct lbtop_render_opts *o, const char *shm_name)
{
    const struct stats_snapshot *s = m->cur;
    size_t n0 = l->n;
    char up[32];
    struct lbtop_line *line;

    if (!m->have_cur) {
        add(l, o, LBTOP_ATTR_TITLE, -1, "lbtop %s - %s", LBLAB_VERSION, shm_name);
        return l->n - n0;
    }
    uint64_t uptime = s->taken_mono_ns > s->start_mono_ns
                          ? (s->taken_mono_ns - s->start_mono_ns) / 1000000000u
                          : 0;
    char admin[80] = "";
    if (s->admin_addr.family != 0) { /* where the D and E keys send their requests */
        char a[64];
        snprintf(admin, sizeof(admin), "  admin %s",
                 stats_addr_format(&s->admin_addr, a, sizeof(a)));
    }
    add(l, o, LBTOP_ATTR_TITLE, -1,
        "lbtop - lb %s  pid %d  mode %s  policy %s  %u workers  up %s  [%s]%s",
        s->listen_text[0] ? s->listen_text : "?", (int)s->pid, stats_mode_name(s->mode),
        s->policy[0] ? s->policy : "?", s->nworkers, lbtop_fmt_age(uptime, up, sizeof(up)),
        s->shm_name, admin);
    bool tcp = lbtop_model_tcp(m);
    if (tcp)
        header_tcp(l, m, o);
    else
        header_http(l, m, o);
    header_loop(l, m, o);
    header_splice(l, m, o);

    /* Tabs, sort column, window. */
    char tabs[160] = "", win[48];
    size_t at = 0;
    for (unsigned v = 1; v <= LBTOP_VIEWS; v++)
        at += (size_t)snprintf(tabs + at, sizeof(tabs) - at, v == o->view ? "[%u %s] " : " %u %s  ",
                               v, lbtop_view_title(v, tcp));
    if (m->rates_since_start)
        snprintf(win, sizeof(win), "rates: average since start");
    else if (m->rate_span_s > 0)
        snprintf(win, sizeof(win), "rates over %.1fs%s", m->rate_span_s,
                 m->have_base ? " (reset)" : "");
    else
        snprintf(win, sizeof(win), "rates: waiting for a second sample");
    char tab[32];
    snprintf(tab, sizeof(tab), "[%u %s]", o->view, lbtop_view_title(o->view, tcp));
    line = add(l, o, LBTOP_ATTR_HEAD, -1, "%s sort: %s %s  %s%s", tabs, lbtop_sort_name(o->sort),
               o->sort <= LBTOP_SORT_NAME ? "asc" : "desc", win, o->paused ? "  PAUSED" : "");
    span(line, tab, 0, LBTOP_ATTR_TAB);
    if (o->message != NULL) /* a line of its own, where a narrow terminal cannot cut it off */
        add(l, o, LBTOP_ATTR_WARN, -1, "%s", o->message);
    return l->n - n0;
}

/* ---- views -------------------------------------------------------------------------------- */

static void row_attr(struct lbtop_line *line, const struct lbtop_render_opts *o, int row)
{
    if (row == o->selected)
        line->attr = LBTOP_ATTR_SELECTED;
}

/* A backend's row: highlighted when selected, else marked bad when the backend had errors. */
static void error_row_attr(struct lbtop_line *line, const struct lbtop_render_opts *o,
                           const struct stats_snapshot_backend *s, unsigned b)
{
    if (lbtop_backend_errors(s) > 0 && (int)b != o->selected)
        line->attr = LBTOP_ATTR_BAD;
    row_attr(line, o, (int)b);
}

static size_t view_status(struct lbtop_lines *l, const struct lbtop_model *m,
                          const struct lbtop_render_opts *o, const unsigned *order, size_t n)
{
    bool checks = m->cur->checks; /* a CHKFAIL column only when lb runs health checks */
    bool tcp = lbtop_model_tcp(m); /* no requests: no INFL and REQS columns */
    int nw = name_width(m, o, (checks ? 60 : 52) - (tcp ? 15 : 0), 40); /* REASON takes the rest */
    struct lbtop_line *line;
    char chk[16], mid[96];

    if (tcp)
        snprintf(mid, sizeof(mid), " %5s %5s %8s", "ACT", "PEAK", "CONNS");
    else
        snprintf(mid, sizeof(mid), " %5s %5s %5s %8s %8s", "ACT", "PEAK", "INFL", "CONNS", "REQS");
    add(l, o, LBTOP_ATTR_HEAD, -1, "%3s %-*s %-5s %6s%s %8s%s %s", "#", nw, "NAME", "STATE",
        "WEIGHT", mid, "LASTCHG", checks ? " CHKFAIL" : "", "REASON");
    for (size_t i = 0; i < n; i++) {
        unsigned b = order[i];
        const struct stats_snapshot_backend *s = &m->cur->backends[b];
        char age[32];
        uint64_t ago = o->now_wall_ns > s->last_change_wall_ns && s->last_change_wall_ns
                           ? (o->now_wall_ns - s->last_change_wall_ns) / 1000000000u
                           : 0;
        chk[0] = '\0';
        if (checks)
            snprintf(chk, sizeof(chk), " %7llu", (unsigned long long)s->checks_failed);
        if (tcp)
            snprintf(mid, sizeof(mid), " %5llu %5llu %8llu", (unsigned long long)s->active,
                     (unsigned long long)s->peak, (unsigned long long)s->conns_opened);
        else
            snprintf(mid, sizeof(mid), " %5llu %5llu %5llu %8llu %8llu",
                     (unsigned long long)s->active, (unsigned long long)s->peak,
                     (unsigned long long)s->inflight, (unsigned long long)s->conns_opened,
                     (unsigned long long)s->requests);
        line = add(l, o, LBTOP_ATTR_NORMAL, (int)b, "%3u %-*.*s %-5s %6u%s %8s%s %s", b, nw, nw,
                   s->name, stats_state_name(s->state), s->weight, mid,
                   s->last_change_wall_ns ? lbtop_fmt_age(ago, age, sizeof(age)) : "-", chk,
                   s->reason[0] ? s->reason : "-");
        span(line, stats_state_name(s->state), (size_t)(4 + nw), state_attr(s->state));
        row_attr(line, o, (int)b);
    }
    return n + 1;
}

static size_t view_traffic(struct lbtop_lines *l, const struct lbtop_model *m,
                           const struct lbtop_render_opts *o, const unsigned *order, size_t n)
{
    int nw = name_width(m, o, 3 + 1 + 1 + 7 + 1 + 7 + 2 + 10 + 2 + 4 * 8, 24);
    int fixed = 3 + 1 + nw + 1 + 7 + 1 + 7 + 2 + 2 + 7 + 1 + 7 + 1 + 7 + 1 + 7;
    int sw = o->width - fixed;
    struct lbtop_line *line;

    if (sw > LBTOP_HISTORY)
        sw = LBTOP_HISTORY;
    if (sw < 10)
        sw = 10;
    /* lb -m tcp: connections instead of requests (conn/s, open now, conn/s history) */
    bool tcp = lbtop_model_tcp(m);
    add(l, o, LBTOP_ATTR_HEAD, -1, "%3s %-*s %7s %7s  %-*s  %7s %7s %7s %7s", "#", nw, "NAME",
        tcp ? "CONN/S" : "REQ/S", tcp ? "ACTIVE" : "CONN/S", sw,
        tcp ? "CONN/S HISTORY" : "REQ/S HISTORY", "IN", "OUT", "IN/S", "OUT/S");
    for (size_t i = 0; i < n; i++) {
        unsigned b = order[i];
        const struct stats_snapshot_backend *s = &m->cur->backends[b];
        const struct lbtop_rates *r = &m->backend_rate[b];
        char rq[16], cr[16], in[16], out[16], ins[16], outs[16], spark[LBTOP_HISTORY * 4 + 1];
        lbtop_sparkline(tcp ? &m->backend_conn_history[b] : &m->backend_req_history[b], sw,
                        o->utf8, spark, sizeof(spark));
        if (tcp) {
            lbtop_fmt_rate(r->conn_s, rq, sizeof(rq));
            snprintf(cr, sizeof(cr), "%llu", (unsigned long long)s->active);
        } else {
            lbtop_fmt_rate(r->req_s, rq, sizeof(rq));
            lbtop_fmt_rate(r->conn_s, cr, sizeof(cr));
        }
        line = add(l, o, LBTOP_ATTR_NORMAL, (int)b, "%3u %-*.*s %7s %7s  %s  %7s %7s %7s %7s", b,
                   nw, nw, s->name, rq, cr, spark,
                   lbtop_fmt_bytes(s->bytes_in, in, sizeof(in)),
                   lbtop_fmt_bytes(s->bytes_out, out, sizeof(out)),
                   lbtop_fmt_bytes((uint64_t)r->in_s, ins, sizeof(ins)),
                   lbtop_fmt_bytes((uint64_t)r->out_s, outs, sizeof(outs)));
        row_attr(line, o, (int)b);
    }
    return n + 1;
}

static size_t view_http(struct lbtop_lines *l, const struct lbtop_model *m,
                        const struct lbtop_render_opts *o, const unsigned *order, size_t n)
{
    int nw = name_width(m, o, 100, 30);
    struct lbtop_line *line;

    add(l, o, LBTOP_ATTR_HEAD, -1, "%3s %-*s %8s %6s %8s %6s %6s %6s %5s %5s %5s %7s %7s %5s",
        "#", nw, "NAME", "REQS", "1XX", "2XX", "3XX", "4XX", "5XX", "502", "503", "504",
        "CONNERR", "TIMEOUT", "RETRY");
    for (size_t i = 0; i < n; i++) {
        unsigned b = order[i];
        const struct stats_snapshot_backend *s = &m->cur->backends[b];
        line = add(l, o, LBTOP_ATTR_NORMAL, (int)b,
                   "%3u %-*.*s %8llu %6llu %8llu %6llu %6llu %6llu %5llu %5llu %5llu %7llu %7llu "
                   "%5llu",
                   b, nw, nw, s->name, (unsigned long long)s->requests,
                   (unsigned long long)s->responses[1], (unsigned long long)s->responses[2],
                   (unsigned long long)s->responses[3], (unsigned long long)s->responses[4],
                   (unsigned long long)s->responses[5], (unsigned long long)s->resp_502,
                   (unsigned long long)s->resp_503, (unsigned long long)s->resp_504,
                   (unsigned long long)s->connect_errors, (unsigned long long)s->timeouts,
                   (unsigned long long)s->retries);
        error_row_attr(line, o, s, b);
    }
    return n + 1;
}

/* lb -m tcp, view 3: what happened to the connections each backend was given. */
static size_t view_conns(struct lbtop_lines *l, const struct lbtop_model *m,
                         const struct lbtop_render_opts *o, const unsigned *order, size_t n)
{
    int nw = name_width(m, o, 96, 30);
    struct lbtop_line *line;

    add(l, o, LBTOP_ATTR_HEAD, -1, "%3s %-*s %8s %8s %6s %6s %8s %7s %7s %5s %9s %9s", "#", nw,
        "NAME", "OPENED", "CLOSED", "ACT", "PEAK", "RELAYED", "CONNERR", "TIMEOUT", "RETRY",
        "IN/CONN", "OUT/CONN");
    for (size_t i = 0; i < n; i++) {
        unsigned b = order[i];
        const struct stats_snapshot_backend *s = &m->cur->backends[b];
        uint64_t done = s->responses[0]; /* lb's record of each relayed connection, ended */
        char in[16], out[16];
        line = add(l, o, LBTOP_ATTR_NORMAL, (int)b,
                   "%3u %-*.*s %8llu %8llu %6llu %6llu %8llu %7llu %7llu %5llu %9s %9s", b, nw,
                   nw, s->name, (unsigned long long)s->conns_opened,
                   (unsigned long long)s->conns_closed, (unsigned long long)s->active,
                   (unsigned long long)s->peak, (unsigned long long)done,
                   (unsigned long long)s->connect_errors, (unsigned long long)s->timeouts,
                   (unsigned long long)s->retries,
                   done ? lbtop_fmt_bytes(s->bytes_in / done, in, sizeof(in)) : "-",
                   done ? lbtop_fmt_bytes(s->bytes_out / done, out, sizeof(out)) : "-");
        error_row_attr(line, o, s, b);
    }
    return n + 1;
}

/* lb -m tcp, view 4: connecting to the backend, and each connection's whole life. */
static size_t view_timing_tcp(struct lbtop_lines *l, const struct lbtop_model *m,
                              const struct lbtop_render_opts *o, const unsigned *order, size_t n)
{
    int nw = name_width(m, o, 66, 24);
    struct lbtop_line *line;

    add(l, o, LBTOP_ATTR_HEAD, -1, "%3s %-*s | %-27s | %-27s", "", nw, "(milliseconds)",
        "CONNECT", "DURATION");
    add(l, o, LBTOP_ATTR_HEAD, -1, "%3s %-*s | %6s %6s %6s %6s | %6s %6s %6s %6s", "#", nw, "NAME",
        "p50", "p90", "p99", "max", "p50", "p90", "p99", "max");
    for (size_t i = 0; i < n; i++) {
        unsigned b = order[i];
        char c[2][4][16];
        struct stats_percentiles p;
        for (unsigned w = 0; w < 2; w++) {
            lbtop_model_backend_percentiles(m, b, w == 0 ? 0 : 2, &p); /* connect, total */
            lbtop_fmt_ms(p.p50_ms, c[w][0], sizeof(c[w][0]));
            lbtop_fmt_ms(p.p90_ms, c[w][1], sizeof(c[w][1]));
            lbtop_fmt_ms(p.p99_ms, c[w][2], sizeof(c[w][2]));
            lbtop_fmt_ms(p.max_ms, c[w][3], sizeof(c[w][3]));
        }
        line = add(l, o, LBTOP_ATTR_NORMAL, (int)b,
                   "%3u %-*.*s | %6s %6s %6s %6s | %6s %6s %6s %6s", b, nw, nw,
                   m->cur->backends[b].name, c[0][0], c[0][1], c[0][2], c[0][3], c[1][0],
                   c[1][1], c[1][2], c[1][3]);
        row_attr(line, o, (int)b);
    }
    return n + 2;
}

static size_t view_timing(struct lbtop_lines *l, const struct lbtop_model *m,
                          const struct lbtop_render_opts *o, const unsigned *order, size_t n)
{
    int nw = name_width(m, o, 96, 24);
    struct lbtop_line *line;

    if (lbtop_model_tcp(m))
        return view_timing_tcp(l, m, o, order, n);
    add(l, o, LBTOP_ATTR_HEAD, -1, "%3s %-*s | %-27s | %-27s | %-27s", "", nw, "(milliseconds)",
        "CONNECT", "FIRST BYTE", "TOTAL");
    add(l, o, LBTOP_ATTR_HEAD, -1,
        "%3s %-*s | %6s %6s %6s %6s | %6s %6s %6s %6s | %6s %6s %6s %6s", "#", nw, "NAME",
        "p50", "p90", "p99", "max", "p50", "p90", "p99", "max", "p50", "p90", "p99", "max");
    for (size_t i = 0; i < n; i++) {
        unsigned b = order[i];
        char c[4][4][16];
        struct stats_percentiles p[3];
        for (unsigned w = 0; w < 3; w++) {
            lbtop_model_backend_percentiles(m, b, w, &p[w]);
            lbtop_fmt_ms(p[w].p50_ms, c[w][0], sizeof(c[w][0]));
            lbtop_fmt_ms(p[w].p90_ms, c[w][1], sizeof(c[w][1]));
            lbtop_fmt_ms(p[w].p99_ms, c[w][2], sizeof(c[w][2]));
            lbtop_fmt_ms(p[w].max_ms, c[w][3], sizeof(c[w][3]));
        }
        line = add(l, o, LBTOP_ATTR_NORMAL, (int)b,
                   "%3u %-*.*s | %6s %6s %6s %6s | %6s %6s %6s %6s | %6s %6s %6s %6s", b, nw, nw,
                   m->cur->backends[b].name, c[0][0], c[0][1], c[0][2], c[0][3], c[1][0],
                   c[1][1], c[1][2], c[1][3], c[2][0], c[2][1], c[2][2], c[2][3]);
        row_attr(line, o, (int)b);
    }
    return n + 2;
}

/* "12.3ms" for the requests table. */
static char *fmt_total(uint64_t ns, char *buf, size_t len)
{
    char v[16];
    if (ns == 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%sms", lbtop_fmt_ms((double)ns / 1e6, v, sizeof(v)));
    return buf;
}

/* The backend of entry e as lbtop names it: the name lb gave it (the one its access log and
 * lbtrace show), else its address for an entry whose index is not in the table, else "-". */
static const char *entry_backend(const struct stats_snapshot *s, const struct stats_ring_entry *e,
                                 char *buf, size_t len)
{
    if (e->backend_index >= 0 && (uint32_t)e->backend_index < s->nbackends &&
        e->backend_index < STATS_MAX_BACKENDS)
        snprintf(buf, len, "%s", s->backends[e->backend_index].name);
    else
        stats_addr_format(&e->backend, buf, len);
    return buf;
}

static size_t view_requests(struct lbtop_lines *l, const struct lbtop_model *m,
                            const struct lbtop_render_opts *o)
{
    const struct stats_snapshot *s = m->cur;
    struct lbtop_line *line;
    size_t n0 = l->n;

    add(l, o, LBTOP_ATTR_HEAD, -1, "%-12s %-21s > %-6s | %-6s > %-21s %3s %8s %-7s %s", "TIME",
        "CLIENT", "LB", "LB", "BACKEND", "ST", "TOTAL", "METHOD", "PATH  [REQUEST-ID]");
    if (s->nrecent == 0)
        add(l, o, LBTOP_ATTR_DIM, -1, "(no requests yet)");
    size_t rows = o->max_requests && o->max_requests < s->nrecent ? o->max_requests : s->nrecent;
    for (size_t i = 0; i < rows; i++) {
        const struct stats_ring_entry *e = &s->recent[i];
        char t[32], client[64], front[16], back[16], server[64], tot[24], st[8];
        lbtop_fmt_clock(e->start_wall_ns, true, t, sizeof(t));
        stats_addr_format(&e->client, client, sizeof(client));
        entry_backend(s, e, server, sizeof(server));
        if (e->lb_front.family)
            snprintf(front, sizeof(front), ":%u", (unsigned)e->lb_front.port);
        else
            snprintf(front, sizeof(front), "-");
        if (e->lb_back.family)
            snprintf(back, sizeof(back), ":%u", (unsigned)e->lb_back.port);
        else
            snprintf(back, sizeof(back), "-");
        if (e->status)
            snprintf(st, sizeof(st), "%u", (unsigned)e->status);
        else
            snprintf(st, sizeof(st), "-");
        line = add(l, o, LBTOP_ATTR_NORMAL, (int)i,
                   "%-12s %21.21s > %-6s | %-6s > %-21.21s %3s %8s %-7.7s %s%s%s%s", t, client,
                   front, back, server, st, fmt_total(e->total_ns, tot, sizeof(tot)),
                   e->kind == STATS_ENTRY_TCP ? "(tcp)" : e->method, e->path,
                   e->request_id[0] ? "  [" : "", e->request_id, e->request_id[0] ? "]" : "");
        if (e->status >= 400 && (int)i != o->selected)
            span(line, st, 12 + 1 + 21 + 3 + 6 + 3 + 6 + 3 + 21, status_attr(e->status));
        row_attr(line, o, (int)i);
    }
    return l->n - n0;
}

/* lb -m tcp, view 5: the connections lb relayed last, newest first. */
static size_t view_recent_tcp(struct lbtop_lines *l, const struct lbtop_model *m,
                              const struct lbtop_render_opts *o)
{
    const struct stats_snapshot *s = m->cur;
    struct lbtop_line *line;
    size_t n0 = l->n;

    add(l, o, LBTOP_ATTR_HEAD, -1, "%-12s %-21s > %-6s | %-6s > %-21s %9s %8s %8s %8s %s", "TIME",
        "CLIENT", "LB", "LB", "BACKEND", "DURATION", "CONNECT", "IN", "OUT", "CONN");
    if (s->nrecent == 0)
        add(l, o, LBTOP_ATTR_DIM, -1, "(no connections yet)");
    size_t rows = o->max_requests && o->max_requests < s->nrecent ? o->max_requests : s->nrecent;
    for (size_t i = 0; i < rows; i++) {
        const struct stats_ring_entry *e = &s->recent[i];
        char t[32], client[64], front[16], back[16], server[64], dur[24], con[24], in[16], out[16];
        lbtop_fmt_clock(e->start_wall_ns, true, t, sizeof(t));
        stats_addr_format(&e->client, client, sizeof(client));
        entry_backend(s, e, server, sizeof(server));
        snprintf(front, sizeof(front), ":%u", (unsigned)e->lb_front.port);
        snprintf(back, sizeof(back), ":%u", (unsigned)e->lb_back.port);
        line = add(l, o, LBTOP_ATTR_NORMAL, (int)i,
                   "%-12s %21.21s > %-6s | %-6s > %-21.21s %9s %8s %8s %8s %u/%llu", t, client,
                   e->lb_front.family ? front : "-", e->lb_back.family ? back : "-", server, fmt_total(e->total_ns, dur, sizeof(dur)),
                   fmt_total(e->connect_ns, con, sizeof(con)),
                   lbtop_fmt_bytes(e->bytes_in, in, sizeof(in)),
                   lbtop_fmt_bytes(e->bytes_out, out, sizeof(out)), (unsigned)e->worker,
                   (unsigned long long)e->client_conn_id);
        if (e->backend_index < 0 && (int)i != o->selected)
            line->attr = LBTOP_ATTR_BAD; /* lb found no backend for it */
        row_attr(line, o, (int)i);
    }
    return l->n - n0;
}

/* One row of the WORKERS view: connections open, accepted and per second, requests (HTTP),
 * then the event loop as the header's line has it, for this worker alone. */
static struct lbtop_line *worker_row(struct lbtop_lines *l, const struct lbtop_render_opts *o,
                                     bool tcp, const char *id, uint64_t open, uint64_t accepted,
                                     uint64_t requests, const struct lbtop_worker_rates *r)
{
    char cs[16], rs[16], ws[16], hs[16], per[16], reqs[40] = "";
    const char *how = "-";
    snprintf(per, sizeof(per), "-");
    if (r->loop.writes_per_call > 0) {
        snprintf(per, sizeof(per), "%.1f", r->loop.writes_per_call);
        how = r->loop.uring_share >= 0.5 ? "io_uring" : "sendmsg";
    }
    if (!tcp)
        snprintf(reqs, sizeof(reqs), " %9llu %7s", (unsigned long long)requests,
                 lbtop_fmt_rate(r->req_s, rs, sizeof(rs)));
    return add(l, o, LBTOP_ATTR_NORMAL, -1, "%6s %6llu %9llu %7s%s %8s %7.1f %8s %9s %s", id,
               (unsigned long long)open, (unsigned long long)accepted,
               lbtop_fmt_rate(r->conn_s, cs, sizeof(cs)), reqs,
               lbtop_fmt_rate(r->loop.wakeups_s, ws, sizeof(ws)), r->loop.events_per_wakeup,
               lbtop_fmt_rate(r->loop.held_writes_s, hs, sizeof(hs)), per, how);
}

/* Each worker thread on its own: its connections (the hand-off spreads them), its requests, and
 * how much one wake-up finds and one system call writes. The last row is all of them. */
static size_t view_workers(struct lbtop_lines *l, const struct lbtop_model *m,
                           const struct lbtop_render_opts *o)
{
    const struct stats_snapshot *s = m->cur;
    bool tcp = lbtop_model_tcp(m);
    size_t n0 = l->n;
    char reqs[40] = "";
    if (!tcp)
        snprintf(reqs, sizeof(reqs), " %9s %7s", "REQS", "REQ/S");
    add(l, o, LBTOP_ATTR_HEAD, -1, "%6s %6s %9s %7s%s %8s %7s %8s %9s %s", "WORKER", "OPEN",
        "ACCEPTED", "CONN/S", reqs, "WAKE/S", "EV/WAKE", "HELD/S", "PER CALL", "WRITES");
    uint32_t shown = s->nworkers < STATS_SNAPSHOT_WORKERS ? s->nworkers : STATS_SNAPSHOT_WORKERS;
    for (uint32_t w = 0; w < shown; w++) {
        const struct stats_snapshot_worker *ws = &s->workers[w];
        char id[16];
        snprintf(id, sizeof(id), "%u", w);
        uint64_t open = ws->clients_accepted > ws->clients_closed
                            ? ws->clients_accepted - ws->clients_closed
                            : 0;
        worker_row(l, o, tcp, id, open, ws->clients_accepted, ws->requests, &m->worker_rate[w]);
    }
    if (s->nworkers > shown)
        add(l, o, LBTOP_ATTR_NORMAL, -1, "   ... %u more workers, counted in the row below",
            s->nworkers - shown);
    struct lbtop_worker_rates all = {.req_s = m->rate.req_s, .conn_s = m->rate.conn_s,
                                     .loop = m->loop};
    struct lbtop_line *line = worker_row(l, o, tcp, "all", s->clients_active, s->clients_accepted,
                                         s->requests, &all);
    line->attr = LBTOP_ATTR_HEAD;
    return l->n - n0;
}

size_t lbtop_render_view(struct lbtop_lines *l, const struct lbtop_model *m,
                         const struct lbtop_render_opts *o)
{
    unsigned order[STATS_MAX_BACKENDS];
    size_t n;

    if (!m->have_cur)
        return 0;
    n = lbtop_model_order(m, o->sort, order);
    switch (o->view) {
    case LBTOP_VIEW_TRAFFIC:
        return view_traffic(l, m, o, order, n);
    case LBTOP_VIEW_HTTP:
        return lbtop_model_tcp(m) ? view_conns(l, m, o, order, n) : view_http(l, m, o, order, n);
    case LBTOP_VIEW_TIMING:
        return view_timing(l, m, o, order, n);
    case LBTOP_VIEW_REQUESTS:
        return lbtop_model_tcp(m) ? view_recent_tcp(l, m, o) : view_requests(l, m, o);
    case LBTOP_VIEW_WORKERS:
        return view_workers(l, m, o);
    default:
        return view_status(l, m, o, order, n);
    }
}

/* ---- detail pages -------------------------------------------------------------------------- */

/* The TIMING table of backend b's page: a row per latency histogram kinds[k], named names[k]. */
static void timing_table(struct lbtop_lines *l, const struct lbtop_render_opts *o,
                         const struct lbtop_model *m, unsigned b, const char *const names[],
                         const unsigned kinds[], unsigned n)
{
    char x[5][24];
    add(l, o, LBTOP_ATTR_HEAD, -1, "  %-12s %8s %8s %8s %8s %8s %8s", "TIMING (ms)", "COUNT",
        "MEAN", "P50", "P90", "P99", "MAX");
    for (unsigned k = 0; k < n; k++) {
        struct stats_percentiles pc;
        lbtop_model_backend_percentiles(m, b, kinds[k], &pc);
        add(l, o, LBTOP_ATTR_NORMAL, -1, "  %-12s %8llu %8s %8s %8s %8s %8s", names[k],
            (unsigned long long)pc.count, lbtop_fmt_ms(pc.mean_ms, x[0], sizeof(x[0])),
            lbtop_fmt_ms(pc.p50_ms, x[1], sizeof(x[1])),
            lbtop_fmt_ms(pc.p90_ms, x[2], sizeof(x[2])),
            lbtop_fmt_ms(pc.p99_ms, x[3], sizeof(x[3])),
            lbtop_fmt_ms(pc.max_ms, x[4], sizeof(x[4])));
    }
}

/* The rest of backend b's page when lb relays whole connections: connections, bytes, connect
 * and duration, and the connections it was given last. */
static void backend_detail_tcp(struct lbtop_lines *l, const struct lbtop_model *m, unsigned b,
                               const struct lbtop_render_opts *o)
{
    const struct stats_snapshot_backend *s = &m->cur->backends[b];
    const struct lbtop_rates *r = &m->backend_rate[b];
    char x[8][24], spark[LBTOP_HISTORY * 4 + 1];

    add(l, o, LBTOP_ATTR_NORMAL, -1,
        "  connections  active %llu  peak %llu  opened %llu  closed %llu  relayed %llu  "
        "connect errors %llu  timeouts %llu  retried elsewhere %llu",
        (unsigned long long)s->active, (unsigned long long)s->peak,
        (unsigned long long)s->conns_opened, (unsigned long long)s->conns_closed,
        (unsigned long long)s->responses[0], (unsigned long long)s->connect_errors,
        (unsigned long long)s->timeouts, (unsigned long long)s->retries);
    add(l, o, LBTOP_ATTR_NORMAL, -1, "  bytes        from clients %s (%s/s)  to clients %s (%s/s)",
        lbtop_fmt_bytes(s->bytes_in, x[0], sizeof(x[0])),
        lbtop_fmt_bytes((uint64_t)r->in_s, x[1], sizeof(x[1])),
        lbtop_fmt_bytes(s->bytes_out, x[2], sizeof(x[2])),
        lbtop_fmt_bytes((uint64_t)r->out_s, x[3], sizeof(x[3])));
    add(l, o, LBTOP_ATTR_NORMAL, -1, "  conn/s %7s  %s",
        lbtop_fmt_rate(r->conn_s, x[4], sizeof(x[4])),
        lbtop_sparkline(&m->backend_conn_history[b], LBTOP_HISTORY, o->utf8, spark,
                        sizeof(spark)));
    static const char *const names[2] = {"connect", "duration"};
    static const unsigned kinds[2] = {0, 2};
    timing_table(l, o, m, b, names, kinds, 2);
    add(l, o, LBTOP_ATTR_HEAD, -1, "  RECENT CONNECTIONS RELAYED TO THIS BACKEND");
    size_t shown = 0;
    for (size_t i = 0; i < m->cur->nrecent && shown < 10; i++) {
        const struct stats_ring_entry *e = &m->cur->recent[i];
        char t[32], client[64], tot[24];
        if (e->backend_index != (int)b)
            continue;
        add(l, o, LBTOP_ATTR_NORMAL, -1, "  %s  %s  %s  in %s  out %s",
            lbtop_fmt_clock(e->start_wall_ns, true, t, sizeof(t)),
            stats_addr_format(&e->client, client, sizeof(client)),
            fmt_total(e->total_ns, tot, sizeof(tot)), lbtop_fmt_bytes(e->bytes_in, x[0], sizeof(x[0])),
            lbtop_fmt_bytes(e->bytes_out, x[1], sizeof(x[1])));
        shown++;
    }
    if (shown == 0)
        add(l, o, LBTOP_ATTR_DIM, -1, "  (none in the ring)");
}

size_t lbtop_render_backend_detail(struct lbtop_lines *l, const struct lbtop_model *m,
                                   unsigned b, const struct lbtop_render_opts *o)
{
    size_t n0 = l->n;
    const struct lbtop_render_opts *p = o;
    char a[64], ago[32], clock[32], x[8][24], spark[LBTOP_HISTORY * 4 + 1];

    if (!m->have_cur || b >= m->cur->nbackends || b >= STATS_MAX_BACKENDS) {
        add(l, p, LBTOP_ATTR_DIM, -1, "(no such backend)");
        return l->n - n0;
    }
    const struct stats_snapshot_backend *s = &m->cur->backends[b];
    const struct lbtop_rates *r = &m->backend_rate[b];
    uint64_t since = o->now_wall_ns > s->last_change_wall_ns && s->last_change_wall_ns
                         ? (o->now_wall_ns - s->last_change_wall_ns) / 1000000000u
                         : 0;

    add(l, p, LBTOP_ATTR_TITLE, (int)b, "BACKEND %u: %s  (Enter or Esc: back)", b, s->name);
    add(l, p, LBTOP_ATTR_NORMAL, -1, "  host %s  port %u  resolved %s", s->host,
        (unsigned)s->port, stats_addr_format(&s->resolved, a, sizeof(a)));
    struct lbtop_line *line =
        add(l, p, LBTOP_ATTR_NORMAL, -1, "  state %s since %s (%s ago)  weight %u",
            stats_state_name(s->state), lbtop_fmt_clock(s->last_change_wall_ns, false, clock,
                                                        sizeof(clock)),
            lbtop_fmt_age(since, ago, sizeof(ago)), s->weight);
    span(line, stats_state_name(s->state), 8, state_attr(s->state));
    add(l, p, LBTOP_ATTR_NORMAL, -1, "  why          %s", s->reason[0] ? s->reason : "-");
    if (m->cur->checks)
        add(l, p, LBTOP_ATTR_NORMAL, -1, "  checks       run %llu  failed %llu",
            (unsigned long long)s->checks_total, (unsigned long long)s->checks_failed);
    if (lbtop_model_tcp(m)) {
        backend_detail_tcp(l, m, b, o);
        return l->n - n0;
    }
    add(l, p, LBTOP_ATTR_NORMAL, -1,
        "  connections  active %llu  peak %llu  opened %llu  closed %llu  reused %llu  "
        "connect errors %llu",
        (unsigned long long)s->active, (unsigned long long)s->peak,
        (unsigned long long)s->conns_opened, (unsigned long long)s->conns_closed,
        (unsigned long long)s->conns_reused, (unsigned long long)s->connect_errors);
    add(l, p, LBTOP_ATTR_NORMAL, -1,
        "  requests     sent %llu  finished %llu  in flight %llu  retried elsewhere %llu  "
        "timeouts %llu",
        (unsigned long long)s->requests, (unsigned long long)s->requests_done,
        (unsigned long long)s->inflight, (unsigned long long)s->retries,
        (unsigned long long)s->timeouts);
    add(l, p, LBTOP_ATTR_NORMAL, -1,
        "  responses    1xx %llu  2xx %llu  3xx %llu  4xx %llu  5xx %llu  (502 %llu  503 %llu  "
        "504 %llu)  none %llu",
        (unsigned long long)s->responses[1], (unsigned long long)s->responses[2],
        (unsigned long long)s->responses[3], (unsigned long long)s->responses[4],
        (unsigned long long)s->responses[5], (unsigned long long)s->resp_502,
        (unsigned long long)s->resp_503, (unsigned long long)s->resp_504,
        (unsigned long long)s->responses[0]);
    add(l, p, LBTOP_ATTR_NORMAL, -1, "  bytes        in %s (%s/s)  out %s (%s/s)",
        lbtop_fmt_bytes(s->bytes_in, x[0], sizeof(x[0])),
        lbtop_fmt_bytes((uint64_t)r->in_s, x[1], sizeof(x[1])),
        lbtop_fmt_bytes(s->bytes_out, x[2], sizeof(x[2])),
        lbtop_fmt_bytes((uint64_t)r->out_s, x[3], sizeof(x[3])));
    add(l, p, LBTOP_ATTR_NORMAL, -1, "  req/s  %7s  %s", lbtop_fmt_rate(r->req_s, x[4], sizeof(x[4])),
        lbtop_sparkline(&m->backend_req_history[b], LBTOP_HISTORY, o->utf8, spark, sizeof(spark)));
    add(l, p, LBTOP_ATTR_NORMAL, -1, "  conn/s %7s  %s",
        lbtop_fmt_rate(r->conn_s, x[5], sizeof(x[5])),
        lbtop_sparkline(&m->backend_conn_history[b], LBTOP_HISTORY, o->utf8, spark,
                        sizeof(spark)));
    static const char *const names[3] = {"connect", "first byte", "total"};
    static const unsigned kinds[3] = {0, 1, 2};
    timing_table(l, p, m, b, names, kinds, 3);
    add(l, p, LBTOP_ATTR_HEAD, -1, "  RECENT REQUESTS TO THIS BACKEND");
    size_t shown = 0;
    for (size_t i = 0; i < m->cur->nrecent && shown < 10; i++) {
        const struct stats_ring_entry *e = &m->cur->recent[i];
        char t[32], client[64], tot[24];
        if (e->backend_index != (int)b)
            continue;
        add(l, p, LBTOP_ATTR_NORMAL, -1, "  %s  %s  %u  %s  %s %s", lbtop_fmt_clock(e->start_wall_ns, true, t, sizeof(t)),
            stats_addr_format(&e->client, client, sizeof(client)), (unsigned)e->status,
            fmt_total(e->total_ns, tot, sizeof(tot)), e->method, e->path);
        shown++;
    }
    if (shown == 0)
        add(l, p, LBTOP_ATTR_DIM, -1, "  (none in the ring)");
    return l->n - n0;
}

/* The page of one connection lb relayed whole (-m tcp): both legs, bytes each way, times. */
static void connection_detail(struct lbtop_lines *l, const struct stats_ring_entry *e,
                              const char *bname, const struct lbtop_render_opts *o)
{
    char t[32], a[4][64], x[4][24];

    add(l, o, LBTOP_ATTR_TITLE, -1, "CONNECTION relayed whole (lb -m tcp)  (Enter or Esc: back)");
    add(l, o, LBTOP_ATTR_NORMAL, -1, "  started       %s",
        lbtop_fmt_clock(e->start_wall_ns, true, t, sizeof(t)));
    add(l, o, LBTOP_ATTR_HEAD, -1, "  CLIENT LEG");
    add(l, o, LBTOP_ATTR_NORMAL, -1, "    client %s  ->  lb %s   (connection #%llu)",
        stats_addr_format(&e->client, a[0], sizeof(a[0])),
        stats_addr_format(&e->lb_front, a[1], sizeof(a[1])), (unsigned long long)e->client_conn_id);
    add(l, o, LBTOP_ATTR_NORMAL, -1, "    bytes from the client %s  to the client %s",
        lbtop_fmt_bytes(e->bytes_in, x[0], sizeof(x[0])),
        lbtop_fmt_bytes(e->bytes_out, x[1], sizeof(x[1])));
    add(l, o, LBTOP_ATTR_HEAD, -1, "  BACKEND LEG");
    if (e->backend_index < 0 && e->lb_back.family == 0) {
        add(l, o, LBTOP_ATTR_BAD, -1, "    none: lb reached no backend and closed the connection");
    } else {
        add(l, o, LBTOP_ATTR_NORMAL, -1, "    lb %s  ->  backend %s %s   (worker %u%s)",
            stats_addr_format(&e->lb_back, a[2], sizeof(a[2])), bname,
            stats_addr_format(&e->backend, a[3], sizeof(a[3])), (unsigned)e->worker,
            e->flags & STATS_ENTRY_RETRIED ? ", retried" : "");
        add(l, o, LBTOP_ATTR_NORMAL, -1, "    the same bytes, relayed unread both ways%s",
            e->flags & STATS_ENTRY_SPLICED ? ", the bulk of them spliced through a pipe" : "");
    }
    add(l, o, LBTOP_ATTR_NORMAL, -1, "    connect %s ms  duration %s ms  retries %u",
        lbtop_fmt_ms((double)e->connect_ns / 1e6, x[0], sizeof(x[0])),
        lbtop_fmt_ms((double)e->total_ns / 1e6, x[1], sizeof(x[1])), e->retries);
}

size_t lbtop_render_request_detail(struct lbtop_lines *l, const struct lbtop_model *m,
                                   unsigned i, const struct lbtop_render_opts *o)
{
    size_t n0 = l->n;
    char t[32], a[4][64], x[4][24];

    if (!m->have_cur || i >= m->cur->nrecent) {
        add(l, o, LBTOP_ATTR_DIM, -1, "(that request has left the ring)");
        return l->n - n0;
    }
    const struct stats_ring_entry *e = &m->cur->recent[i];
    char bname[STATS_TEXT_LEN + 64];
    entry_backend(m->cur, e, bname, sizeof(bname));
    if (e->kind == STATS_ENTRY_TCP) {
        connection_detail(l, e, bname, o);
        return l->n - n0;
    }
    add(l, o, LBTOP_ATTR_TITLE, -1, "REQUEST %s %s  (Enter or Esc: back)",
        e->kind == STATS_ENTRY_TCP ? "(tcp connection)" : e->method, e->path);
    add(l, o, LBTOP_ATTR_NORMAL, -1, "  request id    %s", e->request_id[0] ? e->request_id : "-");
    add(l, o, LBTOP_ATTR_NORMAL, -1, "  started       %s", lbtop_fmt_clock(e->start_wall_ns, true, t, sizeof(t)));
    struct lbtop_line *line =
        add(l, o, LBTOP_ATTR_NORMAL, -1, "  status        %u%s", (unsigned)e->status,
            e->flags & STATS_ENTRY_GENERATED ? " (answered by lb)" : "");
    if (e->status >= 400)
        line->attr = status_attr(e->status);
    add(l, o, LBTOP_ATTR_HEAD, -1, "  CLIENT LEG");
    add(l, o, LBTOP_ATTR_NORMAL, -1, "    client %s  ->  lb %s   (connection #%llu, request %u on it)",
        stats_addr_format(&e->client, a[0], sizeof(a[0])),
        stats_addr_format(&e->lb_front, a[1], sizeof(a[1])),
        (unsigned long long)e->client_conn_id, e->conn_request);
    add(l, o, LBTOP_ATTR_NORMAL, -1, "    bytes in %s  out %s",
        lbtop_fmt_bytes(e->bytes_in, x[0], sizeof(x[0])),
        lbtop_fmt_bytes(e->bytes_out, x[1], sizeof(x[1])));
    if (e->flags & STATS_ENTRY_CLIENT_TLS)
        add(l, o, LBTOP_ATTR_NORMAL, -1,
            "    over TLS (lb's HTTPS listener): lb decrypted the request to read it");
    if (e->flags & STATS_ENTRY_SPLICED)
        add(l, o, LBTOP_ATTR_NORMAL, -1,
            "    spliced: most of the body went socket to socket through a pipe, not through lb");
    add(l, o, LBTOP_ATTR_HEAD, -1, "  BACKEND LEG");
    add(l, o, LBTOP_ATTR_NORMAL, -1, "    lb %s  ->  backend %s %s   (worker %u%s%s)",
        stats_addr_format(&e->lb_back, a[2], sizeof(a[2])), bname,
        stats_addr_format(&e->backend, a[3], sizeof(a[3])), (unsigned)e->worker,
        e->flags & STATS_ENTRY_REUSED ? ", reused connection" : "",
        e->flags & STATS_ENTRY_RETRIED ? ", retried" : "");
    add(l, o, LBTOP_ATTR_NORMAL, -1, "    connect %s ms  first byte %s ms  total %s ms  retries %u",
        lbtop_fmt_ms((double)e->connect_ns / 1e6, x[0], sizeof(x[0])),
        lbtop_fmt_ms((double)e->ttfb_ns / 1e6, x[1], sizeof(x[1])),
        lbtop_fmt_ms((double)e->total_ns / 1e6, x[2], sizeof(x[2])), e->retries);
    if (e->flags & STATS_ENTRY_BACKEND_TLS)
        add(l, o, LBTOP_ATTR_NORMAL, -1, "    over TLS (-b ...,tls): lb encrypted it again");
    return l->n - n0;
}

void lbtop_render_text(struct lbtop_lines *l, const struct lbtop_render_opts *o, unsigned attr,
                       const char *text)
{
    add(l, o, (uint8_t)attr, -1, "%s", text);
}

size_t lbtop_render_help(struct lbtop_lines *l, const struct lbtop_render_opts *o)
{
    static const char *const text[] = {
        "lbtop keys",
        "",
        "  1 .. 6      views: STATUS, TRAFFIC, HTTP, TIMING, REQUESTS, WORKERS",
        "  Tab         next view (Shift-Tab: previous)",
        "  Up / Down   select a backend (in REQUESTS: a request); PgUp / PgDn, Home / End",
        "  Enter       open the selection's detail page; Enter or Esc closes it",
        "  s  >        sort by the next column;  <  the previous column",
        "  p           pause (the screen stops changing; lb keeps counting)",
        "  r           reset the rate window, sparklines and percentiles",
        "  D  E        drain / enable the selected backend (lb --admin: through its endpoint)",
        "  ?           this help (any key closes it)",
        "  q           quit",
        "",
        "With lb -m tcp (whole connections relayed, no requests read), view 3 is CONNS and",
        "view 5 RECENT: connections, bytes each way and connection durations per backend.",
        "",
        "Rates average the last 5 refreshes; percentiles cover lb's life, or the time since 'r'.",
        "Latencies are in milliseconds, reported as the top of a histogram bucket (12.5% wide).",
    };
    size_t n0 = l->n;

    for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
        add(l, o, i == 0 ? LBTOP_ATTR_TITLE : LBTOP_ATTR_NORMAL, -1, "%s", text[i]);
    return l->n - n0;
}
