/* test_conffile.c - unit tests of lb's configuration file parser (lb/conffile.c): a table of good
 * files and what they mean, a table of bad files and the exact error each one gets, and the
 * command line over a file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lb/conffile.h"
#include "../../lb/config.h"

static struct config cfg;
static struct conffile_errors errs;

static int parse(const char *text)
{
    config_defaults(&cfg);
    return conffile_parse(&cfg, "t.conf", text, strlen(text), &errs);
}

/* The example, exactly as written. */
static const char example[] =
    "listen 0.0.0.0:3000\n"
    "pool api    { backend 127.0.0.1:3001 weight=2; backend 127.0.0.1:3002; policy leastconn; "
    "health /health; }\n"
    "pool static { backend 127.0.0.1:3003; }\n"
    "route path-prefix /api/ -> api\n"
    "route host static.example -> static\n"
    "route header X-Canary: 1 -> api\n"
    "default -> static\n";

static void test_the_example_means_what_it_says(void **state)
{
    (void)state;
    assert_int_equal(parse(example), 0);
    assert_int_equal(errs.count, 0);
    assert_string_equal(cfg.listen_host, "0.0.0.0");
    assert_int_equal(cfg.listen_port, 3000);
    assert_int_equal(cfg.num_pools, 2);
    assert_string_equal(cfg.pools[0].name, "api");
    assert_string_equal(cfg.pools[0].policy, "leastconn");
    assert_string_equal(cfg.pools[0].health_path, "/health");
    assert_string_equal(cfg.pools[1].name, "static");
    assert_string_equal(config_pool_policy(&cfg, 1), "rr");
    assert_string_equal(config_pool_health_path(&cfg, 1), "");
    assert_int_equal(cfg.num_backends, 3);
    assert_string_equal(cfg.backends[0].host, "127.0.0.1");
    assert_int_equal(cfg.backends[0].port, 3001);
    assert_int_equal(cfg.backends[0].weight, 2);
    assert_int_equal(cfg.backends[0].pool, 0);
    assert_int_equal(cfg.backends[1].port, 3002);
    assert_int_equal(cfg.backends[1].weight, 1);
    assert_int_equal(cfg.backends[1].pool, 0);
    assert_int_equal(cfg.backends[2].port, 3003);
    assert_int_equal(cfg.backends[2].pool, 1);
    assert_int_equal(cfg.num_routes, 3);
    assert_int_equal(cfg.routes[0].kind, CONFIG_ROUTE_PATH_PREFIX);
    assert_string_equal(cfg.routes[0].value, "/api/");
    assert_int_equal(cfg.routes[0].pool, 0);
    assert_int_equal(cfg.routes[1].kind, CONFIG_ROUTE_HOST);
    assert_string_equal(cfg.routes[1].value, "static.example");
    assert_int_equal(cfg.routes[1].pool, 1);
    assert_int_equal(cfg.routes[2].kind, CONFIG_ROUTE_HEADER);
    assert_string_equal(cfg.routes[2].header, "X-Canary");
    assert_string_equal(cfg.routes[2].value, "1");
    assert_int_equal(cfg.routes[2].pool, 0);
    assert_int_equal(config_default_pool(&cfg), 1);
}

