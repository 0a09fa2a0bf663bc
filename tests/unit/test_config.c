/* test_config.c - unit tests of lb's command-line parsing (lb/config.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "../../lb/config.h"

static struct config cfg;
static char err[512];

static int parse(int argc, char **argv)
{
    config_defaults(&cfg);
    err[0] = '\0';
    return config_parse(&cfg, argc, argv, err, sizeof(err));
}

#define PARSE(...)                                                                                 \
    ({                                                                                             \
        char *argv_[] = {"lb", __VA_ARGS__};                                                       \
        parse((int)(sizeof(argv_) / sizeof(argv_[0])), argv_);                                     \
    })

static void test_defaults_listen_3000_and_three_local_backends(void **state)
{
    (void)state;
    char *argv[] = {"lb"};
    assert_int_equal(parse(1, argv), 0);
    assert_int_equal(cfg.listen_port, 3000);
    assert_string_equal(cfg.listen_host, "");
    assert_int_equal(cfg.num_backends, 3);
    assert_string_equal(cfg.backends[0].host, "localhost");
    assert_int_equal(cfg.backends[0].port, 3001);
    assert_int_equal(cfg.backends[2].port, 3003);
    assert_int_equal(cfg.workers, 0);
    assert_int_equal(cfg.connect_timeout_ms, 3000);
    assert_int_equal(cfg.client_timeout_ms, 10000);
    assert_int_equal(cfg.server_timeout_ms, 30000);
    assert_int_equal(cfg.dns_ttl_s, 30);
    assert_string_equal(cfg.access_log, "");
    assert_string_equal(cfg.policy, "rr");
}

static void test_backends_replace_the_defaults_in_order(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-b", "a.example:80", "--backend=[::1]:8080", "-b127.0.0.1:9"), 0);
    assert_int_equal(cfg.num_backends, 3);
    assert_string_equal(cfg.backends[0].host, "a.example");
    assert_int_equal(cfg.backends[0].port, 80);
    assert_string_equal(cfg.backends[1].host, "::1");
    assert_int_equal(cfg.backends[1].port, 8080);
    assert_string_equal(cfg.backends[2].host, "127.0.0.1");
    assert_int_equal(cfg.backends[2].port, 9);
}

static void test_listen_accepts_port_or_addr_port(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-l", "8080"), 0);
    assert_int_equal(cfg.listen_port, 8080);
    assert_string_equal(cfg.listen_host, "");
    assert_int_equal(PARSE("--listen", "127.0.0.1:81"), 0);
    assert_string_equal(cfg.listen_host, "127.0.0.1");
    assert_int_equal(cfg.listen_port, 81);
    assert_int_equal(PARSE("-l", "[::1]:82"), 0);
    assert_string_equal(cfg.listen_host, "::1");
}

static void test_every_timeout_flag_sets_its_field(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--connect-timeout", "5", "--client-timeout=6", "--server-timeout", "7",
                           "--idle-timeout", "8", "--drain-timeout", "0", "--dns-ttl", "0", "-w",
                           "4", "--access-log", "-"),
                     0);
    assert_int_equal(cfg.connect_timeout_ms, 5);
    assert_int_equal(cfg.client_timeout_ms, 6);
    assert_int_equal(cfg.server_timeout_ms, 7);
    assert_int_equal(cfg.idle_timeout_ms, 8);
    assert_int_equal(cfg.drain_timeout_ms, 0);
    assert_int_equal(cfg.dns_ttl_s, 0);
    assert_int_equal(cfg.workers, 4);
    assert_string_equal(cfg.access_log, "-");
}

static void test_bad_value_names_the_flag(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--server-timeout", "abc"), -EINVAL);
    assert_non_null(strstr(err, "--server-timeout"));
    assert_non_null(strstr(err, "'abc'"));
    assert_int_equal(PARSE("-w", "0"), -EINVAL);
    assert_non_null(strstr(err, "-w"));
    assert_int_equal(PARSE("-b", "nohostport"), -EINVAL);
    assert_non_null(strstr(err, "-b"));
    assert_int_equal(PARSE("-b", "host:70000"), -EINVAL);
    assert_int_equal(PARSE("-l", "99999"), -EINVAL);
    assert_non_null(strstr(err, "-l"));
    /* an address without a port is not silently port 3000 (QA BUG 11) */
    assert_int_equal(PARSE("-l", "127.0.0.1"), -EINVAL);
    assert_non_null(strstr(err, "'127.0.0.1'"));
    assert_int_equal(PARSE("--listen", "[::1]"), -EINVAL);
    assert_int_equal(PARSE("-l", "localhost"), -EINVAL);
    assert_int_equal(PARSE("-l", "abc"), -EINVAL);
    assert_non_null(strstr(err, "'abc'"));
    assert_int_equal(PARSE("--connect-timeout", "0"), -EINVAL);
    assert_int_equal(PARSE("--connect-timeout", "-5"), -EINVAL);
    assert_int_equal(PARSE("--client-timeout", "99999999999999999999"), -EINVAL);
    assert_int_equal(PARSE("--dns-ttl", "1.5"), -EINVAL);
    assert_non_null(strstr(err, "--dns-ttl"));
    assert_int_equal(PARSE("--policy", "bogus"), -EINVAL);
    assert_non_null(strstr(err, "rr"));
}

static void test_unknown_or_incomplete_options_are_refused(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--frobnicate"), -EINVAL);
    assert_non_null(strstr(err, "--frobnicate"));
    assert_int_equal(PARSE("-x"), -EINVAL);
    assert_int_equal(PARSE("-b"), -EINVAL);
    assert_non_null(strstr(err, "needs a value"));
    assert_int_equal(PARSE("stray"), -EINVAL);
    assert_int_equal(PARSE("--help=yes"), -EINVAL);
}

static void test_help_and_version_flags(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-h"), 0);
    assert_true(cfg.help);
    assert_int_equal(PARSE("--version"), 0);
    assert_true(cfg.version);
    assert_false(cfg.help);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_listen_3000_and_three_local_backends),
        cmocka_unit_test(test_backends_replace_the_defaults_in_order),
        cmocka_unit_test(test_listen_accepts_port_or_addr_port),
        cmocka_unit_test(test_every_timeout_flag_sets_its_field),
        cmocka_unit_test(test_bad_value_names_the_flag),
        cmocka_unit_test(test_unknown_or_incomplete_options_are_refused),
        cmocka_unit_test(test_help_and_version_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
