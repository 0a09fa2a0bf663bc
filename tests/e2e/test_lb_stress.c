/*
 * test_lb_stress.c - end-to-end: lb's buffering and framing under load and odd segmentation.
 * Many clients at once, each pipelining uploads of random sizes (Content-Length and chunked with
 * random chunk sizes, NUL bytes included) that must come back byte for byte; one-byte chunks both
 * ways; a response and a pipeline of requests dribbled one byte per segment; and the addressing
 * options: IPv6 listener and backend, -b localhost with --dns-ttl 0, several workers (whose
 * access-log lines must all be there, whole).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 30000
#define CLIENTS 12
#define PER_CLIENT 12

static uint64_t next_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Body number (client, i): its size and bytes, deterministic. */
static char *make_body(int client, int i, size_t *len)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(client * 1000 + i + 1);
    size_t n = (size_t)(next_rand(&x) % 150000);
    if (i % 5 == 0)
        n = 0;
    char *b = malloc(n + 1);
    for (size_t k = 0; k < n; k++)
        b[k] = (char)(next_rand(&x) & 0xff);
    *len = n;
    return b;
}

/* Appends request i of client to *out as Content-Length or chunked (random chunk sizes, some in
 * upper-case hex with extensions). */
static void append_request(int client, int i, char **out, size_t *len, size_t *cap)
{
    size_t blen;
    char *body = make_body(client, i, &blen);
    size_t need = blen + blen / 8 + 4096;
    uint64_t x = (uint64_t)(client * 7919 + i * 104729 + 1);

    if (*len + need > *cap) {
        *cap = (*len + need) * 2;
        *out = realloc(*out, *cap);
    }
    if (i % 2 == 0) {
        *len += (size_t)sprintf(*out + *len, "POST /echo HTTP/1.1\r\nHost: x\r\n"
                                "Content-Length: %zu\r\n\r\n", blen);
        memcpy(*out + *len, body, blen);
        *len += blen;
    } else {
        *len += (size_t)sprintf(*out + *len, "POST /echo HTTP/1.1\r\nHost: x\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n");
        for (size_t off = 0; off < blen;) {
            size_t c = 1 + (size_t)(next_rand(&x) % 20000);
            if (c > blen - off)
                c = blen - off;
            *len += (size_t)sprintf(*out + *len, (c & 1) ? "%zX;n=v\r\n" : "%zx\r\n", c);
            memcpy(*out + *len, body + off, c);
            *len += c;
            memcpy(*out + *len, "\r\n", 2);
            *len += 2;
            off += c;
        }
        memcpy(*out + *len, "0\r\n\r\n", 5);
        *len += 5;
    }
    free(body);
}

struct client {
    uint16_t port;
    int id;
    int fd;
    char *reqs;
    size_t reqs_len;
    int ok;
};

static void *send_main(void *arg)
{
    struct client *cl = arg;
    harness_send_all(cl->fd, cl->reqs, cl->reqs_len);
    return NULL;
}

static void *client_main(void *arg)
{
    struct client *cl = arg;
    struct harness_conn c;
    size_t cap = 0;
    pthread_t sender;

    cl->reqs = NULL;
    cl->reqs_len = 0;
    for (int i = 0; i < PER_CLIENT; i++)
        append_request(cl->id, i, &cl->reqs, &cl->reqs_len, &cap);
    if (harness_conn_open(&c, cl->port, TIMEOUT_MS) < 0)
        return NULL;
    cl->fd = c.fd;
    /* the whole pipeline goes out while the answers are read */
    if (pthread_create(&sender, NULL, send_main, cl) != 0) {
        harness_conn_close(&c);
        return NULL;
    }
    for (int i = 0; i < PER_CLIENT; i++) {
        struct harness_response resp;
        size_t blen;
        char *body = make_body(cl->id, i, &blen);
        if (harness_read_response(&c, false, false, &resp) == 0 && resp.status == 200 &&
            resp.complete && resp.body_len == blen && memcmp(resp.body, body, blen) == 0)
            cl->ok++;
        else
            fprintf(stderr, "client %d request %d: status %d, %zu of %zu bytes, %s\n", cl->id, i,
                    resp.status, resp.body_len, blen, resp.complete ? "complete" : "cut");
        harness_response_free(&resp);
        free(body);
    }
    shutdown(c.fd, SHUT_RDWR);
    pthread_join(sender, NULL);
    harness_conn_close(&c);
    free(cl->reqs);
    return NULL;
}

