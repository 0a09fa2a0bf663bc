/* test_health.c - unit tests of lb's backend health state machine (lb/health.c), driven by a
 * fake clock: rise and fall, the failure window, ejection cool-downs (doubling, cap, reset), the
 * half-open trial, admin states, and one learner per change when many threads report at once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "../../lb/health.h"

static struct health *make(unsigned max_fails, unsigned rise, unsigned fall)
{
    struct health_config cfg;
    health_config_defaults(&cfg);
    cfg.max_fails = max_fails;
    cfg.rise = rise;
    cfg.fall = fall;
    struct health *h = health_create(2, &cfg);
    assert_non_null(h);
    return h;
}

static void test_defaults_are_the_documented_ones(void **state)
{
    (void)state;
    struct health_config cfg;
    health_config_defaults(&cfg);
    assert_int_equal(cfg.rise, 2);
    assert_int_equal(cfg.fall, 3);
    assert_int_equal(cfg.max_fails, 1);
    assert_int_equal(cfg.fail_window_ms, 10000);
    assert_int_equal(cfg.cooldown_ms, 5000);
    assert_int_equal(cfg.cooldown_max_ms, 60000);
    struct health *h = health_create(1, &cfg);
    assert_true(health_usable(h, 0, 0));
    assert_int_equal(health_state(h, 0), HEALTH_UP);
    struct health_snapshot s;
    health_snapshot(h, 0, &s);
    assert_int_equal(s.cause, HEALTH_CAUSE_START);
    assert_string_equal(s.reason, "");
    health_destroy(h);
}

static void test_fall_failed_checks_take_it_down_and_rise_good_ones_bring_it_up(void **state)
{
    (void)state;
    struct health *h = make(1, 2, 3);
    struct health_change c;
    uint64_t t = 1000;
    assert_false(health_report_check(h, 0, false, "connect refused", t, &c));
    assert_false(health_report_check(h, 0, false, "connect refused", t += 2000, &c));
    assert_true(health_usable(h, 0, t));
    assert_true(health_report_check(h, 0, false, "connect refused", t += 2000, &c));
    assert_int_equal(c.from, HEALTH_UP);
    assert_int_equal(c.to, HEALTH_DOWN);
    assert_int_equal(c.cause, HEALTH_CAUSE_CHECKS);
    assert_int_equal(c.at_ms, 5000);
    assert_int_equal(c.backend, 0);
    assert_string_equal(c.reason, "3 checks failed: connect refused");
    assert_false(health_usable(h, 0, t));
    assert_true(health_usable(h, 1, t)); /* the other backend is untouched */
    /* more failures change nothing; one good check is not enough */
    assert_false(health_report_check(h, 0, false, "timeout", t += 2000, &c));
    assert_false(health_report_check(h, 0, true, NULL, t += 2000, &c));
    assert_false(health_usable(h, 0, t + 1000000)); /* no cool-down ends a DOWN by checks */
    assert_true(health_report_check(h, 0, true, NULL, t += 2000, &c));
    assert_int_equal(c.to, HEALTH_UP);
    assert_string_equal(c.reason, "2 checks passed");
    assert_true(health_usable(h, 0, t));
    struct health_snapshot s;
    health_snapshot(h, 0, &s);
    assert_int_equal(s.checks_total, 6);
    assert_int_equal(s.checks_failed, 4);
    assert_int_equal(s.changed_ms, t);
    assert_int_equal(s.changes, 2);
    health_destroy(h);
}

static void test_a_good_check_breaks_a_run_of_failed_ones(void **state)
{
    (void)state;
    struct health *h = make(1, 2, 3);
    uint64_t t = 0;
    for (int round = 0; round < 5; round++) {
        assert_false(health_report_check(h, 0, false, "status 503", t += 100, NULL));
        assert_false(health_report_check(h, 0, false, "status 503", t += 100, NULL));
        assert_false(health_report_check(h, 0, true, NULL, t += 100, NULL));
    }
    assert_int_equal(health_state(h, 0), HEALTH_UP);
    health_destroy(h);
}