/* Good files, each with one fact checked. */
static void test_good_files(void **state)
{
    (void)state;
    /* a file of options only keeps the default backends */
    assert_int_equal(parse("# nothing but a comment\n\nserver-timeout 5000\n"), 0);
    assert_int_equal(cfg.server_timeout_ms, 5000);
    assert_int_equal(cfg.num_backends, 3);
    assert_int_equal(config_default_pool(&cfg), 0);
    /* every kind of option, as the command line spells it */
    assert_int_equal(parse("mode http\nworkers 2\nconnect-timeout 10\nclient-timeout 11\n"
                           "idle-timeout 12\ndrain-timeout 0\ndns-ttl 0\naccess-log -\n"
                           "policy p2c\nno-stats\nretries 3\nadmin 9000\nsticky-cookie S\n"
                           "health-path /h\nhealth-interval 100\nhealth-timeout 50\n"
                           "health-rise 1\nhealth-fall 2\nmax-fails 0\nfail-window 1000\n"
                           "observe 5xx\nno-io-uring\nno-splice\n"),
                     0);
    assert_int_equal(cfg.workers, 2);
    assert_int_equal(cfg.drain_timeout_ms, 0);
    assert_string_equal(cfg.access_log, "-");
    assert_string_equal(cfg.policy, "p2c");
    assert_true(cfg.no_stats);
    assert_true(cfg.no_io_uring);
    assert_true(cfg.no_splice);
    assert_int_equal(cfg.retries, 3);
    assert_int_equal(cfg.admin_port, 9000);
    assert_string_equal(cfg.sticky_cookie, "S");
    assert_string_equal(cfg.health_path, "/h");
    assert_int_equal(cfg.health_rise, 1);
    assert_true(cfg.observe_5xx);
    /* top-level backends are -b's: pool "default"; options after spaces or commas */
    assert_int_equal(parse("backend a.example:80 name=a weight=3\nbackend b:81,backup\n"), 0);
    assert_int_equal(cfg.num_pools, 1);
    assert_string_equal(cfg.pools[0].name, "default");
    assert_int_equal(cfg.num_backends, 2);
    assert_string_equal(cfg.backends[0].name, "a");
    assert_int_equal(cfg.backends[0].weight, 3);
    assert_true(cfg.backends[1].backup);
    /* a block over several lines; quoted values; ';' ends a statement anywhere */
    assert_int_equal(parse("pool web {\n  backend 127.0.0.1:1 # first\n  backend \"[::1]:2\"\n"
                           "  policy \"wrr\"\n}\nroute path-prefix \"/a b\" -> web; "
                           "route header X-Who:\"x \\\"y\\\"\" -> web\n"),
                     -EINVAL); /* a path with a space is refused ... */
    assert_string_equal(errs.text,
                        "t.conf:6:19: invalid path-prefix '/a b': expected a path starting with "
                        "'/' (no spaces, at most 255 bytes)\n");
    assert_int_equal(parse("pool web {\n  backend 127.0.0.1:1 # first\n  backend \"[::1]:2\"\n"
                           "  policy \"wrr\"\n}\nroute path-prefix /a -> web; "
                           "route header X-Who: \"x \\\"y\\\"\" -> web\n"),
                     0); /* ... a header value may have spaces and escaped quotes */
    assert_int_equal(cfg.num_backends, 2);
    assert_string_equal(cfg.backends[1].host, "::1");
    assert_string_equal(cfg.pools[0].policy, "wrr");
    assert_int_equal(cfg.num_routes, 2);
    assert_string_equal(cfg.routes[1].value, "x \"y\"");
    assert_int_equal(config_default_pool(&cfg), -1); /* no default: lb answers 404 */
    /* a route may name a pool defined below it; NAME:VALUE in one word; a wildcard host */
    assert_int_equal(parse("route header X-A:b -> p\nroute host *.example.org -> p\n"
                           "pool p { backend h:1 }\ndefault -> p\n"),
                     0);
    assert_string_equal(cfg.routes[0].header, "X-A");
    assert_string_equal(cfg.routes[0].value, "b");
    assert_string_equal(cfg.routes[1].value, "*.example.org");
    assert_string_equal(cfg.default_pool, "p");
    /* -m tcp with a default pool and no routes */
    assert_int_equal(parse("mode tcp\nbackend 127.0.0.1:1 send-proxy-v2\n"), 0);
    assert_int_equal(cfg.backends[0].send_proxy, 2);
}

struct bad_file {
    const char *text;
    const char *errors; /* exactly what errs.text says */
};

