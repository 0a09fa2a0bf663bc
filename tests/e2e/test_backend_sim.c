/*
 * test_backend_sim.c - end-to-end tests of every backend-sim endpoint: one backend-sim process
 * with two instances, a request log and a docroot, spoken to with raw sockets through the harness
 * (and curl where a real client's view matters). The log lines are parsed and checked too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "harness.h"
#include "http.h"

#define TIMEOUT_MS 10000

static pid_t sim_pid = -1;
static uint16_t port1, port2;
static char dir[64];
static char log_path[128];

/* --- helpers -----------------------------------------------------------------------------------
 */

static void sha256_hex(const void *p, size_t n, char out[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[64] = '\0';
}

/* The /bytes pattern as the man page defines it. */
static char pattern_byte(uint64_t n, uint64_t i)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint64_t z = n * 0x9E3779B97F4A7C15ull + i / 8;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return alphabet[(z >> (8 * (i % 8))) & 63];
}

static void assert_pattern(const char *body, size_t len, uint64_t n)
{
    for (uint64_t i = 0; i < len; i++) {
        if (body[i] != pattern_byte(n, i)) {
            fail_msg("byte %llu of /bytes/%llu differs", (unsigned long long)i,
                     (unsigned long long)n);
        }
    }
}

static int get(uint16_t port, const char *request, struct harness_response *resp)
{
    return harness_exchange(port, request, strlen(request), TIMEOUT_MS, resp);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Waits until the log has a line containing needle; returns it (malloc'd) or NULL. */
static char *wait_log_line(const char *needle)
{
    uint64_t deadline = clock_mono_ms() + TIMEOUT_MS;
    do {
        FILE *f = fopen(log_path, "r");
        char *line = NULL;
        size_t cap = 0;
        if (f != NULL) {
            while (getline(&line, &cap, f) > 0) {
                if (strstr(line, needle) != NULL) {
                    fclose(f);
                    return line;
                }
            }
            free(line);
            fclose(f);
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    } while (clock_mono_ms() < deadline);
    return NULL;
}

/* The raw JSON value of field name in a log line: a string's inside, a number, or "null". */
static const char *json_field(const char *line, const char *name, char *out, size_t out_len)
{
    char key[64];
    const char *p, *end;
    snprintf(key, sizeof(key), "\"%s\":", name);
    p = strstr(line, key);
    if (p == NULL)
        return NULL;
    p += strlen(key);
    if (*p == '"') {
        p++;
        end = p;
        while (*end && *end != '"')
            end += *end == '\\' ? 2 : 1;
    } else {
        end = p;
        while (*end && *end != ',' && *end != '}')
            end++;
    }
    size_t n = (size_t)(end - p) < out_len - 1 ? (size_t)(end - p) : out_len - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

static int group_setup(void **state)
{
    char p1[32], p2[32], path[160];
    uint16_t ports[2];
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_backend_sim.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(log_path, sizeof(log_path), "%s/requests.log", dir);
    snprintf(path, sizeof(path), "%s/www", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/www/hello.txt", dir);
    write_file(path, "hello from the docroot\n");
    snprintf(path, sizeof(path), "%s/www/site", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/www/site/index.html", dir);
    write_file(path, "<h1>site</h1>\n");
    snprintf(path, sizeof(path), "%s/secret.txt", dir);
    write_file(path, "outside the docroot\n");

    if (harness_free_ports(ports, 2) < 0)
        return -1;
    port1 = ports[0];
    port2 = ports[1];
    snprintf(p1, sizeof(p1), "127.0.0.1:%u", port1);
    snprintf(p2, sizeof(p2), "127.0.0.1:%u", port2);
    snprintf(path, sizeof(path), "%s/www", dir);
    char *argv[] = {(char *)harness_bin("backend-sim"),
                    "-p",
                    p1,
                    "-p",
                    p2,
                    "--name",
                    "alpha,beta",
                    "--log",
                    log_path,
                    "--docroot",
                    path,
                    NULL};
    sim_pid = harness_spawn_listening_ports(argv, ports, 2, NULL);
    return sim_pid > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    char cmd[128];
    int status;
    (void)state;
    status = harness_stop(sim_pid, TIMEOUT_MS);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return -1;
    /* SIGTERM is a normal way to stop it: exit status 0 */
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* --- identity --------------------------------------------------------------------------------- */

static void test_every_response_names_instance_and_port(void **state)
{
    struct harness_response r;
    char want[16];
    (void)state;
    assert_int_equal(get(port1, "GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(harness_header(&r, "X-Backend"), "alpha");
    snprintf(want, sizeof(want), "%u", port1);
    assert_string_equal(harness_header(&r, "X-Backend-Port"), want);
    harness_response_free(&r);

    assert_int_equal(get(port2, "GET /status/404 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(harness_header(&r, "X-Backend"), "beta");
    snprintf(want, sizeof(want), "%u", port2);
    assert_string_equal(harness_header(&r, "X-Backend-Port"), want);
    harness_response_free(&r);
}

static void test_whoami_is_plain_text_about_instance_and_request(void **state)
{
    struct harness_response r;
    char want[64];
    (void)state;
    assert_int_equal(
        get(port1, "GET /whoami HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 10.9.8.7\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(harness_header(&r, "Content-Type"), "text/plain"));
    snprintf(want, sizeof(want), "Name: alpha\nPort: %u\nPid: %d\n", port1, (int)sim_pid);
    assert_non_null(strstr(r.body, want));
    assert_non_null(strstr(r.body, "Client: 127.0.0.1:"));
    assert_non_null(strstr(r.body, "GET /whoami HTTP/1.1\n"));
    assert_non_null(strstr(r.body, "X-Forwarded-For: 10.9.8.7\n"));
    assert_non_null(strstr(r.body, "Connection-Requests: 1\n"));
    harness_response_free(&r);
}

static void test_page_is_html_with_escaped_headers(void **state)
{
    struct harness_response r;
    char want[64];
    (void)state;
    assert_int_equal(get(port2,
                         "GET / HTTP/1.1\r\nHost: t\r\nX-Request-ID: <script>x</script>\r\n"
                         "X-Forwarded-For: 1.2.3.4\r\n\r\n",
                         &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(harness_header(&r, "Content-Type"), "text/html"));
    assert_non_null(strstr(r.body, "<h1 id=\"name\">beta</h1>"));
    snprintf(want, sizeof(want), "port %u", port2);
    assert_non_null(strstr(r.body, want));
    snprintf(want, sizeof(want), ">%d<", (int)sim_pid);
    assert_non_null(strstr(r.body, want));
    assert_null(strstr(r.body, "<script>"));
    assert_non_null(strstr(r.body, "&lt;script&gt;x&lt;/script&gt;"));
    assert_non_null(
        strstr(r.body, "<tr class=\"hl\"><td class=\"n\">X-Forwarded-For</td><td>1.2.3.4"));
    assert_non_null(strstr(r.body, "127.0.0.1:"));
    harness_response_free(&r);
}

static void test_headers_returns_request_headers_as_json(void **state)
{
    struct harness_response r;
    (void)state;
    assert_int_equal(get(port1, "GET /headers HTTP/1.1\r\nHost: t\r\nX-Test: a\"b\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(harness_header(&r, "Content-Type"), "application/json");
    assert_non_null(strstr(r.body, "\"backend\":\"alpha\""));
    assert_non_null(strstr(r.body, "\"Host\":\"t\""));
    assert_non_null(strstr(r.body, "\"X-Test\":\"a\\\"b\""));
    harness_response_free(&r);
}

static void test_requests_are_counted_per_instance_and_connection(void **state)
{
    struct harness_conn c;
    struct harness_response r;
    const char *req = "GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n";
    (void)state;
    assert_int_equal(harness_conn_open(&c, port2, TIMEOUT_MS), 0);
    for (int i = 1; i <= 3; i++) {
        char want[48];
        assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
        assert_int_equal(harness_read_response(&c, false, false, &r), 0);
        assert_int_equal(r.status, 200);
        assert_false(r.closed);
        snprintf(want, sizeof(want), "Connection-Requests: %d\n", i);
        assert_non_null(strstr(r.body, want));
        harness_response_free(&r);
    }
    harness_conn_close(&c);
}

/* --- health ------------------------------------------------------------------------------------
 */

static void admin(uint16_t port, const char *body, int want_status)
{
    char req[256];
    struct harness_response r;
    snprintf(req, sizeof(req),
             "POST /admin/health HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    assert_int_equal(get(port, req, &r), 0);
    assert_int_equal(r.status, want_status);
    harness_response_free(&r);
}

static void test_admin_health_switches_health_at_run_time(void **state)
{
    struct harness_response r;
    (void)state;
    assert_int_equal(get(port2, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    harness_response_free(&r);

    admin(port2, "down", 200);
    assert_int_equal(get(port2, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 503);
    harness_response_free(&r);
    /* the port still serves everything else, and the other instance is unaffected */
    assert_int_equal(get(port2, "GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "Health: down\n"));
    harness_response_free(&r);
    assert_int_equal(get(port1, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);

    assert_int_equal(get(port2, "GET /admin/health HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_string_equal(r.body, "down\n");
    harness_response_free(&r);

    admin(port2, "sideways", 400);
    admin(port2, "UP\n", 200);
    assert_int_equal(get(port2, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
}

static void test_slow_health_delays_every_request(void **state)
{
    struct harness_response r;
    char *line, v[64];
    (void)state;
    admin(port2, "slow 300", 200);
    assert_int_equal(
        get(port2, "GET /health HTTP/1.1\r\nHost: t\r\nX-Request-ID: slow-1\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
    admin(port2, "up", 200);
    line = wait_log_line("\"request_id\":\"slow-1\"");
    assert_non_null(line);
    assert_true(atof(json_field(line, "duration_ms", v, sizeof(v))) >= 300.0);
    free(line);
}

/* --- bodies ------------------------------------------------------------------------------------
 */

static void test_echo_returns_body_with_length_and_sha256_headers(void **state)
{
    struct harness_response r;
    char hex[65];
    const char *req = "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world";
    (void)state;
    assert_int_equal(get(port1, req, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello world");
    assert_string_equal(harness_header(&r, "X-Echo-Length"), "11");
    sha256_hex("hello world", 11, hex);
    assert_string_equal(harness_header(&r, "X-Echo-SHA256"), hex);
    harness_response_free(&r);

    assert_int_equal(get(port1, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.body_len, 0);
    assert_string_equal(harness_header(&r, "X-Echo-Length"), "0");
    sha256_hex("", 0, hex);
    assert_string_equal(harness_header(&r, "X-Echo-SHA256"), hex);
    harness_response_free(&r);
}

static void test_echo_of_chunked_body_is_decoded(void **state)
{
    struct harness_response r;
    char hex[65];
    const char *req = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    (void)state;
    assert_int_equal(get(port1, req, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello world");
    sha256_hex("hello world", 11, hex);
    assert_string_equal(harness_header(&r, "X-Echo-SHA256"), hex);
    harness_response_free(&r);
}

/* Sends request (head + body) while reading the answer, as a client with bounded buffers must,
 * until the server closes. Returns the raw answer (malloc'd) and its length. */
static char *send_while_reading(uint16_t port, const char *head, const char *body, size_t n,
                                size_t *raw_len)
{
    size_t cap = 2 * n + 65536, len = 0, sent = 0, head_len = strlen(head);
    char *raw = malloc(cap);
    int fd = harness_connect(port, TIMEOUT_MS);
    uint64_t deadline = clock_mono_ms() + 4 * TIMEOUT_MS;

    assert_true(fd >= 0);
    assert_non_null(raw);
    assert_int_equal(harness_send_all(fd, head, head_len), 0);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < n ? POLLOUT : 0)};
        assert_true(clock_mono_ms() < deadline);
        if (poll(&p, 1, 1000) <= 0)
            continue;
        if ((p.revents & POLLOUT) && sent < n) {
            ssize_t w = send(fd, body + sent, n - sent < 65536 ? n - sent : 65536,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv(fd, raw + len, cap - len, MSG_DONTWAIT);
            if (r == 0)
                break;
            if (r > 0)
                len += (size_t)r;
            else if (errno != EAGAIN && errno != EINTR)
                break;
            assert_true(len < cap);
        }
    }
    close(fd);
    *raw_len = len;
    return raw;
}

/* A body larger than the in-memory limit streams back chunked, with the length and hash as
 * trailers; the client sends and reads at the same time. */
static void test_large_echo_streams_with_trailers(void **state)
{
    size_t n = 5u << 20, raw_len = 0;
    char *body = malloc(n), hex[65], head[256], want[160];
    struct http_header headers[64];
    struct http_response res = {.headers = headers, .num_headers = 64};
    struct http_limits limits;
    struct http_chunked dec;
    (void)state;
    assert_non_null(body);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)(i * 7 + (i >> 12));
    sha256_hex(body, n, hex);
    snprintf(head, sizeof(head),
             "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n",
             n);
    char *raw = send_while_reading(port1, head, body, n, &raw_len);

    http_limits_default(&limits);
    int hl = http_parse_response(raw, raw_len, &res, &limits, false);
    assert_true(hl > 0);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.framing, HTTP_BODY_CHUNKED);
    assert_non_null(strstr(raw, "Trailer: X-Echo-Length, X-Echo-SHA256\r\n"));
    /* decode and compare the body */
    http_chunked_init(&dec);
    size_t off = (size_t)hl, got = 0;
    while (!dec.done && off < raw_len) {
        const char *data;
        size_t data_len = 0;
        ssize_t used = http_chunked_feed(&dec, raw + off, raw_len - off, &data, &data_len);
        assert_true(used >= 0);
        if (data_len > 0) {
            assert_true(got + data_len <= n);
            assert_memory_equal(data, body + got, data_len);
            got += data_len;
        }
        off += (size_t)used;
        if (used == 0)
            break;
    }
    assert_true(dec.done);
    assert_int_equal(got, n);
    /* and the trailers at the end */
    snprintf(want, sizeof(want), "\r\n0\r\nX-Echo-Length: %zu\r\nX-Echo-SHA256: %s\r\n\r\n", n,
             hex);
    assert_true(raw_len > strlen(want));
    assert_string_equal(raw + raw_len - strlen(want), want);
    free(raw);

    /* the same through a chunked request body */
    snprintf(head, sizeof(head),
             "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: "
             "chunked\r\n\r\n");
    size_t cn = n + n / 1000 * 16 + 64;
    char *chunked = malloc(cn);
    size_t clen = 0;
    for (size_t o = 0; o < n; o += 100000) {
        size_t k = n - o < 100000 ? n - o : 100000;
        clen += (size_t)sprintf(chunked + clen, "%zx\r\n", k);
        memcpy(chunked + clen, body + o, k);
        clen += k;
        memcpy(chunked + clen, "\r\n", 2);
        clen += 2;
    }
    memcpy(chunked + clen, "0\r\n\r\n", 5);
    clen += 5;
    raw = send_while_reading(port1, head, chunked, clen, &raw_len);
    assert_true(raw_len > strlen(want));
    assert_string_equal(raw + raw_len - strlen(want), want);
    free(raw);
    free(chunked);
    free(body);
}

static void test_echo_through_curl_with_expect_continue(void **state)
{
    char path[128], hex[65];
    int status;
    size_t n = 200000;
    char *data = malloc(n);
    (void)state;
    for (size_t i = 0; i < n; i++)
        data[i] = (char)(i % 251);
    sha256_hex(data, n, hex);
    snprintf(path, sizeof(path), "%s/upload.bin", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
    /* curl sends Expect: 100-continue for a body this large when asked to */
    char *out = harness_runf(&status,
                             "curl -s --max-time 10 -H 'Expect: 100-continue' --data-binary @%s "
                             "-D - -o %s/echoed.bin http://127.0.0.1:%u/echo",
                             path, dir, port1);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "HTTP/1.1 100 Continue"));
    assert_non_null(strstr(out, hex));
    free(out);
    out = harness_runf(&status, "cmp -s %s %s/echoed.bin", path, dir);
    assert_int_equal(status, 0);
    free(out);
    free(data);
}

static void test_bytes_are_the_documented_pattern(void **state)
{
    struct harness_response r;
    (void)state;
    assert_int_equal(get(port1, "GET /bytes/100000 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(harness_header(&r, "Content-Length"), "100000");
    assert_int_equal(r.body_len, 100000);
    assert_pattern(r.body, r.body_len, 100000);
    harness_response_free(&r);

    assert_int_equal(get(port1, "GET /bytes/0 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    harness_response_free(&r);

    assert_int_equal(get(port1, "HEAD /bytes/777 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_string_equal(harness_header(&r, "Content-Length"), "777");
    assert_int_equal(r.body_len, 0);
    harness_response_free(&r);
}

static void test_bytes_through_curl_match_sha256(void **state)
{
    char hex[65];
    int status;
    size_t n = 3000000;
    char *body = malloc(n);
    (void)state;
    for (size_t i = 0; i < n; i++)
        body[i] = pattern_byte(n, i);
    sha256_hex(body, n, hex);
    char *out = harness_runf(&status, "curl -s --max-time 10 http://127.0.0.1:%u/bytes/%zu | sha256sum",
                             port2, n);
    assert_int_equal(status, 0);
    assert_memory_equal(out, hex, 64);
    free(out);
    free(body);
}

static void test_sizes_and_delays_beyond_caps_get_400(void **state)
{
    struct harness_response r;
    (void)state;
    assert_int_equal(get(port1, "GET /bytes/1073741825 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "beyond the cap"));
    assert_false(r.closed); /* a well-formed request: the connection may stay */
    harness_response_free(&r);
    assert_int_equal(get(port1, "GET /delay/60001 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "60000 ms"));
    harness_response_free(&r);
    assert_int_equal(get(port1, "GET /chunked/2000000000 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 400);
    harness_response_free(&r);
    assert_int_equal(
        get(port1, "GET /chunked/100?chunk=1&gap=1000 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 400);
    harness_response_free(&r);
    assert_int_equal(get(port1, "GET /bytes/abc HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 400);
    harness_response_free(&r);
}

static void test_chunked_sends_chunks_of_the_pattern(void **state)
{
    struct harness_response r;
    size_t raw_len = 0;
    int fd;
    (void)state;
    assert_int_equal(
        get(port1, "GET /chunked/5000?chunk=1000&gap=20 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.chunked);
    assert_true(r.complete);
    assert_int_equal(r.body_len, 5000);
    assert_pattern(r.body, r.body_len, 5000);
    harness_response_free(&r);

    /* on the wire: five chunks of 3e8 (1000) bytes and the last chunk */
    fd = harness_connect(port1, TIMEOUT_MS);
    assert_true(fd >= 0);
    const char *req =
        "GET /chunked/5000?chunk=1000 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    assert_int_equal(harness_send_all(fd, req, strlen(req)), 0);
    char *raw = harness_recv_all(fd, 1 << 20, &raw_len);
    close(fd);
    int chunks = 0;
    for (char *p = raw; (p = strstr(p, "\r\n3e8\r\n")) != NULL; p++)
        chunks++;
    assert_int_equal(chunks, 5);
    assert_non_null(strstr(raw, "\r\n0\r\n\r\n"));
    free(raw);

    /* HTTP/1.0 cannot take chunks: the same bytes, delimited by the close */
    assert_int_equal(get(port1, "GET /chunked/3000 HTTP/1.0\r\n\r\n", &r), 0);
    assert_false(r.chunked);
    assert_true(r.closed);
    assert_int_equal(r.body_len, 3000);
    assert_pattern(r.body, r.body_len, 3000);
    harness_response_free(&r);
}

/* --- timing and faults
 * ------------------------------------------------------------------------------ */

static void test_delay_waits_before_answering(void **state)
{
    struct harness_response r;
    char *line, v[64];
    (void)state;
    assert_int_equal(
        get(port1, "GET /delay/250 HTTP/1.1\r\nHost: t\r\nX-Request-ID: delay-250\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "delayed 250 ms\n");
    harness_response_free(&r);
    line = wait_log_line("\"request_id\":\"delay-250\"");
    assert_non_null(line);
    assert_true(atof(json_field(line, "duration_ms", v, sizeof(v))) >= 250.0);
    free(line);
}

static void test_status_answers_the_code_asked_for(void **state)
{
    struct harness_response r;
    struct harness_conn c;
    (void)state;
    assert_int_equal(get(port1, "GET /status/418 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 418);
    assert_non_null(strstr(r.body, "418"));
    harness_response_free(&r);
    assert_int_equal(get(port1, "GET /status/503 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 503);
    harness_response_free(&r);
    assert_int_equal(get(port1, "GET /status/302 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 302);
    assert_string_equal(harness_header(&r, "Location"), "/");
    harness_response_free(&r);

    /* 204 and 304 carry no body: the next response on the connection must parse */
    assert_int_equal(harness_conn_open(&c, port1, TIMEOUT_MS), 0);
    const char *two =
        "GET /status/204 HTTP/1.1\r\nHost: t\r\n\r\nGET /status/304 HTTP/1.1\r\nHost: t\r\n\r\n"
        "GET /status/200 HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(harness_send_all(c.fd, two, strlen(two)), 0);
    assert_int_equal(harness_read_response(&c, false, false, &r), 0);
    assert_int_equal(r.status, 204);
    assert_null(harness_header(&r, "Content-Length"));
    harness_response_free(&r);
    assert_int_equal(harness_read_response(&c, false, false, &r), 0);
    assert_int_equal(r.status, 304);
    harness_response_free(&r);
    assert_int_equal(harness_read_response(&c, false, false, &r), 0);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
    harness_conn_close(&c);

    /* an interim 1xx, then the final answer */
    assert_int_equal(harness_conn_open(&c, port1, TIMEOUT_MS), 0);
    const char *early = "GET /status/103 HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(harness_send_all(c.fd, early, strlen(early)), 0);
    assert_int_equal(harness_read_response(&c, false, true, &r), 0);
    assert_int_equal(r.status, 103);
    harness_response_free(&r);
    assert_int_equal(harness_read_response(&c, false, true, &r), 0);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
    harness_conn_close(&c);

    assert_int_equal(get(port1, "GET /status/101 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 400);
    harness_response_free(&r);
    assert_int_equal(get(port1, "GET /status/600 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 400);
    harness_response_free(&r);
}

static void test_flaky_fails_with_the_probability_given(void **state)
{
    struct harness_response r;
    (void)state;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(get(port1, "GET /flaky?p=1 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
        assert_int_equal(r.status, 500);
        harness_response_free(&r);
        assert_int_equal(get(port1, "GET /flaky?p=0 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
        assert_int_equal(r.status, 200);
        harness_response_free(&r);
    }
    /* p=0.5 over 200 requests: both outcomes appear (the chance of not is 2^-199) */
    int fails = 0;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(get(port1, "GET /flaky HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
        fails += r.status == 500;
        harness_response_free(&r);
    }
    assert_true(fails > 0 && fails < 200);
    assert_int_equal(get(port1, "GET /flaky?p=abc HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 400);
    harness_response_free(&r);
}

static void test_hang_never_answers_while_others_are_served(void **state)
{
    struct harness_conn c;
    struct harness_response r;
    const char *req = "GET /hang HTTP/1.1\r\nHost: t\r\nX-Request-ID: hang-1\r\n\r\n";
    char *line, v[32];
    (void)state;
    assert_int_equal(harness_conn_open(&c, port1, 1000), 0);
    assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
    /* meanwhile the same instance answers other connections */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(get(port1, "GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
        assert_int_equal(r.status, 200);
        harness_response_free(&r);
    }
    /* nothing arrives within the 1 s receive timeout */
    assert_int_equal(harness_read_response(&c, false, false, &r), -1);
    harness_conn_close(&c);
    /* the instance notices the client leaving and logs the request without a status */
    line = wait_log_line("\"request_id\":\"hang-1\"");
    assert_non_null(line);
    assert_string_equal(json_field(line, "status", v, sizeof(v)), "0");
    free(line);
}

static void test_reset_closes_with_rst(void **state)
{
    int fd;
    char buf[64];
    const char *req = "GET /reset HTTP/1.1\r\nHost: t\r\n\r\n";
    (void)state;
    fd = harness_connect(port1, TIMEOUT_MS);
    assert_true(fd >= 0);
    assert_int_equal(harness_send_all(fd, req, strlen(req)), 0);
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    assert_int_equal(n, -1);
    assert_int_equal(errno, ECONNRESET);
    close(fd);
}

static void test_close_cuts_the_body_half_way(void **state)
{
    struct harness_response r;
    (void)state;
    assert_int_equal(get(port1, "GET /close HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(harness_header(&r, "Content-Length"), "1024");
    assert_false(r.complete);
    assert_int_equal(r.body_len, 512);
    assert_pattern(r.body, r.body_len, 1024);
    harness_response_free(&r);
    assert_int_equal(get(port1, "GET /close/100 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_false(r.complete);
    assert_int_equal(r.body_len, 50);
    harness_response_free(&r);
}

static void test_login_sets_a_session_cookie(void **state)
{
    struct harness_response r;
    char first[128];
    (void)state;
    assert_int_equal(get(port2, "POST /login HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", &r),
                     0);
    assert_int_equal(r.status, 200);
    const char *cookie = harness_header(&r, "Set-Cookie");
    assert_non_null(cookie);
    assert_memory_equal(cookie, "session=beta.", 13);
    assert_non_null(strstr(cookie, "Path=/"));
    snprintf(first, sizeof(first), "%s", cookie);
    harness_response_free(&r);
    assert_int_equal(get(port2, "GET /login HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_string_not_equal(harness_header(&r, "Set-Cookie"), first);
    harness_response_free(&r);
}

/* What a real client (curl) sees from every endpoint: status, and curl's exit status for the
 * endpoints that misbehave on purpose (28: timeout, 56: receive failure, 18: partial file). */
static void test_every_endpoint_through_curl(void **state)
{
    static const struct {
        const char *args;
        const char *path;
        const char *want_out; /* curl -w '%{http_code}' */
        int want_exit;
    } cases[] = {
        {"", "/", "200", 0},
        {"", "/whoami", "200", 0},
        {"", "/health", "200", 0},
        {"", "/admin/health", "200", 0},
        {"", "/headers", "200", 0},
        {"-d x", "/echo", "200", 0},
        {"", "/delay/20", "200", 0},
        {"", "/status/418", "418", 0},
        {"", "/status/204", "204", 0},
        {"", "/flaky?p=1", "500", 0},
        {"", "/flaky?p=0", "200", 0},
        {"", "/bytes/5000", "200", 0},
        {"", "/chunked/5000?chunk=100&gap=1", "200", 0},
        {"", "/login", "200", 0},
        {"", "/hello.txt", "200", 0},
        {"", "/missing", "404", 0},
        {"", "/bytes/1073741825", "400", 0},
        {"--max-time 1", "/hang", "000", 28},
        {"", "/reset", "000", 56},
        {"", "/close", "200", 18},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int status;
        char *out = harness_runf(&status,
                                 "curl -s --max-time 5 %s -o /dev/null -w '%%{http_code}' "
                                 "'http://127.0.0.1:%u%s'",
                                 cases[i].args, port1, cases[i].path);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != cases[i].want_exit ||
            strcmp(out, cases[i].want_out) != 0)
            fail_msg("%s: curl printed '%s' and exited %d; expected '%s' and %d", cases[i].path,
                     out, WIFEXITED(status) ? WEXITSTATUS(status) : -1, cases[i].want_out,
                     cases[i].want_exit);
        free(out);
    }
}

static void test_login_cookie_works_with_a_cookie_jar(void **state)
{
    int status;
    (void)state;
    char *out = harness_runf(&status,
                             "curl -s --max-time 5 -c %s/jar -o /dev/null http://127.0.0.1:%u/login && "
                             "curl -s --max-time 5 -b %s/jar http://127.0.0.1:%u/headers",
                             dir, port2, dir, port2);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "\"Cookie\":\"session=beta."));
    free(out);
}

static void test_upgrade_switches_to_a_raw_echo_tunnel(void **state)
{
    struct harness_conn c;
    struct harness_response r;
    char buf[64];
    size_t got = 0;
    const char *req = "GET /upgrade HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n";
    (void)state;
    assert_int_equal(harness_conn_open(&c, port1, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
    assert_int_equal(harness_read_response(&c, false, false, &r), 0);
    assert_int_equal(r.status, 101);
    assert_string_equal(harness_header(&r, "Upgrade"), "websocket");
    assert_string_equal(harness_header(&r, "X-Backend"), "alpha");
    /* the example handshake of RFC 6455 section 1.3 */
    assert_string_equal(harness_header(&r, "Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    harness_response_free(&r);
    assert_int_equal(harness_send_all(c.fd, "ping through the tunnel", 23), 0);
    while (got < 23) {
        ssize_t n = recv(c.fd, buf + got, sizeof(buf) - got, 0);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_memory_equal(buf, "ping through the tunnel", 23);
    /* when the client finishes, so does the tunnel */
    shutdown(c.fd, SHUT_WR);
    assert_int_equal(recv(c.fd, buf, sizeof(buf), 0), 0);
    harness_conn_close(&c);

    assert_int_equal(get(port1, "GET /upgrade HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 426);
    harness_response_free(&r);
}

/* --- static files --------------------------------------------------------------------------------
 */

static void test_docroot_serves_files_and_nothing_outside(void **state)
{
    struct harness_response r;
    (void)state;
    assert_int_equal(get(port1, "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello from the docroot\n");
    assert_non_null(strstr(harness_header(&r, "Content-Type"), "text/plain"));
    harness_response_free(&r);
    assert_int_equal(get(port1, "GET /site/ HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "<h1>site</h1>\n");
    harness_response_free(&r);
    assert_int_equal(get(port1, "HEAD /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_string_equal(harness_header(&r, "Content-Length"), "23");
    assert_int_equal(r.body_len, 0);
    harness_response_free(&r);
    assert_int_equal(get(port1, "GET /nope.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 404);
    harness_response_free(&r);

    const char *escapes[] = {
        "GET /../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /site/../../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /%2e%2e/secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /..%2fsecret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
        assert_int_equal(get(port1, escapes[i], &r), 0);
        assert_true(r.status == 400 || r.status == 404);
        assert_null(strstr(r.body, "outside the docroot"));
        harness_response_free(&r);
    }
    assert_int_equal(get(port1, "DELETE /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 405);
    harness_response_free(&r);
}

/* --- protocol ------------------------------------------------------------------------------------
 */

static void test_malformed_request_gets_400_and_close(void **state)
{
    struct harness_response r;
    (void)state;
    assert_int_equal(get(port1, "GARBAGE\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 400);
    assert_true(r.closed);
    assert_string_equal(harness_header(&r, "Connection"), "close");
    harness_response_free(&r);
    assert_int_equal(
        get(port1,
            "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            &r),
        0);
    assert_int_equal(r.status, 400);
    assert_true(r.closed);
    harness_response_free(&r);
}

/* A malformed chunked body is a malformed request: while nothing of the response has gone out,
 * whatever the endpoint, the client gets 400 saying why, and the connection is closed. */
static void test_malformed_chunked_body_gets_400_and_close(void **state)
{
    static const char *const paths[] = {"/echo", "/headers", "/status/204", "/bytes/10"};
    static const char *const bodies[] = {"3z\r\nabc\r\n0\r\n\r\n", "0x3\r\nabc\r\n0\r\n\r\n",
                                         " 3\r\nabc\r\n0\r\n\r\n", "3\r\nabcd\r\n0\r\n\r\n",
                                         "3\nabc\r\n0\r\n\r\n", "3\r\nabc\r\n0\r\nbad trailer\r\n\r\n"};
    struct harness_response r;
    char req[512], v[32];
    (void)state;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        for (size_t j = 0; j < sizeof(bodies) / sizeof(bodies[0]); j++) {
            snprintf(req, sizeof(req),
                     "POST %s HTTP/1.1\r\nHost: t\r\nX-Request-ID: badchunk-%zu-%zu\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n%s",
                     paths[i], i, j, bodies[j]);
            assert_int_equal(get(port1, req, &r), 0);
            assert_int_equal(r.status, 400);
            assert_non_null(strstr(r.body, "malformed chunked request body"));
            assert_true(r.closed);
            harness_response_free(&r);
        }
    }
    char *line = wait_log_line("\"request_id\":\"badchunk-0-0\"");
    assert_non_null(line);
    assert_string_equal(json_field(line, "status", v, sizeof(v)), "400");
    free(line);

    /* with Expect: 100-continue, and with the bad chunk arriving after the head: still a 400 */
    struct harness_conn c;
    const char *head = "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(harness_conn_open(&c, port1, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, head, strlen(head)), 0);
    assert_int_equal(harness_read_response(&c, false, true, &r), 0);
    assert_int_equal(r.status, 100);
    harness_response_free(&r);
    assert_int_equal(harness_send_all(c.fd, "3\r\nabc\r\nzz\r\n", 12), 0);
    assert_int_equal(harness_read_response(&c, false, false, &r), 0);
    assert_int_equal(r.status, 400);
    assert_true(r.closed);
    harness_response_free(&r);
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    harness_conn_close(&c);
}

/* When the response was already sent before the bad chunk arrived, it cannot become a 400: the
 * connection is closed after it, and no second response follows. */
static void test_malformed_chunked_body_after_the_response_closes(void **state)
{
    struct harness_conn c;
    struct harness_response r;
    const char *head = "POST /headers HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    (void)state;
    assert_int_equal(harness_conn_open(&c, port1, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, head, strlen(head)), 0);
    assert_int_equal(harness_read_response(&c, false, false, &r), 0);
    assert_int_equal(r.status, 200);
    assert_false(r.closed);
    harness_response_free(&r);
    const char *rest = "3\r\nabc\r\nzz\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(harness_send_all(c.fd, rest, strlen(rest)), 0);
    assert_true(harness_conn_closed(&c, TIMEOUT_MS));
    harness_conn_close(&c);
}

static void test_pipelined_requests_are_answered_in_order(void **state)
{
    struct harness_conn c;
    struct harness_response r;
    const char *reqs = "GET /status/201 HTTP/1.1\r\nHost: t\r\n\r\n"
                       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                       "POST /status/203 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "4\r\nGET \r\n0\r\n\r\n"
                       "GET /bytes/10 HTTP/1.1\r\nHost: t\r\n\r\n"
                       "GET /status/202 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    (void)state;
    assert_int_equal(harness_conn_open(&c, port2, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(c.fd, reqs, strlen(reqs)), 0);
    assert_int_equal(harness_read_response(&c, false, false, &r), 0);
    assert_int_equal(r.status, 201);
    harness_response_free(&r);
    assert_int_equal(harness_read_response(&c, false, false, &r), 0);
    assert_string_equal(r.body, "abc");
    harness_response_free(&r);
    /* a body the endpoint does not use is read and dropped, never taken for a request */
    assert_int_equal(harness_read_response(&c, false, false, &r), 0);
    assert_int_equal(r.status, 203);
    harness_response_free(&r);
    assert_int_equal(harness_read_response(&c, false, false, &r), 0);
    assert_int_equal(r.body_len, 10);
    harness_response_free(&r);
    assert_int_equal(harness_read_response(&c, false, false, &r), 0);
    assert_int_equal(r.status, 202);
    assert_true(r.closed);
    harness_response_free(&r);
    harness_conn_close(&c);
}

/* A client that pipelines and then half-closes (shutdown SHUT_WR, like `nc -N`) still gets an
 * answer to every complete request it sent, in order, and then the connection ends. The FIN
 * often arrives while the first responses are being sent. (Whether the last response says
 * Connection: close depends on whether the FIN was read before its head was parsed.) */
static void test_pipelined_requests_before_fin_are_all_answered(void **state)
{
    static const char *const paths[] = {"/health", "/bytes/100000"};
    (void)state;
    for (int round = 0; round < 6; round++) {
        const char *path = paths[round % 2];
        char reqs[4096];
        size_t len = 0;
        struct harness_conn c;
        struct harness_response r;
        int n = 10;

        for (int i = 0; i < n - 1; i++)
            len += (size_t)snprintf(reqs + len, sizeof(reqs) - len,
                                    "GET %s?i=%d HTTP/1.1\r\nHost: t\r\n\r\n", path, i);
        /* a body after the FIN too */
        len += (size_t)snprintf(reqs + len, sizeof(reqs) - len,
                                "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nlast");
        assert_int_equal(harness_conn_open(&c, port1, TIMEOUT_MS), 0);
        assert_int_equal(harness_send_all(c.fd, reqs, len), 0);
        assert_int_equal(shutdown(c.fd, SHUT_WR), 0);
        for (int i = 0; i < n - 1; i++) {
            assert_int_equal(harness_read_response(&c, false, false, &r), 0);
            assert_int_equal(r.status, 200);
            assert_true(r.complete);
            assert_false(r.closed);
            assert_int_equal(r.body_len, round % 2 ? 100000 : 3);
            harness_response_free(&r);
        }
        assert_int_equal(harness_read_response(&c, false, false, &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "last");
        harness_response_free(&r);
        assert_true(harness_conn_closed(&c, TIMEOUT_MS));
        harness_conn_close(&c);
    }
}

static void test_http10_closes_unless_keep_alive_asked(void **state)
{
    struct harness_conn c;
    struct harness_response r;
    (void)state;
    assert_int_equal(get(port1, "GET /whoami HTTP/1.0\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.closed);
    harness_response_free(&r);

    assert_int_equal(harness_conn_open(&c, port1, TIMEOUT_MS), 0);
    const char *ka = "GET /whoami HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    for (int i = 0; i < 2; i++) {
        assert_int_equal(harness_send_all(c.fd, ka, strlen(ka)), 0);
        assert_int_equal(harness_read_response(&c, false, false, &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(harness_header(&r, "Connection"), "keep-alive");
        harness_response_free(&r);
    }
    harness_conn_close(&c);
}

/* --- the log
 * ----------------------------------------------------------------------------------------- */

static void test_log_line_has_every_field(void **state)
{
    struct harness_response r;
    char *line, v[128], want[32];
    (void)state;
    assert_int_equal(get(port2,
                         "GET /bytes/123?x=1 HTTP/1.1\r\nHost: t\r\nX-Request-ID: log-check-1\r\n"
                         "X-Forwarded-For: 203.0.113.9, 10.0.0.1\r\n\r\n",
                         &r),
                     0);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
    line = wait_log_line("\"request_id\":\"log-check-1\"");
    assert_non_null(line);
    assert_int_equal(line[0], '{');
    assert_non_null(strstr(line, "}\n"));
    assert_non_null(json_field(line, "time", v, sizeof(v)));
    assert_int_equal(strlen(v), strlen("2026-11-27T05:00:00.123Z"));
    assert_int_equal(v[10], 'T');
    assert_string_equal(json_field(line, "backend", v, sizeof(v)), "beta");
    assert_string_equal(json_field(line, "local_addr", v, sizeof(v)), "127.0.0.1");
    snprintf(want, sizeof(want), "%u", port2);
    assert_string_equal(json_field(line, "local_port", v, sizeof(v)), want);
    assert_string_equal(json_field(line, "peer_addr", v, sizeof(v)), "127.0.0.1");
    assert_true(atoi(json_field(line, "peer_port", v, sizeof(v))) > 0);
    assert_string_equal(json_field(line, "method", v, sizeof(v)), "GET");
    assert_string_equal(json_field(line, "path", v, sizeof(v)), "/bytes/123?x=1");
    assert_string_equal(json_field(line, "x_forwarded_for", v, sizeof(v)), "203.0.113.9, 10.0.0.1");
    assert_string_equal(json_field(line, "status", v, sizeof(v)), "200");
    assert_string_equal(json_field(line, "bytes", v, sizeof(v)), "123");
    assert_string_equal(json_field(line, "conn_requests", v, sizeof(v)), "1");
    assert_non_null(json_field(line, "duration_ms", v, sizeof(v)));
    free(line);
}

static void test_log_escapes_what_the_client_sent(void **state)
{
    struct harness_response r;
    char *line;
    (void)state;
    assert_int_equal(
        get(port1, "GET /status/404 HTTP/1.1\r\nHost: t\r\nX-Request-ID: q\"uo\\te\r\n\r\n", &r),
        0);
    harness_response_free(&r);
    line = wait_log_line("\"request_id\":\"q\\\"uo\\\\te\"");
    assert_non_null(line);
    free(line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_response_names_instance_and_port),
        cmocka_unit_test(test_whoami_is_plain_text_about_instance_and_request),
        cmocka_unit_test(test_page_is_html_with_escaped_headers),
        cmocka_unit_test(test_headers_returns_request_headers_as_json),
        cmocka_unit_test(test_requests_are_counted_per_instance_and_connection),
        cmocka_unit_test(test_admin_health_switches_health_at_run_time),
        cmocka_unit_test(test_slow_health_delays_every_request),
        cmocka_unit_test(test_echo_returns_body_with_length_and_sha256_headers),
        cmocka_unit_test(test_echo_of_chunked_body_is_decoded),
        cmocka_unit_test(test_large_echo_streams_with_trailers),
        cmocka_unit_test(test_echo_through_curl_with_expect_continue),
        cmocka_unit_test(test_bytes_are_the_documented_pattern),
        cmocka_unit_test(test_bytes_through_curl_match_sha256),
        cmocka_unit_test(test_sizes_and_delays_beyond_caps_get_400),
        cmocka_unit_test(test_chunked_sends_chunks_of_the_pattern),
        cmocka_unit_test(test_delay_waits_before_answering),
        cmocka_unit_test(test_status_answers_the_code_asked_for),
        cmocka_unit_test(test_flaky_fails_with_the_probability_given),
        cmocka_unit_test(test_hang_never_answers_while_others_are_served),
        cmocka_unit_test(test_reset_closes_with_rst),
        cmocka_unit_test(test_close_cuts_the_body_half_way),
        cmocka_unit_test(test_login_sets_a_session_cookie),
        cmocka_unit_test(test_upgrade_switches_to_a_raw_echo_tunnel),
        cmocka_unit_test(test_every_endpoint_through_curl),
        cmocka_unit_test(test_login_cookie_works_with_a_cookie_jar),
        cmocka_unit_test(test_docroot_serves_files_and_nothing_outside),
        cmocka_unit_test(test_malformed_request_gets_400_and_close),
        cmocka_unit_test(test_malformed_chunked_body_gets_400_and_close),
        cmocka_unit_test(test_malformed_chunked_body_after_the_response_closes),
        cmocka_unit_test(test_pipelined_requests_are_answered_in_order),
        cmocka_unit_test(test_pipelined_requests_before_fin_are_all_answered),
        cmocka_unit_test(test_http10_closes_unless_keep_alive_asked),
        cmocka_unit_test(test_log_line_has_every_field),
        cmocka_unit_test(test_log_escapes_what_the_client_sent),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