static void test_passive_failures_count_within_the_window_only(void **state)
{
    (void)state;
    struct health *h = make(3, 2, 3);
    struct health_change c;
    assert_false(health_report_failure(h, 0, HEALTH_FAIL_TIMEOUT, NULL, 1000, &c));
    assert_false(health_report_failure(h, 0, HEALTH_FAIL_TIMEOUT, NULL, 6000, &c));
    /* the first is 10 s old now: forgotten, so this is the second in the window */
    assert_false(health_report_failure(h, 0, HEALTH_FAIL_TIMEOUT, NULL, 11000, &c));
    assert_true(health_usable(h, 0, 11000));
    /* a success does not clear the window */
    assert_false(health_report_success(h, 0, 11500, &c));
    assert_true(health_report_failure(h, 0, HEALTH_FAIL_5XX, "status 503", 12000, &c));
    assert_int_equal(c.to, HEALTH_DOWN);
    assert_int_equal(c.cause, HEALTH_CAUSE_EJECTED);
    assert_int_equal(c.cooldown_ms, 5000);
    assert_string_equal(c.reason, "ejected for 5 s after 3 failures in 10 s: status 503");
    assert_false(health_usable(h, 0, 12000));
    assert_false(health_usable(h, 0, 16999));
    assert_true(health_usable(h, 0, 17000)); /* half-open */
    health_destroy(h);
}

static void test_one_failure_ejects_by_default_with_the_kinds_wording(void **state)
{
    (void)state;
    struct health_config cfg;
    health_config_defaults(&cfg);
    struct health *h = health_create(1, &cfg);
    struct health_change c;
    assert_true(health_report_failure(h, 0, HEALTH_FAIL_TIMEOUT, NULL, 50, &c));
    assert_string_equal(c.reason, "ejected for 5 s after 1 failure in 10 s: timeout");
    health_destroy(h);
}

static void test_max_fails_zero_turns_passive_off(void **state)
{
    (void)state;
    struct health *h = make(0, 2, 3);
    for (uint64_t t = 0; t < 100; t++)
        assert_false(health_report_failure(h, 0, HEALTH_FAIL_CONNECT, "connect refused", t, NULL));
    assert_true(health_usable(h, 0, 100));
    health_destroy(h);
}

/* Ejects backend 0 at now (max_fails 1) and returns the cool-down. */
static uint64_t eject_at(struct health *h, uint64_t now)
{
    struct health_change c;
    assert_true(health_report_failure(h, 0, HEALTH_FAIL_CONNECT, "connect refused", now, &c));
    return c.cooldown_ms;
}

/* Fails the half-open trial at now and returns the new cool-down. */
static uint64_t fail_trial_at(struct health *h, uint64_t now)
{
    struct health_change c;
    assert_true(health_usable(h, 0, now));
    assert_true(health_take(h, 0, now));
    assert_true(health_report_failure(h, 0, HEALTH_FAIL_CONNECT, "connect refused", now, &c));
    assert_int_equal(c.from, HEALTH_DOWN);
    assert_int_equal(c.to, HEALTH_DOWN);
    assert_false(health_usable(h, 0, now));
    return c.cooldown_ms;
}

static void test_cooldown_doubles_on_failed_trials_up_to_the_cap(void **state)
{
    (void)state;
    struct health *h = make(1, 2, 3);
    uint64_t t = 1000, cd = eject_at(h, t);
    uint64_t expect[] = {5000, 10000, 20000, 40000, 60000, 60000, 60000};
    assert_int_equal(cd, expect[0]);
    for (size_t k = 1; k < sizeof(expect) / sizeof(expect[0]); k++) {
        assert_false(health_usable(h, 0, t + cd - 1));
        t += cd;
        cd = fail_trial_at(h, t);
        assert_int_equal(cd, expect[k]);
    }
    struct health_snapshot s;
    health_snapshot(h, 0, &s);
    assert_int_equal(s.until_ms, t + 60000);
    assert_string_equal(s.reason, "ejected for 60 s: trial request failed: connect refused");
    health_destroy(h);
}

