/*
 * test_lb_regress.c - end-to-end regression tests for bugs a hostile QA pass found in lb, one
 * or more tests per bug, each asserting what the client sees:
 *   BUG 1  pipelined requests followed by the client's shutdown(SHUT_WR): every complete request
 *          already sent is answered, in order, then lb closes.
 *   BUG 2  every backend down: 503 "no backend available" (not 502); 502 stays for a backend that
 *          accepted the connection and then broke the response.
 *   BUG 7  malformed chunked framing from a backend, found before any byte of the response went
 *          to the client: 502 (not a bare reset), and nothing of it relayed.
 *   BUG 6  a client that stops sending its request body gets 408 even when --server-timeout is
 *          the shorter one; the backend is blamed (504) only when it owes lb something.
 *   BUG 9  the 100-field limit holds for the head the backend gets: a request that only passes it
 *          before lb adds X-Forwarded-For, X-Forwarded-Proto and X-Request-ID gets lb's 431.
 *   BUG 10 a backend whose connect failed rests for a while (passive health check): new requests
 *          go straight to the others instead of each paying a failed connect first.
 *   BUG 8  Content-Length, Transfer-Encoding and Host as request trailers are refused (400), not
 *          forwarded to a backend that might merge them into the head; other trailers pass.
 *   BUG 3  (fixed on branch lb) started with a low soft descriptor limit, lb still serves more
 *          concurrent requests than that limit allows for (it raises it to the hard limit).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 20000

/* The request line of the scripted backend's request i starts with want. */
static void assert_forwarded(struct harness_sb *sb, int i, const char *want)
{
    char *head = harness_sb_head(sb, i);
    assert_non_null(head);
    if (strncmp(head, want, strlen(want)) != 0)
        fail_msg("request %d reached the backend as '%.40s', not '%s'", i, head, want);
    free(head);
}

/* --- BUG 1: pipelined requests, then the client half-closes ------------------------------------ */

