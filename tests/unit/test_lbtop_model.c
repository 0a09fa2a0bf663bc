/* test_lbtop_model.c - unit tests of lbtop's model (lbtop/model.c): snapshots in, rates,
 * sparkline histories, percentiles and row orders out. No terminal, no shared memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../lbtop/model.h"

#define SEC UINT64_C(1000000000)

static struct stats_snapshot *new_snap(void)
{
    struct stats_snapshot *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->pid = 42;
    s->start_mono_ns = 10 * SEC;
    s->nbackends = 3;
    s->nworkers = 2;
    strcpy(s->backends[0].name, "b-one");
    strcpy(s->backends[1].name, "a-two");
    strcpy(s->backends[2].name, "c-three");
    return s;
}

static void record(struct stats_snapshot_hist *h, uint64_t ns, uint64_t times)
{
    h->buckets[stats_hist_bucket(ns / 1000)] += times;
    h->count += times;
    h->sum_ns += ns * times;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

static void test_one_snapshot_gives_averages_since_start(void **state)
{
    struct lbtop_model m;
    struct stats_snapshot *s = new_snap();
    (void)state;

    assert_int_equal(lbtop_model_init(&m), 0);
    s->taken_mono_ns = 20 * SEC; /* lb up 10 s */
    s->requests = 500;
    s->clients_accepted = 100;
    s->backends[0].requests = 300;
    lbtop_model_push(&m, s);
    assert_true(m.rates_since_start);
    assert_true(m.rate.req_s > 49.99 && m.rate.req_s < 50.01);
    assert_true(m.rate.conn_s > 9.99 && m.rate.conn_s < 10.01);
    assert_true(m.backend_rate[0].req_s > 29.99 && m.backend_rate[0].req_s < 30.01);
    assert_int_equal(m.req_history.n, 0);
    lbtop_model_free(&m);
    free(s);
}

static void test_rates_average_the_last_window(void **state)
{
    struct lbtop_model m;
    struct stats_snapshot *s = new_snap();
    (void)state;

    assert_int_equal(lbtop_model_init(&m), 0);
    /* 10 requests/s for 5 s, then 110 requests/s. */
    for (unsigned i = 0; i <= 10; i++) {
        s->taken_mono_ns = (20 + i) * SEC;
        s->requests = i <= 5 ? 10 * i : 50 + 110 * (i - 5);
        s->backends[1].requests = s->requests;
        s->backends[1].conns_opened = i;
        lbtop_model_push(&m, s);
        if (i == 1) {
            assert_false(m.rates_since_start);
            assert_true(m.rate.req_s > 9.99 && m.rate.req_s < 10.01);
        }
        if (i == 6) {
            /* window of 5 intervals: (10*4 + 110) / 5 = 30 */
            assert_true(m.rate.req_s > 29.99 && m.rate.req_s < 30.01);
            assert_true(m.rate_span_s > 4.99 && m.rate_span_s < 5.01);
        }
    }
    assert_true(m.rate.req_s > 109.99 && m.rate.req_s < 110.01);
    assert_true(m.backend_rate[1].conn_s > 0.99 && m.backend_rate[1].conn_s < 1.01);
    /* Sparkline: one sample per interval, the last interval's rate at the end. */
    assert_int_equal(m.backend_req_history[1].n, 10);
    assert_true(m.backend_req_history[1].v[0] > 9.9f && m.backend_req_history[1].v[0] < 10.1f);
    assert_true(m.backend_req_history[1].v[9] > 109.9f);
    lbtop_model_free(&m);
    free(s);
}

static void test_history_keeps_60_samples(void **state)
{
    struct lbtop_model m;
    struct stats_snapshot *s = new_snap();
    (void)state;

    assert_int_equal(lbtop_model_init(&m), 0);
    for (unsigned i = 0; i <= 100; i++) {
        s->taken_mono_ns = (20 + i) * SEC;
        s->requests += i; /* rate i per second in interval i */
        lbtop_model_push(&m, s);
    }
    assert_int_equal(m.req_history.n, LBTOP_HISTORY);
    assert_true(m.req_history.v[LBTOP_HISTORY - 1] > 99.9f);
    assert_true(m.req_history.v[0] > 40.9f && m.req_history.v[0] < 41.1f);
    lbtop_model_free(&m);
    free(s);
}

static void test_counters_going_backwards_start_afresh(void **state)
{
    struct lbtop_model m;
    struct stats_snapshot *s = new_snap();
    (void)state;

    assert_int_equal(lbtop_model_init(&m), 0);
    s->taken_mono_ns = 20 * SEC;
    s->requests = 1000;
    lbtop_model_push(&m, s);
    s->taken_mono_ns = 21 * SEC;
    s->requests = 2000;
    lbtop_model_push(&m, s);
    assert_int_equal(m.req_history.n, 1);
    /* A new lb on the same port: new pid, counters from zero. */
    s->pid = 43;
    s->start_mono_ns = 21 * SEC;
    s->taken_mono_ns = 22 * SEC;
    s->requests = 5;
    lbtop_model_push(&m, s);
    assert_int_equal(m.req_history.n, 0);
    assert_true(m.rates_since_start);
    assert_true(m.rate.req_s > 4.99 && m.rate.req_s < 5.01);
    assert_int_equal(m.cur->requests, 5);
    lbtop_model_free(&m);
    free(s);
}

