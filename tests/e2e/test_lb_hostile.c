/*
 * test_lb_hostile.c - end-to-end: lb against backends and clients that bend HTTP the way real
 * ones do. Extra bytes after a response body, a body sent for HEAD, pooled backend connections
 * closed under lb (idle, or just as a request arrives), HTTP/1.0 and until-close responses, 103
 * Early Hints, an Expect answered with a final status, a refused Upgrade, a request body holding
 * another request, pipelining across backends of different speeds, a half-closed client, a
 * client that stops reading (memory stays bounded), a client that leaves while its backend is
 * silent, and the listener closed while lb drains.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 20000

/* One request on c; asserts the status and, when body is not NULL, the body. */
static void expect(struct harness_conn *c, const char *request, int status, const char *body)
{
    struct harness_response resp;
    assert_int_equal(harness_conn_request(c, request, &resp), 0);
    if (resp.status != status || (body != NULL && strcmp(resp.body, body) != 0)) {
        fprintf(stderr, "request %.40s: expected %d '%s', got %d '%.60s'\n", request, status,
                body ? body : "", resp.status, resp.body);
        harness_response_free(&resp);
        fail();
    }
    assert_true(resp.complete);
    harness_response_free(&resp);
}

static const char get1[] = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n";
static const char get2[] = "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n";
static const char get3[] = "GET /3 HTTP/1.1\r\nHost: x\r\n\r\n";

