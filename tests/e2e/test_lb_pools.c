/*
 * test_lb_pools.c - end-to-end: lb -c FILE serves pools and routes. Three backend-sim processes
 * (api1, api2 in pool api; static1 in pool static) behind lb started with the example
 * file (ports changed to free ones): each request must reach the pool the routes say, by its
 * path, its Host or a header, the first matching route winning and the rest going to the default
 * pool; with no default pool a request no route matches gets lb's own 404. lb --check says
 * "configuration OK" (exit 0) or every error (exit 1), and starting lb with a bad file fails the
 * same way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 15000

struct lab {
    pid_t sims[3];
    uint16_t ports[3]; /* api1, api2, static1 */
    char path[64];     /* the configuration file */
    pid_t lb;
    uint16_t lb_port;
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Starts the three backends and writes the example with their ports (plus extra lines). */
static void lab_start(struct lab *lab, const char *extra)
{
    static const char *names[3] = {"api1", "api2", "static1"};
    for (int i = 0; i < 3; i++) {
        lab->sims[i] = harness_start_backend_sim(names[i], &lab->ports[i], NULL);
        assert_true(lab->sims[i] > 0);
    }
    snprintf(lab->path, sizeof(lab->path), "/tmp/test_lb_pools_XXXXXX");
    int fd = mkstemp(lab->path);
    assert_true(fd >= 0);
    close(fd);
    char *text = harness_fmt(
        "# the issue's example, on free ports\n"
        "pool api    { backend 127.0.0.1:%u weight=2 name=api1; backend 127.0.0.1:%u name=api2; "
        "policy leastconn; health /health; }\n"
        "pool static { backend 127.0.0.1:%u name=static1; }\n"
        "route path-prefix /api/ -> api\n"
        "route host static.example -> static\n"
        "route header X-Canary: 1 -> api\n"
        "%s",
        (unsigned)lab->ports[0], (unsigned)lab->ports[1], (unsigned)lab->ports[2], extra);
    write_file(lab->path, text);
    free(text);
}

static void lab_start_lb(struct lab *lab)
{
    const char *args[] = {"-c", lab->path, "-w", "2", NULL};
    lab->lb = harness_start_lb(&lab->lb_port, NULL, 0, args, NULL);
    assert_true(lab->lb > 0);
}

static void lab_stop(struct lab *lab)
{
    assert_true(harness_alive(lab->lb, NULL));
    assert_int_equal(harness_stop(lab->lb, TIMEOUT_MS), 0);
    for (int i = 0; i < 3; i++)
        harness_stop(lab->sims[i], TIMEOUT_MS);
    unlink(lab->path);
}

/* Sends one request with the given path and extra header lines; returns the status and copies
 * the X-Backend that answered (or "") into backend. */
static int request(uint16_t port, const char *path, const char *headers, char *backend,
                   size_t backend_len, char *body, size_t body_len)
{
    struct harness_response resp;
    char *req = harness_fmt("GET %s HTTP/1.1\r\n%s%sConnection: close\r\n\r\n", path,
                            strstr(headers, "Host:") ? "" : "Host: app.example\r\n", headers);
    int rc = harness_exchange(port, req, strlen(req), TIMEOUT_MS, &resp);
    free(req);
    assert_int_equal(rc, 0);
    const char *b = harness_header(&resp, "X-Backend");
    snprintf(backend, backend_len, "%s", b ? b : "");
    if (body != NULL)
        snprintf(body, body_len, "%s", resp.body ? resp.body : "");
    int status = resp.status;
    harness_response_free(&resp);
    return status;
}

/* The pool whose backend answered: "api", "static" or what answered. */
static const char *pool_of(const char *backend)
{
    if (strcmp(backend, "api1") == 0 || strcmp(backend, "api2") == 0)
        return "api";
    if (strcmp(backend, "static1") == 0)
        return "static";
    return backend;
}

static const char *route(const struct lab *lab, const char *path, const char *headers)
{
    static char backend[64];
    request(lab->lb_port, path, headers, backend, sizeof(backend), NULL, 0);
    assert_string_not_equal(backend, ""); /* a backend answered (backend-sim's 404 or 200) */
    return pool_of(backend);
}

