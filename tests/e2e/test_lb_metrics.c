/*
 * test_lb_metrics.c - end-to-end: lb's admin endpoint reading out its statistics.
 *
 * GET /metrics is valid exposition text by the strict checker (tests/e2e/prom_check.h) on every
 * scrape, and its counters never go down across scrapes taken while a client keeps lb busy.
 * After a quiet period, GET /stats, lbtop --json and /metrics say the same: the same request
 * counts, responses, bytes and connections, and per backend the same state, pool, counts and
 * latency percentiles. An answer far larger than a socket buffer, to a client that reads nothing
 * for a while, does not stop the (only) worker from proxying, and arrives whole when read. A name
 * given twice gets no duplicate series. With --no-stats, /metrics still answers and no segment
 * is published. Anything else gets 404 or 405.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lb_fixture.h"
#include "prom_check.h"
#include "version.h"

#define TIMEOUT_MS 10000

/* Sends method path to the admin port; returns the response (the caller frees it). */
static struct harness_response admin_req(uint16_t port, const char *method, const char *path)
{
    char req[256];
    struct harness_response resp;
    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n", method,
             path);
    assert_int_equal(harness_exchange(port, req, strlen(req), TIMEOUT_MS, &resp), 0);
    return resp;
}

/* When Prometheus's own promtool is installed, it must accept text too ("promtool check
 * metrics": the format and the naming lint). Without it, says so once and checks nothing. */
static void promtool_accepts(const char *text, size_t len)
{
    static bool told;
    int status;
    char *where = harness_run("command -v promtool", &status);
    bool have = status == 0 && where != NULL && where[0] != '\0';
    free(where);
    if (!have) {
        if (!told)
            fprintf(stderr, "test_lb_metrics: promtool not installed: its check is skipped\n");
        told = true;
        return;
    }
    char path[] = "/tmp/lblab-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    char *out = harness_runf(&status, "promtool check metrics < %s 2>&1", path);
    unlink(path);
    if (status != 0)
        fail_msg("promtool check metrics refused /metrics:\n%s", out ? out : "");
    free(out);
}

/* GET /metrics, checked strictly, into *d. */
static void scrape(uint16_t port, struct prom_doc *d)
{
    struct harness_response r = admin_req(port, "GET", "/metrics");
    assert_int_equal(r.status, 200);
    assert_true(r.complete);
    assert_non_null(strstr(harness_header(&r, "Content-Type"), "version=0.0.4"));
    memset(d, 0, sizeof(*d));
    if (prom_parse(r.body, r.body_len, "lblab_", d) != 0)
        fail_msg("/metrics is not valid exposition text: %s", d->err);
    promtool_accepts(r.body, r.body_len);
    harness_response_free(&r);
}

/* Waits until lb has closed every client connection and finished every request (the client
 * side ends before lb notices), so no counter moves any more. */
static void wait_quiet(uint16_t admin_port)
{
    for (int i = 0; i < TIMEOUT_MS / 50; i++) {
        struct prom_doc d;
        scrape(admin_port, &d);
        bool quiet = prom_value(&d, "lblab_client_connections", "") == 0 &&
                     prom_value(&d, "lblab_requests_in_flight", "") == 0;
        prom_free(&d);
        if (quiet)
            return;
        harness_sleep_ms(50);
    }
    fail_msg("lb did not become quiet within %d ms", TIMEOUT_MS);
}

/* n GET / through lb, each answered 200. Returns how many were. */
static int requests(uint16_t port, int n)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    int ok = 0;
    for (int i = 0; i < n; i++) {
        struct harness_response r;
        if (harness_exchange(port, req, sizeof(req) - 1, TIMEOUT_MS, &r) == 0) {
            ok += r.status == 200;
            harness_response_free(&r);
        }
    }
    return ok;
}

/* The number after "key": at or after from (which must contain it). */
static double json_number(const char *from, const char *key)
{
    char k[96];
    snprintf(k, sizeof(k), "\"%s\": ", key);
    const char *p = strstr(from, k);
    if (p == NULL)
        fail_msg("no %s in: %.200s", k, from);
    return strtod(p + strlen(k), NULL);
}