static void test_extra_bytes_after_a_response_body_never_become_the_next_response(void **state)
{
    struct harness_sb_step steps[] = {
        {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                  "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"},
        {.mode = HARNESS_SB_REPLY},
    };
    struct lb_fixture f;
    struct harness_conn c;
    (void)state;

    lb_fixture_start_one_worker(&f, steps, 2, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    expect(&c, get1, 200, "ok");
    expect(&c, get2, 200, "sb");
    expect(&c, get3, 200, "sb");
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_a_body_sent_for_head_never_becomes_the_next_response(void **state)
{
    struct harness_sb_step steps[] = {
        {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"},
        {.mode = HARNESS_SB_REPLY},
    };
    struct lb_fixture f;
    struct harness_conn c;
    (void)state;

    lb_fixture_start_one_worker(&f, steps, 2, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    expect(&c, "HEAD /1 HTTP/1.1\r\nHost: x\r\n\r\n", 200, "");
    expect(&c, get2, 200, "sb");
    expect(&c, get3, 200, "sb");
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_pooled_connection_closed_while_idle_is_not_reused(void **state)
{
    /* keep-alive answers (no Connection: close), each followed by a close */
    struct harness_sb_step step = {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                                   .close_after = true};
    struct lb_fixture f;
    struct harness_conn c;
    (void)state;

    lb_fixture_start_one_worker(&f, &step, 1, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    for (int i = 0; i < 5; i++) {
        expect(&c, get1, 200, "ok");
        harness_sleep_ms(100); /* let the backend's FIN arrive at lb */
    }
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

/* The keep-alive race: the backend closes a pooled connection just as lb sends the next request
 * on it. Nothing was answered, so lb can retry the GET on a new connection. */
static void assert_pooled_close_retried(bool reset)
{
    struct harness_sb_step steps[] = {
        {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"},
        {.mode = HARNESS_SB_CLOSE, .reset = reset},
        {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nretry"},
    };
    struct lb_fixture f;
    struct harness_conn c;

    lb_fixture_start_one_worker(&f, steps, 3, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    expect(&c, get1, 200, "first");
    expect(&c, get2, 200, "retry");
    assert_int_equal(harness_sb_requests(f.sb), 3);
    assert_int_equal(harness_sb_connections(f.sb), 2);
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_pooled_connection_closed_as_request_arrives_is_retried(void **state)
{
    (void)state;
    assert_pooled_close_retried(false);
}

static void test_pooled_connection_reset_as_request_arrives_is_retried(void **state)
{
    (void)state;
    assert_pooled_close_retried(true);
}

static void test_http10_backend_responses_then_more_requests(void **state)
{
    struct harness_sb_step step = {.reply = "HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nold!",
                                   .close_after = true};
    struct lb_fixture f;
    struct harness_conn c;
    (void)state;

    lb_fixture_start_one_worker(&f, &step, 1, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    for (int i = 0; i < 4; i++)
        expect(&c, get1, 200, "old!");
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_response_delimited_by_close_reaches_an_http11_client_whole(void **state)
{
    struct harness_sb_step step = {.reply = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                                            "the body ends when the backend closes",
                                   .close_after = true};
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    (void)state;

    lb_fixture_start_one_worker(&f, &step, 1, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_conn_request(&c, get1, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_true(resp.complete);
    assert_string_equal(resp.body, "the body ends when the backend closes");
    /* lb framed it (chunked) and kept the connection, or closed it: either way, no mix-up */
    if (!resp.closed)
        expect(&c, get2, 200, "the body ends when the backend closes");
    harness_response_free(&resp);
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_103_early_hints_then_the_final_response(void **state)
{
    struct harness_sb_step step = {.reply = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n"
                                            "\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"};
    struct lb_fixture f;
    struct harness_conn c;
    (void)state;

    lb_fixture_start_one_worker(&f, &step, 1, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    expect(&c, get1, 200, "final");
    expect(&c, get2, 200, "final");
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_a_flood_of_interim_responses_then_the_final_one(void **state)
{
    static const char interim[] = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n";
    size_t n = 2000, len = 0, il = sizeof(interim) - 1;
    char *reply = malloc(n * il + 64);
    for (size_t i = 0; i < n; i++, len += il)
        memcpy(reply + len, interim, il);
    len += (size_t)sprintf(reply + len, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal");
    struct harness_sb_step step = {.reply = reply, .reply_len = len};
    struct lb_fixture f;
    struct harness_conn c;
    (void)state;

    lb_fixture_start_one_worker(&f, &step, 1, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    expect(&c, get1, 200, "final");
    expect(&c, get2, 200, "final");
    harness_conn_close(&c);
    lb_fixture_stop(&f);
    free(reply);
}

static void test_expect_continue_answered_with_a_final_status(void **state)
{
    struct harness_sb_step step = {.reply = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n"
                                            "Connection: close\r\n\r\nnope!!",
                                   .close_after = true, .skip_body = true};
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    const char *head = "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                       "Expect: 100-continue\r\n\r\n";
    (void)state;

    lb_fixture_start_one_worker(&f, &step, 1, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, head, strlen(head)), 0);
    /* the body is never sent; the final status must still come (100 Continue first is fine) */
    assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
    if (resp.status == 401) {
        assert_string_equal(resp.body, "nope!!");
    } else {
        fprintf(stderr, "expected 401, got %d\n", resp.status);
        fail();
    }
    harness_response_free(&resp);
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_request_body_holding_a_request_is_not_split(void **state)
{
    struct lb_fixture f;
    struct harness_conn c;
    size_t len;
    const char *inner = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    char req[256];
    (void)state;

    snprintf(req, sizeof(req), "POST /outer HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(inner), inner);
    lb_fixture_start_one_worker(&f, NULL, 0, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    expect(&c, req, 200, "sb");
    expect(&c, get2, 200, "sb");
    assert_int_equal(harness_sb_requests(f.sb), 2);
    char *body = harness_sb_body(f.sb, 0, &len);
    assert_non_null(body);
    assert_string_equal(body, inner);
    free(body);
    char *head = harness_sb_head(f.sb, 1);
    assert_int_equal(strncmp(head, "GET /2 ", 7), 0);
    free(head);
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_chunked_request_then_pipelined_request_are_framed_apart(void **state)
{
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    size_t len;
    const char *both = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "4\r\nwiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n"
                       "GET /after HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)state;

    lb_fixture_start_one_worker(&f, NULL, 0, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, both, strlen(both)), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
        assert_int_equal(resp.status, 200);
        harness_response_free(&resp);
    }
    assert_int_equal(harness_sb_requests(f.sb), 2);
    char *body = harness_sb_body(f.sb, 0, &len);
    assert_string_equal(body, "wikipedia");
    free(body);
    char *head = harness_sb_head(f.sb, 1);
    assert_int_equal(strncmp(head, "GET /after ", 11), 0);
    free(head);
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_pipelined_requests_to_backends_of_different_speed_keep_order(void **state)
{
    struct harness_lab lab;
    struct harness_conn c;
    const char *paths[] = {"/delay/600", "/bytes/1", "/delay/300", "/bytes/2", "/delay/100",
                           "/bytes/3"};
    const size_t lens[] = {0, 1, 0, 2, 0, 3};
    char all[1024];
    size_t len = 0;
    struct harness_response direct[6];
    (void)state;

    assert_int_equal(harness_lab_start(&lab, 3, NULL), 0);
    /* the /delay bodies as a backend sends them, to recognise them */
    for (int i = 0; i < 6; i++) {
        char req[128];
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 paths[i]);
        assert_int_equal(harness_exchange(lab.sim_port[0], req, strlen(req), TIMEOUT_MS,
                                          &direct[i]), 0);
        len += (size_t)snprintf(all + len, sizeof(all) - len, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n",
                                paths[i]);
    }
    assert_int_equal(harness_conn_open(&c, lab.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, all, len), 0);
    for (int i = 0; i < 6; i++) {
        struct harness_response resp;
        assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
        assert_int_equal(resp.status, 200);
        if (lens[i] > 0)
            assert_int_equal(resp.body_len, lens[i]);
        else
            assert_int_equal(resp.body_len, direct[i].body_len);
        harness_response_free(&resp);
        harness_response_free(&direct[i]);
    }
    harness_conn_close(&c);
    assert_int_equal(harness_lab_stop(&lab), 0);
}

static void test_upgrade_refused_by_the_backend_keeps_the_connection_usable(void **state)
{
    struct lb_fixture f;
    struct harness_conn c;
    (void)state;

    lb_fixture_start_one_worker(&f, NULL, 0, NULL); /* answers 200 to everything, Upgrade or not */
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    expect(&c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
           200, "sb");
    expect(&c, get2, 200, "sb");
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_half_closed_client_still_gets_its_response(void **state)
{
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    (void)state;

    lb_fixture_start_one_worker(&f, NULL, 0, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, get1, strlen(get1)), 0);
    assert_int_equal(shutdown(c.fd, SHUT_WR), 0);
    assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "sb");
    harness_response_free(&resp);
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

/* Resident memory of pid in kB (VmRSS), or -1. */
static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static void test_client_that_stops_reading_does_not_make_lb_buffer_the_body(void **state)
{
    struct harness_lab lab;
    struct harness_conn c;
    char buf[4096];
    const char *req = "GET /bytes/524288000 HTTP/1.1\r\nHost: x\r\n\r\n"; /* 500 MB */
    (void)state;

    assert_int_equal(harness_lab_start(&lab, 1, NULL), 0);
    long before = rss_kb(lab.lb_pid);
    assert_true(before > 0);
    assert_int_equal(harness_conn_open(&c, lab.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
    assert_true(recv(c.fd, buf, sizeof(buf), 0) > 0);
    /* the client reads no more; loopback would move the 500 MB in well under this */
    harness_sleep_ms(2000);
    long after = rss_kb(lab.lb_pid);
    fprintf(stderr, "lb VmRSS %ld kB before, %ld kB with a 500 MB response stalled\n", before,
            after);
    assert_true(after - before < 64 * 1024);
    harness_conn_close(&c);
    assert_int_equal(harness_lab_stop(&lab), 0);
}

static void test_backend_that_stops_reading_does_not_make_lb_buffer_the_upload(void **state)
{
    struct harness_sb_step step = {.mode = HARNESS_SB_STALL};
    struct lb_fixture f;
    char head[128];
    char *chunk = calloc(1, 1 << 20);
    size_t sent = 0;
    (void)state;

    lb_fixture_start_one_worker(&f, &step, 1, NULL);
    long before = rss_kb(f.lb);
    int fd = harness_connect(f.lb_port, TIMEOUT_MS);
    assert_true(fd >= 0);
    int hl = snprintf(head, sizeof(head), "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
                      500 << 20);
    assert_int_equal(harness_send_all(fd, head, (size_t)hl), 0);
    assert_true(harness_sb_wait_requests(f.sb, 1, TIMEOUT_MS));
    /* push as much of 500 MB as lb takes within 2 s, without blocking */
    fcntl(fd, F_SETFL, O_NONBLOCK);
    uint64_t until = clock_mono_ms() + 2000;
    while (clock_mono_ms() < until && sent < (500u << 20)) {
        ssize_t w = send(fd, chunk, 1 << 20, MSG_NOSIGNAL);
        if (w > 0)
            sent += (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR)
            break;
        else
            harness_sleep_ms(10);
    }
    long after = rss_kb(f.lb);
    fprintf(stderr, "lb took %zu kB of a stalled 500 MB upload; VmRSS %ld kB -> %ld kB\n",
            sent / 1024, before, after);
    assert_true(sent < (64u << 20));
    assert_true(after - before < 64 * 1024);
    close(fd);
    free(chunk);
    lb_fixture_stop(&f);
}

static void test_sigterm_closes_the_listener_while_in_flight_requests_finish(void **state)
{
    struct harness_sb_step step = {.delay_ms = 6000};
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    int status;
    (void)state;

    lb_fixture_start_one_worker(&f, &step, 1, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, get1, strlen(get1)), 0);
    assert_true(harness_sb_wait_requests(f.sb, 1, TIMEOUT_MS));
    assert_int_equal(kill(f.lb, SIGTERM), 0);
    /* new connections are refused soon, while the slow request is still in flight */
    bool refused = false;
    for (int i = 0; i < 200 && !refused; i++) {
        int fd = harness_connect(f.lb_port, 1000);
        if (fd < 0)
            refused = true;
        else
            close(fd);
        if (!refused)
            harness_sleep_ms(20);
    }
    assert_true(refused);
    assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
    harness_conn_close(&c);
    uint64_t deadline = clock_mono_ms() + TIMEOUT_MS;
    while (harness_alive(f.lb, &status) && clock_mono_ms() < deadline)
        harness_sleep_ms(20);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    harness_sb_stop(f.sb);
}

/* A response head of n_headers 1000-byte fields. */
static char *big_head_reply(int n_headers, size_t *len)
{
    size_t cap = (size_t)n_headers * 1100 + 256;
    char *reply = malloc(cap);
    *len = (size_t)snprintf(reply, cap, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n");
    for (int i = 0; i < n_headers; i++) {
        *len += (size_t)snprintf(reply + *len, cap - *len, "X-Big-%d: ", i);
        memset(reply + *len, 'a' + i % 26, 1000);
        *len += 1000;
        memcpy(reply + *len, "\r\n", 2);
        *len += 2;
    }
    *len += (size_t)snprintf(reply + *len, cap - *len, "\r\nok");
    return reply;
}

static void test_12k_response_head_from_the_backend_is_relayed(void **state)
{
    size_t len;
    char *reply = big_head_reply(12, &len);
    struct harness_sb_step step = {.reply = reply, .reply_len = len};
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    (void)state;

    lb_fixture_start_one_worker(&f, &step, 1, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_conn_request(&c, get1, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "ok");
    for (int i = 0; i < 12; i++) {
        char name[32];
        snprintf(name, sizeof(name), "X-Big-%d", i);
        const char *v = harness_header(&resp, name);
        assert_non_null(v);
        assert_int_equal(strlen(v), 1000);
    }
    harness_response_free(&resp);
    harness_conn_close(&c);
    lb_fixture_stop(&f);
    free(reply);
}

static void test_oversized_response_head_from_the_backend_gets_502(void **state)
{
    size_t len;
    char *reply = big_head_reply(100, &len);
    struct harness_sb_step step = {.reply = reply, .reply_len = len, .close_after = true};
    struct lb_fixture f;
    struct harness_response resp;
    (void)state;

    lb_fixture_start_one_worker(&f, &step, 1, NULL);
    assert_int_equal(harness_exchange(f.lb_port, get1, strlen(get1), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 502);
    assert_null(harness_header(&resp, "X-Big-0"));
    harness_response_free(&resp);
    lb_fixture_stop(&f);
    free(reply);
}

static void test_12k_request_head_is_forwarded_intact(void **state)
{
    size_t cap = 16000, len = 0;
    char *req = malloc(cap);
    struct lb_fixture f;
    struct harness_response resp;
    (void)state;

    len += (size_t)snprintf(req, cap, "GET /big HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 12; i++) {
        len += (size_t)snprintf(req + len, cap - len, "X-Big-%d: ", i);
        memset(req + len, 'a' + i, 1000);
        len += 1000;
        memcpy(req + len, "\r\n", 2);
        len += 2;
    }
    memcpy(req + len, "\r\n", 3);
    len += 2;
    lb_fixture_start_one_worker(&f, NULL, 0, NULL);
    assert_int_equal(harness_exchange(f.lb_port, req, len, TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
    char *head = harness_sb_head(f.sb, 0);
    assert_non_null(head);
    for (int i = 0; i < 12; i++) {
        char name[32];
        snprintf(name, sizeof(name), "X-Big-%d", i);
        const char *v = harness_head_header_nth(head, name, 0);
        assert_non_null(v);
        assert_int_equal(strlen(v), 1000);
        assert_true(v[0] == 'a' + i && v[999] == 'a' + i);
    }
    free(head);
    lb_fixture_stop(&f);
    free(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_extra_bytes_after_a_response_body_never_become_the_next_response),
        LB_TEST(test_a_body_sent_for_head_never_becomes_the_next_response),
        LB_TEST(test_pooled_connection_closed_while_idle_is_not_reused),
        LB_TEST(test_pooled_connection_closed_as_request_arrives_is_retried),
        LB_TEST(test_pooled_connection_reset_as_request_arrives_is_retried),
        LB_TEST(test_http10_backend_responses_then_more_requests),
        LB_TEST(test_response_delimited_by_close_reaches_an_http11_client_whole),
        LB_TEST(test_103_early_hints_then_the_final_response),
        LB_TEST(test_a_flood_of_interim_responses_then_the_final_one),
        LB_TEST(test_expect_continue_answered_with_a_final_status),
        LB_TEST(test_request_body_holding_a_request_is_not_split),
        LB_TEST(test_chunked_request_then_pipelined_request_are_framed_apart),
        LB_TEST(test_pipelined_requests_to_backends_of_different_speed_keep_order),
        LB_TEST(test_upgrade_refused_by_the_backend_keeps_the_connection_usable),
        LB_TEST(test_half_closed_client_still_gets_its_response),
        LB_TEST(test_client_that_stops_reading_does_not_make_lb_buffer_the_body),
        LB_TEST(test_backend_that_stops_reading_does_not_make_lb_buffer_the_upload),
        LB_TEST(test_sigterm_closes_the_listener_while_in_flight_requests_finish),
        LB_TEST(test_12k_response_head_from_the_backend_is_relayed),
        LB_TEST(test_oversized_response_head_from_the_backend_gets_502),
        LB_TEST(test_12k_request_head_is_forwarded_intact),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("lb hostile", tests, NULL, NULL);
}
