/*
 * test_lb_tcp_proxy.c - end-to-end: the PROXY protocol between lb -m tcp and backend-sim.
 *
 * A layer-4 relay connects to the backend from lb's own address, so without help the backend
 * believes lb is its client. With -b ...,send-proxy (or send-proxy-v2) lb writes a PROXY header
 * first, and backend-sim --accept-proxy reports the client it names: the test checks it is the
 * test's own socket (127.0.0.1 and the port getsockname() gives), in /whoami, /headers and the
 * JSON log, and that "proxy_from" is lb; and, against a bare socket, that the bytes lb sends
 * are exactly the header and then the client's bytes. Then the edges: backend-sim --accept-proxy closes a
 * connection that starts without a header (and says why), backend-sim without the flag behaves
 * as before, and lb refuses send-proxy in -m http.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lb_fixture.h"

#define TIMEOUT_MS 10000

struct sim {
    pid_t pid;
    uint16_t port;
    char dir[64];
    char *log;  /* backend-sim --log FILE */
    char *out;  /* its standard output and error */
};

/* Starts backend-sim "b1" on a free port, with --accept-proxy when accept_proxy, logging JSON
 * lines to s->log and its messages to s->out. */
static void sim_start(struct sim *s, bool accept_proxy)
{
    snprintf(s->dir, sizeof(s->dir), "/tmp/test_lb_tcp_proxy.XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    s->log = harness_fmt("%s/sim.log", s->dir);
    s->out = harness_fmt("%s/sim.out", s->dir);
    const char *extra[] = {"--log", s->log, accept_proxy ? "--accept-proxy" : NULL, NULL};
    s->pid = harness_start_backend_sim_args("b1", &s->port, s->out, extra);
    if (s->pid <= 0)
        fail_msg("backend-sim did not start");
}

static void sim_stop(struct sim *s)
{
    int status;
    assert_true(harness_alive(s->pid, &status));
    assert_int_equal(harness_stop(s->pid, 5000), 0);
    char *out = harness_runf(&status, "rm -rf %s", s->dir);
    free(out);
    free(s->log);
    free(s->out);
}

/* The whole of file path (malloc'd, NUL-terminated), waiting up to 5 s for it to hold want. */
static char *file_with(const char *path, const char *want)
{
    char *text = NULL;
    for (int i = 0; i < 250; i++) {
        FILE *f = fopen(path, "r");
        free(text);
        text = calloc(1, 1 << 20);
        assert_non_null(text);
        if (f != NULL) {
            size_t n = fread(text, 1, (1 << 20) - 1, f);
            text[n] = '\0';
            fclose(f);
        }
        if (strstr(text, want) != NULL)
            break;
        harness_sleep_ms(20);
    }
    return text;
}

/* The local port of connected socket fd. */
static uint16_t local_port(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    assert_int_equal(sin.sin_family, AF_INET);
    return ntohs(sin.sin_port);
}

/* lb -m tcp with one backend-sim --accept-proxy behind -b 127.0.0.1:P,OPTION: /whoami, /headers
 * and the log all name the test's own connection, marked "proxy" version. */
static void check_send_proxy(const char *option, const char *version)
{
    struct sim s;
    struct lb_fixture f;
    struct harness_conn c;
    struct harness_response resp;
    char want[128], *backend_arg;

    sim_start(&s, true);
    backend_arg = harness_fmt("127.0.0.1:%u,%s", (unsigned)s.port, option);
    const char *args[] = {"-m", "tcp", "-b", backend_arg, NULL};
    lb_fixture_start_ports(&f, NULL, 0, args);

    assert_int_equal(harness_conn_open(&c, f.lb_port, TIMEOUT_MS), 0);
    uint16_t me = local_port(c.fd);
    assert_int_equal(harness_conn_request(&c, "GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n", &resp), 0);
    assert_int_equal(resp.status, 200);
    snprintf(want, sizeof(want), "\nClient: 127.0.0.1:%u\nProxy: %s\n", (unsigned)me, version);
    if (strstr(resp.body, want) == NULL)
        fail_msg("/whoami lacks '%s':\n%s", want, resp.body);
    harness_response_free(&resp);
    /* the header came once, at the start: the second request on the connection sees the same */
    assert_int_equal(harness_conn_request(&c, "GET /headers HTTP/1.1\r\nHost: x\r\n\r\n", &resp),
                     0);
    assert_int_equal(resp.status, 200);
    snprintf(want, sizeof(want), "\"client\":\"127.0.0.1:%u\",\"proxy\":\"%s\"", (unsigned)me,
             version);
    if (strstr(resp.body, want) == NULL)
        fail_msg("/headers lacks '%s':\n%s", want, resp.body);
    assert_null(strstr(resp.body, "X-Forwarded-For"));
    harness_response_free(&resp);
    harness_conn_close(&c);

    snprintf(want, sizeof(want), "\"peer_addr\":\"127.0.0.1\",\"peer_port\":%u,\"proxy\":\"%s\","
             "\"proxy_from\":\"127.0.0.1:", (unsigned)me, version);
    char *log = file_with(s.log, "\"path\":\"/headers\"");
    if (strstr(log, want) == NULL)
        fail_msg("the log lacks '%s':\n%s", want, log);
    /* proxy_from is lb's end of the backend connection, never the client's */
    snprintf(want, sizeof(want), "\"proxy_from\":\"127.0.0.1:%u\"", (unsigned)me);
    assert_null(strstr(log, want));
    free(log);

    lb_fixture_stop(&f);
    sim_stop(&s);
    free(backend_arg);
}

static void test_send_proxy_v1_gives_the_backend_the_client_address(void **state)
{
    (void)state;
    check_send_proxy("send-proxy", "v1");
}

static void test_send_proxy_v2_gives_the_backend_the_client_address(void **state)
{
    (void)state;
    check_send_proxy("send-proxy-v2", "v2");
}

/* A listening socket on a free loopback port, standing in for a backend that records bytes. */
static int raw_listen(uint16_t *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* Exactly the bytes lb sends the backend when the client at 127.0.0.1:me connected to lb at
 * 127.0.0.1:lb_port and sent "hello": the header, then the client's bytes untouched. */
static void check_header_bytes(const char *option, int version)
{
    struct lb_fixture f;
    uint16_t bport;
    int lfd = raw_listen(&bport), fd, bfd = -1;
    char *backend_arg = harness_fmt("127.0.0.1:%u,%s", (unsigned)bport, option);
    const char *args[] = {"-m", "tcp", "-b", backend_arg, NULL};
    unsigned char want[128], got[256];
    size_t want_len, got_len = 0;

    lb_fixture_start_ports(&f, NULL, 0, args);
    fd = harness_connect(f.lb_port, TIMEOUT_MS);
    assert_true(fd >= 0);
    uint16_t me = local_port(fd);
    assert_int_equal(harness_send_all(fd, "hello", 5), 0);
    if (version == 1) {
        want_len = (size_t)snprintf((char *)want, sizeof(want),
                                    "PROXY TCP4 127.0.0.1 127.0.0.1 %u %u\r\nhello",
                                    (unsigned)me, (unsigned)f.lb_port);
    } else {
        static const unsigned char pre[16] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
                                              0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c};
        const unsigned char tail[12] = {127, 0, 0, 1, 127, 0, 0, 1, me >> 8, me & 0xff,
                                        f.lb_port >> 8, f.lb_port & 0xff};
        memcpy(want, pre, 16);
        memcpy(want + 16, tail, 12);
        memcpy(want + 28, "hello", 5);
        want_len = 33;
    }
    /* lb's start-up check connected to it too, and that connection (header, then the end)
     * may be queued first: take connections until the one carrying this client's bytes */
    for (int k = 0; k < 4; k++) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, TIMEOUT_MS), 1);
        bfd = accept(lfd, NULL, NULL);
        assert_true(bfd >= 0);
        struct timeval tv = {.tv_sec = TIMEOUT_MS / 1000};
        assert_int_equal(setsockopt(bfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
        got_len = 0;
        while (got_len < want_len) {
            ssize_t n = recv(bfd, got + got_len, sizeof(got) - got_len, 0);
            if (n <= 0)
                break;
            got_len += (size_t)n;
        }
        if (got_len >= 5 && memcmp(got + got_len - 5, "hello", 5) == 0)
            break;
        close(bfd);
        bfd = -1;
    }
    assert_true(bfd >= 0);
    if (got_len != want_len)
        fail_msg("got %zu bytes: %.*s", got_len, (int)got_len, got);
    assert_memory_equal(got, want, want_len);
    close(bfd);
    close(fd);
    close(lfd);
    lb_fixture_stop(&f);
    free(backend_arg);
}