/* The string value of "key": at or after from, into out[len]. */
static void json_string(const char *from, const char *key, char *out, size_t len)
{
    char k[96];
    snprintf(k, sizeof(k), "\"%s\": \"", key);
    const char *p = strstr(from, k);
    if (p == NULL)
        fail_msg("no %s in: %.200s", k, from);
    p += strlen(k);
    snprintf(out, len, "%.*s", (int)strcspn(p, "\""), p);
}

/* Where backend name's object starts in a /stats or lbtop --json document. */
static const char *backend_at(const char *doc, const char *name)
{
    char k[128];
    snprintf(k, sizeof(k), "\"name\": \"%s\"", name);
    const char *p = strstr(doc, k);
    if (p == NULL)
        fail_msg("no backend %s", name);
    return p;
}

static void test_scrapes_are_valid_and_counters_only_grow_under_load(void **state)
{
    static struct harness_lab lab;
    uint16_t admin_port = harness_free_port();
    char admin_arg[32];
    (void)state;
    snprintf(admin_arg, sizeof(admin_arg), "127.0.0.1:%u", (unsigned)admin_port);
    const char *extra[] = {"-w", "2", "--admin", admin_arg, NULL};
    assert_int_equal(harness_lab_start(&lab, 3, extra), 0);
    assert_true(harness_wait_port(admin_port, TIMEOUT_MS));

    struct prom_doc first, second, third;
    char err[512];
    scrape(admin_port, &first); /* nothing happened yet: valid all the same */
    assert_true(prom_value(&first, "lblab_requests_total", "") == 0);

    pid_t client = fork();
    assert_true(client >= 0);
    if (client == 0)
        _exit(requests(lab.lb_port, 300) == 300 ? 0 : 1);
    /* while the client runs: each scrape valid, nothing going down */
    scrape(admin_port, &second);
    if (!prom_monotonic(&first, &second, err, sizeof(err)))
        fail_msg("%s", err);
    for (int i = 0; i < 5; i++) {
        scrape(admin_port, &third);
        if (!prom_monotonic(&second, &third, err, sizeof(err)))
            fail_msg("%s", err);
        prom_free(&second);
        second = third;
    }
    int status;
    assert_int_equal(waitpid(client, &status, 0), client);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    wait_quiet(admin_port);
    scrape(admin_port, &third);
    if (!prom_monotonic(&second, &third, err, sizeof(err)))
        fail_msg("%s", err);
    assert_true(prom_value(&third, "lblab_requests_total", "") == 300);
    assert_true(prom_value(&third, "lblab_responses_total", "class=\"2xx\"") == 300);
    assert_true(prom_value(&third, "lblab_requests_in_flight", "") == 0);
    /* round robin: 100 each; every backend in the pool "default", up */
    double pool_count = 0;
    for (size_t b = 0; b < 3; b++) {
        char labels[160];
        snprintf(labels, sizeof(labels), "backend=\"127.0.0.1:%u\",pool=\"default\"",
                 (unsigned)lab.sim_port[b]);
        assert_true(prom_value(&third, "lblab_backend_requests_total", labels) == 100);
        pool_count += prom_value(&third, "lblab_backend_request_duration_seconds_count", labels);
        snprintf(labels, sizeof(labels), "backend=\"127.0.0.1:%u\",pool=\"default\",state=\"up\"",
                 (unsigned)lab.sim_port[b]);
        assert_true(prom_value(&third, "lblab_backend_state", labels) == 1);
    }
    assert_true(pool_count == 300);
    assert_true(
        prom_value(&third, "lblab_pool_request_duration_seconds_count", "pool=\"default\"") == 300);
    assert_true(prom_value(&third, "lblab_build_info", "version=\"" LBLAB_VERSION "\"") == 1);
    prom_free(&first);
    prom_free(&second);
    prom_free(&third);
    assert_int_equal(harness_lab_stop(&lab), 0);
}

