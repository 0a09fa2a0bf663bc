/*
 * test_lb_slow_client.c - end-to-end: a client that reads its response slowly is the client's
 * business, and one that stops reading is the client's fault.
 *
 * While the client's socket is full lb stops reading the backend, so the backend's silence then
 * is not the backend's: --server-timeout must not fire. --client-timeout is the limit on no
 * progress towards the client (nginx's send_timeout, HAProxy's timeout client): a client that
 * keeps reading, however slowly, and with pauses shorter than it, gets its whole response; one
 * that stops reading is cut after it, and lb's log and access log say it was the client
 * (end=client_timeout), not the backend. The timeouts are short and the server timeout the
 * shorter one on purpose: the old behaviour (a cut blamed on the backend) would show at once.
 * The same holds in -m tcp, where lb relays the bytes without reading HTTP. Outcomes are
 * asserted, never durations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 30000
#define BODY_BYTES (32u << 20) /* far more than the socket buffers between lb and the client */

/* Milliseconds on the monotonic clock. */
static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One read of at most max bytes into buf at *len (growing *len). Returns the bytes read, 0 at
 * the end of the stream, -1 on an error or a timeout. */
static ssize_t read_some(int fd, char *buf, size_t *len, size_t cap, size_t max)
{
    if (*len >= cap)
        return -1;
    if (max > cap - *len)
        max = cap - *len;
    ssize_t n = recv(fd, buf + *len, max, 0);
    if (n > 0)
        *len += (size_t)n;
    return n;
}

/* Reads at most bytes (in reads of up to 64 KiB) as fast as they come. */
static void read_fast(int fd, char *buf, size_t *len, size_t cap, size_t bytes)
{
    size_t goal = *len + bytes;
    while (*len < goal && *len < cap) {
        ssize_t n = read_some(fd, buf, len, cap, goal - *len < 65536 ? goal - *len : 65536);
        if (n <= 0)
            fail_msg("the response stopped after %zu bytes (read returned %zd)", *len, n);
    }
}

