/* test_lbtop_tcp.c - unit tests of lbtop when lb relays whole connections (lb -m tcp): the model
 * (mode, sort columns), the screens (lbtop/render.c) and the batch reports (lbtop/report.c) count
 * connections, bytes each way and connection durations, and show no requests or status codes. */
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
#include "../../lbtop/ui.h"

#define SEC UINT64_C(1000000000)

static struct lbtop_model m;

/* lb -m tcp with two backends: alpha relayed 3 connections (one open now), beta 1; one client
 * connection found no backend. */
static struct stats_snapshot *tcp_snapshot(void)
{
    struct stats_snapshot *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->pid = 4321;
    s->mode = STATS_MODE_TCP;
    s->nworkers = 2;
    s->nbackends = 2;
    s->start_mono_ns = 1 * SEC;
    s->taken_mono_ns = 61 * SEC;
    strcpy(s->listen_text, "127.0.0.1:3000");
    strcpy(s->policy, "leastconn");
    strcpy(s->shm_name, "/lblab-3000");
    s->clients_accepted = 6;
    s->clients_closed = 5;
    s->clients_active = 1;
    s->clients_peak = 2;
    s->requests = 5; /* lb counts each relayed connection as a "request": never shown */
    s->responses[0] = 5;
    s->bytes_in = 1000;
    s->bytes_out = 250000;
    strcpy(s->backends[0].name, "alpha");
    strcpy(s->backends[1].name, "beta");
    s->backends[0].port = 3001;
    s->backends[1].port = 3002;
    s->backends[0].state = STATS_BACKEND_UP;
    s->backends[1].state = STATS_BACKEND_UP;
    s->backends[0].conns_opened = 4;
    s->backends[0].conns_closed = 3;
    s->backends[0].active = 1;
    s->backends[0].peak = 2;
    s->backends[0].requests = 3;
    s->backends[0].responses[0] = 3;
    s->backends[0].bytes_in = 600;
    s->backends[0].bytes_out = 150000;
    s->backends[1].conns_opened = 1;
    s->backends[1].conns_closed = 1;
    s->backends[1].responses[0] = 1;
    s->backends[1].connect_errors = 1;
    s->backends[1].bytes_in = 400;
    s->backends[1].bytes_out = 100000;
    s->backends[0].total.buckets[stats_hist_bucket(250000)] = 3; /* connections of 250 ms */
    s->backends[0].total.count = 3;
    s->backends[0].total.max_ns = 250000000;
    s->backends[0].connect.buckets[stats_hist_bucket(100)] = 4;
    s->backends[0].connect.count = 4;
    s->backends[0].connect.max_ns = 100000;
    s->nrecent = 2;
    struct stats_ring_entry *e = &s->recent[0];
    e->kind = STATS_ENTRY_TCP;
    e->backend_index = 0;
    e->client.family = 4;
    e->client.port = 51000;
    inet_pton(AF_INET, "127.0.0.1", e->client.addr);
    e->lb_front = e->client;
    e->lb_front.port = 3000;
    e->lb_back = e->client;
    e->lb_back.port = 52000;
    e->backend = e->client;
    e->backend.port = 3001;
    e->client_conn_id = 9;
    e->worker = 1;
    e->bytes_in = 200;
    e->bytes_out = 50000;
    e->connect_ns = 100000;
    e->total_ns = 250000000;
    strcpy(e->method, "-"); /* what lb's access log writes: never shown */
    e = &s->recent[1];
    e->kind = STATS_ENTRY_TCP;
    e->backend_index = -1; /* no backend would take it */
    e->client.family = 4;
    e->client.port = 51001;
    inet_pton(AF_INET, "127.0.0.1", e->client.addr);
    e->total_ns = 1000;
    return s;
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(lbtop_model_init(&m), 0);
    struct stats_snapshot *s = tcp_snapshot();
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

static void test_the_model_knows_the_mode_and_its_sort_columns(void **state)
{
    (void)state;
    assert_true(lbtop_model_tcp(&m));
    assert_false(lbtop_sort_applies(LBTOP_SORT_REQUESTS, true));
    assert_false(lbtop_sort_applies(LBTOP_SORT_2XX, true));
    assert_false(lbtop_sort_applies(LBTOP_SORT_INFLIGHT, true));
    assert_true(lbtop_sort_applies(LBTOP_SORT_CONNS, true));
    assert_true(lbtop_sort_applies(LBTOP_SORT_BYTES_OUT, true));
    assert_true(lbtop_sort_applies(LBTOP_SORT_P99, true));
    for (unsigned k = 0; k < LBTOP_SORT_COUNT; k++)
        assert_true(lbtop_sort_applies((enum lbtop_sort)k, false));

    /* 's' walks the columns the mode has, round and round */
    struct lbtop_ui ui;
    lbtop_ui_init(&ui);
    for (unsigned i = 0; i < 2 * LBTOP_SORT_COUNT; i++) {
        lbtop_ui_key(&ui, 's', &m);
        assert_true(lbtop_sort_applies(ui.sort, true));
        lbtop_ui_key(&ui, '<', &m);
        lbtop_ui_key(&ui, '>', &m);
        assert_true(lbtop_sort_applies(ui.sort, true));
    }
    /* a sort kept from lb -m http falls back when lb comes back in tcp mode */
    ui.sort = LBTOP_SORT_2XX;
    lbtop_ui_clamp(&ui, &m);
    assert_int_equal(ui.sort, LBTOP_SORT_INDEX);
}

static void test_header_says_mode_tcp_and_counts_connections(void **state)
{
    struct lbtop_lines l;
    struct lbtop_render_opts o = opts(LBTOP_VIEW_STATUS, 200);
    (void)state;
    lbtop_lines_init(&l);
    lbtop_render_header(&l, &m, &o, "/lblab-3000");
    assert_non_null(strstr(l.v[0].text, "mode tcp"));
    assert_non_null(strstr(l.v[1].text, "connections active 1  peak 2  total 6  closed 5"));
    assert_non_null(strstr(l.v[1].text, "lb relays whole connections: no requests, no status codes"));
    assert_non_null(strstr(l.v[2].text, "bytes in 0.98K  out 244K"));
    assert_non_null(strstr(l.v[2].text, "connection duration p50 "));
    assert_non_null(strstr(l.v[3].text, "event loop  "));
    assert_non_null(strstr(l.v[4].text, "splice      "));
    assert_non_null(strstr(l.v[5].text, "3 CONNS"));
    assert_non_null(strstr(l.v[5].text, "5 RECENT"));
    assert_non_null(strstr(l.v[5].text, "6 WORKERS"));
    for (size_t i = 0; i < l.n; i++) {
        assert_null(strstr(l.v[i].text, "requests 5"));
        assert_null(strstr(l.v[i].text, "req/s"));
        assert_null(strstr(l.v[i].text, "2xx"));
        assert_null(strstr(l.v[i].text, "HTTP"));
    }
    lbtop_lines_free(&l);
    assert_string_equal(lbtop_view_title(LBTOP_VIEW_HTTP, true), "CONNS");
    assert_string_equal(lbtop_view_title(LBTOP_VIEW_REQUESTS, true), "RECENT");
    assert_string_equal(lbtop_view_title(LBTOP_VIEW_HTTP, false), "HTTP");
    assert_string_equal(lbtop_view_title(LBTOP_VIEW_TIMING, true), "TIMING");
}

static void test_views_show_connections_bytes_and_durations(void **state)
{
    struct lbtop_lines l;
    (void)state;
    lbtop_lines_init(&l);
    static const struct {
        unsigned view;
        const char *has[4];
        const char *hasnt[3];
    } want[] = {
        {LBTOP_VIEW_STATUS, {"ACT", "PEAK", "CONNS", "REASON"}, {"INFL", "REQS", NULL}},
        {LBTOP_VIEW_TRAFFIC, {"CONN/S", "ACTIVE", "CONN/S HISTORY", "OUT/S"}, {"REQ/S", NULL, NULL}},
        {LBTOP_VIEW_HTTP, {"OPENED", "RELAYED", "CONNERR", "OUT/CONN"}, {"2XX", "REQS", "502"}},
        {LBTOP_VIEW_TIMING, {"CONNECT", "DURATION", "p99", NULL}, {"FIRST BYTE", "TOTAL", NULL}},
        {LBTOP_VIEW_REQUESTS, {"DURATION", "IN", "OUT", "CONN"}, {"METHOD", "ST ", "REQUEST-ID"}},
    };
    for (size_t v = 0; v < sizeof(want) / sizeof(want[0]); v++) {
        struct lbtop_render_opts o = opts(want[v].view, 200);
        lbtop_lines_clear(&l);
        lbtop_render_view(&l, &m, &o);
        for (int k = 0; k < 4 && want[v].has[k]; k++)
            if (!any_line_has(&l, want[v].has[k]))
                fail_msg("view %u lacks %s", want[v].view, want[v].has[k]);
        for (int k = 0; k < 3 && want[v].hasnt[k]; k++)
            if (any_line_has(&l, want[v].hasnt[k]))
                fail_msg("view %u shows %s", want[v].view, want[v].hasnt[k]);
    }

    /* the numbers: alpha relayed 3 of its 4 connections, 200 bytes in each, 50000 out */
    struct lbtop_render_opts o = opts(LBTOP_VIEW_HTTP, 200);
    lbtop_lines_clear(&l);
    lbtop_render_view(&l, &m, &o);
    assert_non_null(strstr(l.v[1].text, "alpha"));
    assert_non_null(strstr(l.v[1].text, "       4        3      1      2        3"));
    assert_non_null(strstr(l.v[1].text, "200"));
    assert_non_null(strstr(l.v[1].text, "48.8K"));
    assert_int_equal(l.v[2].attr, LBTOP_ATTR_BAD); /* beta's connect error */

    o = opts(LBTOP_VIEW_TIMING, 200);
    lbtop_lines_clear(&l);
    lbtop_render_view(&l, &m, &o);
    assert_non_null(strstr(l.v[2].text, "alpha"));
    assert_non_null(strstr(l.v[2].text, "0.10")); /* connect ~0.1 ms */
    assert_non_null(strstr(l.v[2].text, "250")); /* connections of 250 ms */

    o = opts(LBTOP_VIEW_REQUESTS, 200);
    lbtop_lines_clear(&l);
    lbtop_render_view(&l, &m, &o);
    assert_non_null(strstr(l.v[1].text, "127.0.0.1:51000 > :3000  | :52000 > alpha"));
    assert_non_null(strstr(l.v[1].text, "250ms"));
    assert_non_null(strstr(l.v[1].text, "48.8K 1/9"));
    assert_int_equal(l.v[2].attr, LBTOP_ATTR_BAD); /* no backend */
    lbtop_lines_free(&l);
}

static void test_detail_pages_describe_connections(void **state)
{
    struct lbtop_lines l;
    struct lbtop_render_opts o = opts(LBTOP_VIEW_STATUS, 200);
    (void)state;
    lbtop_lines_init(&l);
    lbtop_render_backend_detail(&l, &m, 0, &o);
    assert_true(any_line_has(&l, "relayed 3"));
    assert_true(any_line_has(&l, "from clients 600"));
    assert_true(any_line_has(&l, "duration"));
    assert_true(any_line_has(&l, "RECENT CONNECTIONS RELAYED TO THIS BACKEND"));
    assert_false(any_line_has(&l, "responses"));
    assert_false(any_line_has(&l, "first byte"));
    lbtop_lines_clear(&l);
    lbtop_render_request_detail(&l, &m, 0, &o);
    assert_true(any_line_has(&l, "CONNECTION relayed whole (lb -m tcp)"));
    assert_true(any_line_has(&l, "bytes from the client 200  to the client 48.8K"));
    assert_true(any_line_has(&l, "backend alpha 127.0.0.1:3001"));
    assert_false(any_line_has(&l, "status"));
    lbtop_lines_clear(&l);
    lbtop_render_request_detail(&l, &m, 1, &o);
    assert_true(any_line_has(&l, "lb reached no backend"));
    lbtop_lines_clear(&l);
    lbtop_render_help(&l, &o);
    assert_true(any_line_has(&l, "lb -m tcp"));
    lbtop_lines_free(&l);
}

static void test_lines_never_exceed_the_width(void **state)
{
    struct lbtop_lines l;
    (void)state;
    lbtop_lines_init(&l);
    for (unsigned v = 1; v <= LBTOP_VIEWS; v++) {
        struct lbtop_render_opts o = opts(v, 60);
        lbtop_lines_clear(&l);
        lbtop_render_header(&l, &m, &o, "/lblab-3000");
        lbtop_render_view(&l, &m, &o);
        lbtop_render_backend_detail(&l, &m, 0, &o);
        lbtop_render_request_detail(&l, &m, 0, &o);
        for (size_t i = 0; i < l.n; i++)
            assert_true(strlen(l.v[i].text) <= 60);
    }
    lbtop_lines_free(&l);
}

static void test_json_has_connection_keys_only(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    (void)state;
    assert_int_equal(lbtop_report_json(f, &m, 100 * SEC), 0);
    fclose(f);
    assert_non_null(strstr(buf, "\"mode\": \"tcp\""));
    assert_non_null(strstr(buf, "\"values\": {\"connections_per_s\": "));
    assert_non_null(strstr(buf, "\"connections\": {\"accepted\": 6, \"active\": 1, \"peak\": 2, \"closed\": 5}"));
    assert_non_null(strstr(buf, "\"bytes_in\": 1000,\n    \"bytes_out\": 250000"));
    assert_non_null(strstr(buf, "\"duration\": {\"count\": 3,"));
    assert_non_null(strstr(buf, "\"connections\": {\"active\": 1, \"peak\": 2, \"opened\": 4, \"closed\": 3, \"relayed\": 3}"));
    assert_non_null(strstr(buf, "\"connect_errors\": 1"));
    assert_non_null(strstr(buf, "\"connect\": {\"count\": 4,"));
    assert_non_null(strstr(buf, "\"kind\": \"tcp\""));
    assert_non_null(strstr(buf, "\"duration_ms\": 250, \"bytes_in\": 200, \"bytes_out\": 50000, \"connection\": 9"));
    assert_non_null(strstr(buf, "\"backend_name\": null")); /* the connection with no backend */
    assert_null(strstr(buf, "\"requests"));
    assert_null(strstr(buf, "\"responses\""));
    assert_null(strstr(buf, "\"in_flight\""));
    assert_null(strstr(buf, "\"first_byte"));
    assert_null(strstr(buf, "\"status\""));
    assert_null(strstr(buf, "\"method\""));
    free(buf);

    /* the text report names the tcp views */
    buf = NULL;
    f = open_memstream(&buf, &len);
    assert_int_equal(lbtop_report_text(f, &m, 160, false, 100 * SEC), 0);
    fclose(f);
    assert_non_null(strstr(buf, "== 3 CONNS =="));
    assert_non_null(strstr(buf, "== 5 RECENT =="));
    assert_null(strstr(buf, "== 3 HTTP =="));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_model_knows_the_mode_and_its_sort_columns),
        cmocka_unit_test(test_header_says_mode_tcp_and_counts_connections),
        cmocka_unit_test(test_views_show_connections_bytes_and_durations),
        cmocka_unit_test(test_detail_pages_describe_connections),
        cmocka_unit_test(test_lines_never_exceed_the_width),
        cmocka_unit_test(test_json_has_connection_keys_only),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
