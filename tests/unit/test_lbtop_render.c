/* test_lbtop_render.c - unit tests of lbtop's screens as text (lbtop/render.c) and of its batch
 * reports (lbtop/report.c): headings, rows, widths, sparklines, the JSON document. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lbtop/render.h"
#include "../../lbtop/report.h"

#define SEC UINT64_C(1000000000)

static struct lbtop_model m;

static int setup(void **state)
{
    struct stats_snapshot *s;
    (void)state;

    assert_int_equal(lbtop_model_init(&m), 0);
    s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->pid = 1234;
    s->mode = STATS_MODE_HTTP;
    s->nworkers = 2;
    s->nbackends = 2;
    s->start_mono_ns = 1 * SEC;
    s->taken_mono_ns = 61 * SEC;
    strcpy(s->listen_text, "0.0.0.0:3000");
    strcpy(s->policy, "rr");
    strcpy(s->shm_name, "/lblab-3000");
    s->requests = 30;
    s->responses[2] = 25;
    s->responses[5] = 5;
    s->clients_accepted = 10;
    strcpy(s->backends[0].name, "alpha"); /* -b localhost:3001,name=alpha */
    strcpy(s->backends[1].name, "beta");
    strcpy(s->backends[0].host, "localhost");
    strcpy(s->backends[1].host, "localhost");
    s->backends[0].port = 3001;
    s->backends[1].port = 3002;
    s->backends[0].state = STATS_BACKEND_UP;
    s->backends[1].state = STATS_BACKEND_DOWN;
    strcpy(s->backends[1].reason, "3 checks failed: connect refused");
    s->backends[1].checks_total = 7;
    s->backends[1].checks_failed = 4;
    s->backends[0].requests = 20;
    s->backends[0].responses[2] = 20;
    s->backends[1].requests = 10;
    s->backends[1].responses[2] = 5;
    s->backends[1].responses[5] = 5;
    s->backends[1].resp_502 = 5;
    s->backends[0].total.buckets[stats_hist_bucket(1500)] = 20;
    s->backends[0].total.count = 20;
    s->backends[0].total.max_ns = 1500000;
    s->nrecent = 1;
    struct stats_ring_entry *e = &s->recent[0];
    e->kind = STATS_ENTRY_HTTP;
    e->status = 502;
    e->backend_index = 1;
    e->client.family = 4;
    e->client.port = 51000;
    inet_pton(AF_INET, "127.0.0.1", e->client.addr);
    e->backend = e->client;
    e->backend.port = 3002;
    strcpy(e->method, "GET");
    strcpy(e->path, "/a \"quoted\" path");
    strcpy(e->request_id, "abc123");
    lbtop_model_push(&m, s);
    free(s);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lbtop_model_free(&m);
    return 0;
}

static struct lbtop_render_opts opts(unsigned view, int width)
{
    struct lbtop_render_opts o = {.width = width, .view = view, .selected = -1};
    return o;
}

static bool any_line_has(const struct lbtop_lines *l, const char *needle)
{
    for (size_t i = 0; i < l->n; i++)
        if (strstr(l->v[i].text, needle) != NULL)
            return true;
    return false;
}

/* A snapshot of an lb in http mode with nworkers workers, taken 9 s after its start; the tests
 * below push it, move its clock a second on and push it again with more counted. */
static struct stats_snapshot *snapshot_of(int pid, uint32_t nworkers)
{
    struct stats_snapshot *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->pid = pid;
    s->mode = STATS_MODE_HTTP;
    s->nworkers = nworkers;
    s->start_mono_ns = 1 * SEC;
    s->taken_mono_ns = 10 * SEC;
    return s;
}

/* Fails, printing the header, unless a line of the header m renders has want. */
static void expect_header_has(const struct lbtop_model *mm, const char *want)
{
    struct lbtop_lines l;
    struct lbtop_render_opts o = opts(LBTOP_VIEW_HTTP, 150);
    lbtop_lines_init(&l);
    lbtop_render_header(&l, mm, &o, "/lblab-3000");
    if (!any_line_has(&l, want)) {
        for (size_t i = 0; i < l.n; i++)
            fprintf(stderr, "# %s\n", l.v[i].text);
        fail_msg("no header line has \"%s\"", want);
    }
    lbtop_lines_free(&l);
}