static void test_rise_good_checks_end_an_ejection_before_its_cooldown(void **state)
{
    (void)state;
    struct health *h = make(1, 2, 3);
    struct health_change c;
    /* good checks before the ejection do not count towards ending it */
    assert_false(health_report_check(h, 0, true, NULL, 10, &c));
    assert_false(health_report_check(h, 0, true, NULL, 20, &c));
    eject_at(h, 0); /* a refused connect at 0: ejected until 5000 */
    assert_false(health_report_check(h, 0, true, NULL, 300, &c)); /* one good check: not yet */
    assert_int_equal(health_state(h, 0), HEALTH_DOWN);
    assert_true(health_report_check(h, 0, true, NULL, 600, &c)); /* rise (2): back long before */
    assert_int_equal(c.to, HEALTH_UP);
    assert_int_equal(c.cause, HEALTH_CAUSE_CHECKS);
    assert_string_equal(c.reason, "2 checks passed");
    assert_true(health_usable(h, 0, 601));
    health_destroy(h);
}

static void test_half_open_trial_success_brings_it_up(void **state)
{
    (void)state;
    struct health *h = make(1, 2, 3);
    struct health_change c;
    eject_at(h, 0);
    /* a late success of a request sent before the ejection changes nothing */
    assert_false(health_report_success(h, 0, 100, &c));
    assert_int_equal(health_state(h, 0), HEALTH_DOWN);
    assert_true(health_take(h, 0, 5000));
    assert_false(health_take(h, 0, 5001)); /* one trial at a time */
    assert_false(health_usable(h, 0, 5001));
    assert_true(health_report_success(h, 0, 5020, &c));
    assert_int_equal(c.to, HEALTH_UP);
    assert_int_equal(c.cause, HEALTH_CAUSE_TRIAL);
    assert_string_equal(c.reason, "trial request succeeded");
    assert_true(health_usable(h, 0, 5020));
    assert_true(health_take(h, 0, 5020));
    assert_false(health_report_success(h, 0, 5030, &c)); /* UP: nothing to learn */
    health_destroy(h);
}

static void test_a_trial_whose_outcome_never_comes_is_given_up_after_the_lease(void **state)
{
    (void)state;
    struct health *h = make(1, 2, 3);
    eject_at(h, 0);
    assert_true(health_take(h, 0, 5000));
    assert_false(health_usable(h, 0, 5000 + HEALTH_DEFAULT_TRIAL_LEASE_MS - 1));
    assert_true(health_usable(h, 0, 5000 + HEALTH_DEFAULT_TRIAL_LEASE_MS));
    assert_true(health_take(h, 0, 5000 + HEALTH_DEFAULT_TRIAL_LEASE_MS));
    health_destroy(h);
}

static void test_doubling_resets_after_serving_as_long_as_the_last_cooldown(void **state)
{
    (void)state;
    struct health *h = make(1, 2, 3);
    uint64_t t = 0;
    assert_int_equal(eject_at(h, t), 5000);
    t += 5000;
    assert_int_equal(fail_trial_at(h, t), 10000);
    t += 10000;
    assert_true(health_report_success(h, 0, t, NULL)); /* UP at t after a 10 s ejection */
    /* ejected again within 10 s of coming back: consecutive, doubles */
    assert_int_equal(eject_at(h, t + 9999), 20000);
    t += 9999 + 20000;
    assert_true(health_report_success(h, 0, t, NULL)); /* UP at t after a 20 s ejection */
    /* ejected again 20 s or more after coming back: starts over */
    assert_int_equal(eject_at(h, t + 20000), 5000);
    health_destroy(h);
}

