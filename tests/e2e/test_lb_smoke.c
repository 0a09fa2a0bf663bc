/*
 * test_lb_smoke.c - lb's smoke test: three scripted backends (threads in this process, each
 * naming itself in X-Backend) and the real bin/lb on free loopback ports. It checks the three
 * things everything else builds on: round robin per request on ONE keep-alive connection, a body
 * through lb byte-for-byte equal to the body fetched directly, and a clean exit 0 on SIGTERM.
 * The broad end-to-end suite lives in the other tests/e2e/test_lb_*.c files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "lb_fixture.h"

#define NBACKENDS 3
#define BODY_SIZE (1024 * 1024 + 17)

struct backend {
    int listen_fd;
    uint16_t port;
    char name[16];
    pthread_t thread;
};

static struct backend backends[NBACKENDS];
static struct lb_fixture fx; /* lb in front of the three backends above */

/* The byte at offset i of every /bytes body: deterministic, binary, not periodic in 256. */
static unsigned char pattern(size_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13);
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Serves one connection: keep-alive, GET only, bodies "/" (a line) and "/bytes/N". */
static void *serve_conn(void *arg)
{
    int fd = (int)(intptr_t)((void **)arg)[0];
    struct backend *b = ((void **)arg)[1];
    char buf[16384];
    size_t len = 0;
    free(arg);
    for (;;) {
        char *end;
        while ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL) {
            if (len == sizeof(buf))
                goto out;
            ssize_t n = recv(fd, buf + len, sizeof(buf) - len, 0);
            if (n <= 0)
                goto out;
            len += (size_t)n;
        }
        size_t head_len = (size_t)(end - buf) + 4;
        char path[256] = "/";
        sscanf(buf, "%*s %255s", path);
        bool close_after = memmem(buf, head_len, "Connection: close", 17) != NULL;
        memmove(buf, buf + head_len, len - head_len);
        len -= head_len;

        char head[512];
        size_t body_len;
        unsigned long n = 0;
        bool bytes = sscanf(path, "/bytes/%lu", &n) == 1;
        char line[64];
        if (bytes)
            body_len = n;
        else
            body_len = (size_t)snprintf(line, sizeof(line), "hello from %s\n", b->name);
        int hl = snprintf(head, sizeof(head),
                          "HTTP/1.1 200 OK\r\nX-Backend: %s\r\nContent-Length: %zu\r\n%s\r\n",
                          b->name, body_len, close_after ? "Connection: close\r\n" : "");
        if (send_all(fd, head, (size_t)hl) != 0)
            goto out;
        if (bytes) {
            unsigned char chunk[8192];
            for (size_t off = 0; off < body_len;) {
                size_t k = body_len - off < sizeof(chunk) ? body_len - off : sizeof(chunk);
                for (size_t i = 0; i < k; i++)
                    chunk[i] = pattern(off + i);
                if (send_all(fd, chunk, k) != 0)
                    goto out;
                off += k;
            }
        } else if (send_all(fd, line, body_len) != 0) {
            goto out;
        }
        if (close_after)
            break;
    }
out:
    close(fd);
    return NULL;
}

static void *accept_loop(void *arg)
{
    struct backend *b = arg;
    for (;;) {
        int fd = accept(b->listen_fd, NULL, NULL);
        if (fd < 0)
            return NULL; /* the listener was shut down */
        void **a = malloc(2 * sizeof(void *));
        a[0] = (void *)(intptr_t)fd;
        a[1] = b;
        pthread_t t;
        if (pthread_create(&t, NULL, serve_conn, a) == 0)
            pthread_detach(t);
        else {
            free(a);
            close(fd);
        }
    }
}

static int start_backend(struct backend *b, int i)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int one = 1;
    snprintf(b->name, sizeof(b->name), "b%d", i + 1);
    b->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(b->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    for (int attempt = 0; attempt < 20; attempt++) {
        sa.sin_port = htons(harness_free_port());
        if (bind(b->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            break;
    }
    if (listen(b->listen_fd, 64) != 0 ||
        getsockname(b->listen_fd, (struct sockaddr *)&sa, &sl) != 0)
        return -1;
    b->port = ntohs(sa.sin_port);
    return pthread_create(&b->thread, NULL, accept_loop, b);
}

static int setup(void **state)
{
    static const char *const two_workers[] = {"-w", "2", NULL};
    uint16_t ports[NBACKENDS];
    (void)state;
    for (int i = 0; i < NBACKENDS; i++) {
        if (start_backend(&backends[i], i) != 0)
            return -1;
        ports[i] = backends[i].port;
    }
    lb_fixture_start_ports(&fx, ports, NBACKENDS, two_workers);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (fx.lb > 0)
        harness_stop(fx.lb, 15000);
    for (int i = 0; i < NBACKENDS; i++) {
        shutdown(backends[i].listen_fd, SHUT_RDWR);
        pthread_join(backends[i].thread, NULL);
        close(backends[i].listen_fd);
    }
    return 0;
}

static void test_round_robin_per_request_on_one_keepalive_connection(void **state)
{
    struct harness_conn c;
    char seen[9][16];
    const char *req = "GET / HTTP/1.1\r\nHost: lb\r\n\r\n";
    (void)state;
    assert_int_equal(harness_conn_open(&c, fx.lb_port, 10000), 0);
    for (int i = 0; i < 9; i++) {
        struct harness_response r;
        assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
        assert_int_equal(harness_read_response(&c, false, false, &r), 0);
        assert_int_equal(r.status, 200);
        assert_true(r.complete);
        assert_false(r.closed); /* the same connection carries every request */
        const char *who = harness_header(&r, "X-Backend");
        assert_non_null(who);
        snprintf(seen[i], sizeof(seen[i]), "%s", who);
        assert_non_null(harness_header(&r, "X-Request-ID"));
        harness_response_free(&r);
    }
    harness_conn_close(&c);
    /* each window of three consecutive requests visits all three backends, in a fixed cycle */
    for (int i = 0; i + 3 <= 9; i++) {
        assert_string_not_equal(seen[i], seen[i + 1]);
        assert_string_not_equal(seen[i], seen[i + 2]);
        assert_string_not_equal(seen[i + 1], seen[i + 2]);
        if (i + 3 < 9)
            assert_string_equal(seen[i], seen[i + 3]);
    }
}

static void test_body_through_lb_equals_body_fetched_directly(void **state)
{
    char req[128];
    struct harness_response direct, via;
    (void)state;
    snprintf(req, sizeof(req), "GET /bytes/%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
             BODY_SIZE);
    assert_int_equal(harness_exchange(backends[0].port, req, strlen(req), 20000, &direct), 0);
    assert_int_equal(harness_exchange(fx.lb_port, req, strlen(req), 20000, &via), 0);
    assert_int_equal(direct.status, 200);
    assert_int_equal(via.status, 200);
    assert_true(via.complete);
    assert_int_equal(via.body_len, BODY_SIZE);
    assert_int_equal(direct.body_len, via.body_len);
    assert_memory_equal(direct.body, via.body, via.body_len);
    harness_response_free(&direct);
    harness_response_free(&via);
}

static void test_sigterm_exits_zero(void **state)
{
    (void)state;
    int status = harness_stop(fx.lb, 15000);
    fx.lb = -1;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_robin_per_request_on_one_keepalive_connection),
        cmocka_unit_test(test_body_through_lb_equals_body_fetched_directly),
        cmocka_unit_test(test_sigterm_exits_zero),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
