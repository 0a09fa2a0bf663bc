/* test_metrics.c - unit tests of lb's Prometheus writer (lb/metrics.c) over hand-made
 * snapshots: every document passes the strict exposition-format checker (tests/e2e/prom_check.h),
 * and the numbers are the snapshot's: counters, one-hot backend states, label escapes, exact
 * cumulative histogram buckets at powers of two, pool histograms merged from their backends.
 * The checker itself is tested too, on texts it must refuse. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lb/metrics.h"
#include "../e2e/prom_check.h"

#define SEC UINT64_C(1000000000)

/* Writes s and parses it strictly into *d (the text into *text, malloc'd). */
static void scrape(const struct stats_snapshot *s, struct prom_doc *d, char **text)
{
    size_t len = 0;
    FILE *f = open_memstream(text, &len);
    assert_non_null(f);
    assert_int_equal(metrics_write(f, s), 0);
    assert_int_equal(fclose(f), 0);
    memset(d, 0, sizeof(*d));
    if (prom_parse(*text, len, "lblab_", d) != 0)
        fail_msg("not valid exposition text: %s", d->err);
}

/* Records a value of us microseconds in h. */
static void record(struct stats_snapshot_hist *h, uint64_t us)
{
    h->buckets[stats_hist_bucket(us)]++;
    h->count++;
    h->sum_ns += us * 1000;
    if (us * 1000 > h->max_ns)
        h->max_ns = us * 1000;
}

/* Three backends: a and b in pool "default", c (a name to escape) in pool "static". */
static struct stats_snapshot *sample_snapshot(void)
{
    struct stats_snapshot *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->nbackends = 3;
    s->nworkers = 2;
    s->mode = STATS_MODE_HTTP;
    s->start_wall_ns = 1700000000 * SEC + 250000000;
    snprintf(s->lb_version, sizeof(s->lb_version), "9.8.7");
    s->requests = 120;
    s->inflight = 2;
    s->clients_accepted = 30;
    s->clients_closed = 28;
    s->clients_active = 2;
    s->clients_peak = 7;
    s->responses[2] = 100;
    s->responses[5] = 18;
    s->bytes_in = 4096;
    s->bytes_out = 1 << 20;
    s->no_backend = 3;
    s->loop.wakeups = 40;
    s->loop.events = 400;
    s->loop.held_writes = 300;
    s->loop.uring_calls = 20;
    s->loop.sendmsg_calls = 5;
    s->splice.bytes = 900000;
    s->splice.transfers = 12;
    s->splice.pipes_made = 2;
    static const char *const names[] = {"a", "b", "we\"ird\\name"};
    static const char *const pools[] = {"default", "default", "static"};
    static const uint32_t states[] = {STATS_BACKEND_UP, STATS_BACKEND_DRAINING, STATS_BACKEND_DOWN};
    for (unsigned i = 0; i < 3; i++) {
        struct stats_snapshot_backend *b = &s->backends[i];
        snprintf(b->name, sizeof(b->name), "%s", names[i]);
        snprintf(b->pool, sizeof(b->pool), "%s", pools[i]);
        b->state = states[i];
        b->weight = i + 1;
        b->requests = 10 * (i + 1);
        b->inflight = i;
        b->responses[2] = 9 * (i + 1);
        b->checks_total = 5;
        b->checks_failed = i;
        b->retries = i;
        b->last_change_wall_ns = 1700000100 * SEC;
    }
    /* a: 5 us, 100 us, 3 ms, 2 s and 100 s (beyond the largest bound); b: 1 ms */
    uint64_t a_us[] = {5, 100, 3000, 2000000, 100000000};
    for (size_t i = 0; i < sizeof(a_us) / sizeof(a_us[0]); i++)
        record(&s->backends[0].total, a_us[i]);
    record(&s->backends[1].total, 1000);
    record(&s->backends[2].total, 7);
    return s;
}