static void test_requests_reach_the_pool_the_routes_say(void **state)
{
    (void)state;
    struct lab lab;
    lab_start(&lab, "default -> static\n");
    lab_start_lb(&lab);

    int api1 = 0, api2 = 0;
    for (int i = 0; i < 12; i++) {
        char backend[64];
        request(lab.lb_port, "/api/users", "", backend, sizeof(backend), NULL, 0);
        assert_string_equal(pool_of(backend), "api");
        api1 += strcmp(backend, "api1") == 0;
        api2 += strcmp(backend, "api2") == 0;
    }
    /* leastconn: one request at a time finds both idle, and api1 (weight 2) the lighter */
    assert_int_equal(api1 + api2, 12);
    assert_true(api1 > 0);
    assert_string_equal(route(&lab, "/index.html", "Host: static.example\r\n"), "static");
    assert_string_equal(route(&lab, "/index.html", "Host: STATIC.example:80\r\n"), "static");
    assert_string_equal(route(&lab, "/", "X-Canary: 1\r\n"), "api");
    assert_string_equal(route(&lab, "/", "X-Canary: 2\r\n"), "static"); /* the default */
    assert_string_equal(route(&lab, "/api", ""), "static");              /* not "/api/" */
    /* the first match wins: the path's route comes before the host's */
    assert_string_equal(route(&lab, "/api/x", "Host: static.example\r\n"), "api");
    assert_string_equal(route(&lab, "/", "Host: static.example\r\nX-Canary: 1\r\n"), "static");
    lab_stop(&lab);
}

static void test_no_route_and_no_default_pool_is_lbs_own_404(void **state)
{
    (void)state;
    struct lab lab;
    lab_start(&lab, "");
    lab_start_lb(&lab);
    char backend[64], body[1024];
    assert_int_equal(request(lab.lb_port, "/elsewhere", "", backend, sizeof(backend), body,
                             sizeof(body)),
                     404);
    assert_string_equal(backend, ""); /* from lb, not a backend */
    assert_non_null(strstr(body, "no route matches this request"));
    assert_string_equal(route(&lab, "/api/ok", ""), "api");
    lab_stop(&lab);
}

static void test_check_reports_ok_or_every_error(void **state)
{
    (void)state;
    struct lab lab;
    int status;
    lab_start(&lab, "default -> static\n");
    char *out = harness_runf(&status, "'%s' --check -c '%s' 2>&1", harness_bin("lb"), lab.path);
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(out, "configuration OK"));
    free(out);

    char bad[] = "/tmp/test_lb_pools_bad_XXXXXX";
    int fd = mkstemp(bad);
    assert_true(fd >= 0);
    close(fd);
    write_file(bad, "listen 0.0.0.0:99999\npool a { backend 127.0.0.1:1 }\n"
                    "pool a { backend 127.0.0.1:2 }\nroute host x -> b\nbogus 1\n");
    out = harness_runf(&status, "'%s' -t -c '%s' 2>&1", harness_bin("lb"), bad);
    assert_int_equal(WEXITSTATUS(status), 1);
    char *expect = harness_fmt("%s:1:8: invalid listen '0.0.0.0:99999'", bad);
    assert_non_null(strstr(out, expect));
    free(expect);
    expect = harness_fmt("%s:3:6: duplicate pool 'a' (first defined at line 2)", bad);
    assert_non_null(strstr(out, expect));
    free(expect);
    expect = harness_fmt("%s:4:17: route to a missing pool 'b'", bad);
    assert_non_null(strstr(out, expect));
    free(expect);
    expect = harness_fmt("%s:5:1: unknown directive 'bogus'", bad);
    assert_non_null(strstr(out, expect));
    free(expect);
    free(out);
    /* lb itself refuses to start with that file, with the same report */
    out = harness_runf(&status, "'%s' -c '%s' -l 127.0.0.1:%u 2>&1", harness_bin("lb"), bad,
                       (unsigned)harness_free_port());
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_non_null(strstr(out, "unknown directive 'bogus'"));
    free(out);
    unlink(bad);
    /* the documented example of every directive is a valid file (run from the source tree) */
    if (access("docs/lb.conf.example", R_OK) == 0) {
        out = harness_runf(&status, "'%s' --check -c docs/lb.conf.example 2>&1",
                           harness_bin("lb"));
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_non_null(strstr(out, "configuration OK"));
        free(out);
    } else {
        fprintf(stderr, "docs/lb.conf.example not found from here: not checked\n");
    }
    for (int i = 0; i < 3; i++)
        harness_stop(lab.sims[i], TIMEOUT_MS);
    unlink(lab.path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_requests_reach_the_pool_the_routes_say),
        LB_TEST(test_no_route_and_no_default_pool_is_lbs_own_404),
        LB_TEST(test_check_reports_ok_or_every_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