/* The header's event-loop line for two snapshots a second apart, the second adding wakeups,
 * events, held writes and the io_uring_enter() and sendmsg() calls that made them. */
static void expect_loop_line(uint64_t wakeups, uint64_t events, uint64_t writes, uint64_t uring,
                             uint64_t sendmsg, const char *want)
{
    struct lbtop_model mm;
    struct stats_snapshot *s = snapshot_of(77, 1);
    assert_int_equal(lbtop_model_init(&mm), 0);
    s->loop.wakeups = 1000; /* before the window: must not count */
    s->loop.events = 90000;
    s->loop.held_writes = 70000;
    s->loop.uring_calls = 3;
    lbtop_model_push(&mm, s);
    s->taken_mono_ns = 11 * SEC;
    s->loop.wakeups += wakeups;
    s->loop.events += events;
    s->loop.held_writes += writes;
    s->loop.uring_calls += uring;
    s->loop.sendmsg_calls += sendmsg;
    lbtop_model_push(&mm, s);

    expect_header_has(&mm, want);
    lbtop_model_free(&mm);
    free(s);
}

static void test_header_shows_what_a_wake_up_finds_and_how_held_writes_go_out(void **state)
{
    (void)state;
    /* under load: 5 events per wake-up, 8 held writes per io_uring_enter() */
    expect_loop_line(2048, 10240, 8192, 1024, 0,
                     "event loop  wake-ups 2.00K/s  5.0 events each  |  held writes 8.00K/s  "
                     "8.0 per io_uring_enter()");
    /* without io_uring: one sendmsg() per held write */
    expect_loop_line(2048, 10240, 8192, 0, 8192, "held writes 8.00K/s  one sendmsg() each (no io_uring)");
    /* one client: one event per wake-up, nothing held */
    expect_loop_line(20480, 20480, 0, 0, 0,
                     "wake-ups 20.0K/s  1.0 events each  |  held writes 0/s  (a wake-up with one "
                     "event writes at once)");
    /* nothing happened in the window */
    expect_loop_line(0, 0, 0, 0, 0, "event loop  idle: no wake-up with events");
}

/* The header's splice line for two snapshots a second apart (splice on unless off), the second
 * adding bytes spliced, transfers, pipes made and bytes sent to clients. */
static void expect_splice_line(bool off, uint64_t bytes, uint64_t transfers, uint64_t made,
                               uint64_t out, const char *want)
{
    struct lbtop_model mm;
    struct stats_snapshot *s = snapshot_of(79, 1);
    assert_int_equal(lbtop_model_init(&mm), 0);
    s->splice_on = !off;
    lbtop_model_push(&mm, s);
    s->taken_mono_ns = 11 * SEC;
    s->splice.bytes += bytes;
    s->splice.transfers += transfers;
    s->splice.pipes_made += made;
    s->bytes_out += out;
    lbtop_model_push(&mm, s);
    for (int i = 1; transfers > 0 && i <= LBTOP_WINDOW; i++) { /* then seconds of nothing */
        s->taken_mono_ns = (11 + (uint64_t)i) * SEC;
        lbtop_model_push(&mm, s);
    }

    expect_header_has(&mm, want);
    lbtop_model_free(&mm);
    free(s);
}

static void test_header_shows_what_went_through_pipes(void **state)
{
    (void)state;
    expect_splice_line(true, 0, 0, 0, 0, "splice      off (--no-splice)");
    expect_splice_line(false, 0, 0, 0, 4096, "splice      none yet:");
    /* the rates line needs them inside the window: here they are the last second's */
    struct lbtop_model mm;
    struct stats_snapshot *s = snapshot_of(80, 1);
    assert_int_equal(lbtop_model_init(&mm), 0);
    s->splice_on = true;
    lbtop_model_push(&mm, s);
    s->taken_mono_ns = 11 * SEC;
    s->splice.bytes = 3 << 20;   /* 3 MiB through pipes */
    s->bytes_out = 4 << 20;      /* of 4 MiB sent */
    s->splice.transfers = 4;
    s->splice.pipes_made = 1;    /* three lent by the cache */
    lbtop_model_push(&mm, s);
    expect_header_has(&mm, "splice      3.00M/s through pipes, 75% of the bytes  |  transfers "
                           "4.00/s, 75% of their pipes from the cache");
    lbtop_model_free(&mm);
    free(s);
    /* once the window has passed them: the totals since lb started */
    expect_splice_line(false, 3 << 20, 4, 1, 4 << 20,
                       "splice      idle  |  3.00M spliced in 4 transfers since lb started");
}