static void test_percentiles_come_from_the_buckets(void **state)
{
    struct stats_snapshot_hist h;
    struct stats_percentiles p;
    (void)state;

    memset(&h, 0, sizeof(h));
    stats_hist_percentiles(&h, NULL, &p);
    assert_int_equal(p.count, 0);
    assert_true(p.p99_ms == 0);

    record(&h, 1000000, 90);   /* 1 ms */
    record(&h, 10000000, 10);  /* 10 ms */
    stats_hist_percentiles(&h, NULL, &p);
    assert_int_equal(p.count, 100);
    /* Within one bucket (12.5%) above the true value, never below it. */
    assert_true(p.p50_ms >= 1.0 && p.p50_ms <= 1.125);
    assert_true(p.p90_ms >= 1.0 && p.p90_ms <= 1.125);
    assert_true(p.p99_ms > 9.99 && p.p99_ms < 10.01); /* capped at the max seen */
    assert_true(p.max_ms > 9.99 && p.max_ms < 10.01);
    assert_true(p.mean_ms > 1.89 && p.mean_ms < 1.91);
    /* Exact below 8 microseconds. */
    memset(&h, 0, sizeof(h));
    record(&h, 3000, 1);
    assert_int_equal(stats_hist_quantile_us(&h, NULL, 0.5), 3);
}

static void test_reset_restarts_rates_and_percentiles(void **state)
{
    struct lbtop_model m;
    struct stats_snapshot *s = new_snap();
    struct stats_percentiles p;
    (void)state;

    assert_int_equal(lbtop_model_init(&m), 0);
    s->taken_mono_ns = 20 * SEC;
    record(&s->backends[0].total, 50000000, 1000); /* 50 ms, before the reset */
    s->requests = 1000;
    lbtop_model_push(&m, s);
    lbtop_model_reset(&m);
    assert_true(m.have_base);
    assert_true(m.rate.req_s == 0);

    s->taken_mono_ns = 22 * SEC;
    s->requests = 1100;
    record(&s->backends[0].total, 2000000, 100); /* 2 ms, after */
    lbtop_model_push(&m, s);
    assert_true(m.rate.req_s > 49.99 && m.rate.req_s < 50.01);
    lbtop_model_backend_percentiles(&m, 0, 2, &p);
    assert_int_equal(p.count, 100);
    assert_true(p.p99_ms >= 2.0 && p.p99_ms <= 2.25);
    assert_true(p.max_ms <= 2.25); /* the 50 ms maximum predates the reset */
    lbtop_model_total_percentiles(&m, &p);
    assert_int_equal(p.count, 100);
    lbtop_model_free(&m);
    free(s);
}

static void test_order_follows_the_sort_column(void **state)
{
    struct lbtop_model m;
    struct stats_snapshot *s = new_snap();
    unsigned order[STATS_MAX_BACKENDS];
    (void)state;

    assert_int_equal(lbtop_model_init(&m), 0);
    s->taken_mono_ns = 20 * SEC;
    s->backends[0].requests = 5;
    s->backends[1].requests = 9;
    s->backends[2].requests = 5;
    s->backends[2].responses[5] = 3;
    lbtop_model_push(&m, s);
    assert_int_equal(lbtop_model_order(&m, LBTOP_SORT_INDEX, order), 3);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[2], 2);
    lbtop_model_order(&m, LBTOP_SORT_REQUESTS, order);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 0); /* ties keep index order */
    assert_int_equal(order[2], 2);
    lbtop_model_order(&m, LBTOP_SORT_NAME, order);
    assert_int_equal(order[0], 1); /* a-two, b-one, c-three */
    assert_int_equal(order[1], 0);
    assert_int_equal(order[2], 2);
    lbtop_model_order(&m, LBTOP_SORT_ERRORS, order);
    assert_int_equal(order[0], 2);
    assert_string_equal(lbtop_sort_name(LBTOP_SORT_REQUESTS), "REQS");
    lbtop_model_free(&m);
    free(s);
}

static void test_requests_per_connection(void **state)
{
    struct stats_snapshot *s = new_snap();
    (void)state;

    assert_true(stats_requests_per_conn(s) == 0);
    s->clients_accepted = 4;
    s->requests = 10;
    assert_true(stats_requests_per_conn(s) > 2.49 && stats_requests_per_conn(s) < 2.51);
    s->clients_closed = 2;
    s->clients_closed_requests = 6;
    assert_true(stats_requests_per_conn(s) > 2.99 && stats_requests_per_conn(s) < 3.01);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_snapshot_gives_averages_since_start),
        cmocka_unit_test(test_rates_average_the_last_window),
        cmocka_unit_test(test_history_keeps_60_samples),
        cmocka_unit_test(test_counters_going_backwards_start_afresh),
        cmocka_unit_test(test_percentiles_come_from_the_buckets),
        cmocka_unit_test(test_reset_restarts_rates_and_percentiles),
        cmocka_unit_test(test_order_follows_the_sort_column),
        cmocka_unit_test(test_requests_per_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