static const struct bad_file bad_files[] = {
    {"frobnicate yes\n", "t.conf:1:1: unknown directive 'frobnicate'\n"},
    {"pool a { backend h:1 }\npool a { backend h:2 }\n",
     "t.conf:2:6: duplicate pool 'a' (first defined at line 1)\n"},
    {"route path-prefix / -> nowhere\n", "t.conf:1:24: route to a missing pool 'nowhere'\n"},
    {"pool a { backend h:1 }\ndefault -> b\n", "t.conf:2:12: default to a missing pool 'b'\n"},
    {"listen 0.0.0.0:99999\n",
     "t.conf:1:8: invalid listen '0.0.0.0:99999': expected [ADDR:]PORT with PORT from 1 to "
     "65535\n"},
    {"backend nohost\n",
     "t.conf:1:9: invalid backend 'nohost': expected HOST:PORT[,name=NAME][,weight=N][,backup] "
     "with PORT from 1 to 65535\n"},
    {"  workers many\n",
     "t.conf:1:11: invalid workers 'many': expected a number of threads from 1 to 1024\n"},
    {"pool a { backend h:1 weight=0; }\n",
     "t.conf:1:18: invalid backend 'h:1,weight=0': expected weight=N with N 1-256\n"},
    {"access-log \"unterminated\n",
     "t.conf:1:12: unterminated quote (a string ends on its line with '\"')\n"},
    {"pool a {\n  backend h:1\n", "t.conf:1:8: unterminated '{': pool 'a' has no closing '}'\n"},
    {"}\n", "t.conf:1:1: '}' without a pool block to close\n"},
    {"pool a { backend h:1; policy fastest }\n",
     "t.conf:1:30: invalid policy 'fastest': expected one of the policies rr, wrr, leastconn, "
     "p2c, iphash, hash\n"},
    {"pool a { backend h:1; health nope }\n",
     "t.conf:1:30: invalid health 'nope': expected a path starting with '/' (1-1024 visible "
     "ASCII characters, no spaces)\n"},
    {"pool a { weight 2 }\n",
     "t.conf:1:6: pool 'a' has no backends\n"
     "t.conf:1:10: unknown directive 'weight' in pool 'a' (expected backend, policy or "
     "health)\n"},
    {"pool bad/name { backend h:1 }\n",
     "t.conf:1:6: invalid pool name 'bad/name': expected 1-31 letters, digits, '.', '_' or "
     "'-'\n"},
    {"pool a backend h:1\n", "t.conf:1:1: expected 'pool NAME { ... }'\n"},
    {"route cookie x -> a\n",
     "t.conf:1:7: unknown route kind 'cookie' (expected path-prefix, host or header)\n"},
    {"route path-prefix /x a\n", "t.conf:1:7: expected 'route path-prefix PATH -> POOL'\n"},
    {"route header X-A 1 -> a\n", "t.conf:1:7: expected 'route header NAME: VALUE -> POOL'\n"},
    {"route host bad_host! -> a\n",
     "t.conf:1:12: invalid host 'bad_host!': expected a host name (letters, digits, '.', '-'; "
     "'*.' first matches every subdomain)\n"},
    {"default static\n", "t.conf:1:1: expected 'default -> POOL'\n"},
    {"listen\n", "t.conf:1:1: listen takes one value\n"},
    {"listen 1 2\n", "t.conf:1:10: listen takes one value\n"},
    {"no-stats please\n", "t.conf:1:10: no-stats takes no value\n"},
    {"help\nconfig x\n",
     "t.conf:1:1: unknown directive 'help'\nt.conf:2:1: unknown directive 'config'\n"},
    {"listen 80 \x01\n", "t.conf:1:11: unexpected control character 0x01\n"},
    {"{ x }\n", "t.conf:1:1: '{' opens only a pool's block: pool NAME { ... }\n"},
    {"mode tcp\npool a { backend h:1 }\nroute path-prefix / -> a\ndefault -> a\n",
     "t.conf: routes need -m http: in -m tcp lb relays connections and never sees a request "
     "(every connection goes to the default pool)\n"},
    {"tls-cert c.pem\n", "t.conf: --tls-cert needs --tls-key (one key per certificate)\n"},
    /* every error of a file, in its order */
    {"listen x\nfrobnicate\npool a { backend h:1 }\npool a { backend h:2 }\n"
     "route host a.b -> nope\n",
     "t.conf:1:8: invalid listen 'x': expected [ADDR:]PORT with PORT from 1 to 65535\n"
     "t.conf:2:1: unknown directive 'frobnicate'\n"
     "t.conf:4:6: duplicate pool 'a' (first defined at line 3)\n"
     "t.conf:5:19: route to a missing pool 'nope'\n"},
};

