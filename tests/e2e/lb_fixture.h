/*
 * lb_fixture.h - the fixture every lb end-to-end test uses: a fresh lb on a free port, most often
 * in front of one scripted backend (harness_sb), else in front of backends the test started,
 * started and stopped with cmocka assertions. Header-only because
 * it asserts with cmocka, which harness.c does not link; include it after <cmocka.h>.
 */
#ifndef LBLAB_LB_FIXTURE_H
#define LBLAB_LB_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

/* Each test runs with a teardown that stops whatever it left running when an assertion ended it. */
#define LB_TEST(f) cmocka_unit_test_setup_teardown(f, harness_test_setup, harness_test_teardown)

struct lb_fixture {
    struct harness_sb *sb;
    pid_t lb;
    uint16_t lb_port;
};

/* A fresh lb in front of the n backend ports given, which the test started itself (backend-sim,
 * scripted backends) or where nobody listens; extra lb arguments may be NULL. f->sb is NULL. */
static inline void lb_fixture_start_ports(struct lb_fixture *f, const uint16_t *ports, size_t n,
                                          const char *const *extra)
{
    f->sb = NULL;
    f->lb = harness_start_lb(&f->lb_port, ports, n, extra, NULL);
    assert_true(f->lb > 0);
}

/* A fresh lb in front of one scripted backend called name (its X-Backend) with steps. */
static inline void lb_fixture_start_named(struct lb_fixture *f, const char *name,
                                          const struct harness_sb_step *steps, size_t n,
                                          const char *const *extra)
{
    struct harness_sb *sb = harness_sb_start(name, steps, n);
    uint16_t port;

    assert_non_null(sb);
    port = harness_sb_port(sb);
    lb_fixture_start_ports(f, &port, 1, extra);
    f->sb = sb;
}

/* A fresh lb in front of one scripted backend "sb" with steps; extra lb arguments may be NULL. */
static inline void lb_fixture_start(struct lb_fixture *f, const struct harness_sb_step *steps,
                                    size_t n, const char *const *extra)
{
    lb_fixture_start_named(f, "sb", steps, n, extra);
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

/* Sends request on c and asserts that the answer is a 200. */
static inline void lb_fixture_request_ok(struct harness_conn *c, const char *request)
{
    struct harness_response r;

    assert_int_equal(harness_conn_request(c, request, &r), 0);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
}

/* One round of lb_fixture_echo_at_once() (below), first half: each of the conns clients sends its
 * POST /echo ("connection I, round R"). Returns the bytes sent in all. */
static inline long lb_fixture_echo_send(struct harness_conn *c, int conns, int round)
{
    char body[64], req[256];
    long sent = 0;
    for (int i = 0; i < conns; i++) {
        int blen = snprintf(body, sizeof(body), "connection %d, round %d", i, round);
        int n = snprintf(req, sizeof(req),
                         "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", blen,
                         body);
        assert_int_equal(harness_send_all(c[i].fd, req, (size_t)n), 0);
        sent += n;
    }
    return sent;
}

/* ... and second half: each client reads a 200 with its own body back. */
static inline void lb_fixture_echo_read(struct harness_conn *c, int conns, int round)
{
    char body[64];
    for (int i = 0; i < conns; i++) {
        struct harness_response resp;
        int blen = snprintf(body, sizeof(body), "connection %d, round %d", i, round);
        assert_int_equal(harness_read_response(&c[i], false, false, &resp), 0);
        assert_int_equal(resp.status, 200);
        assert_int_equal(resp.body_len, (size_t)blen);
        assert_memory_equal(resp.body, body, (size_t)blen);
        harness_response_free(&resp);
    }
}

/* conns keep-alive clients of the lb on port send a POST /echo at once, rounds times over, and
 * each must get its own body back ("connection I, round R"), so an answer written to the wrong
 * client, lost or written twice shows. Reaching backend-sim's /echo (through lb in either mode)
 * is the caller's set-up; timeout_ms bounds each connect. */
static inline void lb_fixture_echo_at_once(uint16_t port, int conns, int rounds, int timeout_ms)
{
    struct harness_conn *c = calloc((size_t)conns, sizeof(*c));
    assert_non_null(c);
    for (int i = 0; i < conns; i++)
        assert_int_equal(harness_conn_open(&c[i], port, timeout_ms), 0);
    for (int r = 0; r < rounds; r++) {
        lb_fixture_echo_send(c, conns, r);
        lb_fixture_echo_read(c, conns, r);
    }
    for (int i = 0; i < conns; i++)
        harness_conn_close(&c[i]);
    free(c);
}

/* lb must still be running; it must exit 0 on SIGTERM. Stops the scripted backend, if any. */
static inline void lb_fixture_stop(struct lb_fixture *f)
{
    assert_true(harness_alive(f->lb, NULL));
    assert_int_equal(harness_stop(f->lb, 15000), 0);
    harness_sb_stop(f->sb);
}

#endif