static void test_workers_view_shows_each_worker_and_all(void **state)
{
    (void)state;
    struct lbtop_model mm;
    struct stats_snapshot *s = snapshot_of(78, 2);
    assert_int_equal(lbtop_model_init(&mm), 0);
    lbtop_model_push(&mm, s);
    s->taken_mono_ns = 11 * SEC; /* a second later: */
    struct stats_snapshot_worker *w0 = &s->workers[0], *w1 = &s->workers[1];
    w0->clients_accepted = 20; /* worker 0: 12 open, 2048 requests, io_uring */
    w0->clients_closed = 8;
    w0->requests = 2048;
    w0->loop.wakeups = 1024;
    w0->loop.events = 5120;
    w0->loop.held_writes = 4096;
    w0->loop.uring_calls = 512;
    w1->clients_accepted = 4; /* worker 1: without io_uring */
    w1->requests = 1024;
    w1->loop.wakeups = 1024;
    w1->loop.events = 1024;
    w1->loop.held_writes = 10;
    w1->loop.sendmsg_calls = 10;
    s->clients_accepted = 24;
    s->clients_active = 16;
    s->requests = 3072;
    s->loop.wakeups = 2048;
    s->loop.events = 6144;
    s->loop.held_writes = 4106;
    s->loop.uring_calls = 512;
    s->loop.sendmsg_calls = 10;
    lbtop_model_push(&mm, s);

    struct lbtop_lines l;
    struct lbtop_render_opts o = opts(LBTOP_VIEW_WORKERS, 150);
    lbtop_lines_init(&l);
    assert_int_equal(lbtop_render_view(&l, &mm, &o), 4); /* heading, two workers, all */
    assert_non_null(strstr(l.v[0].text, "WORKER"));
    assert_non_null(strstr(l.v[0].text, "EV/WAKE"));
    assert_string_equal(l.v[1].text, "     0     12        20    20.0      2048   2.00K    1.00K "
                                     "    5.0    4.00K       8.0 io_uring");
    assert_string_equal(l.v[2].text, "     1      4         4    4.00      1024   1.00K    1.00K "
                                     "    1.0     10.0       1.0 sendmsg");
    assert_non_null(strstr(l.v[3].text, "   all     16        24"));
    assert_non_null(strstr(l.v[3].text, "3.00K"));
    lbtop_lines_clear(&l);
    s->mode = STATS_MODE_TCP; /* no requests: no REQS and REQ/S columns */
    lbtop_model_push(&mm, s);
    lbtop_render_view(&l, &mm, &o);
    assert_null(strstr(l.v[0].text, "REQS"));
    lbtop_lines_free(&l);
    lbtop_model_free(&mm);
    free(s);
}

static void test_header_names_lb_and_the_current_view(void **state)
{
    struct lbtop_lines l;
    struct lbtop_render_opts o = opts(LBTOP_VIEW_HTTP, 150);
    (void)state;

    lbtop_lines_init(&l);
    o.sort = LBTOP_SORT_REQUESTS;
    o.paused = true;
    lbtop_render_header(&l, &m, &o, "/lblab-3000");
    assert_true(any_line_has(&l, "0.0.0.0:3000"));
    assert_true(any_line_has(&l, "pid 1234"));
    assert_true(any_line_has(&l, "mode http"));
    assert_true(any_line_has(&l, "policy rr"));
    assert_true(any_line_has(&l, "up 1m00s"));
    assert_true(any_line_has(&l, "[3 HTTP]"));
    assert_true(any_line_has(&l, "sort: REQS"));
    assert_true(any_line_has(&l, "PAUSED"));
    assert_true(any_line_has(&l, "req/conn 3.00"));
    lbtop_lines_free(&l);
}