static void test_the_header_bytes_are_exact(void **state)
{
    (void)state;
    check_header_bytes("send-proxy", 1);
    check_header_bytes("send-proxy-v2", 2);
}

static void test_accept_proxy_closes_a_connection_without_a_header(void **state)
{
    struct sim s;
    struct harness_conn c;
    (void)state;
    sim_start(&s, true);
    assert_int_equal(harness_conn_open(&c, s.port, TIMEOUT_MS), 0);
    static const char req[] = "GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(harness_send_all(c.fd, req, sizeof(req) - 1), 0);
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    assert_int_equal(c.len, 0); /* not a byte of answer */
    harness_conn_close(&c);
    char *out = file_with(s.out, "no PROXY header");
    assert_non_null(strstr(out, "no PROXY header"));
    free(out);
    /* a header that is wrong is refused the same way, with its own reason */
    assert_int_equal(harness_conn_open(&c, s.port, TIMEOUT_MS), 0);
    static const char bad[] = "PROXY TCP4 127.0.0.1 127.0.0.1 99999 80\r\n";
    assert_int_equal(harness_send_all(c.fd, bad, sizeof(bad) - 1), 0);
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    harness_conn_close(&c);
    out = file_with(s.out, "bad port");
    assert_non_null(strstr(out, "bad port"));
    free(out);
    sim_stop(&s);
}

