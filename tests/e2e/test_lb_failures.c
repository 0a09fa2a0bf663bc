/*
 * test_lb_failures.c - end-to-end: what the client sees when something fails half-way. A backend
 * answering an upload early (413) without reading it, a backend that stops reading an upload
 * (504, not 408: lb holds bytes it does not take), a backend stalling mid-body past
 * --server-timeout, a client stalling mid-body past --client-timeout, lb's own error responses to
 * HEAD (no body) and to pipelined requests, and error responses carrying an X-Request-ID that
 * the access log shows, with one log line per request, errors included (also with
 * --access-log -).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 20000

static void test_early_413_for_an_upload_reaches_the_client(void **state)
{
    struct harness_sb_step steps[] = {
        {.reply = "HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\n"
                  "too big!",
         .skip_body = true, .close_after = true},
        {.mode = HARNESS_SB_REPLY},
    };
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    size_t body = 4u << 20;
    char *req = malloc(body + 256);
    int hl = sprintf(req, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", body);
    memset(req + hl, 'u', body);
    (void)state;

    lb_fixture_start(&f, steps, 2, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    /* send the upload without blocking on it: the 413 may come first */
    fcntl(c.fd, F_SETFL, O_NONBLOCK);
    size_t off = 0, total = (size_t)hl + body;
    uint64_t deadline = clock_mono_ms() + TIMEOUT_MS;
    bool answered = false;
    while (off < total && clock_mono_ms() < deadline && !answered) {
        ssize_t w = send(c.fd, req + off, total - off, MSG_NOSIGNAL);
        if (w > 0)
            off += (size_t)w;
        else if (w < 0 && errno != EAGAIN)
            break; /* lb closed: the answer must be waiting */
        struct pollfd p = {.fd = c.fd, .events = POLLIN};
        answered = poll(&p, 1, w > 0 ? 0 : 10) > 0;
    }
    fcntl(c.fd, F_SETFL, 0);
    assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
    assert_int_equal(resp.status, 413);
    assert_string_equal(resp.body, "too big!");
    harness_response_free(&resp);
    harness_conn_close(&c);
    /* lb is fine and the backend connection was not reused mid-upload */
    const char *get = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(harness_exchange(f.lb_port, get, strlen(get), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "sb");
    harness_response_free(&resp);
    free(req);
    lb_fixture_stop(&f);
}

static void test_backend_stalling_mid_body_past_server_timeout_cuts_the_response(void **state)
{
    static char reply[4096 + 128];
    int hl = snprintf(reply, sizeof(reply), "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
    memset(reply + hl, 'p', 4096);
    struct harness_sb_step step = {.reply = reply, .reply_len = (size_t)hl + 4096,
                                   .hang_after = true};
    const char *extra[] = {"--server-timeout", "1000", NULL};
    struct lb_fixture f;
    struct harness_response resp;
    const char *get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)state;

    lb_fixture_start(&f, &step, 1, extra);
    /* bounded by the 20 s receive timeout: lb must end it well before */
    uint64_t t0 = clock_mono_ms();
    int rc = harness_exchange(f.lb_port, get, strlen(get), TIMEOUT_MS, &resp);
    uint64_t took = clock_mono_ms() - t0;
    if (rc == 0 && resp.status == 200)
        assert_false(resp.complete);
    else if (rc == 0)
        assert_int_equal(resp.status, 504);
    harness_response_free(&resp);
    assert_true(took < (uint64_t)TIMEOUT_MS - 1000); /* ended by lb, not by our timeout */
    lb_fixture_stop(&f);
}

static void test_client_stalling_mid_body_past_client_timeout_is_dropped(void **state)
{
    struct harness_sb_step step = {.mode = HARNESS_SB_ECHO};
    const char *extra[] = {"--client-timeout", "1000", NULL};
    struct lb_fixture f;
    struct harness_conn c;
    const char *half = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234";
    (void)state;

    lb_fixture_start(&f, &step, 1, extra);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, half, strlen(half)), 0);
    /* lb answers 408 or closes; either way the connection ends before our 20 s timeout */
    struct harness_response resp;
    uint64_t t0 = clock_mono_ms();
    int rc = harness_read_response(&c, false, false, &resp);
    if (rc == 0)
        assert_int_equal(resp.status, 408);
    harness_response_free(&resp);
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    assert_true(clock_mono_ms() - t0 < (uint64_t)TIMEOUT_MS - 1000);
    harness_conn_close(&c);
    /* and the backend side of it was let go */
    assert_true(harness_sb_wait_open_at_most(f.sb, 0, TIMEOUT_MS));
    lb_fixture_stop(&f);
}