static void test_pipelined_requests_then_shut_wr_are_all_answered_in_order(void **state)
{
    /* the first answer waits, so lb has surely read the client's FIN before it finishes */
    struct harness_sb_step steps[] = {
        {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr1", .delay_ms = 200},
        {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr2"},
        {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr3"},
        {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr4"},
        {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr5"},
    };
    char req[512];
    size_t len = 0;
    struct lb_fixture f;
    struct harness_conn c;
    (void)state;

    for (int i = 1; i <= 5; i++)
        len += (size_t)snprintf(req + len, sizeof(req) - len, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
    lb_fixture_start(&f, steps, 5, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, req, len), 0);
    assert_int_equal(shutdown(c.fd, SHUT_WR), 0);
    for (int i = 1; i <= 5; i++) {
        struct harness_response resp;
        char want[16];
        snprintf(want, sizeof(want), "r%d", i);
        if (harness_read_response(&c, false, false, &resp) != 0)
            fail_msg("no response %d of 5 after the client's SHUT_WR", i);
        assert_int_equal(resp.status, 200);
        assert_true(resp.complete);
        assert_string_equal(resp.body, want);
        harness_response_free(&resp);
    }
    /* then lb closes: nothing more will come */
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    harness_conn_close(&c);
    for (int i = 0; i < 5; i++) {
        char want[32];
        snprintf(want, sizeof(want), "GET /%d HTTP/1.1\r\n", i + 1);
        assert_forwarded(f.sb, i, want);
    }
    lb_fixture_stop(&f);
}

static void test_pipelined_request_with_body_then_shut_wr_is_answered(void **state)
{
    struct harness_sb_step steps[] = {
        {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst", .delay_ms = 200},
        {.mode = HARNESS_SB_ECHO},
        {.reply = "HTTP/1.1 204 No Content\r\n\r\n"},
    };
    const char *req = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                      "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
                      "DELETE /c HTTP/1.1\r\nHost: x\r\n\r\n";
    const int want_status[] = {200, 200, 204};
    const char *want_body[] = {"first", "hello world", ""};
    struct lb_fixture f;
    struct harness_conn c;
    size_t blen;
    (void)state;

    lb_fixture_start(&f, steps, 3, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
    assert_int_equal(shutdown(c.fd, SHUT_WR), 0);
    for (int i = 0; i < 3; i++) {
        struct harness_response resp;
        if (harness_read_response(&c, false, false, &resp) != 0)
            fail_msg("no response %d of 3 after the client's SHUT_WR", i + 1);
        assert_int_equal(resp.status, want_status[i]);
        assert_true(resp.complete);
        assert_string_equal(resp.body, want_body[i]);
        harness_response_free(&resp);
    }
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    harness_conn_close(&c);
    char *body = harness_sb_body(f.sb, 1, &blen);
    assert_non_null(body);
    assert_int_equal(blen, 11);
    assert_memory_equal(body, "hello world", 11);
    free(body);
    assert_forwarded(f.sb, 2, "DELETE /c HTTP/1.1\r\n");
    lb_fixture_stop(&f);
}

static void test_half_closed_client_with_a_cut_request_after_complete_ones_gets_answers_then_400(
    void **state)
{
    struct harness_sb_step step = {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                                   .delay_ms = 100};
    const char *req = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /3 HTTP/1.1\r\nHo";
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    (void)state;

    lb_fixture_start(&f, &step, 1, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
    assert_int_equal(shutdown(c.fd, SHUT_WR), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
        assert_int_equal(resp.status, 200);
        assert_string_equal(resp.body, "ok");
        harness_response_free(&resp);
    }
    /* the cut third request can never complete: 400, then close */
    assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
    assert_int_equal(resp.status, 400);
    assert_true(resp.complete);
    harness_response_free(&resp);
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    harness_conn_close(&c);
    assert_int_equal(harness_sb_requests(f.sb), 2);
    lb_fixture_stop(&f);
}

/* --- BUG 2: no backend can take the request -> 503 ---------------------------------------------- */

static void test_every_backend_refusing_gets_503(void **state)
{
    struct lb_fixture f;
    uint16_t closed[2] = {harness_free_port(), 0};
    const char *req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    struct harness_conn c;
    struct harness_response resp;
    (void)state;

    do
        closed[1] = harness_free_port();
    while (closed[1] == closed[0]);
    lb_fixture_start_ports(&f, closed, 2, NULL);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(harness_exchange(f.lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
        assert_int_equal(resp.status, 503);
        assert_true(resp.complete);
        /* the first request finds both refusing; they are ejected, so the next ones find none */
        assert_non_null(strstr(resp.body, i == 0 ? "no backend accepted the connection"
                                                 : "no backend is available"));
        assert_non_null(harness_header(&resp, "X-Request-ID"));
        harness_response_free(&resp);
    }
    /* HEAD gets the same status, without a body */
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_conn_request(&c, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", &resp), 0);
    assert_int_equal(resp.status, 503);
    assert_int_equal(resp.body_len, 0);
    harness_response_free(&resp);
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_refused_backend_is_skipped_and_the_live_one_answers(void **state)
{
    struct lb_fixture f;
    struct harness_sb *sb = harness_sb_start("live", NULL, 0);
    uint16_t ports[2];
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)state;

    assert_non_null(sb);
    ports[0] = harness_free_port(); /* nobody listens here */
    ports[1] = harness_sb_port(sb);
    lb_fixture_start_ports(&f, ports, 2, NULL);
    for (int i = 0; i < 6; i++) {
        struct harness_response resp;
        assert_int_equal(harness_exchange(f.lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
        assert_int_equal(resp.status, 200);
        assert_string_equal(resp.body, "live");
        harness_response_free(&resp);
    }
    assert_int_equal(harness_sb_requests(sb), 6);
    lb_fixture_stop(&f);
    harness_sb_stop(sb);
}

static void test_backend_accepting_then_closing_without_answer_still_gets_502(void **state)
{
    struct harness_sb_step step = {.mode = HARNESS_SB_CLOSE};
    const char *req = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi";
    struct lb_fixture f;
    struct harness_response resp;
    (void)state;

    lb_fixture_start(&f, &step, 1, NULL);
    assert_int_equal(harness_exchange(f.lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 502);
    assert_true(resp.complete);
    harness_response_free(&resp);
    lb_fixture_stop(&f);
}

/* --- BUG 7: a malformed chunked body found before the head went out -> 502 -------------------- */

static void test_malformed_chunked_body_before_anything_was_sent_gets_502(void **state)
{
    struct harness_sb_step step = {
        .reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        .close_after = true};
    const char *reqs[] = {"GET /11 HTTP/1.1\r\nHost: x\r\n\r\n",
                          "GET /10 HTTP/1.0\r\n\r\n", /* the decoding path */
                          "GET /again HTTP/1.1\r\nHost: x\r\n\r\n"};
    struct lb_fixture f;
    (void)state;

    lb_fixture_start(&f, &step, 1, NULL);
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        struct harness_response resp;
        if (harness_exchange(f.lb_port, reqs[i], strlen(reqs[i]), TIMEOUT_MS, &resp) != 0)
            fail_msg("%s: no response (a reset?) instead of a 502", reqs[i]);
        assert_int_equal(resp.status, 502);
        assert_true(resp.complete);
        assert_null(strstr(resp.body, "hello"));
        assert_non_null(harness_header(&resp, "X-Request-ID"));
        harness_response_free(&resp);
    }
    assert_int_equal(harness_sb_requests(f.sb), 3);
    lb_fixture_stop(&f);
}

static void test_valid_chunk_then_malformed_one_in_one_read_gets_502(void **state)
{
    struct harness_sb_step step = {
        .reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5x\r\nworld\r\n"
                 "0\r\n\r\n",
        .close_after = true};
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    struct lb_fixture f;
    struct harness_response resp;
    (void)state;

    lb_fixture_start(&f, &step, 1, NULL);
    if (harness_exchange(f.lb_port, req, strlen(req), TIMEOUT_MS, &resp) != 0)
        fail_msg("no response (a reset?) instead of a 502");
    assert_int_equal(resp.status, 502);
    assert_null(strstr(resp.body, "hello"));
    harness_response_free(&resp);
    lb_fixture_stop(&f);
}

/* --- BUG 6: a stalled request body is the client's fault (408), whichever timeout is shorter -- */

static void test_client_stalling_mid_body_gets_408_with_a_shorter_server_timeout(void **state)
{
    struct harness_sb_step step = {.mode = HARNESS_SB_HANG};
    const char *extra[] = {"--client-timeout", "2000", "--server-timeout", "500", NULL};
    const char *req = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc";
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    (void)state;

    lb_fixture_start(&f, &step, 1, extra);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
    /* and then the client sends nothing more */
    assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
    assert_int_equal(resp.status, 408);
    harness_response_free(&resp);
    harness_conn_close(&c);
    assert_true(harness_sb_wait_open_at_most(f.sb, 0, TIMEOUT_MS));
    lb_fixture_stop(&f);
}

static void test_backend_silent_after_a_whole_upload_gets_504(void **state)
{
    struct harness_sb_step step = {.mode = HARNESS_SB_HANG};
    const char *extra[] = {"--client-timeout", "5000", "--server-timeout", "500", NULL};
    const char *req = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    struct lb_fixture f;
    struct harness_response resp;
    (void)state;

    lb_fixture_start(&f, &step, 1, extra);
    assert_int_equal(harness_exchange(f.lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 504);
    harness_response_free(&resp);
    lb_fixture_stop(&f);
}

static void test_backend_never_sending_100_continue_gets_504_not_408(void **state)
{
    struct harness_sb_step step = {.mode = HARNESS_SB_HANG};
    const char *extra[] = {"--client-timeout", "5000", "--server-timeout", "500", NULL};
    const char *req = "PUT /file HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                      "Expect: 100-continue\r\n\r\n";
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    (void)state;

    lb_fixture_start(&f, &step, 1, extra);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
    /* the client waits for 100 Continue before its body, as it may: the backend owes the answer */
    assert_int_equal(harness_read_response(&c, false, true, &resp), 0);
    assert_int_equal(resp.status, 504);
    harness_response_free(&resp);
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

/* --- BUG 9: the header field limit counts the fields lb adds ----------------------------------- */

/* A request with Host, the given extra field lines, then `others` fields X-Hn: v. */
static char *many_fields(const char *extra, int others, size_t *len)
{
    size_t cap = 256 + strlen(extra) + (size_t)others * 16, off = 0;
    char *req = malloc(cap);
    assert_non_null(req);
    off += (size_t)snprintf(req + off, cap - off, "GET /many HTTP/1.1\r\nHost: x\r\n%s", extra);
    for (int i = 0; i < others; i++)
        off += (size_t)snprintf(req + off, cap - off, "X-H%d: v\r\n", i);
    off += (size_t)snprintf(req + off, cap - off, "\r\n");
    *len = off;
    return req;
}

static void test_too_many_fields_once_lb_adds_its_own_get_431_from_lb(void **state)
{
    struct lb_fixture f;
    struct harness_response resp;
    size_t len;
    (void)state;

    lb_fixture_start(&f, NULL, 0, NULL);
    /* 100 fields from the client, 103 with lb's: refused by lb, never forwarded */
    char *req = many_fields("", 99, &len);
    assert_int_equal(harness_exchange(f.lb_port, req, len, TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 431);
    assert_null(harness_header(&resp, "X-Backend"));
    assert_true(resp.closed);
    harness_response_free(&resp);
    free(req);
    assert_int_equal(harness_sb_requests(f.sb), 0);

    /* 97 from the client, 100 with lb's: forwarded whole */
    req = many_fields("", 96, &len);
    assert_int_equal(harness_exchange(f.lb_port, req, len, TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
    free(req);
    char *head = harness_sb_head(f.sb, 0);
    assert_non_null(head);
    assert_int_equal(harness_head_header_count(head, "X-H95"), 1);
    assert_int_equal(harness_head_header_count(head, "X-Request-ID"), 1);
    free(head);
    lb_fixture_stop(&f);
}

static void test_100_fields_with_the_clients_own_forwarding_fields_pass(void **state)
{
    struct lb_fixture f;
    struct harness_response resp;
    size_t len;
    (void)state;

    lb_fixture_start(&f, NULL, 0, NULL);
    /* lb replaces or extends these instead of adding: still 100 fields at the backend */
    char *req = many_fields("X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\n"
                            "X-Request-ID: regress-9\r\n", 96, &len);
    assert_int_equal(harness_exchange(f.lb_port, req, len, TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(harness_header(&resp, "X-Request-ID"), "regress-9");
    harness_response_free(&resp);
    free(req);
    char *head = harness_sb_head(f.sb, 0);
    assert_non_null(head);
    assert_int_equal(harness_head_header_count(head, "X-Forwarded-For"), 1);
    free(head);
    lb_fixture_stop(&f);
}

/* --- BUG 10: a backend whose connect failed is skipped for a while ------------------------------ */

static void test_backend_that_refused_rests_and_new_requests_skip_it(void **state)
{
    struct lb_fixture f;
    struct harness_sb *sb = harness_sb_start("live", NULL, 0);
    uint16_t ports[2];
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)state;

    assert_non_null(sb);
    ports[0] = harness_free_port(); /* nobody listens here yet: connects are refused */
    ports[1] = harness_sb_port(sb);
    lb_fixture_start_ports(&f, ports, 2, NULL);
    /* two requests: round robin puts one of them on the refusing backend, which fails over */
    for (int i = 0; i < 2; i++) {
        struct harness_response resp;
        assert_int_equal(harness_exchange(f.lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
        assert_int_equal(resp.status, 200);
        harness_response_free(&resp);
    }
    /* now something listens there (think: a host that drops SYNs, where each try would cost
     * --connect-timeout); while the backend rests (5 s, far longer than these few loopback
     * requests take) new requests must not even try it */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(ports[0]),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(ls >= 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(ls, 16), 0);
    for (int i = 0; i < 6; i++) {
        struct harness_response resp;
        assert_int_equal(harness_exchange(f.lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
        assert_int_equal(resp.status, 200);
        assert_string_equal(resp.body, "live");
        harness_response_free(&resp);
    }
    struct pollfd pfd = {.fd = ls, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 0), 0); /* no connection attempt reached it */
    assert_int_equal(harness_sb_requests(sb), 8);
    close(ls);
    lb_fixture_stop(&f);
    harness_sb_stop(sb);
}

/* --- BUG 8: framing and routing fields as trailers are refused ---------------------------------- */

static void test_request_trailers_with_framing_or_host_fields_get_400(void **state)
{
    const char *trailers[] = {"Content-Length: 50", "transfer-encoding: chunked", "Host: evil"};
    struct lb_fixture f;
    (void)state;

    lb_fixture_start(&f, NULL, 0, NULL);
    for (size_t i = 0; i < sizeof(trailers) / sizeof(trailers[0]); i++) {
        char req[256];
        struct harness_response resp;
        int n = snprintf(req, sizeof(req),
                         "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "3\r\nabc\r\n0\r\n%s\r\n\r\n", trailers[i]);
        assert_int_equal(harness_exchange(f.lb_port, req, (size_t)n, TIMEOUT_MS, &resp), 0);
        if (resp.status != 400)
            fail_msg("trailer '%s': status %d, not 400", trailers[i], resp.status);
        assert_non_null(strstr(resp.body, "lb (lblab)")); /* lb's own answer, not the backend's */
        assert_true(resp.closed);
        harness_response_free(&resp);
    }
    /* an ordinary trailer still goes through */
    const char *ok = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n0\r\nX-Checksum: 900150983cd24fb0\r\n\r\n";
    struct harness_response resp;
    assert_int_equal(harness_exchange(f.lb_port, ok, strlen(ok), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
    lb_fixture_stop(&f);
}

/* --- BUG 3: a low soft descriptor limit is raised ----------------------------------------------- */

#define FD_CLIENTS 60

static void test_lb_started_with_a_soft_fd_limit_of_64_serves_60_concurrent_requests(void **state)
{
    struct harness_sb_step step = {.delay_ms = 300}; /* each request holds a backend connection */
    struct harness_sb *sb = harness_sb_start("sb", &step, 1);
    struct harness_conn c[FD_CLIENTS];
    struct rlimit saved, low;
    uint16_t port, lb_port;
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)state;

    assert_non_null(sb);
    port = harness_sb_port(sb);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < 4 * FD_CLIENTS)
        skip(); /* the hard limit itself is too low to show anything */
    low = saved;
    low.rlim_cur = 64; /* 60 clients need 120+ descriptors in lb */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    pid_t lb = harness_start_lb(&lb_port, &port, 1, NULL, NULL); /* inherits the low limit */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    assert_true(lb > 0);

    for (int i = 0; i < FD_CLIENTS; i++) {
        assert_int_equal(harness_conn_open(&c[i], lb_port, TIMEOUT_MS), 0);
        assert_int_equal(harness_send_all(c[i].fd, req, strlen(req)), 0);
    }
    for (int i = 0; i < FD_CLIENTS; i++) {
        struct harness_response resp;
        if (harness_read_response(&c[i], false, false, &resp) != 0)
            fail_msg("client %d of %d got no response", i + 1, FD_CLIENTS);
        if (resp.status != 200)
            fail_msg("client %d of %d got %d", i + 1, FD_CLIENTS, resp.status);
        harness_response_free(&resp);
        harness_conn_close(&c[i]);
    }
    assert_int_equal(harness_sb_requests(sb), FD_CLIENTS);
    assert_true(harness_alive(lb, NULL));
    assert_int_equal(harness_stop(lb, 15000), 0);
    harness_sb_stop(sb);
}

/* --- a backend's response head larger than lb's buffer: 502, and the reason on standard error -- */

/* A backend answers with a field of field_len bytes: lb answers 502, its log says why and its
 * access log records the 502. */
static void assert_oversized_head_refused(size_t field_len)
{
    static const char tail[] = "\r\nContent-Length: 0\r\n\r\n";
    size_t cap = field_len + 64 + sizeof(tail);
    char *reply = malloc(cap);
    struct harness_sb_step step = {.mode = HARNESS_SB_REPLY};
    char dir[] = "/tmp/lblab-regress-XXXXXX", log[64], access[64];
    assert_non_null(reply);
    int n = snprintf(reply, cap, "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(reply + n, 'a', field_len);
    memcpy(reply + n + field_len, tail, sizeof(tail)); /* with its NUL: reply is a C string */
    step.reply = reply;
    assert_non_null(mkdtemp(dir));
    snprintf(log, sizeof(log), "%s/lb.log", dir);
    snprintf(access, sizeof(access), "%s/access.log", dir);
    struct harness_sb *sb = harness_sb_start("big", &step, 1);
    assert_non_null(sb);
    uint16_t port = harness_sb_port(sb), lb_port;
    const char *extra[] = {"--access-log", access, NULL};
    pid_t lb = harness_start_lb(&lb_port, &port, 1, extra, log);
    assert_true(lb > 0);
    struct harness_response resp;
    static const char req[] = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(harness_exchange(lb_port, req, sizeof(req) - 1, 10000, &resp), 0);
    assert_int_equal(resp.status, 502);
    harness_response_free(&resp);
    assert_int_equal(harness_stop(lb, 15000), 0);
    harness_sb_stop(sb);
    int status;
    char *out = harness_runf(&status, "cat %s", log);
    assert_non_null(out);
    assert_non_null(strstr(out, "response head larger than 16 KiB"));
    free(out);
    out = harness_runf(&status, "cat %s", access);
    assert_non_null(out);
    assert_non_null(strstr(out, "status=502"));
    free(out);
    free(harness_runf(&status, "rm -r %s", dir));
    free(reply);
}

static void test_oversized_response_head_is_502_with_its_reason_logged(void **state)
{
    (void)state;
    assert_oversized_head_refused(30000); /* 30 KB: more than the 16 KiB a head may take */
}

static void test_200_kb_response_field_is_502_with_its_reason_logged(void **state)
{
    (void)state;
    assert_oversized_head_refused(200000); /* what the hostile test sent */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_pipelined_requests_then_shut_wr_are_all_answered_in_order),
        LB_TEST(test_oversized_response_head_is_502_with_its_reason_logged),
        LB_TEST(test_200_kb_response_field_is_502_with_its_reason_logged),
        LB_TEST(test_pipelined_request_with_body_then_shut_wr_is_answered),
        LB_TEST(test_half_closed_client_with_a_cut_request_after_complete_ones_gets_answers_then_400),
        LB_TEST(test_every_backend_refusing_gets_503),
        LB_TEST(test_refused_backend_is_skipped_and_the_live_one_answers),
        LB_TEST(test_backend_accepting_then_closing_without_answer_still_gets_502),
        LB_TEST(test_malformed_chunked_body_before_anything_was_sent_gets_502),
        LB_TEST(test_valid_chunk_then_malformed_one_in_one_read_gets_502),
        LB_TEST(test_client_stalling_mid_body_gets_408_with_a_shorter_server_timeout),
        LB_TEST(test_backend_silent_after_a_whole_upload_gets_504),
        LB_TEST(test_backend_never_sending_100_continue_gets_504_not_408),
        LB_TEST(test_too_many_fields_once_lb_adds_its_own_get_431_from_lb),
        LB_TEST(test_100_fields_with_the_clients_own_forwarding_fields_pass),
        LB_TEST(test_backend_that_refused_rests_and_new_requests_skip_it),
        LB_TEST(test_request_trailers_with_framing_or_host_fields_get_400),
        LB_TEST(test_lb_started_with_a_soft_fd_limit_of_64_serves_60_concurrent_requests),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("lb regressions", tests, NULL, NULL);
}