static void test_without_accept_proxy_backend_sim_is_unchanged(void **state)
{
    struct sim s;
    struct harness_conn c;
    struct harness_response resp;
    char want[64];
    (void)state;
    sim_start(&s, false);
    assert_int_equal(harness_conn_open(&c, s.port, TIMEOUT_MS), 0);
    uint16_t me = local_port(c.fd);
    assert_int_equal(harness_conn_request(&c, "GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n", &resp), 0);
    assert_int_equal(resp.status, 200);
    snprintf(want, sizeof(want), "\nClient: 127.0.0.1:%u\nGET ", (unsigned)me);
    assert_non_null(strstr(resp.body, want));
    harness_response_free(&resp);
    harness_conn_close(&c);
    char *log = file_with(s.log, "\"path\":\"/whoami\"");
    assert_non_null(strstr(log, "\"path\":\"/whoami\""));
    assert_null(strstr(log, "proxy"));
    free(log);
    sim_stop(&s);
}

static void test_send_proxy_is_refused_in_http_mode(void **state)
{
    int status;
    (void)state;
    char *out = harness_runf(&status, "%s -l 127.0.0.1:%u -b 127.0.0.1:%u,send-proxy 2>&1",
                             harness_bin("lb"), (unsigned)harness_free_port(),
                             (unsigned)harness_free_port());
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    assert_non_null(strstr(out, "needs -m tcp"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_send_proxy_v1_gives_the_backend_the_client_address),
        LB_TEST(test_send_proxy_v2_gives_the_backend_the_client_address),
        LB_TEST(test_the_header_bytes_are_exact),
        LB_TEST(test_accept_proxy_closes_a_connection_without_a_header),
        LB_TEST(test_without_accept_proxy_backend_sim_is_unchanged),
        LB_TEST(test_send_proxy_is_refused_in_http_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