static void test_a_snapshot_is_valid_exposition_text(void **state)
{
    (void)state;
    struct stats_snapshot *s = sample_snapshot();
    struct prom_doc d;
    char *text;
    scrape(s, &d, &text);
    assert_true(strstr(text, "# TYPE lblab_requests_total counter\n") != NULL);
    assert_true(strstr(text, "# TYPE lblab_backend_request_duration_seconds histogram\n") != NULL);
    assert_true(prom_value(&d, "lblab_build_info", "version=\"9.8.7\"") == 1);
    assert_true(prom_value(&d, "lblab_start_time_seconds", "") == 1700000000.25);
    assert_true(prom_value(&d, "lblab_requests_total", "") == 120);
    assert_true(prom_value(&d, "lblab_requests_in_flight", "") == 2);
    assert_true(prom_value(&d, "lblab_client_connections", "") == 2);
    assert_true(prom_value(&d, "lblab_client_connections_peak", "") == 7);
    assert_true(prom_value(&d, "lblab_responses_total", "class=\"5xx\"") == 18);
    assert_true(prom_value(&d, "lblab_responses_total", "class=\"none\"") == 0);
    assert_true(prom_value(&d, "lblab_sent_bytes_total", "") == 1 << 20);
    assert_true(prom_value(&d, "lblab_no_backend_total", "") == 3);
    assert_true(prom_value(&d, "lblab_loop_wakeups_total", "") == 40);
    assert_true(prom_value(&d, "lblab_loop_events_total", "") == 400);
    assert_true(prom_value(&d, "lblab_held_writes_total", "") == 300);
    assert_true(prom_value(&d, "lblab_held_write_calls_total", "call=\"io_uring_enter\"") == 20);
    assert_true(prom_value(&d, "lblab_held_write_calls_total", "call=\"sendmsg\"") == 5);
    assert_true(prom_value(&d, "lblab_spliced_bytes_total", "") == 900000);
    assert_true(prom_value(&d, "lblab_splice_transfers_total", "") == 12);
    assert_true(prom_value(&d, "lblab_splice_pipes_made_total", "") == 2);
    assert_null(strstr(text, "lblab_tls_")); /* no HTTPS listener */
    free(text);
    prom_free(&d);
    s->tls = true;
    s->tls_handshakes = 9;
    s->tls_v12 = 2;
    s->tls_v13 = 7;
    s->tls_handshake_failures = 1;
    s->tls_resumed = 3;
    scrape(s, &d, &text);
    assert_true(prom_value(&d, "lblab_tls_handshakes_total", "version=\"TLSv1.3\"") == 7);
    assert_true(prom_value(&d, "lblab_tls_handshakes_total", "version=\"TLSv1.2\"") == 2);
    assert_true(prom_value(&d, "lblab_tls_handshake_failures_total", "") == 1);
    assert_true(prom_value(&d, "lblab_tls_sessions_resumed_total", "") == 3);
    free(text);
    prom_free(&d);
    free(s);
}

static void test_backends_are_labelled_by_pool_and_name(void **state)
{
    (void)state;
    struct stats_snapshot *s = sample_snapshot();
    struct prom_doc d;
    char *text;
    scrape(s, &d, &text);
    /* one-hot states */
    assert_true(
        prom_value(&d, "lblab_backend_state", "backend=\"a\",pool=\"default\",state=\"up\"") == 1);
    assert_true(prom_value(&d, "lblab_backend_state",
                           "backend=\"a\",pool=\"default\",state=\"down\"") == 0);
    assert_true(prom_value(&d, "lblab_backend_state",
                           "backend=\"b\",pool=\"default\",state=\"drain\"") == 1);
    assert_true(
        prom_value(&d, "lblab_backend_state", "backend=\"b\",pool=\"default\",state=\"up\"") == 0);
    /* the name with a quote and a backslash, escaped */
    assert_non_null(strstr(text, "backend=\"we\\\"ird\\\\name\""));
    assert_true(prom_value(&d, "lblab_backend_state",
                           "backend=\"we\\\"ird\\\\name\",pool=\"static\",state=\"down\"") == 1);
    assert_true(prom_value(&d, "lblab_backend_weight", "backend=\"b\",pool=\"default\"") == 2);
    assert_true(prom_value(&d, "lblab_backend_requests_total", "backend=\"b\",pool=\"default\"") ==
                20);
    assert_true(
        prom_value(&d, "lblab_backend_requests_in_flight", "backend=\"b\",pool=\"default\"") == 1);
    assert_true(prom_value(&d, "lblab_backend_retries_total", "backend=\"b\",pool=\"default\"") ==
                1);
    assert_true(prom_value(&d, "lblab_backend_responses_total",
                           "backend=\"b\",class=\"2xx\",pool=\"default\"") == 18);
    assert_true(prom_value(&d, "lblab_backend_health_checks_total",
                           "backend=\"b\",pool=\"default\",result=\"passed\"") == 4);
    assert_true(prom_value(&d, "lblab_backend_health_checks_total",
                           "backend=\"b\",pool=\"default\",result=\"failed\"") == 1);
    assert_true(prom_value(&d, "lblab_backend_state_change_time_seconds",
                           "backend=\"a\",pool=\"default\"") == 1700000100);
    free(text);
    prom_free(&d);
    free(s);
}