/* A backend that reads an upload's head and then nothing more: once every buffer between the
 * client and the backend is full, lb holds body bytes the backend does not take, and reads the
 * client no further. The client's silence is then lb's doing and the backend's fault: lb must
 * answer 504 after --server-timeout, not 408 after the shorter --client-timeout, with its
 * buffers and with the body spliced through a pipe alike. */
static void test_backend_that_stops_reading_an_upload_is_blamed_not_the_client(void **state)
{
    struct harness_sb_step step = {.mode = HARNESS_SB_STALL};
    const char *spliced[] = {"--client-timeout", "300", "--server-timeout", "1500", NULL};
    const char *copied[] = {"--client-timeout", "300", "--server-timeout", "1500", "--no-splice",
                            NULL};
    const char *const *extra[] = {spliced, copied};
    char *chunk = calloc(1, 1 << 20);
    assert_non_null(chunk);
    (void)state;

    for (int run = 0; run < 2; run++) {
        struct lb_fixture f;
        struct harness_conn c;
        struct harness_response resp;
        char head[128];
        lb_fixture_start(&f, &step, 1, extra[run]);
        assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
        int hl = snprintf(head, sizeof(head),
                          "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 500 << 20);
        assert_int_equal(harness_send_all(c.fd, head, (size_t)hl), 0);
        assert_true(harness_sb_wait_requests(f.sb, 1, TIMEOUT_MS));
        /* send until nothing more goes for 200 ms: every buffer on the way is full */
        fcntl(c.fd, F_SETFL, O_NONBLOCK);
        size_t sent = 0;
        uint64_t last = clock_mono_ms(), until = last + TIMEOUT_MS;
        while (clock_mono_ms() < until && clock_mono_ms() - last < 200 && sent < (64u << 20)) {
            ssize_t w = send(c.fd, chunk, 1 << 20, MSG_NOSIGNAL);
            if (w > 0) {
                sent += (size_t)w;
                last = clock_mono_ms();
            } else {
                assert_true(w < 0 && (errno == EAGAIN || errno == EINTR));
                harness_sleep_ms(10);
            }
        }
        fcntl(c.fd, F_SETFL, 0);
        fprintf(stderr, "# %s: the client got %zu kB of the upload out before it stuck\n",
                run == 0 ? "spliced" : "copied", sent / 1024);
        assert_true(sent < (64u << 20));
        assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
        assert_int_equal(resp.status, 504);
        harness_response_free(&resp);
        harness_conn_close(&c);
        lb_fixture_stop(&f);
    }
    free(chunk);
}

static void test_lb_error_response_to_head_has_no_body(void **state)
{
    struct lb_fixture f;
    uint16_t closed = harness_free_port();
    struct harness_conn c;
    struct harness_response resp;
    const char *both = "HEAD /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)state;

    lb_fixture_start_ports(&f, &closed, 1, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, both, strlen(both)), 0);
    assert_int_equal(harness_read_response(&c, true, false, &resp), 0);
    assert_int_equal(resp.status, 503);
    /* the one backend rests for 5 s after its refusal: the client is told when to come back */
    const char *retry = harness_header(&resp, "Retry-After");
    assert_non_null(retry);
    assert_true(atoi(retry) >= 1 && atoi(retry) <= 5);
    bool closed_after = resp.closed;
    harness_response_free(&resp);
    if (!closed_after) {
        /* the GET's answer follows, not the HEAD's body */
        assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
        assert_int_equal(resp.status, 503);
        harness_response_free(&resp);
    } else {
        assert_true(harness_conn_closed(&c, TIMEOUT_MS));
        assert_int_equal(c.len, 0); /* no body bytes after the HEAD's head */
    }
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_pipelined_requests_after_a_503_are_not_mixed_up(void **state)
{
    struct lb_fixture f;
    uint16_t closed = harness_free_port();
    struct harness_conn c;
    struct harness_response resp;
    const char *three = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /3 HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)state;

    lb_fixture_start_ports(&f, &closed, 1, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, three, strlen(three)), 0);
    for (int i = 0; i < 3; i++) {
        if (harness_read_response(&c, false, false, &resp) != 0)
            break; /* lb closed after an error: fine, if cleanly */
        assert_int_equal(resp.status, 503);
        assert_true(resp.complete);
        bool closed_after = resp.closed;
        harness_response_free(&resp);
        if (closed_after)
            break;
    }
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_access_log_has_a_line_for_errors_too_with_the_returned_request_id(void **state)
{
    char dir[] = "/tmp/lbtest-log-XXXXXX";
    char path[256], ids[4][128];
    struct harness_sb_step steps[] = {
        {.mode = HARNESS_SB_REPLY},
        {.reply = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"},
        {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
         .close_after = true},
    };
    struct lb_fixture f;
    const char *reqs[] = {
        "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /broken HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /bad HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    };
    const int statuses[] = {200, 404, 502, 400};
    int n_lines = 0;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/access.log", dir);
    const char *extra[] = {"--access-log", path, NULL};
    lb_fixture_start(&f, steps, 3, extra);
    for (int i = 0; i < 4; i++) {
        struct harness_response resp;
        assert_int_equal(harness_exchange(f.lb_port, reqs[i], strlen(reqs[i]), TIMEOUT_MS, &resp),
                         0);
        assert_int_equal(resp.status, statuses[i]);
        const char *id = harness_header(&resp, "X-Request-ID");
        if (id == NULL) {
            fprintf(stderr, "no X-Request-ID on the %d response\n", statuses[i]);
            fail();
        }
        snprintf(ids[i], sizeof(ids[i]), "%s", id);
        harness_response_free(&resp);
    }
    lb_fixture_stop(&f);

    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[4096];
    bool seen[4] = {false, false, false, false};
    /* lines may come in any order (workers log on their own), each request exactly once */
    while (fgets(line, sizeof(line), fp) != NULL) {
        char want[64];
        int k = -1;
        assert_true(n_lines < 4);
        for (int i = 0; i < 4; i++)
            if (strstr(line, ids[i]) != NULL)
                k = i;
        if (k < 0 || seen[k]) {
            fprintf(stderr, "access log line for no request, or twice: %s", line);
            fail();
        }
        seen[k] = true;
        snprintf(want, sizeof(want), "%d", statuses[k]);
        if (strstr(line, want) == NULL) {
            fprintf(stderr, "log line lacks status %s: %s", want, line);
            fail();
        }
        n_lines++;
    }
    fclose(fp);
    assert_int_equal(n_lines, 4);
    unlink(path);
    rmdir(dir);
}

static void test_access_log_to_standard_output(void **state)
{
    char dir[] = "/tmp/lbtest-log-XXXXXX";
    char path[256];
    struct harness_sb *sb = harness_sb_start("sb", NULL, 0);
    uint16_t port = harness_sb_port(sb), lb_port;
    struct harness_response resp;
    const char *get = "GET /to-stdout HTTP/1.1\r\nHost: x\r\nX-Request-ID: stdout-id\r\n\r\n";
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/out.log", dir);
    const char *extra[] = {"--access-log", "-", NULL};
    pid_t lb = harness_start_lb(&lb_port, &port, 1, extra, path);
    assert_true(lb > 0);
    assert_int_equal(harness_exchange(lb_port, get, strlen(get), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
    assert_int_equal(harness_stop(lb, 15000), 0);
    int status;
    char *out = harness_runf(&status, "grep -c 'stdout-id' %s", path);
    assert_int_equal(atoi(out), 1);
    free(out);
    unlink(path);
    rmdir(dir);
    harness_sb_stop(sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_early_413_for_an_upload_reaches_the_client),
        LB_TEST(test_backend_stalling_mid_body_past_server_timeout_cuts_the_response),
        LB_TEST(test_client_stalling_mid_body_past_client_timeout_is_dropped),
        LB_TEST(test_lb_error_response_to_head_has_no_body),
        LB_TEST(test_backend_that_stops_reading_an_upload_is_blamed_not_the_client),
        LB_TEST(test_pipelined_requests_after_a_503_are_not_mixed_up),
        LB_TEST(test_access_log_has_a_line_for_errors_too_with_the_returned_request_id),
        LB_TEST(test_access_log_to_standard_output),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("lb failures", tests, NULL, NULL);
}
