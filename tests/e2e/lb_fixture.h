/*
 * lb_fixture.h - the fixture most lb end-to-end tests share: one scripted backend (harness_sb)
 * with a fresh lb in front of it, started and stopped with cmocka assertions. Header-only because
 * it asserts with cmocka, which harness.c does not link; include it after <cmocka.h>.
 */
#ifndef LBLAB_LB_FIXTURE_H
#define LBLAB_LB_FIXTURE_H

#include "harness.h"

/* Each test runs with a teardown that stops whatever it left running when an assertion ended it. */
#define LB_TEST(f) cmocka_unit_test_setup_teardown(f, harness_test_setup, harness_test_teardown)

struct lb_fixture {
    struct harness_sb *sb;
    pid_t lb;
    uint16_t lb_port;
};

/* A fresh lb in front of one scripted backend with steps; extra lb arguments may be NULL. */
static inline void lb_fixture_start(struct lb_fixture *f, const struct harness_sb_step *steps,
                                    size_t n, const char *const *extra)
{
    uint16_t port;
    f->sb = harness_sb_start("sb", steps, n);
    assert_non_null(f->sb);
    port = harness_sb_port(f->sb);
    f->lb = harness_start_lb(&f->lb_port, &port, 1, extra, NULL);
    assert_true(f->lb > 0);
}

/* The same with one worker, so every request shares one backend connection pool. */
static inline void lb_fixture_start_one_worker(struct lb_fixture *f,
                                               const struct harness_sb_step *steps, size_t n,
                                               const char *const *extra)
{
    const char *args[16] = {"-w", "1"};
    size_t k = 2;

    for (size_t i = 0; extra != NULL && extra[i] != NULL && k < 15; i++)
        args[k++] = extra[i];
    args[k] = NULL;
    lb_fixture_start(f, steps, n, args);
}

/* lb must still be running; it must exit 0 on SIGTERM. */
static inline void lb_fixture_stop(struct lb_fixture *f)
{
    assert_true(harness_alive(f->lb, NULL));
    assert_int_equal(harness_stop(f->lb, 15000), 0);
    harness_sb_stop(f->sb);
}

#endif