static void test_each_view_has_its_columns_and_one_row_per_backend(void **state)
{
    static const char *const heads[] = {"",           "LASTCHG", "REQ/S HISTORY", "CONNERR",
                                        "FIRST BYTE", "BACKEND", "EV/WAKE"};
    struct lbtop_lines l;
    (void)state;

    lbtop_lines_init(&l);
    for (unsigned v = 1; v <= LBTOP_VIEWS; v++) {
        struct lbtop_render_opts o = opts(v, 150);
        lbtop_lines_clear(&l);
        lbtop_render_view(&l, &m, &o);
        assert_true(any_line_has(&l, heads[v]));
        if (v != LBTOP_VIEW_REQUESTS && v != LBTOP_VIEW_WORKERS) {
            assert_true(any_line_has(&l, "alpha"));
            assert_true(any_line_has(&l, "beta"));
        }
    }
    struct lbtop_render_opts o = opts(LBTOP_VIEW_STATUS, 150);
    lbtop_lines_clear(&l);
    lbtop_render_view(&l, &m, &o);
    assert_true(any_line_has(&l, "DOWN"));
    o = opts(LBTOP_VIEW_REQUESTS, 150);
    lbtop_lines_clear(&l);
    lbtop_render_view(&l, &m, &o);
    assert_true(any_line_has(&l, "127.0.0.1:51000"));
    assert_true(any_line_has(&l, "beta")); /* the backend's name, as everywhere else */
    assert_false(any_line_has(&l, "127.0.0.1:3002"));
    assert_true(any_line_has(&l, "[abc123]"));
    lbtop_lines_free(&l);
}

static void test_request_detail_names_the_backend_and_its_address(void **state)
{
    struct lbtop_lines l;
    struct lbtop_render_opts o = opts(LBTOP_VIEW_REQUESTS, 150);
    (void)state;

    lbtop_lines_init(&l);
    lbtop_render_request_detail(&l, &m, 0, &o);
    assert_true(any_line_has(&l, "->  backend beta 127.0.0.1:3002"));
    lbtop_lines_free(&l);
}

static void test_request_detail_says_which_legs_were_tls(void **state)
{
    struct lbtop_lines l;
    struct lbtop_render_opts o = opts(LBTOP_VIEW_REQUESTS, 150);
    /* the fixture's one request, marked as if it came over HTTPS and went on over TLS */
    struct stats_ring_entry *e = (struct stats_ring_entry *)&m.cur->recent[0];
    uint8_t flags = e->flags;
    (void)state;

    lbtop_lines_init(&l);
    lbtop_render_request_detail(&l, &m, 0, &o);
    assert_false(any_line_has(&l, "over TLS"));
    lbtop_lines_free(&l);
    e->flags |= STATS_ENTRY_CLIENT_TLS | STATS_ENTRY_BACKEND_TLS;
    lbtop_lines_init(&l);
    lbtop_render_request_detail(&l, &m, 0, &o);
    e->flags = flags;
    assert_true(any_line_has(&l, "lb decrypted the request"));
    assert_true(any_line_has(&l, "lb encrypted it again"));
    lbtop_lines_free(&l);
}

static void test_request_detail_says_when_the_body_was_spliced(void **state)
{
    struct lbtop_lines l;
    struct lbtop_render_opts o = opts(LBTOP_VIEW_REQUESTS, 150);
    struct stats_ring_entry *e = (struct stats_ring_entry *)&m.cur->recent[0];
    uint8_t flags = e->flags, kind = e->kind;
    (void)state;

    lbtop_lines_init(&l);
    lbtop_render_request_detail(&l, &m, 0, &o);
    assert_false(any_line_has(&l, "spliced"));
    lbtop_lines_clear(&l);
    e->flags |= STATS_ENTRY_SPLICED;
    lbtop_render_request_detail(&l, &m, 0, &o);
    assert_true(any_line_has(&l, "spliced: most of the body went socket to socket through a pipe"));
    lbtop_lines_clear(&l);
    e->kind = STATS_ENTRY_TCP; /* a relayed connection says it with its bytes */
    lbtop_render_request_detail(&l, &m, 0, &o);
    e->flags = flags;
    e->kind = kind;
    assert_true(any_line_has(&l, "relayed unread both ways, the bulk of them spliced"));
    lbtop_lines_free(&l);
}

