/* test_simcfg.c - unit tests of backend-sim's command line (backend-sim/simcfg.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "../../backend-sim/simcfg.h"

static struct simcfg cfg;
static char err[256];

#define PARSE(...)                                                                                 \
    ({                                                                                             \
        char *argv_[] = {"backend-sim", __VA_ARGS__, NULL};                                        \
        err[0] = '\0';                                                                             \
        simcfg_parse((int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_, &cfg, err, sizeof(err));  \
    })

static void test_no_flags_serve_3001_to_3003_as_b1_b2_b3(void **state)
{
    char *argv[] = {"backend-sim", NULL};
    (void)state;
    assert_int_equal(simcfg_parse(1, argv, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.action, SIMCFG_RUN);
    assert_int_equal(cfg.n_inst, 3);
    assert_int_equal(cfg.inst[0].port, 3001);
    assert_int_equal(cfg.inst[2].port, 3003);
    assert_string_equal(cfg.inst[0].name, "b1");
    assert_string_equal(cfg.inst[1].name, "b2");
    assert_string_equal(cfg.inst[2].name, "b3");
    assert_int_equal(cfg.keepalive_ms, SIMCFG_DEFAULT_KEEPALIVE_MS);
    assert_true(cfg.max_size == 1ull << 30);
    assert_int_equal(cfg.max_delay_ms, 60000);
    assert_int_equal(cfg.max_conns, 0);
    assert_false(cfg.accept_proxy);
}

static void test_ports_and_hosts_are_taken_in_order(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-p", "8081", "--port", "127.0.0.1:8082", "-p", "[::1]:8083"), 0);
    assert_int_equal(cfg.n_inst, 3);
    assert_int_equal(cfg.inst[0].port, 8081);
    assert_string_equal(cfg.inst[0].host, "");
    assert_string_equal(cfg.inst[1].host, "127.0.0.1");
    assert_string_equal(cfg.inst[2].host, "::1");
    assert_string_equal(cfg.inst[2].name, "b3");
}

static void test_one_name_with_several_ports_is_a_prefix(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-p", "8081", "-p", "8082", "--name", "web"), 0);
    assert_string_equal(cfg.inst[0].name, "web1");
    assert_string_equal(cfg.inst[1].name, "web2");
    assert_int_equal(PARSE("-p", "8081", "--name", "web"), 0);
    assert_string_equal(cfg.inst[0].name, "web");
}

static void test_comma_list_names_each_port(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-p", "8081", "-p", "8082", "--name", "red,green"), 0);
    assert_string_equal(cfg.inst[0].name, "red");
    assert_string_equal(cfg.inst[1].name, "green");
    assert_int_equal(PARSE("--name", "a,b,c"), 0);
    assert_string_equal(cfg.inst[2].name, "c");
    assert_int_equal(PARSE("-p", "8081", "-p", "8082", "--name", "a,b,c"), -EINVAL);
    assert_non_null(strstr(err, "--name"));
    assert_int_equal(PARSE("--name", "a,,c"), -EINVAL);
    assert_int_equal(PARSE("--name", "bad name"), -EINVAL);
    assert_int_equal(PARSE("--name", "<b>"), -EINVAL);
}

static void test_values_are_parsed_strictly(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--latency", "20", "--jitter", "5", "--fail-rate", "0.25",
                           "--keepalive-timeout", "0.5", "--max-conns", "10"),
                     0);
    assert_int_equal(cfg.latency_ms, 20);
    assert_int_equal(cfg.jitter_ms, 5);
    assert_true(cfg.fail_rate == 0.25);
    assert_int_equal(cfg.keepalive_ms, 500);
    assert_int_equal(cfg.max_conns, 10);
    assert_int_equal(PARSE("--keepalive-timeout", "0"), 0);
    assert_int_equal(cfg.keepalive_ms, 0);
    assert_int_equal(PARSE("--max-size", "10M", "--max-delay", "1000"), 0);
    assert_true(cfg.max_size == 10ull << 20);
    assert_int_equal(cfg.max_delay_ms, 1000);
    assert_int_equal(PARSE("--accept-proxy"), 0);
    assert_true(cfg.accept_proxy);
    assert_int_equal(PARSE("--accept-proxy=yes"), -EINVAL);
    assert_int_equal(PARSE("--tls-cert", "c.pem", "--tls-key", "k.pem"), 0);
    assert_string_equal(cfg.tls_cert, "c.pem");
    assert_string_equal(cfg.tls_key, "k.pem");
    assert_int_equal(PARSE("--tls-cert", "c.pem"), -EINVAL);
    assert_int_equal(PARSE("--tls-key", "k.pem"), -EINVAL);
}

static void test_bad_values_name_their_flag(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--latency", "abc"), -EINVAL);
    assert_non_null(strstr(err, "--latency"));
    assert_non_null(strstr(err, "abc"));
    assert_int_equal(PARSE("--latency", "-1"), -EINVAL);
    assert_int_equal(PARSE("--jitter", "1.5"), -EINVAL);
    assert_non_null(strstr(err, "--jitter"));
    assert_int_equal(PARSE("--fail-rate", "1.1"), -EINVAL);
    assert_non_null(strstr(err, "--fail-rate"));
    assert_int_equal(PARSE("--fail-rate", "nan"), -EINVAL);
    assert_int_equal(PARSE("--keepalive-timeout", "5s"), -EINVAL);
    assert_non_null(strstr(err, "--keepalive-timeout"));
    assert_int_equal(PARSE("--max-conns", "0"), -EINVAL);
    assert_non_null(strstr(err, "--max-conns"));
    assert_int_equal(PARSE("-p", "0"), -EINVAL);
    assert_non_null(strstr(err, "-p"));
    assert_int_equal(PARSE("-p", "70000"), -EINVAL);
    assert_int_equal(PARSE("-p", "8081", "-p", "8081"), -EINVAL);
    assert_int_equal(PARSE("--max-size", "1X"), -EINVAL);
    assert_non_null(strstr(err, "--max-size"));
}

static void test_unknown_flags_and_missing_values_are_reported(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--bogus"), -EINVAL);
    assert_non_null(strstr(err, "--bogus"));
    assert_int_equal(PARSE("-x"), -EINVAL);
    assert_non_null(strstr(err, "-x"));
    assert_int_equal(PARSE("--latency"), -EINVAL);
    assert_non_null(strstr(err, "--latency"));
    assert_int_equal(PARSE("stray"), -EINVAL);
    assert_non_null(strstr(err, "stray"));
}

static void test_help_and_version(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-h"), 0);
    assert_int_equal(cfg.action, SIMCFG_HELP);
    assert_int_equal(PARSE("--version"), 0);
    assert_int_equal(cfg.action, SIMCFG_VERSION);
    assert_non_null(strstr(simcfg_usage(), "--keepalive-timeout"));
}

static void test_size_suffixes_are_binary(void **state)
{
    uint64_t v = 0;
    (void)state;
    assert_int_equal(simcfg_parse_size("1K", &v), 0);
    assert_true(v == 1024);
    assert_int_equal(simcfg_parse_size("2g", &v), 0);
    assert_true(v == 2ull << 30);
    assert_int_equal(simcfg_parse_size("123", &v), 0);
    assert_true(v == 123);
    assert_int_equal(simcfg_parse_size("K", &v), -EINVAL);
    assert_int_equal(simcfg_parse_size("", &v), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_flags_serve_3001_to_3003_as_b1_b2_b3),
        cmocka_unit_test(test_ports_and_hosts_are_taken_in_order),
        cmocka_unit_test(test_one_name_with_several_ports_is_a_prefix),
        cmocka_unit_test(test_comma_list_names_each_port),
        cmocka_unit_test(test_values_are_parsed_strictly),
        cmocka_unit_test(test_bad_values_name_their_flag),
        cmocka_unit_test(test_unknown_flags_and_missing_values_are_reported),
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_size_suffixes_are_binary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