static void test_stats_lbtop_and_metrics_agree_after_a_quiet_period(void **state)
{
    static struct harness_lab lab;
    uint16_t admin_port = harness_free_port();
    char admin_arg[32];
    (void)state;
    snprintf(admin_arg, sizeof(admin_arg), "127.0.0.1:%u", (unsigned)admin_port);
    const char *extra[] = {"-w", "2", "--admin", admin_arg, NULL};
    assert_int_equal(harness_lab_start(&lab, 2, extra), 0);
    assert_true(harness_wait_port(admin_port, TIMEOUT_MS));
    assert_int_equal(requests(lab.lb_port, 25), 25);
    char path[96];
    snprintf(path, sizeof(path), "/backends/127.0.0.1:%u/drain", (unsigned)lab.sim_port[1]);
    struct harness_response dr = admin_req(admin_port, "POST", path);
    assert_int_equal(dr.status, 200);
    harness_response_free(&dr);
    wait_quiet(admin_port);

    /* quiet: every connection closed, so no counter moves between the three readings */
    struct harness_response st = admin_req(admin_port, "GET", "/stats");
    assert_int_equal(st.status, 200);
    assert_string_equal(harness_header(&st, "Content-Type"), "application/json");
    int status;
    char *top =
        harness_runf(&status, "%s --json -p %u", harness_bin("lbtop"), (unsigned)lab.lb_port);
    assert_non_null(top);
    assert_int_equal(status, 0);
    struct prom_doc m;
    scrape(admin_port, &m);

    const char *s = st.body;
    assert_non_null(strstr(s, "\"lb_admin\": \""));
    assert_non_null(strstr(top, "\"lbtop\": \""));
    assert_null(strstr(s, "\"rates\""));
    char admin_shown[64];
    json_string(top, "admin", admin_shown, sizeof(admin_shown));
    assert_string_equal(admin_shown, admin_arg);
    const char *st_tot = strstr(s, "\"totals\""), *top_tot = strstr(top, "\"totals\"");
    assert_non_null(st_tot);
    assert_non_null(top_tot);
    static const char *const totals[] = {"requests", "in_flight", "accepted",  "closed", "2xx",
                                         "5xx",      "bytes_in",  "bytes_out", "count"};
    for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++)
        if (json_number(st_tot, totals[i]) != json_number(top_tot, totals[i]))
            fail_msg("totals.%s: /stats %.0f, lbtop --json %.0f", totals[i],
                     json_number(st_tot, totals[i]), json_number(top_tot, totals[i]));
    assert_true(json_number(st_tot, "requests") == 25);
    assert_true(prom_value(&m, "lblab_requests_total", "") == 25);
    assert_true(prom_value(&m, "lblab_sent_bytes_total", "") == json_number(st_tot, "bytes_out"));
    assert_true(prom_value(&m, "lblab_client_connections_accepted_total", "") ==
                json_number(st_tot, "accepted"));

    for (size_t b = 0; b < 2; b++) {
        char name[64], a[64], c[64], labels[160];
        snprintf(name, sizeof(name), "127.0.0.1:%u", (unsigned)lab.sim_port[b]);
        const char *sb = backend_at(s, name), *tb = backend_at(top, name);
        json_string(sb, "state", a, sizeof(a));
        json_string(tb, "state", c, sizeof(c));
        assert_string_equal(a, c);
        assert_string_equal(a, b == 1 ? "DRAIN" : "UP");
        json_string(sb, "pool", a, sizeof(a));
        json_string(tb, "pool", c, sizeof(c));
        assert_string_equal(a, "default");
        assert_string_equal(c, "default");
        static const char *const keys[] = {"requests", "requests_done", "2xx", "bytes_out",
                                           "count",    "p50",           "p99", "max"};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (json_number(sb, keys[i]) != json_number(tb, keys[i]))
                fail_msg("%s %s: /stats %g, lbtop --json %g", name, keys[i],
                         json_number(sb, keys[i]), json_number(tb, keys[i]));
        snprintf(labels, sizeof(labels), "backend=\"%s\",pool=\"default\"", name);
        assert_true(prom_value(&m, "lblab_backend_requests_total", labels) ==
                    json_number(sb, "requests"));
        snprintf(labels, sizeof(labels), "backend=\"%s\",pool=\"default\",state=\"drain\"", name);
        assert_true(prom_value(&m, "lblab_backend_state", labels) == (b == 1));
    }
    prom_free(&m);
    free(top);
    harness_response_free(&st);
    assert_int_equal(harness_lab_stop(&lab), 0);
}