static void test_lines_never_exceed_the_width(void **state)
{
    struct lbtop_lines l;
    (void)state;

    lbtop_lines_init(&l);
    for (unsigned v = 1; v <= LBTOP_VIEWS; v++) {
        struct lbtop_render_opts o = opts(v, 40);
        lbtop_render_header(&l, &m, &o, "/lblab-3000");
        lbtop_render_view(&l, &m, &o);
        lbtop_render_backend_detail(&l, &m, 0, &o);
        lbtop_render_request_detail(&l, &m, 0, &o);
    }
    for (size_t i = 0; i < l.n; i++)
        assert_true(strlen(l.v[i].text) <= 40);
    lbtop_lines_free(&l);
}

static void test_selected_row_is_marked(void **state)
{
    struct lbtop_lines l;
    struct lbtop_render_opts o = opts(LBTOP_VIEW_STATUS, 150);
    (void)state;

    lbtop_lines_init(&l);
    o.selected = 1;
    lbtop_render_view(&l, &m, &o);
    size_t marked = 0;
    for (size_t i = 0; i < l.n; i++)
        if (l.v[i].attr == LBTOP_ATTR_SELECTED) {
            marked++;
            assert_int_equal(l.v[i].row, 1);
            assert_non_null(strstr(l.v[i].text, "beta"));
        }
    assert_int_equal(marked, 1);
    lbtop_lines_free(&l);
}

static void test_sparkline_scales_to_the_largest_sample(void **state)
{
    struct lbtop_history h = {.n = 4, .v = {0, 1, 2, 4}};
    char buf[256];
    (void)state;

    assert_string_equal(lbtop_sparkline(&h, 6, false, buf, sizeof(buf)), "   -=#");
    lbtop_sparkline(&h, 4, true, buf, sizeof(buf));
    assert_non_null(strstr(buf, "\u2588")); /* the largest is a full block */
    assert_int_equal(buf[0], ' ');          /* zero draws nothing */
    assert_string_equal(lbtop_sparkline(&h, 2, false, buf, sizeof(buf)), "=#");
}

static void test_formatting_helpers(void **state)
{
    char b[32];
    (void)state;

    assert_string_equal(lbtop_fmt_bytes(512, b, sizeof(b)), "512");
    assert_string_equal(lbtop_fmt_bytes(1536, b, sizeof(b)), "1.50K");
    assert_string_equal(lbtop_fmt_bytes(20 * 1024 * 1024, b, sizeof(b)), "20.0M");
    assert_string_equal(lbtop_fmt_age(42, b, sizeof(b)), "42s");
    assert_string_equal(lbtop_fmt_age(185, b, sizeof(b)), "3m05s");
    assert_string_equal(lbtop_fmt_age(7260, b, sizeof(b)), "2h01m");
    assert_string_equal(lbtop_fmt_ms(0.123, b, sizeof(b)), "0.12");
    assert_string_equal(lbtop_fmt_ms(0.004, b, sizeof(b)), "0.004");
    assert_string_equal(lbtop_fmt_ms(1234, b, sizeof(b)), "1234");
    assert_string_equal(lbtop_fmt_ms(0, b, sizeof(b)), "-");
    assert_string_equal(lbtop_fmt_rate(12.5, b, sizeof(b)), "12.5");
}

static void test_json_carries_exact_counts_and_escapes_strings(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    (void)state;

    assert_non_null(f);
    assert_int_equal(lbtop_report_json(f, &m, 0), 0);
    fclose(f);
    assert_non_null(strstr(buf, "\"layout_version\": 4"));
    assert_non_null(strstr(buf, "\"shm\": \"/lblab-3000\""));
    const char *b0 = strstr(buf, "\"name\": \"alpha\"");
    const char *b1 = strstr(buf, "\"name\": \"beta\"");
    assert_non_null(b0);
    assert_non_null(b1);
    assert_true(b0 < b1);
    assert_true(strstr(b0, "\"requests\": 20,") < b1);
    assert_non_null(strstr(b1, "\"requests\": 10,"));
    assert_non_null(strstr(b1, "\"502\": 5,"));
    assert_non_null(strstr(b1, "\"state\": \"DOWN\""));
    assert_non_null(strstr(buf, "\"path\": \"/a \\\"quoted\\\" path\""));
    assert_non_null(strstr(buf, "\"client\": \"127.0.0.1:51000\""));
    assert_non_null(strstr(buf, "\"backend\": \"127.0.0.1:3002\", \"backend_index\": 1, "
                                "\"backend_name\": \"beta\""));
    free(buf);
}

