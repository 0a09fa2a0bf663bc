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
    struct routing_slots slots = {0};
    load("pool static { backend 127.0.0.1:3 }\n" /* listed first, yet a later backend's pool */
         "pool api { backend 127.0.0.1:1 weight=2; backend 127.0.0.1:2; policy leastconn }\n"
         "route path-prefix /api/ -> api\ndefault -> static\n");
    config_group_backends(&cfg);
    assert_int_equal(cfg.backends[0].port, 3); /* pool 0 (static) first */
    struct routing *rt = routing_create(&cfg, NULL, &slots, NULL, 1, err, sizeof(err));
    assert_non_null(rt);
    struct backend_table *table = rt->table;
    assert_int_equal(rt->num_pools, 2);
    assert_int_equal(rt->generation, 1);
    struct routing_pool *api = &rt->pools[1], *st = &rt->pools[0];
    assert_string_equal(api->name, "api");
    assert_ptr_equal(api->view.backends, &table->backends[1]);
    assert_int_equal(api->view.count, 2);
    assert_string_equal(api->policy.ops->name, "leastconn");
    assert_string_equal(st->policy.ops->name, "rr");
    assert_ptr_equal(routing_default(rt), st);
    assert_int_equal(routing_pool_index(api, &table->backends[2]), 1);
    assert_int_equal(routing_pool_index(api, &table->backends[0]), -1);
    assert_int_equal(routing_position(rt, &table->backends[2]), 2);
    for (size_t i = 0; i < 3; i++) /* at start-up each backend's slot is its position */
        assert_ptr_equal(rt->by_slot[i], &table->backends[i]);

    /* a pick in a pool returns that pool's backends only */
    struct policy_request pr = {0};
    for (int i = 0; i < 10; i++) {
        int k = policy_pick(&api->policy, &pr);
        assert_true(k == 0 || k == 1);
        assert_true(api->view.backends[k].port == 1 || api->view.backends[k].port == 2);
        assert_int_equal(policy_pick(&st->policy, &pr), 0);
    }
    struct http_request r = {.headers = headers, .num_headers = 32};
    const char *req = "GET /api/x HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(http_parse_request(req, strlen(req), &r, NULL) > 0);
    assert_ptr_equal(routing_pick(rt, &r), api);
    routing_release(rt);
}

static void test_a_reload_keeps_each_backends_slot_by_name(void **state)
{
    (void)state;
    char err[256];
    struct routing_slots slots = {0};
    load("pool a { backend 127.0.0.1:1 name=one; backend 127.0.0.1:2 name=two }\n"
         "pool b { backend 127.0.0.1:3 name=three }\ndefault -> a\n");
    config_group_backends(&cfg);
    struct routing *rt1 = routing_create(&cfg, NULL, &slots, NULL, 1, err, sizeof(err));
    assert_non_null(rt1);
    assert_int_equal(slots.next, 3);
    struct backend *two = routing_find(rt1, "two", 3);
    assert_non_null(two);
    assert_int_equal(two->index, 1);

    /* "one" removed, "two" moves to pool b with another weight, "four" is new */
    load("pool b { backend 127.0.0.1:3 name=three; backend 127.0.0.1:2 name=two weight=5 }\n"
         "pool c { backend 127.0.0.1:4 name=four }\ndefault -> c\n");
    config_group_backends(&cfg);
    struct routing *rt2 = routing_create(&cfg, rt1, &slots, NULL, 1, err, sizeof(err));
    assert_non_null(rt2);
    assert_int_equal(rt2->generation, 2);
    assert_null(rt2->by_slot[0]); /* "one" is gone */
    assert_string_equal(rt2->by_slot[1]->name, "two");
    assert_int_equal(rt2->by_slot[1]->weight, 5);
    assert_string_equal(rt2->by_slot[2]->name, "three");
    assert_string_equal(rt2->by_slot[3]->name, "four"); /* a slot nobody had */
    assert_int_equal(slots.next, 4);
    assert_string_equal(routing_default(rt2)->name, "c");

    /* the old snapshot is intact for the requests that still hold it */
    assert_string_equal(rt1->by_slot[0]->name, "one");
    routing_hold(rt1);
    routing_release(rt1);
    routing_release(rt1);

    /* one server in two pools: two backends of one name, each keeps its own slot */
    load("pool a { backend 127.0.0.1:5 }\npool b { backend 127.0.0.1:5 }\ndefault -> a\n");
    config_group_backends(&cfg);
    struct routing *rt3 = routing_create(&cfg, rt2, &slots, NULL, 1, err, sizeof(err));
    assert_non_null(rt3);
    size_t s0 = rt3->table->backends[0].index, s1 = rt3->table->backends[1].index;
    assert_int_not_equal(s0, s1);
    struct routing *rt4 = routing_create(&cfg, rt3, &slots, NULL, 1, err, sizeof(err));
    assert_non_null(rt4);
    assert_int_equal(rt4->table->backends[0].index, s0);
    assert_int_equal(rt4->table->backends[1].index, s1);
    routing_release(rt2);
    routing_release(rt3);
    routing_release(rt4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_example_routes_by_path_host_and_header),
        cmocka_unit_test(test_the_first_matching_route_wins),
        cmocka_unit_test(test_hosts_match_without_port_in_any_case_and_by_wildcard),
        cmocka_unit_test(test_no_match_and_no_default_pool_is_404),
        cmocka_unit_test(test_routing_makes_each_pool_a_slice_with_its_policy),
        cmocka_unit_test(test_a_reload_keeps_each_backends_slot_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
