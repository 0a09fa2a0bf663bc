/*
 * test_lb_tcp.c - end-to-end: lb -m tcp, the layer-4 mode, next to -m http on the same backends.
 *
 * The comparison a class makes: six requests on one keep-alive connection split 2/2/2 under
 * -m http and 6/0/0 under -m tcp; X-Forwarded-For reaches the backend only in -m http. Then what
 * a byte relay owes its users: every byte both ways (compared whole), a half-closed client still
 * gets its answer, a backend reset becomes a client reset, an idle connection ends, many
 * connections at once, and a client whose backends are all gone is closed without a byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lb_fixture.h"

#define TIMEOUT_MS 10000

/* Six requests on one connection; counts[k] += answers from backend b(k+1). */
static void six_on_one_connection(uint16_t port, int counts[3])
{
    struct harness_conn c;
    assert_int_equal(harness_conn_open(&c, port, TIMEOUT_MS), 0);
    for (int i = 0; i < 6; i++) {
        struct harness_response resp;
        assert_int_equal(harness_conn_request(&c, "GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n", &resp), 0);
        assert_int_equal(resp.status, 200);
        const char *b = harness_header(&resp, "X-Backend");
        assert_non_null(b);
        assert_true(b[0] == 'b' && b[1] >= '1' && b[1] <= '3' && b[2] == '\0');
        counts[b[1] - '1']++;
        harness_response_free(&resp);
    }
    harness_conn_close(&c);
}

static void sorted(int c[3])
{
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (c[j] > c[i]) {
                int t = c[i];
                c[i] = c[j];
                c[j] = t;
            }
}

static void test_six_requests_split_2_2_2_in_http_and_6_0_0_in_tcp(void **state)
{
    static struct harness_lab http, tcp;
    const char *tcp_args[] = {"-m", "tcp", NULL};
    int h[3] = {0}, t[3] = {0};
    (void)state;
    assert_int_equal(harness_lab_start(&http, 3, NULL), 0);
    six_on_one_connection(http.lb_port, h);
    assert_int_equal(harness_lab_stop(&http), 0);
    assert_int_equal(harness_lab_start(&tcp, 3, tcp_args), 0);
    six_on_one_connection(tcp.lb_port, t);
    assert_int_equal(harness_lab_stop(&tcp), 0);
    assert_int_equal(h[0], 2);
    assert_int_equal(h[1], 2);
    assert_int_equal(h[2], 2);
    sorted(t);
    assert_int_equal(t[0], 6);
    assert_int_equal(t[1], 0);
}

/* GET /headers: backend-sim answers with the headers it received, as JSON. */
static bool backend_saw_xff(uint16_t port)
{
    struct harness_response resp;
    static const char req[] = "GET /headers HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(harness_exchange(port, req, sizeof(req) - 1, TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    bool seen = strstr(resp.body, "\"X-Forwarded-For\"") != NULL;
    harness_response_free(&resp);
    return seen;
}

static void test_x_forwarded_for_only_in_http_mode(void **state)
{
    static struct harness_lab http, tcp;
    const char *tcp_args[] = {"-m", "tcp", NULL};
    (void)state;
    assert_int_equal(harness_lab_start(&http, 1, NULL), 0);
    assert_true(backend_saw_xff(http.lb_port));
    assert_int_equal(harness_lab_stop(&http), 0);
    assert_int_equal(harness_lab_start(&tcp, 1, tcp_args), 0);
    assert_false(backend_saw_xff(tcp.lb_port));
    assert_int_equal(harness_lab_stop(&tcp), 0);
}

/* Reads from fd until EOF; returns the bytes (malloc'd) and sets *len, or NULL on a reset. */
static char *read_to_eof(int fd, size_t *len, int *err)
{
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    *err = 0;
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r > 0) {
            n += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            *err = errno;
        break;
    }
    *len = n;
    return buf;
}

struct reader {
    int fd;
    char *data;
    size_t len;
    int err;
};

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    rd->data = read_to_eof(rd->fd, &rd->len, &rd->err);
    return NULL;
}