/* Renders backend b's detail page and the STATUS view at width 200 and the JSON report into one
 * string. */
static char *status_detail_json(unsigned b)
{
    struct lbtop_lines l;
    struct lbtop_render_opts o = opts(LBTOP_VIEW_STATUS, 200);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    lbtop_lines_init(&l);
    lbtop_render_view(&l, &m, &o);
    lbtop_render_backend_detail(&l, &m, b, &o);
    for (size_t i = 0; i < l.n; i++)
        fprintf(f, "%s\n", l.v[i].text);
    lbtop_lines_free(&l);
    assert_int_equal(lbtop_report_json(f, &m, 0), 0);
    fclose(f);
    return buf;
}

static void test_status_shows_why_and_check_failures_only_with_checks(void **state)
{
    (void)state;
    char *out = status_detail_json(1);
    assert_non_null(strstr(out, "REASON"));
    assert_non_null(strstr(out, "DOWN"));
    assert_non_null(strstr(out, "3 checks failed: connect refused"));     /* the row */
    assert_non_null(strstr(out, "why          3 checks failed: connect")); /* the detail page */
    assert_non_null(strstr(out, "\"reason\": \"3 checks failed: connect refused\""));
    assert_non_null(strstr(out, "\"health_checks\": false"));
    assert_null(strstr(out, "CHKFAIL"));
    assert_null(strstr(out, "checks       run"));
    assert_null(strstr(out, "\"checks\":"));
    free(out);

    m.cur->checks = true;
    out = status_detail_json(1);
    assert_non_null(strstr(out, "CHKFAIL"));
    assert_non_null(strstr(out, "checks       run 7  failed 4"));
    assert_non_null(strstr(out, "\"checks\": {\"total\": 7, \"failed\": 4}"));
    assert_non_null(strstr(out, "\"health_checks\": true"));
    m.cur->checks = false;
    free(out);
}

static void test_text_report_prints_every_view(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    (void)state;

    assert_non_null(f);
    assert_int_equal(lbtop_report_text(f, &m, 160, false, 0), 0);
    fclose(f);
    assert_non_null(strstr(buf, "== 1 STATUS =="));
    assert_non_null(strstr(buf, "== 2 TRAFFIC =="));
    assert_non_null(strstr(buf, "== 3 HTTP =="));
    assert_non_null(strstr(buf, "== 4 TIMING =="));
    assert_non_null(strstr(buf, "== 5 REQUESTS =="));
    assert_non_null(strstr(buf, "beta"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_names_lb_and_the_current_view),
        cmocka_unit_test(test_each_view_has_its_columns_and_one_row_per_backend),
        cmocka_unit_test(test_request_detail_names_the_backend_and_its_address),
        cmocka_unit_test(test_request_detail_says_which_legs_were_tls),
        cmocka_unit_test(test_request_detail_says_when_the_body_was_spliced),
        cmocka_unit_test(test_lines_never_exceed_the_width),
        cmocka_unit_test(test_selected_row_is_marked),
        cmocka_unit_test(test_sparkline_scales_to_the_largest_sample),
        cmocka_unit_test(test_formatting_helpers),
        cmocka_unit_test(test_json_carries_exact_counts_and_escapes_strings),
        cmocka_unit_test(test_status_shows_why_and_check_failures_only_with_checks),
        cmocka_unit_test(test_text_report_prints_every_view),
        cmocka_unit_test(test_header_shows_what_a_wake_up_finds_and_how_held_writes_go_out),
        cmocka_unit_test(test_header_shows_what_went_through_pipes),
        cmocka_unit_test(test_workers_view_shows_each_worker_and_all),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