/* Reads one whole response off fd: the head, then Content-Length bytes of body. Returns the
 * body length, -1 on failure; *body gets it (malloc'd). */
static long read_whole(int fd, char **body)
{
    size_t len;
    char *all = harness_recv_all(fd, 64u << 20, &len);
    if (all == NULL)
        return -1;
    char *end = strstr(all, "\r\n\r\n");
    const char *cl = strstr(all, "Content-Length: ");
    if (end == NULL || cl == NULL || cl > end) {
        free(all);
        return -1;
    }
    long want = strtol(cl + 16, NULL, 10), got = (long)(len - (size_t)(end + 4 - all));
    *body = malloc((size_t)got + 1);
    assert_non_null(*body);
    memcpy(*body, end + 4, (size_t)got);
    (*body)[got] = '\0';
    free(all);
    if (got != want) {
        free(*body);
        *body = NULL;
        return -1;
    }
    return got;
}

static void test_a_large_answer_never_holds_up_the_worker(void **state)
{
    uint16_t sim_port, ports[64], admin_port = harness_free_port(), lb_port;
    char admin_arg[32];
    (void)state;
    pid_t sim = harness_start_backend_sim("b1", &sim_port, NULL);
    assert_true(sim > 0);
    /* the same backend 64 times: 64 series of each family, the second named "...#2" */
    for (size_t i = 0; i < 64; i++)
        ports[i] = sim_port;
    snprintf(admin_arg, sizeof(admin_arg), "127.0.0.1:%u", (unsigned)admin_port);
    const char *extra[] = {"-w", "1", "--admin", admin_arg, NULL};
    pid_t lb = harness_start_lb(&lb_port, ports, 64, extra, NULL);
    assert_true(lb > 0);
    assert_true(harness_wait_port(admin_port, TIMEOUT_MS));
    assert_int_equal(requests(lb_port, 64), 64);

    /* a client with a small receive buffer asks for /metrics and reads nothing */
    int slow = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(slow >= 0);
    int small = 2048;
    assert_int_equal(setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(admin_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(slow, (struct sockaddr *)&sa, sizeof(sa)), 0);
    static const char get[] = "GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n";
    assert_int_equal(harness_send_all(slow, get, sizeof(get) - 1), 0);
    harness_sleep_ms(100);

    /* meanwhile the only worker proxies, answers the admin endpoint and takes changes (the
     * checks of what it answered come after: the slow client must not wait past lb's 5 s) */
    assert_int_equal(requests(lb_port, 20), 20);
    struct harness_response fast = admin_req(admin_port, "GET", "/metrics");
    assert_int_equal(fast.status, 200);
    assert_true(fast.complete);
    char path[96];
    snprintf(path, sizeof(path), "/backends/127.0.0.1:%u%%232/drain", (unsigned)sim_port);
    struct harness_response r = admin_req(admin_port, "POST", path);
    assert_int_equal(r.status, 200);

    /* the slow client's answer is all there when it reads it */
    char *body = NULL;
    long n = read_whole(slow, &body);
    close(slow);
    /* far larger than the admin connection's send buffer (lb/admin.c sets 64 KiB): most of it
     * waited in lb while the worker went on */
    assert_true(n > 512 * 1024);
    struct prom_doc whole;
    memset(&whole, 0, sizeof(whole));
    if (prom_parse(body, (size_t)n, "lblab_", &whole) != 0)
        fail_msg("the slow client's /metrics: %s", whole.err);
    prom_free(&whole);
    free(body);

    char want[96];
    snprintf(want, sizeof(want), "\"backend\": \"127.0.0.1:%u#2\"", (unsigned)sim_port);
    assert_non_null(strstr(r.body, want));
    harness_response_free(&r);
    struct prom_doc d;
    memset(&d, 0, sizeof(d));
    if (prom_parse(fast.body, fast.body_len, "lblab_", &d) != 0)
        fail_msg("/metrics: %s", d.err);
    size_t state_series = 0;
    for (size_t i = 0; i < d.n; i++)
        state_series += strcmp(d.v[i].name, "lblab_backend_state") == 0;
    assert_int_equal(state_series, 64 * 3); /* no two alike: the checker refuses duplicates */
    char labels[160];
    snprintf(labels, sizeof(labels), "backend=\"127.0.0.1:%u#64\",pool=\"default\"",
             (unsigned)sim_port);
    assert_false(isnan(prom_value(&d, "lblab_backend_requests_total", labels)));
    prom_free(&d);
    harness_response_free(&fast);
    assert_int_equal(harness_stop(lb, 15000), 0);
    assert_int_equal(harness_stop(sim, 15000), 0);
}

static void test_no_stats_still_answers_and_other_requests_are_refused(void **state)
{
    uint16_t sim_port, admin_port = harness_free_port(), lb_port;
    char admin_arg[32];
    (void)state;
    pid_t sim = harness_start_backend_sim("b1", &sim_port, NULL);
    assert_true(sim > 0);
    snprintf(admin_arg, sizeof(admin_arg), "127.0.0.1:%u", (unsigned)admin_port);
    const char *extra[] = {"-w", "2", "--no-stats", "--admin", admin_arg, NULL};
    pid_t lb = harness_start_lb(&lb_port, &sim_port, 1, extra, NULL);
    assert_true(lb > 0);
    assert_true(harness_wait_port(admin_port, TIMEOUT_MS));
    assert_int_equal(requests(lb_port, 7), 7);
    struct prom_doc d;
    scrape(admin_port, &d);
    assert_true(prom_value(&d, "lblab_requests_total", "") == 7);
    prom_free(&d);
    /* nothing published: lbtop finds no segment */
    int status;
    char *out =
        harness_runf(&status, "%s --json -p %u 2>&1", harness_bin("lbtop"), (unsigned)lb_port);
    assert_non_null(out);
    assert_int_not_equal(status, 0);
    free(out);

    struct {
        const char *method, *path;
        int status;
        const char *allow;
    } cases[] = {
        {"HEAD", "/metrics", 200, NULL},        {"POST", "/metrics", 405, "GET, HEAD"},
        {"DELETE", "/stats", 405, "GET, HEAD"}, {"GET", "/", 404, NULL},
        {"GET", "/metrics/x", 404, NULL},       {"GET", "/backends", 404, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char req[256];
        struct harness_conn c;
        struct harness_response r;
        snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: admin\r\n\r\n", cases[i].method,
                 cases[i].path);
        assert_int_equal(harness_conn_open(&c, admin_port, TIMEOUT_MS), 0);
        assert_int_equal(harness_conn_request(&c, req, &r), 0);
        if (r.status != cases[i].status)
            fail_msg("%s %s: %d, not %d", cases[i].method, cases[i].path, r.status,
                     cases[i].status);
        if (cases[i].allow != NULL)
            assert_string_equal(harness_header(&r, "Allow"), cases[i].allow);
        if (strcmp(cases[i].method, "HEAD") == 0)
            assert_int_equal(r.body_len, 0);
        harness_response_free(&r);
        harness_conn_close(&c);
    }
    assert_int_equal(harness_stop(lb, 15000), 0);
    assert_int_equal(harness_stop(sim, 15000), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        LB_TEST(test_scrapes_are_valid_and_counters_only_grow_under_load),
        LB_TEST(test_stats_lbtop_and_metrics_agree_after_a_quiet_period),
        LB_TEST(test_a_large_answer_never_holds_up_the_worker),
        LB_TEST(test_no_stats_still_answers_and_other_requests_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