static void test_bad_files_get_their_error_at_its_place(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
        int rc = parse(bad_files[i].text);
        if (rc != -EINVAL || strcmp(errs.text, bad_files[i].errors) != 0)
            fail_msg("bad file %zu:\n%s\nexpected:\n%sgot (rc %d):\n%s", i, bad_files[i].text,
                     bad_files[i].errors, rc, errs.text);
    }
}

static void test_many_errors_are_counted_past_the_ones_shown(void **state)
{
    (void)state;
    static char text[CONFFILE_MAX_ERRORS * 4 + 64];
    size_t n = 0;
    for (int i = 0; i < CONFFILE_MAX_ERRORS + 5; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "x\n");
    assert_int_equal(parse(text), -EINVAL);
    assert_int_equal(errs.count, CONFFILE_MAX_ERRORS + 5);
    assert_non_null(strstr(errs.text, "t.conf: 5 more errors not shown\n"));
}

static void test_command_line_overrides_the_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_conffile_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "listen 127.0.0.1:4000\nserver-timeout 5\n"
                        "pool api { backend 127.0.0.1:1 }\nroute path-prefix /api -> api\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);

    char err[512];
    char *argv[] = {"lb", "-c", path, "-l", "4001", "-b", "127.0.0.1:2", "-b", "127.0.0.1:3"};
    config_defaults(&cfg);
    assert_int_equal(conffile_load(&cfg, path, &errs), 0);
    assert_int_equal(config_parse(&cfg, 9, argv, err, sizeof(err)), 0);
    assert_string_equal(cfg.config_file, path);
    assert_int_equal(cfg.listen_port, 4001);       /* the flag wins */
    assert_string_equal(cfg.listen_host, "");
    assert_int_equal(cfg.server_timeout_ms, 5);    /* the file's, no flag */
    assert_int_equal(cfg.num_pools, 2);            /* -b made pool "default" */
    assert_string_equal(cfg.pools[1].name, "default");
    assert_int_equal(cfg.num_backends, 3);
    assert_int_equal(cfg.backends[0].pool, 0);
    assert_int_equal(cfg.backends[1].pool, 1);
    assert_int_equal(cfg.backends[2].pool, 1);
    assert_int_equal(config_default_pool(&cfg), 1);
    unlink(path);

    assert_int_equal(conffile_load(&cfg, path, &errs), -EINVAL);
    assert_non_null(strstr(errs.text, "cannot read: No such file or directory"));
    assert_int_equal(errs.count, 1);
}

static void test_check_flags_are_parsed(void **state)
{
    (void)state;
    char err[512];
    char *argv[] = {"lb", "--check", "--config=x.conf"};
    config_defaults(&cfg);
    assert_int_equal(config_parse(&cfg, 3, argv, err, sizeof(err)), 0);
    assert_true(cfg.check);
    assert_string_equal(cfg.config_file, "x.conf");
    char *argv2[] = {"lb", "-t", "-cy.conf"};
    config_defaults(&cfg);
    assert_int_equal(config_parse(&cfg, 3, argv2, err, sizeof(err)), 0);
    assert_true(cfg.check);
    assert_string_equal(cfg.config_file, "y.conf");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_example_means_what_it_says),
        cmocka_unit_test(test_good_files),
        cmocka_unit_test(test_bad_files_get_their_error_at_its_place),
        cmocka_unit_test(test_many_errors_are_counted_past_the_ones_shown),
        cmocka_unit_test(test_command_line_overrides_the_file),
        cmocka_unit_test(test_check_flags_are_parsed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
