/*
 * test_lb_defer_accept.c - end-to-end: in -m http lb's listener defers accepts (TCP_DEFER_ACCEPT)
 * until the client's first bytes arrive; --no-defer-accept and -m tcp accept at once.
 *
 * What the kernel does is read from /proc/net/tcp, where lb's side of a connection is listed
 * with its state: a deferred connection stays SYN_RECV (the client's bare ACK of the handshake is
 * not enough to complete it) until data arrives or, for a silent client, until the kernel has
 * resent its SYN-ACK about a second later; one accepted at once is ESTABLISHED as soon as
 * connect() returns. A silent client is then still timed out by --client-timeout, and a client
 * that speaks late is answered.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 20000
#define TCP_STATE_ESTABLISHED 0x01
#define TCP_STATE_SYN_RECV 0x03
/* the kernel resends the SYN-ACK of a deferred connection after 1 s; a look at the state later
 * than this after connect() may see it completed already and proves nothing */
#define DEFER_WINDOW_MS 800

static const char req[] = "GET / HTTP/1.1\r\nHost: lb\r\n\r\n";

static uint16_t local_port_of(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

/* The state of lb's side (local port server_port, remote port client_port) in /proc/net/tcp,
 * or -1 when it is not listed. */
static int server_side_state(uint16_t server_port, uint16_t client_port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    assert_non_null(f);
    char line[512];
    int state = -1;
    while (state < 0 && fgets(line, sizeof(line), f) != NULL) {
        unsigned local_port, remote_port, st;
        if (sscanf(line, " %*d: %*8[0-9A-Fa-f]:%x %*8[0-9A-Fa-f]:%x %x", &local_port,
                   &remote_port, &st) == 3 &&
            local_port == server_port && remote_port == client_port)
            state = (int)st;
    }
    fclose(f);
    return state;
}

/* Connects without sending; returns lb's side's first listed state and how long after connect()
 * it was read. */
static int first_state(struct harness_conn *c, uint16_t lb_port, uint64_t *after_ms)
{
    uint64_t t0 = clock_mono_ms();
    assert_int_equal(harness_conn_open(c, lb_port, TIMEOUT_MS), 0);
    uint16_t mine = local_port_of(c->fd);
    int state = -1;
    for (int i = 0; i < 200 && state < 0; i++) {
        state = server_side_state(lb_port, mine);
        if (state < 0)
            harness_sleep_ms(5);
    }
    *after_ms = clock_mono_ms() - t0;
    return state;
}

static void test_http_mode_takes_a_connection_when_its_request_arrives(void **state)
{
    (void)state;
    struct lb_fixture f;
    lb_fixture_start(&f, NULL, 0, NULL);
    struct harness_conn c;
    uint64_t after_ms;
    int st = first_state(&c, f.lb_port, &after_ms);
    if (after_ms < DEFER_WINDOW_MS)
        assert_int_equal(st, TCP_STATE_SYN_RECV);
    else
        print_message("looked %llu ms after connect(): too late to see the deferral\n",
                      (unsigned long long)after_ms);
    harness_sleep_ms(200); /* a client that speaks a little late is served all the same */
    lb_fixture_request_ok(&c, req);
    lb_fixture_request_ok(&c, req); /* and kept alive */
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_a_silent_client_is_still_timed_out(void **state)
{
    (void)state;
    struct lb_fixture f;
    const char *args[] = {"--client-timeout", "300", NULL};
    lb_fixture_start(&f, NULL, 0, args);
    struct harness_conn c;
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    /* taken after the kernel's SYN-ACK resend (about 1 s), then closed by --client-timeout */
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    harness_conn_close(&c);
    /* lb goes on serving */
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    lb_fixture_request_ok(&c, req);
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

/* lb started with args accepts a silent connection at once. */
static void accepts_at_once(const char *const *args)
{
    struct lb_fixture f;
    lb_fixture_start(&f, NULL, 0, args);
    struct harness_conn c;
    uint64_t after_ms;
    assert_int_equal(first_state(&c, f.lb_port, &after_ms), TCP_STATE_ESTABLISHED);
    lb_fixture_request_ok(&c, req);
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_no_defer_accept_takes_connections_at_once(void **state)
{
    (void)state;
    const char *args[] = {"--no-defer-accept", NULL};
    accepts_at_once(args);
}

static void test_tcp_mode_never_defers(void **state)
{
    (void)state;
    /* a backend may speak first in -m tcp (SMTP, MySQL): its client sends nothing before */
    const char *args[] = {"-m", "tcp", NULL};
    accepts_at_once(args);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_http_mode_takes_a_connection_when_its_request_arrives),
        LB_TEST(test_a_silent_client_is_still_timed_out),
        LB_TEST(test_no_defer_accept_takes_connections_at_once),
        LB_TEST(test_tcp_mode_never_defers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