static void test_many_clients_pipelining_uploads_get_their_own_bytes_back(void **state)
{
    char dir[] = "/tmp/lbtest-stress-XXXXXX";
    char log[256];
    struct harness_lab lab;
    struct client cl[CLIENTS];
    pthread_t t[CLIENTS];
    int ok = 0, status;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(log, sizeof(log), "%s/access.log", dir);
    const char *extra[] = {"-w", "4", "--access-log", log, NULL};
    assert_int_equal(harness_lab_start(&lab, 3, extra), 0);
    for (int i = 0; i < CLIENTS; i++) {
        cl[i] = (struct client){.port = lab.lb_port, .id = i, .fd = -1};
        assert_int_equal(pthread_create(&t[i], NULL, client_main, &cl[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(t[i], NULL);
        ok += cl[i].ok;
    }
    assert_int_equal(ok, CLIENTS * PER_CLIENT);
    assert_int_equal(harness_lab_stop(&lab), 0);
    /* one access-log line per request, from four workers at once, none torn */
    char *out = harness_runf(&status, "grep -ci 'status.*200.*total' %s", log);
    assert_int_equal(atoi(out), CLIENTS * PER_CLIENT);
    free(out);
    out = harness_runf(&status, "wc -l < %s", log);
    assert_int_equal(atoi(out), CLIENTS * PER_CLIENT);
    free(out);
    unlink(log);
    rmdir(dir);
}

/* Forty connections taking turns: each goes idle between its requests while the others work, so
 * per-request buffers keep moving between connections; every body must still be exact. */
static void test_connections_taking_turns_get_exact_bodies(void **state)
{
    enum { CONNS = 40, ROUNDS = 8 };
    struct harness_lab lab;
    struct harness_conn *c = calloc(CONNS, sizeof(*c));
    struct harness_response direct[3];
    const int sizes[3] = {1, 40000, 150000};
    const char *extra[] = {"-w", "2", NULL};
    (void)state;

    assert_int_equal(harness_lab_start(&lab, 3, extra), 0);
    for (int k = 0; k < 3; k++) {
        char req[128];
        snprintf(req, sizeof(req), "GET /bytes/%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 sizes[k]);
        assert_int_equal(harness_exchange(lab.sim_port[0], req, strlen(req), TIMEOUT_MS,
                                          &direct[k]), 0);
        assert_int_equal(direct[k].body_len, (size_t)sizes[k]);
    }
    for (int i = 0; i < CONNS; i++)
        assert_int_equal(harness_conn_open(&c[i], lab.lb_port, TIMEOUT_MS), 0);
    for (int r = 0; r < ROUNDS; r++) {
        /* half the connections send, then all of those are read: the rest sit idle */
        for (int i = r % 2; i < CONNS; i += 2) {
            char req[128];
            snprintf(req, sizeof(req), "GET /bytes/%d HTTP/1.1\r\nHost: x\r\n\r\n",
                     sizes[(i + r) % 3]);
            assert_int_equal(harness_send_all(c[i].fd, req, strlen(req)), 0);
        }
        for (int i = r % 2; i < CONNS; i += 2) {
            struct harness_response resp;
            const struct harness_response *want = &direct[(i + r) % 3];
            assert_int_equal(harness_read_response(&c[i], false, false, &resp), 0);
            assert_int_equal(resp.status, 200);
            assert_int_equal(resp.body_len, want->body_len);
            assert_memory_equal(resp.body, want->body, want->body_len);
            harness_response_free(&resp);
        }
    }
    for (int i = 0; i < CONNS; i++)
        harness_conn_close(&c[i]);
    for (int k = 0; k < 3; k++)
        harness_response_free(&direct[k]);
    free(c);
    assert_int_equal(harness_lab_stop(&lab), 0);
}

/* A hundred connections on one worker, all sending at once, round after round: the worker reads
 * a batch of many requests and then of many answers, and holds its writes to the clients until
 * the batch is read (at most 32 held, the rest written at once), then makes the held ones in one
 * system call (lb/sendbatch.h: io_uring, or one sendmsg() each with --no-io-uring). Each answer
 * echoes what its own connection sent, so one written to the wrong client, lost or written twice
 * shows. extra: lb's flags. */
static void hundred_clients_at_once_on_one_worker(const char *const *extra)
{
    struct harness_lab lab;
    assert_int_equal(harness_lab_start(&lab, 3, extra), 0);
    lb_fixture_echo_at_once(lab.lb_port, 100, 6, TIMEOUT_MS);
    assert_int_equal(harness_lab_stop(&lab), 0);
}

static void test_a_hundred_clients_at_once_on_one_worker_get_their_own_answers(void **state)
{
    const char *extra[] = {"-w", "1", NULL};
    (void)state;
    hundred_clients_at_once_on_one_worker(extra);
}

static void test_the_same_with_one_sendmsg_per_held_write(void **state)
{
    const char *extra[] = {"-w", "1", "--no-io-uring", NULL};
    (void)state;
    hundred_clients_at_once_on_one_worker(extra);
}

static void test_the_same_relayed_at_layer_4(void **state)
{
    const char *extra[] = {"-w", "1", "-m", "tcp", NULL};
    (void)state;
    hundred_clients_at_once_on_one_worker(extra);
}

static void test_one_byte_chunks_both_ways(void **state)
{
    struct lb_fixture f2;
    struct lb_fixture f;
    enum { N = 5000 };
    size_t cap = N * 8 + 256, len = 0;
    char *reply = malloc(cap), *req = malloc(cap), *expect = malloc(N + 1);
    struct harness_response resp;
    (void)state;

    len += (size_t)snprintf(reply, cap, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < N; i++) {
        expect[i] = (char)('a' + i % 26);
        len += (size_t)snprintf(reply + len, cap - len, "1\r\n%c\r\n", expect[i]);
    }
    len += (size_t)snprintf(reply + len, cap - len, "0\r\n\r\n");
    expect[N] = '\0';
    struct harness_sb_step step = {.reply = reply, .reply_len = len};
    lb_fixture_start_named(&f, "c1", &step, 1, NULL);

    const char *get11 = "GET / HTTP/1.1\r\nHost: x\r\n\r\n", *get10 = "GET / HTTP/1.0\r\n\r\n";
    assert_int_equal(harness_exchange(f.lb_port, get11, strlen(get11), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_true(resp.complete);
    assert_string_equal(resp.body, expect);
    harness_response_free(&resp);
    assert_int_equal(harness_exchange(f.lb_port, get10, strlen(get10), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_true(resp.complete);
    assert_string_equal(resp.body, expect);
    harness_response_free(&resp);

    /* and a request of one-byte chunks, to an echoing backend */
    struct harness_sb_step echo = {.mode = HARNESS_SB_ECHO};
    lb_fixture_start_named(&f2, "c2", &echo, 1, NULL);
    /* in its own buffer: the first backend's thread owns reply until harness_sb_stop */
    len = (size_t)snprintf(req, cap, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(req + len, cap - len, "1\r\n%c\r\n", expect[i]);
    len += (size_t)snprintf(req + len, cap - len, "0\r\n\r\n");
    assert_int_equal(harness_exchange(f2.lb_port, req, len, TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, expect);
    harness_response_free(&resp);

    assert_int_equal(harness_stop(f.lb, 15000), 0);
    assert_int_equal(harness_stop(f2.lb, 15000), 0);
    harness_sb_stop(f.sb);
    harness_sb_stop(f2.sb);
    free(reply);
    free(req);
    free(expect);
}

static void test_response_dribbled_one_byte_per_segment(void **state)
{
    struct lb_fixture f;
    struct harness_sb_step step = {
        .reply = "HTTP/1.1 200 OK\r\nX-One: 1\r\nX-Two: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\n\r\n",
        .dribble = true};
    struct harness_conn c;
    struct harness_response resp;
    (void)state;

    lb_fixture_start_named(&f, "d", &step, 1, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(harness_conn_request(&c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &resp), 0);
        assert_int_equal(resp.status, 200);
        assert_true(resp.complete);
        assert_string_equal(resp.body, "hello, world");
        assert_string_equal(harness_header(&resp, "X-Two"), "2");
        harness_response_free(&resp);
    }
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_pipeline_sent_one_byte_per_segment(void **state)
{
    struct lb_fixture f;
    struct harness_sb_step step = {.mode = HARNESS_SB_ECHO};
    struct harness_conn c;
    const char *reqs = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                       "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "2\r\nde\r\n1\r\nf\r\n0\r\n\r\n"
                       "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *bodies[] = {"abc", "def", ""};
    int one = 1;
    (void)state;

    lb_fixture_start_named(&f, "e", &step, 1, NULL);
    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (size_t i = 0; reqs[i]; i++) {
        assert_int_equal(harness_send_all(c.fd, reqs + i, 1), 0);
        harness_sleep_ms(1);
    }
    for (int i = 0; i < 3; i++) {
        struct harness_response resp;
        assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
        assert_int_equal(resp.status, 200);
        assert_string_equal(resp.body, bodies[i]);
        harness_response_free(&resp);
    }
    char *head = harness_sb_head(f.sb, 2);
    assert_int_equal(strncmp(head, "GET /c ", 7), 0);
    free(head);
    harness_conn_close(&c);
    lb_fixture_stop(&f);
}

static void test_ipv6_listener_and_backend(void **state)
{
    uint16_t lb_port = harness_free_port(), sim_port;
    char listen_arg[64], backend_arg[64];
    int status;
    (void)state;

    do
        sim_port = harness_free_port();
    while (sim_port == lb_port);
    snprintf(backend_arg, sizeof(backend_arg), "[::1]:%u", (unsigned)sim_port);
    char *sim_argv[] = {(char *)harness_bin("backend-sim"), "-p", backend_arg, "--name", "v6", NULL};
    pid_t sim = harness_spawn(sim_argv, NULL);
    assert_true(sim > 0);
    harness_track(sim);
    snprintf(listen_arg, sizeof(listen_arg), "[::1]:%u", (unsigned)lb_port);
    char *argv[] = {(char *)harness_bin("lb"), "-l", listen_arg, "-b", backend_arg, NULL};
    pid_t lb = harness_spawn(argv, NULL);
    assert_true(lb > 0);
    harness_track(lb);
    /* curl retries until lb listens (bounded) */
    char *out = harness_runf(&status, "curl -s -g --max-time 10 --retry 20 --retry-connrefused "
                             "--retry-delay 1 -H 'X-Request-ID: v6-test' http://[::1]:%u/whoami",
                             (unsigned)lb_port);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "v6"));
    assert_non_null(strstr(out, "::1")); /* the client address backend-sim saw, or XFF */
    free(out);
    assert_int_equal(harness_stop(lb, 15000), 0);
    harness_stop(sim, 10000);
}

static void test_localhost_backend_with_dns_ttl_0(void **state)
{
    struct lb_fixture f;
    uint16_t sim_port;
    char arg[64];
    (void)state;

    pid_t sim = harness_start_backend_sim("dns0", &sim_port, NULL);
    assert_true(sim > 0);
    snprintf(arg, sizeof(arg), "localhost:%u", (unsigned)sim_port);
    const char *extra[] = {"-b", arg, "--dns-ttl", "0", NULL};
    lb_fixture_start_ports(&f, NULL, 0, extra);
    for (int i = 0; i < 10; i++) {
        struct harness_response resp;
        const char *req = "GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        assert_int_equal(harness_exchange(f.lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
        assert_int_equal(resp.status, 200);
        assert_string_equal(harness_header(&resp, "X-Backend"), "dns0");
        harness_response_free(&resp);
    }
    lb_fixture_stop(&f);
    harness_stop(sim, 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_many_clients_pipelining_uploads_get_their_own_bytes_back),
        LB_TEST(test_connections_taking_turns_get_exact_bodies),
        LB_TEST(test_a_hundred_clients_at_once_on_one_worker_get_their_own_answers),
        LB_TEST(test_the_same_with_one_sendmsg_per_held_write),
        LB_TEST(test_the_same_relayed_at_layer_4),
        LB_TEST(test_one_byte_chunks_both_ways),
        LB_TEST(test_response_dribbled_one_byte_per_segment),
        LB_TEST(test_pipeline_sent_one_byte_per_segment),
        LB_TEST(test_ipv6_listener_and_backend),
        LB_TEST(test_localhost_backend_with_dns_ttl_0),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("lb stress", tests, NULL, NULL);
}