static void test_histogram_buckets_are_exact_and_cumulative(void **state)
{
    (void)state;
    struct stats_snapshot *s = sample_snapshot();
    struct prom_doc d;
    char *text;
    const char *n = "lblab_backend_request_duration_seconds_bucket";
    scrape(s, &d, &text);
    /* 5 us is below 8 us, 100 us below 128 us, 3 ms below 4.096 ms, 2 s below 2.097152 s */
    assert_true(prom_value(&d, n, "backend=\"a\",pool=\"default\",le=\"0.000004\"") == 0);
    assert_true(prom_value(&d, n, "backend=\"a\",pool=\"default\",le=\"0.000008\"") == 1);
    assert_true(prom_value(&d, n, "backend=\"a\",pool=\"default\",le=\"0.000064\"") == 1);
    assert_true(prom_value(&d, n, "backend=\"a\",pool=\"default\",le=\"0.000128\"") == 2);
    assert_true(prom_value(&d, n, "backend=\"a\",pool=\"default\",le=\"0.002048\"") == 2);
    assert_true(prom_value(&d, n, "backend=\"a\",pool=\"default\",le=\"0.004096\"") == 3);
    assert_true(prom_value(&d, n, "backend=\"a\",pool=\"default\",le=\"1.048576\"") == 3);
    assert_true(prom_value(&d, n, "backend=\"a\",pool=\"default\",le=\"2.097152\"") == 4);
    assert_true(prom_value(&d, n, "backend=\"a\",pool=\"default\",le=\"33.554432\"") == 4);
    /* 100 s only under +Inf */
    assert_true(prom_value(&d, n, "backend=\"a\",pool=\"default\",le=\"+Inf\"") == 5);
    assert_true(prom_value(&d, "lblab_backend_request_duration_seconds_count",
                           "backend=\"a\",pool=\"default\"") == 5);
    assert_true(prom_value(&d, "lblab_backend_request_duration_seconds_sum",
                           "backend=\"a\",pool=\"default\"") == 102.003105);
    /* 26 finite bounds (1 us .. 2^25 us) and +Inf per series */
    size_t buckets = 0;
    for (size_t i = 0; i < d.n; i++)
        if (strcmp(d.v[i].name, n) == 0 && strstr(d.v[i].labels, "backend=\"a\"") != NULL)
            buckets++;
    assert_int_equal(buckets, 27);
    /* the pool "default" merges a and b; "static" has c alone */
    n = "lblab_pool_request_duration_seconds_bucket";
    assert_true(prom_value(&d, n, "pool=\"default\",le=\"0.001024\"") == 3);
    assert_true(prom_value(&d, n, "pool=\"default\",le=\"+Inf\"") == 6);
    assert_true(prom_value(&d, n, "pool=\"static\",le=\"0.000008\"") == 1);
    assert_true(prom_value(&d, "lblab_pool_request_duration_seconds_count", "pool=\"static\"") ==
                1);
    free(text);
    prom_free(&d);
    free(s);
}

static void test_later_snapshots_only_grow_counters(void **state)
{
    (void)state;
    struct stats_snapshot *s = sample_snapshot();
    struct prom_doc a, b;
    char *ta, *tb, err[256];
    scrape(s, &a, &ta);
    s->requests += 5;
    s->backends[1].requests += 5;
    record(&s->backends[1].total, 40);
    s->clients_active = 0; /* a gauge may go down */
    scrape(s, &b, &tb);
    assert_true(prom_monotonic(&a, &b, err, sizeof(err)));
    /* and the check notices a counter going back */
    assert_false(prom_monotonic(&b, &a, err, sizeof(err)));
    assert_non_null(strstr(err, "went down"));
    free(ta);
    free(tb);
    prom_free(&a);
    prom_free(&b);
    free(s);
}

static void test_no_backends_still_valid(void **state)
{
    (void)state;
    struct stats_snapshot *s = calloc(1, sizeof(*s));
    struct prom_doc d;
    char *text;
    assert_non_null(s);
    scrape(s, &d, &text);
    assert_null(strstr(text, "lblab_backend_"));
    assert_true(prom_value(&d, "lblab_requests_total", "") == 0);
    free(text);
    prom_free(&d);
    free(s);
}