/* The header block's length in data[0..len), or 0. */
static size_t head_length(const char *data, size_t len)
{
    for (size_t i = 3; i < len; i++)
        if (memcmp(data + i - 3, "\r\n\r\n", 4) == 0)
            return i + 1;
    return 0;
}

/* Every byte both ways through lb started with args: a 100 MiB echo with a half-close, then
 * 100 MiB down. */
static void every_byte_both_ways_after_a_half_close(const char *const *args)
{
    static struct harness_lab lab;
    assert_int_equal(harness_lab_start(&lab, 2, args), 0);

    /* 100 MiB of random bytes up to /echo and back (HTTP/1.0: backend-sim streams them back
     * as they are, not chunked); the client shuts its sending side right after the body, and
     * must still read the whole answer, byte for byte */
    size_t body_len = 100u << 20;
    char *body = malloc(body_len);
    assert_non_null(body);
    FILE *rnd = fopen("/dev/urandom", "rb");
    assert_non_null(rnd);
    assert_int_equal(fread(body, 1, body_len, rnd), body_len);
    fclose(rnd);
    char head[160];
    int head_len = snprintf(head, sizeof(head),
                            "POST /echo HTTP/1.0\r\nHost: x\r\n"
                            "Content-Length: %zu\r\n\r\n",
                            body_len);
    int fd = harness_connect(lab.lb_port, TIMEOUT_MS);
    assert_true(fd >= 0);
    /* a thread reads while this one writes: no socket buffer holds 100 MiB */
    struct reader rd = {.fd = fd};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader_main, &rd), 0);
    assert_int_equal(harness_send_all(fd, head, (size_t)head_len), 0);
    assert_int_equal(harness_send_all(fd, body, body_len), 0);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    pthread_join(t, NULL);
    assert_int_equal(rd.err, 0);
    size_t h = head_length(rd.data, rd.len);
    assert_true(h > 0);
    assert_memory_equal(rd.data, "HTTP/1.1 200", 12);
    assert_int_equal(rd.len - h, body_len);
    assert_memory_equal(rd.data + h, body, body_len);
    free(rd.data);
    free(body);
    close(fd);

    /* 100 MiB down, counted */
    fd = harness_connect(lab.lb_port, TIMEOUT_MS);
    assert_true(fd >= 0);
    static const char get[] = "GET /bytes/104857600 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(harness_send_all(fd, get, sizeof(get) - 1), 0);
    int err;
    size_t len;
    char *data = read_to_eof(fd, &len, &err);
    assert_int_equal(err, 0);
    h = head_length(data, len);
    assert_true(h > 0);
    assert_int_equal(len - h, (size_t)100 << 20);
    free(data);
    close(fd);
    /* lb's statistics: the 300 MiB went through pipes, but for what a read took in before
     * each flow went bulk; or, with --no-splice, none of it */
    bool splicing = true;
    for (size_t i = 0; args[i] != NULL; i++)
        splicing = splicing && strcmp(args[i], "--no-splice") != 0;
    struct harness_spliced sp;
    unsigned long long least = (300u << 20) - (4u << 20);
    int found = harness_lb_wait_spliced(lab.lb_port, splicing ? 3 : 0, splicing ? least : 0, &sp);
    fprintf(stderr, "# spliced %llu bytes in %llu transfers\n", sp.bytes, sp.transfers);
    assert_int_equal(found, 0);
    assert_true(sp.on == splicing);
    if (splicing)
        assert_true(sp.bytes <= (300u << 20) + 4096);
    else
        assert_true(sp.bytes == 0 && sp.transfers == 0);
    /* and each of the two connections' records says it was spliced (the start-up probe's empty
     * connection was not); a record is written when its relay ends, once the client has closed */
    int records = harness_lb_spliced_records(lab.lb_port);
    for (int i = 0; i < 200 && splicing && records < 2; i++) {
        harness_sleep_ms(25);
        records = harness_lb_spliced_records(lab.lb_port);
    }
    assert_int_equal(records, splicing ? 2 : 0);
    assert_int_equal(harness_lab_stop(&lab), 0);
}