static void test_checks_failing_while_ejected_make_it_a_down_by_checks(void **state)
{
    (void)state;
    struct health *h = make(1, 2, 3);
    struct health_change c;
    eject_at(h, 0);
    assert_false(health_report_check(h, 0, true, NULL, 100, &c)); /* good checks do not uneject */
    assert_false(health_report_check(h, 0, false, "timeout", 200, &c));
    assert_false(health_report_check(h, 0, false, "timeout", 300, &c));
    assert_true(health_report_check(h, 0, false, "timeout", 400, &c));
    assert_int_equal(c.from, HEALTH_DOWN);
    assert_int_equal(c.to, HEALTH_DOWN);
    assert_int_equal(c.cause, HEALTH_CAUSE_CHECKS);
    assert_string_equal(c.reason, "3 checks failed: timeout");
    /* no half-open any more: only rise good checks bring it back */
    assert_false(health_usable(h, 0, 100000));
    assert_false(health_take(h, 0, 100000));
    assert_false(health_report_success(h, 0, 100000, &c));
    assert_false(health_report_failure(h, 0, HEALTH_FAIL_TIMEOUT, NULL, 100000, &c));
    assert_false(health_report_check(h, 0, true, NULL, 100100, &c));
    assert_true(health_report_check(h, 0, true, NULL, 100200, &c));
    assert_int_equal(c.to, HEALTH_UP);
    health_destroy(h);
}

static void test_admin_drain_and_down_hold_until_admin_sets_it_up(void **state)
{
    (void)state;
    struct health *h = make(1, 1, 1);
    struct health_change c;
    assert_true(health_admin(h, 0, HEALTH_DRAINING, 10, &c));
    assert_int_equal(c.to, HEALTH_DRAINING);
    assert_int_equal(c.cause, HEALTH_CAUSE_ADMIN);
    assert_string_equal(c.reason, "admin");
    assert_false(health_admin(h, 0, HEALTH_DRAINING, 11, &c)); /* no change */
    assert_false(health_usable(h, 0, 20));
    assert_false(health_take(h, 0, 20));
    /* checks and passive failures are counted but change nothing */
    assert_false(health_report_failure(h, 0, HEALTH_FAIL_CONNECT, NULL, 30, &c));
    assert_false(health_report_check(h, 0, false, "timeout", 40, &c));
    assert_false(health_report_check(h, 0, true, NULL, 50, &c));
    assert_int_equal(health_state(h, 0), HEALTH_DRAINING);
    assert_true(health_admin(h, 0, HEALTH_DOWN, 60, &c));
    assert_int_equal(c.from, HEALTH_DRAINING);
    assert_int_equal(c.to, HEALTH_DOWN);
    assert_false(health_usable(h, 0, 1000000));
    assert_true(health_admin(h, 0, HEALTH_UP, 70, &c));
    assert_int_equal(c.to, HEALTH_UP);
    assert_true(health_usable(h, 0, 70));
    struct health_snapshot s;
    health_snapshot(h, 0, &s);
    assert_int_equal(s.checks_total, 2);
    assert_int_equal(s.checks_failed, 1);
    health_destroy(h);
}

static void test_next_usable_is_the_soonest_cooldown_end(void **state)
{
    (void)state;
    struct health *h = make(1, 1, 1);
    assert_int_equal(health_next_usable_ms(h, 0), 0);
    assert_true(health_report_check(h, 1, false, "timeout", 0, NULL)); /* DOWN, no known end */
    assert_int_equal(health_next_usable_ms(h, 0), 0);
    eject_at(h, 1000); /* backend 0 until 6000 */
    assert_int_equal(health_next_usable_ms(h, 2500), 3500);
    assert_int_equal(health_next_usable_ms(h, 6000), 0); /* half-open: usable now */
    health_destroy(h);
}