/* The checker refuses what the format (or lb's conventions) forbid. */
static void test_the_checker_refuses_bad_text(void **state)
{
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"lblab_x 1\n", "before its family"},
        {"# HELP lblab_x x\nlblab_x 1\n", "before its family"},
        {"# HELP lblab_x_total x\n# TYPE lblab_x_total counter\nlblab_x_total 1", "newline"},
        {"# HELP lblab_x x\n# TYPE lblab_x counter\nlblab_x 1\n", "_total"},
        {"# HELP other_total x\n# TYPE other_total counter\nother_total 1\n", "does not start"},
        {"# HELP lblab_x x\n# TYPE lblab_x gauge\nlblab_x{a=\"1\",a=\"2\"} 1\n", "twice"},
        {"# HELP lblab_x x\n# TYPE lblab_x gauge\nlblab_x{a=\"1\"} 1\nlblab_x{a=\"1\"} 2\n",
         "twice"},
        {"# HELP lblab_x x\n# TYPE lblab_x gauge\nlblab_x{a=\"\\t\"} 1\n", "escape"},
        {"# HELP lblab_x x\n# TYPE lblab_x gauge\nlblab_x{__a=\"1\"} 1\n", "reserved"},
        {"# HELP lblab_x x\n# TYPE lblab_x gauge\nlblab_x 1 1700000000\n", "timestamp"},
        {"# HELP lblab_x x\n# TYPE lblab_x gauge\nlblab_x one\n", "bad value"},
        {"# HELP lblab_x x\n# TYPE lblab_x gauge\n\nlblab_x 1\n", "empty line"},
        {"# HELP lblab_x x\n# TYPE lblab_x gauge\nlblab_x 1\n# HELP lblab_x x\n",
         "after its samples"},
        {"# HELP lblab_x x\n# HELP lblab_x x\n# TYPE lblab_x gauge\nlblab_x 1\n", "second HELP"},
        {"# HELP lblab_x x\n# TYPE lblab_x gauge\nlblab_x 1\n# TYPE lblab_y gauge\n"
         "# HELP lblab_y y\nlblab_y 1\n# HELP lblab_x x\n# TYPE lblab_x gauge\nlblab_x{b=\"1\"} "
         "1\n",
         "second time"},
        {"# HELP lblab_x_total x\n# TYPE lblab_x_total counter\nlblab_x_total -1\n", "counter"},
        {"# HELP lblab_h h\n# TYPE lblab_h histogram\nlblab_h_bucket{le=\"1\"} 2\n"
         "lblab_h_bucket{le=\"2\"} 1\nlblab_h_bucket{le=\"+Inf\"} 2\nlblab_h_sum 1\nlblab_h_count "
         "2\n",
         "cumulative"},
        {"# HELP lblab_h h\n# TYPE lblab_h histogram\nlblab_h_bucket{le=\"1\"} 1\n"
         "lblab_h_bucket{le=\"+Inf\"} 2\nlblab_h_sum 1\nlblab_h_count 3\n",
         "!= _count"},
        {"# HELP lblab_h h\n# TYPE lblab_h histogram\nlblab_h_bucket{le=\"1\"} 1\n"
         "lblab_h_sum 1\nlblab_h_count 1\n",
         "+Inf"},
        {"# HELP lblab_h h\n# TYPE lblab_h histogram\nlblab_h_bucket{le=\"2\"} 1\n"
         "lblab_h_bucket{le=\"1\"} 1\nlblab_h_bucket{le=\"+Inf\"} 1\nlblab_h_sum 1\n"
         "lblab_h_count 1\n",
         "not above"},
        {"# HELP lblab_x x\n# TYPE lblab_x gauge\n# a remark\nlblab_x 1\n", "comment"},
        {"# HELP lblab_x x\n# TYPE lblab_x gauge\nlblab_y 1\n", "not of family"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct prom_doc d;
        memset(&d, 0, sizeof(d));
        if (prom_parse(bad[i].text, strlen(bad[i].text), "lblab_", &d) == 0)
            fail_msg("accepted bad text %zu:\n%s", i, bad[i].text);
        if (strstr(d.err, bad[i].why) == NULL)
            fail_msg("text %zu refused for '%s', not for '%s'", i, d.err, bad[i].why);
        prom_free(&d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_snapshot_is_valid_exposition_text),
        cmocka_unit_test(test_backends_are_labelled_by_pool_and_name),
        cmocka_unit_test(test_histogram_buckets_are_exact_and_cumulative),
        cmocka_unit_test(test_later_snapshots_only_grow_counters),
        cmocka_unit_test(test_no_backends_still_valid),
        cmocka_unit_test(test_the_checker_refuses_bad_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