/* Bulk transfers are spliced through a pipe (pipebuf.h) by default and copied through lb's
 * buffers with --no-splice: every byte arrives either way. */
static void test_every_byte_both_ways_after_a_half_close(void **state)
{
    const char *const spliced[] = {"-m", "tcp", NULL};
    const char *const copied[] = {"-m", "tcp", "--no-splice", NULL};
    (void)state;
    every_byte_both_ways_after_a_half_close(spliced);
    every_byte_both_ways_after_a_half_close(copied);
}

/* The descriptor limit that leaves process pid exactly free descriptors: the lowest number L
 * with free numbers below it that pid has not open (/proc/PID/fd; some may lie above L, as lb's
 * high ones do), or -1. */
static int limit_leaving(pid_t pid, int free)
{
    char path[64];
    bool open_fd[4096] = {false};
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd >= 0 && fd < 4096)
            open_fd[fd] = true;
    }
    closedir(d);
    for (int l = 0, unused = 0; l < 4096; l++) {
        if (unused == free)
            return l;
        unused += !open_fd[l];
    }
    return -1;
}

/* A bulk transfer that finds no descriptor left for its pipe is copied through lb's buffers
 * instead, whole: lb may open the client's and the backend's connections and one descriptor
 * more, not the two a pipe takes. (Before, the relay gave up and the client got a cut stream.)
 * The backend writes its answer at once, so lb's reads fill their buffer and the relay wants to
 * splice. */
static void test_no_descriptor_for_a_pipe_copies_the_transfer_whole(void **state)
{
    const size_t size = 3000000;
    char head[96];
    int hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", size);
    char *reply = malloc((size_t)hl + size);
    assert_non_null(reply);
    memcpy(reply, head, (size_t)hl);
    for (size_t i = 0; i < size; i++)
        reply[(size_t)hl + i] = (char)(i * 31 + i / 251);
    struct harness_sb_step step = {.mode = HARNESS_SB_REPLY, .reply = reply,
                                   .reply_len = (size_t)hl + size};
    const char *const args[] = {"-m", "tcp", "-w", "1", NULL};
    struct lb_fixture f;
    struct harness_response resp;
    (void)state;
    lb_fixture_start_named(&f, "big", &step, 1, args);
    /* lb at rest (the start-up probe's connection, relayed in -m tcp, closed): the same
     * limit found over half a second; it leaves three descriptors: the client's, the
     * backend's, and one, where a pipe needs two */
    int l = limit_leaving(f.lb, 3), steady = 0;
    for (int i = 0; i < 400 && steady < 20; i++) {
        harness_sleep_ms(25);
        int now = limit_leaving(f.lb, 3);
        steady = now == l ? steady + 1 : 0;
        l = now;
    }
    assert_true(l > 0 && steady == 20);
    struct rlimit low = {.rlim_cur = (rlim_t)l, .rlim_max = (rlim_t)l};
    assert_int_equal(prlimit(f.lb, RLIMIT_NOFILE, &low, NULL), 0);
    static const char req[] = "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(harness_exchange(f.lb_port, req, sizeof(req) - 1, TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_true(resp.complete);
    assert_int_equal(resp.body_len, size);
    assert_memory_equal(resp.body, reply + hl, size);
    harness_response_free(&resp);
    lb_fixture_stop(&f);
    free(reply);
}

/* A backend that sends part of an answer and resets: the client's connection is reset too, so it
 * cannot take the part for the whole. */