static void test_connect_errors_have_short_reasons(void **state)
{
    (void)state;
    assert_string_equal(health_connect_why(ECONNREFUSED), "connect refused");
    assert_string_equal(health_connect_why(ETIMEDOUT), "connect timeout");
    assert_string_equal(health_connect_why(ECONNRESET), "connection reset");
    assert_string_equal(health_connect_why(EHOSTUNREACH), "host unreachable");
    assert_string_equal(health_connect_why(ENETUNREACH), "network unreachable");
    assert_string_equal(health_connect_why(EACCES), "connect failed");
    assert_string_equal(health_state_name(HEALTH_DRAINING), "DRAINING");
}

/* --- many threads at once --------------------------------------------------------------------- */

#define NTHREADS 8

struct race {
    struct health *h;
    atomic_int go;
    atomic_int learned;
    int what; /* 0 passive failure, 1 failed check, 2 trial success, 3 take */
    uint64_t now;
};

static void *racer(void *arg)
{
    struct race *r = arg;
    while (!atomic_load(&r->go))
        ;
    bool got = false;
    for (int k = 0; k < 100; k++) {
        switch (r->what) {
        case 0:
            got = health_report_failure(r->h, 0, HEALTH_FAIL_CONNECT, NULL, r->now, NULL);
            break;
        case 1:
            got = health_report_check(r->h, 0, false, "timeout", r->now, NULL);
            break;
        case 2:
            got = health_report_success(r->h, 0, r->now, NULL);
            break;
        default:
            got = health_take(r->h, 0, r->now);
            break;
        }
        if (got)
            atomic_fetch_add(&r->learned, 1);
    }
    return NULL;
}

static int race(struct health *h, int what, uint64_t now)
{
    struct race r = {.h = h, .what = what, .now = now};
    pthread_t t[NTHREADS];
    atomic_init(&r.go, 0);
    atomic_init(&r.learned, 0);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, racer, &r), 0);
    atomic_store(&r.go, 1);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    return atomic_load(&r.learned);
}

static void test_one_thread_learns_of_each_change(void **state)
{
    (void)state;
    struct health *h = make(1, 2, 3);
    assert_int_equal(race(h, 0, 1000), 1); /* 800 failures at once: one ejection */
    assert_int_equal(race(h, 3, 6000), 1); /* one trial */
    assert_int_equal(race(h, 2, 6000), 1); /* one comes back UP */
    assert_int_equal(race(h, 1, 7000), 1); /* 800 failed checks: one DOWN */
    struct health_snapshot s;
    health_snapshot(h, 0, &s);
    assert_int_equal(s.changes, 3);
    assert_int_equal(s.checks_failed, NTHREADS * 100);
    health_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_the_documented_ones),
        cmocka_unit_test(test_fall_failed_checks_take_it_down_and_rise_good_ones_bring_it_up),
        cmocka_unit_test(test_a_good_check_breaks_a_run_of_failed_ones),
        cmocka_unit_test(test_passive_failures_count_within_the_window_only),
        cmocka_unit_test(test_one_failure_ejects_by_default_with_the_kinds_wording),
        cmocka_unit_test(test_max_fails_zero_turns_passive_off),
        cmocka_unit_test(test_cooldown_doubles_on_failed_trials_up_to_the_cap),
        cmocka_unit_test(test_half_open_trial_success_brings_it_up),
        cmocka_unit_test(test_rise_good_checks_end_an_ejection_before_its_cooldown),
        cmocka_unit_test(test_a_trial_whose_outcome_never_comes_is_given_up_after_the_lease),
        cmocka_unit_test(test_doubling_resets_after_serving_as_long_as_the_last_cooldown),
        cmocka_unit_test(test_checks_failing_while_ejected_make_it_a_down_by_checks),
        cmocka_unit_test(test_admin_drain_and_down_hold_until_admin_sets_it_up),
        cmocka_unit_test(test_next_usable_is_the_soonest_cooldown_end),
        cmocka_unit_test(test_connect_errors_have_short_reasons),
        cmocka_unit_test(test_one_thread_learns_of_each_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
