/* test_route.c - unit tests of the routing decision (lb/route.c) and of the pools built from a
 * configuration (lb/routing.c): requests parsed from their text, routed by the example. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../lb/backend.h"
#include "../../lb/conffile.h"
#include "../../lb/config.h"
#include "../../lb/route.h"
#include "../../lb/routing.h"
#include "http.h"

static struct config cfg;
static struct conffile_errors errs;
static struct http_header headers[32];

static const char example[] =
    "listen 0.0.0.0:3000\n"
    "pool api    { backend 127.0.0.1:3001 weight=2; backend 127.0.0.1:3002; policy leastconn; "
    "health /health; }\n"
    "pool static { backend 127.0.0.1:3003; }\n"
    "route path-prefix /api/ -> api\n"
    "route host static.example -> static\n"
    "route header X-Canary: 1 -> api\n"
    "default -> static\n";

static void load(const char *text)
{
    config_defaults(&cfg);
    if (conffile_parse(&cfg, "t.conf", text, strlen(text), &errs) != 0)
        fail_msg("%s", errs.text);
}

/* The pool's name that the request in text goes to, or "404". */
static const char *route_of(const char *text)
{
    struct http_request r = {.headers = headers, .num_headers = 32};
    if (http_parse_request(text, strlen(text), &r, NULL) <= 0)
        fail_msg("request does not parse: %s", text);
    int p = route_pick(cfg.routes, cfg.num_routes, config_default_pool(&cfg), &r);
    return p < 0 ? "404" : cfg.pools[p].name;
}