static void test_backend_reset_mid_stream_resets_the_client(void **state)
{
    static const struct harness_sb_step step = {
        .mode = HARNESS_SB_REPLY,
        .reply = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npart of it",
        .reset = true,
        .close_after = true,
    };
    struct lb_fixture f;
    const char *args[] = {"-m", "tcp", NULL};
    (void)state;
    lb_fixture_start(&f, &step, 1, args);
    int fd = harness_connect(f.lb_port, TIMEOUT_MS);
    assert_true(fd >= 0);
    static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(harness_send_all(fd, get, sizeof(get) - 1), 0);
    int err;
    size_t len;
    char *data = read_to_eof(fd, &len, &err);
    assert_int_equal(err, ECONNRESET);
    free(data);
    close(fd);
    lb_fixture_stop(&f);
}

/* No backend takes the connection: lb has no HTTP to answer with, so it closes it unread. */
static void test_no_backend_closes_the_client_without_a_byte(void **state)
{
    struct lb_fixture f;
    uint16_t dead[2] = {harness_free_port(), 0};
    do
        dead[1] = harness_free_port();
    while (dead[1] == dead[0]);
    const char *args[] = {"-m", "tcp", NULL};
    (void)state;
    lb_fixture_start_ports(&f, dead, 2, args);
    int fd = harness_connect(f.lb_port, TIMEOUT_MS);
    assert_true(fd >= 0);
    int err;
    size_t len;
    char *data = read_to_eof(fd, &len, &err);
    assert_int_equal(len, 0);
    free(data);
    close(fd);
    lb_fixture_stop(&f);
}

/* A connection where nobody says anything ends at --client-timeout. */
static void test_idle_connection_ends_at_the_timeout(void **state)
{
    static const struct harness_sb_step hang = {.mode = HARNESS_SB_HANG};
    struct lb_fixture f;
    const char *args[] = {"-m", "tcp", "--client-timeout", "300", "--server-timeout", "300", NULL};
    (void)state;
    lb_fixture_start(&f, &hang, 1, args);
    int fd = harness_connect(f.lb_port, TIMEOUT_MS); /* SO_RCVTIMEO: 10 s at most */
    assert_true(fd >= 0);
    char c;
    ssize_t r = recv(fd, &c, 1, 0);
    assert_int_equal(r, 0); /* lb closed it: no timeout of the test's own */
    close(fd);
    lb_fixture_stop(&f);
}

struct many {
    uint16_t port;
    atomic_int ok;
};

static void *one_download(void *arg)
{
    struct many *m = arg;
    int fd = harness_connect(m->port, TIMEOUT_MS);
    if (fd < 0)
        return NULL;
    static const char get[] = "GET /bytes/200000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if (harness_send_all(fd, get, sizeof(get) - 1) == 0) {
        int err;
        size_t len;
        char *data = read_to_eof(fd, &len, &err);
        size_t h = head_length(data, len);
        if (err == 0 && h > 0 && len - h == 200000)
            atomic_fetch_add(&m->ok, 1);
        free(data);
    }
    close(fd);
    return NULL;
}

static void test_fifty_connections_at_once(void **state)
{
    static struct harness_lab lab;
    const char *args[] = {"-m", "tcp", NULL};
    static struct many m;
    pthread_t t[50];
    (void)state;
    assert_int_equal(harness_lab_start(&lab, 3, args), 0);
    m.port = lab.lb_port;
    atomic_store(&m.ok, 0);
    for (int i = 0; i < 50; i++)
        assert_int_equal(pthread_create(&t[i], NULL, one_download, &m), 0);
    for (int i = 0; i < 50; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&m.ok), 50);
    assert_int_equal(harness_lab_stop(&lab), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_six_requests_split_2_2_2_in_http_and_6_0_0_in_tcp),
        LB_TEST(test_x_forwarded_for_only_in_http_mode),
        LB_TEST(test_every_byte_both_ways_after_a_half_close),
        LB_TEST(test_no_descriptor_for_a_pipe_copies_the_transfer_whole),
        LB_TEST(test_backend_reset_mid_stream_resets_the_client),
        LB_TEST(test_no_backend_closes_the_client_without_a_byte),
        LB_TEST(test_idle_connection_ends_at_the_timeout),
        LB_TEST(test_fifty_connections_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