/* The body /bytes/N has at backend-sim itself: fetched directly, to compare. */
static char *direct_body(uint16_t sim_port, const char *path, size_t *len)
{
    char req[256];
    struct harness_response r;
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n", path);
    assert_int_equal(harness_exchange(sim_port, req, strlen(req), TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.complete);
    char *body = r.body;
    *len = r.body_len;
    r.body = NULL;
    harness_response_free(&r);
    return body;
}

struct lab {
    char dir[40], err_log[64], access_log[64];
    pid_t sim, lb;
    uint16_t sim_port, lb_port;
};

static void lab_start(struct lab *l, const char *mode, const char *client_timeout,
                      const char *server_timeout)
{
    snprintf(l->dir, sizeof(l->dir), "/tmp/lblab-slow-XXXXXX");
    assert_non_null(mkdtemp(l->dir));
    snprintf(l->err_log, sizeof(l->err_log), "%s/lb.err", l->dir);
    snprintf(l->access_log, sizeof(l->access_log), "%s/access.log", l->dir);
    l->sim = harness_start_backend_sim("s1", &l->sim_port, NULL);
    assert_true(l->sim > 0);
    const char *extra[] = {"-m",
                           mode,
                           "-w",
                           "1",
                           "--client-timeout",
                           client_timeout,
                           "--server-timeout",
                           server_timeout,
                           "--access-log",
                           l->access_log,
                           NULL};
    l->lb = harness_start_lb(&l->lb_port, &l->sim_port, 1, extra, l->err_log);
    assert_true(l->lb > 0);
}

static void lab_stop(struct lab *l)
{
    assert_int_equal(harness_stop(l->lb, 15000), 0);
    assert_int_equal(harness_stop(l->sim, 15000), 0);
    int status;
    free(harness_runf(&status, "rm -rf %s", l->dir));
}

/* Sends a GET for path and reads the response head (and whatever body bytes came with it)
 * into buf. Returns the head's length. */
static size_t send_and_read_head(int fd, const char *path, char *buf, size_t *len, size_t cap)
{
    char req[256];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n", path);
    assert_int_equal(harness_send_all(fd, req, strlen(req)), 0);
    for (;;) {
        char *end = *len > 0 ? memmem(buf, *len, "\r\n\r\n", 4) : NULL;
        if (end != NULL) {
            assert_memory_equal(buf, "HTTP/1.1 200", 12);
            return (size_t)(end + 4 - buf);
        }
        if (read_some(fd, buf, len, cap, 4096) <= 0)
            fail_msg("no response head");
    }
}

static void slow_reader_with_pauses_gets_the_whole_body(const char *mode)
{
    struct lab l;
    char path[64];
    size_t cap = BODY_BYTES + 65536, len = 0, want_len;
    char *buf = malloc(cap);
    assert_non_null(buf);
    /* server timeout 200 ms: each pause of the client's is longer; client timeout 1500 ms: the
     * trickle lasts longer than that without lb being able to write a byte */
    lab_start(&l, mode, "1500", "200");
    snprintf(path, sizeof(path), "/bytes/%u", BODY_BYTES);
    char *want = direct_body(l.sim_port, path, &want_len);
    assert_int_equal(want_len, BODY_BYTES);

    int fd = harness_connect(l.lb_port, TIMEOUT_MS);
    assert_true(fd >= 0);
    size_t head = send_and_read_head(fd, path, buf, &len, cap);
    /* a trickle: 64 KiB every 100 ms for 3 s (lb's socket is full all along) */
    for (uint64_t until = mono_ms() + 3000; mono_ms() < until;) {
        read_fast(fd, buf, &len, cap, 65536);
        harness_sleep_ms(100);
    }
    /* bursts with pauses longer than the server timeout, shorter than the client timeout */
    for (int i = 0; i < 4; i++) {
        read_fast(fd, buf, &len, cap, 2u << 20);
        harness_sleep_ms(400);
    }
    /* then the rest, and the end of the stream */
    while (len < head + BODY_BYTES)
        read_fast(fd, buf, &len, cap, head + BODY_BYTES - len);
    char extra;
    assert_int_equal(recv(fd, &extra, 1, 0), 0);
    close(fd);
    if (memcmp(buf + head, want, BODY_BYTES) != 0)
        fail_msg("the body through lb differs from backend-sim's");

    /* the transfer's own line: lb writes it once the connection is over, which in -m tcp may
     * be a moment after the client read the end of the stream; an earlier line (-m tcp logs
     * the start-up probe's empty connection too) must not be taken for it */
    char line_part[64];
    snprintf(line_part, sizeof(line_part), "bytes=%zu", head + BODY_BYTES);
    assert_true(harness_wait_for_text(l.access_log, line_part, 10000));
    char *access = harness_read_file(l.access_log);
    if (strstr(access, " end=") != NULL)
        fail_msg("access log: %s", access);
    free(access);
    char *err = harness_read_file(l.err_log);
    if (strstr(err, "timed out") != NULL || strstr(err, "stopped reading") != NULL)
        fail_msg("lb's log: %s", err);
    free(err);
    lab_stop(&l);
    free(want);
    free(buf);
}

static void client_that_stops_reading_is_cut_and_blamed(const char *mode)
{
    struct lab l;
    char path[64];
    size_t cap = BODY_BYTES + 65536, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    lab_start(&l, mode, "600", "200");
    snprintf(path, sizeof(path), "/bytes/%u", BODY_BYTES);

    int fd = harness_connect(l.lb_port, TIMEOUT_MS);
    assert_true(fd >= 0);
    size_t head = send_and_read_head(fd, path, buf, &len, cap);
    read_fast(fd, buf, &len, cap, 65536);
    /* ... and then not a byte more until lb has given up on this client */
    if (!harness_wait_for_text(l.access_log, "end=client_timeout", 20000))
        fail_msg("no end=client_timeout line in the access log");
    /* the connection is cut: whatever the socket still holds, then a reset or an end, never
     * the whole body */
    for (;;) {
        ssize_t n = read_some(fd, buf, &len, cap, 1u << 20);
        if (n <= 0)
            break;
    }
    close(fd);
    assert_true(len < head + BODY_BYTES);

    char *access = harness_read_file(l.access_log);
    if (strcmp(mode, "http") == 0 && strstr(access, "status=200") == NULL)
        fail_msg("access log: %s", access);
    free(access);
    char *err = harness_read_file(l.err_log);
    if (strstr(err, "stopped reading its response") == NULL ||
        strstr(err, "timed out mid-response") != NULL)
        fail_msg("lb's log: %s", err);
    free(err);

    /* lb and the backend are fine: the next client is served */
    struct harness_response r;
    static const char req[] = "GET /bytes/100 HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n";
    assert_int_equal(harness_exchange(l.lb_port, req, sizeof(req) - 1, TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
    lab_stop(&l);
    free(buf);
}

static void test_slow_reader_with_pauses_gets_the_whole_body(void **state)
{
    (void)state;
    slow_reader_with_pauses_gets_the_whole_body("http");
}

static void test_client_that_stops_reading_is_cut_and_blamed(void **state)
{
    (void)state;
    client_that_stops_reading_is_cut_and_blamed("http");
}

/* -m tcp: lb relays the bytes without reading HTTP; the same rules hold for its idle limits */
static void test_tcp_slow_reader_with_pauses_gets_the_whole_body(void **state)
{
    (void)state;
    slow_reader_with_pauses_gets_the_whole_body("tcp");
}

static void test_tcp_client_that_stops_reading_is_cut_and_blamed(void **state)
{
    (void)state;
    client_that_stops_reading_is_cut_and_blamed("tcp");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_slow_reader_with_pauses_gets_the_whole_body),
        LB_TEST(test_client_that_stops_reading_is_cut_and_blamed),
        LB_TEST(test_tcp_slow_reader_with_pauses_gets_the_whole_body),
        LB_TEST(test_tcp_client_that_stops_reading_is_cut_and_blamed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