static void test_the_example_routes_by_path_host_and_header(void **state)
{
    (void)state;
    load(example);
    assert_string_equal(route_of("GET /api/users HTTP/1.1\r\nHost: x\r\n\r\n"), "api");
    assert_string_equal(route_of("GET /api HTTP/1.1\r\nHost: x\r\n\r\n"), "static");
    assert_string_equal(route_of("GET /apiary HTTP/1.1\r\nHost: x\r\n\r\n"), "static");
    assert_string_equal(route_of("GET / HTTP/1.1\r\nHost: static.example\r\n\r\n"), "static");
    assert_string_equal(route_of("GET / HTTP/1.1\r\nHost: x\r\nX-Canary: 1\r\n\r\n"), "api");
    assert_string_equal(route_of("GET / HTTP/1.1\r\nHost: x\r\nx-canary:   1  \r\n\r\n"), "api");
    assert_string_equal(route_of("GET / HTTP/1.1\r\nHost: x\r\nX-Canary: 10\r\n\r\n"), "static");
    assert_string_equal(route_of("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "static");
}

static void test_the_first_matching_route_wins(void **state)
{
    (void)state;
    load(example);
    /* /api/ comes first: a canary on the static host still goes to api by its path */
    assert_string_equal(
        route_of("GET /api/x HTTP/1.1\r\nHost: static.example\r\nX-Canary: 0\r\n\r\n"), "api");
    /* the host rule comes before the header rule */
    assert_string_equal(route_of("GET / HTTP/1.1\r\nHost: static.example\r\nX-Canary: 1\r\n\r\n"),
                        "static");
}

static void test_hosts_match_without_port_in_any_case_and_by_wildcard(void **state)
{
    (void)state;
    load("pool a { backend h:1 }\npool b { backend h:2 }\n"
         "route host Static.Example -> a\nroute host *.example.org -> b\n");
    assert_string_equal(route_of("GET / HTTP/1.1\r\nHost: STATIC.example:8080\r\n\r\n"), "a");
    assert_string_equal(route_of("GET / HTTP/1.1\r\nHost: static.example.\r\n\r\n"), "a");
    assert_string_equal(route_of("GET http://static.example/x HTTP/1.1\r\nHost: y\r\n\r\n"), "a");
    assert_string_equal(route_of("GET / HTTP/1.1\r\nHost: www.example.org\r\n\r\n"), "b");
    assert_string_equal(route_of("GET / HTTP/1.1\r\nHost: a.b.example.org:1\r\n\r\n"), "b");
    assert_string_equal(route_of("GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"), "404");
    assert_string_equal(route_of("GET / HTTP/1.1\r\nHost: badexample.org\r\n\r\n"), "404");
    assert_string_equal(route_of("GET / HTTP/1.0\r\n\r\n"), "404"); /* no Host at all */
    assert_string_equal(route_of("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), "404");
}

static void test_no_match_and_no_default_pool_is_404(void **state)
{
    (void)state;
    load("pool api { backend h:1 }\nroute path-prefix /api/ -> api\n");
    assert_string_equal(route_of("GET /api/ HTTP/1.1\r\nHost: x\r\n\r\n"), "api");
    assert_string_equal(route_of("GET /other HTTP/1.1\r\nHost: x\r\n\r\n"), "404");
    /* a pool named "default" is the default without a `default` line */
    load("pool default { backend h:1 }\npool api { backend h:2 }\nroute path-prefix /api/ -> api\n");
    assert_string_equal(route_of("GET /other HTTP/1.1\r\nHost: x\r\n\r\n"), "default");
}

static void test_routing_makes_each_pool_a_slice_with_its_policy(void **state)
{
    (void)state;
    char err[256];
    load("pool static { backend 127.0.0.1:3 }\n" /* listed first, yet a later backend's pool */
         "pool api { backend 127.0.0.1:1 weight=2; backend 127.0.0.1:2; policy leastconn }\n"
         "route path-prefix /api/ -> api\ndefault -> static\n");
    config_group_backends(&cfg);
    const char *hosts[3];
    uint16_t ports[3];
    for (size_t i = 0; i < cfg.num_backends; i++) {
        hosts[i] = cfg.backends[i].host;
        ports[i] = cfg.backends[i].port;
    }
    assert_int_equal(cfg.backends[0].port, 3); /* pool 0 (static) first */
    struct backend_table *table = backend_table_create(hosts, ports, cfg.num_backends);
    assert_non_null(table);
    struct routing *rt = routing_create(&cfg, table, NULL, err, sizeof(err));
    assert_non_null(rt);
    assert_int_equal(rt->num_pools, 2);
    struct routing_pool *api = &rt->pools[1], *st = &rt->pools[0];
    assert_string_equal(api->name, "api");
    assert_int_equal(api->first, 1);
    assert_int_equal(api->view.count, 2);
    assert_string_equal(api->policy.ops->name, "leastconn");
    assert_string_equal(st->policy.ops->name, "rr");
    assert_ptr_equal(routing_default(rt), st);
    assert_int_equal(routing_pool_index(api, &table->backends[2]), 1);
    assert_int_equal(routing_pool_index(api, &table->backends[0]), -1);

    /* a pick in a pool returns that pool's backends only */
    struct policy_request pr = {0};
    for (int i = 0; i < 10; i++) {
        int k = policy_pick(&api->policy, &pr);
        assert_true(k == 0 || k == 1);
        assert_int_equal(api->view.backends[k].port == 1 || api->view.backends[k].port == 2, 1);
        assert_int_equal(policy_pick(&st->policy, &pr), 0);
    }
    struct http_request r = {.headers = headers, .num_headers = 32};
    const char *req = "GET /api/x HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(http_parse_request(req, strlen(req), &r, NULL) > 0);
    assert_ptr_equal(routing_pick(rt, &r), api);
    routing_destroy(rt);
    backend_table_destroy(table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_example_routes_by_path_host_and_header),
        cmocka_unit_test(test_the_first_matching_route_wins),
        cmocka_unit_test(test_hosts_match_without_port_in_any_case_and_by_wildcard),
        cmocka_unit_test(test_no_match_and_no_default_pool_is_404),
        cmocka_unit_test(test_routing_makes_each_pool_a_slice_with_its_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
