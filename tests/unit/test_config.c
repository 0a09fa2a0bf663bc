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

static void test_pool_flags_cap_and_time_the_idle_backend_connections(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-l", "3000"), 0);
    assert_int_equal(cfg.pool_max, CONFIG_DEFAULT_POOL_MAX);
    assert_int_equal(cfg.pool_idle_timeout_ms, CONFIG_DEFAULT_POOL_IDLE_TIMEOUT_MS);
    assert_int_equal(PARSE("--pool-max", "0", "--pool-idle-timeout", "250"), 0);
    assert_int_equal(cfg.pool_max, 0); /* no pooling at all */
    assert_int_equal(cfg.pool_idle_timeout_ms, 250);
    assert_int_equal(PARSE("--pool-max", "many"), -EINVAL);
    assert_non_null(strstr(err, "--pool-max"));
    assert_non_null(strstr(err, "'many'"));
    assert_int_equal(PARSE("--pool-idle-timeout", "0"), -EINVAL);
    assert_non_null(strstr(err, "--pool-idle-timeout"));
}

static void test_busy_poll_is_off_by_default_and_bounded(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-l", "3000"), 0);
    assert_int_equal(cfg.busy_poll_us, 0);
    assert_int_equal(PARSE("--busy-poll", "50"), 0);
    assert_int_equal(cfg.busy_poll_us, 50);
    assert_int_equal(PARSE("--busy-poll", "0"), 0);
    assert_int_equal(cfg.busy_poll_us, 0);
    assert_int_equal(PARSE("--busy-poll", "1001"), -EINVAL); /* a millisecond at most */
    assert_non_null(strstr(err, "--busy-poll"));
    assert_non_null(strstr(err, "'1001'"));
    assert_int_equal(PARSE("--busy-poll", "-1"), -EINVAL);
    assert_int_equal(PARSE("--busy-poll"), -EINVAL);
}

/* A switch (flag, and with_value the same flag given a value) that turns off what is on by
 * default: *off is false without it, true with it, and a value is refused, naming the flag. */
static void assert_switch_turns_off(char *flag, char *with_value, const bool *off)
{
    assert_int_equal(PARSE("-l", "3000"), 0);
    assert_false(*off);
    assert_int_equal(PARSE(flag), 0);
    assert_true(*off);
    assert_int_equal(PARSE(with_value), -EINVAL); /* it takes no value */
    assert_non_null(strstr(err, flag));
}

static void test_io_uring_is_on_by_default_and_can_be_turned_off(void **state)
{
    (void)state;
    assert_switch_turns_off("--no-io-uring", "--no-io-uring=yes", &cfg.no_io_uring);
}

static void test_splice_is_on_by_default_and_can_be_turned_off(void **state)
{
    (void)state;
    assert_switch_turns_off("--no-splice", "--no-splice=yes", &cfg.no_splice);
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

static void test_backend_options_set_name_weight_and_backup(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-b", "127.0.0.1:3001,name=b1,weight=5", "-b",
                           "[::1]:3002,backup,name=spare.2", "--backend=h:3003,weight=256"),
                     0);
    assert_int_equal(cfg.num_backends, 3);
    assert_string_equal(cfg.backends[0].host, "127.0.0.1");
    assert_int_equal(cfg.backends[0].port, 3001);
    assert_string_equal(cfg.backends[0].name, "b1");
    assert_int_equal(cfg.backends[0].weight, 5);
    assert_false(cfg.backends[0].backup);
    assert_string_equal(cfg.backends[1].host, "::1");
    assert_int_equal(cfg.backends[1].port, 3002);
    assert_string_equal(cfg.backends[1].name, "spare.2");
    assert_int_equal(cfg.backends[1].weight, 1);
    assert_true(cfg.backends[1].backup);
    assert_string_equal(cfg.backends[2].name, ""); /* lb shows host:port */
    assert_int_equal(cfg.backends[2].weight, 256);
}

static void test_backends_without_options_weigh_1_and_have_no_name(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-b", "a:1"), 0);
    assert_string_equal(cfg.backends[0].name, "");
    assert_int_equal(cfg.backends[0].weight, 1);
    assert_false(cfg.backends[0].backup);
    char *argv[] = {"lb"};
    assert_int_equal(parse(1, argv), 0);
    for (size_t i = 0; i < cfg.num_backends; i++) {
        assert_int_equal(cfg.backends[i].weight, 1);
        assert_false(cfg.backends[i].backup);
    }
}

/* Expects -b text to be refused with a message holding want. */
static void expect_bad_backend(const char *text, const char *want)
{
    char *argv[] = {"lb", "-b", "x:1,name=taken", "-b", (char *)text};
    if (parse(5, argv) != -EINVAL)
        fail_msg("-b '%s' was accepted", text);
    if (strstr(err, want) == NULL || strstr(err, "-b") == NULL || strstr(err, text) == NULL)
        fail_msg("-b '%s': message '%s' lacks '%s'", text, err, want);
}

static void test_malformed_backend_options_are_refused_by_name(void **state)
{
    (void)state;
    expect_bad_backend("h:1,colour=red", "unknown backend option 'colour'");
    expect_bad_backend("h:1,Weight=2", "unknown backend option 'Weight'");
    expect_bad_backend("h:1,weight=0", "weight=N with N 1-256");
    expect_bad_backend("h:1,weight=257", "weight=N with N 1-256");
    expect_bad_backend("h:1,weight=abc", "weight=N");
    expect_bad_backend("h:1,weight=", "weight=N");
    expect_bad_backend("h:1,weight", "weight=N");
    expect_bad_backend("h:1,weight=-1", "weight=N");
    expect_bad_backend("h:1,weight=99999999999999999999", "weight=N");
    expect_bad_backend("h:1,weight=2,weight=3", "'weight' given twice");
    expect_bad_backend("h:1,name=", "name=NAME");
    expect_bad_backend("h:1,name", "name=NAME");
    expect_bad_backend("h:1,name=a b", "name=NAME");
    expect_bad_backend("h:1,name=a:b", "name=NAME");
    expect_bad_backend("h:1,name=0123456789012345678901234567890123456789012345678901234567890123",
                       "name=NAME");
    expect_bad_backend("h:1,name=taken", "name 'taken' is already the name of backend 1");
    expect_bad_backend("h:1,backup=yes", "'backup' takes no value");
    expect_bad_backend("h:1,backup,backup", "'backup' given twice");
    expect_bad_backend("h:1,", "empty backend option");
    expect_bad_backend("h:1,,backup", "empty backend option");
    expect_bad_backend("h,weight=2", "HOST:PORT");
    /* 63 characters is the longest name */
    assert_int_equal(
        PARSE("-b", "h:1,name=012345678901234567890123456789012345678901234567890123456789012"), 0);
}

static void test_policy_flag_takes_every_known_policy(void **state)
{
    const char *names[] = {"rr", "wrr", "leastconn", "p2c", "iphash", "hash"};
    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_int_equal(PARSE("--policy", (char *)names[i]), 0);
        assert_string_equal(cfg.policy, names[i]);
    }
    assert_int_equal(PARSE("--policy=RR"), -EINVAL);
    assert_non_null(strstr(err, "rr, wrr, leastconn, p2c, iphash, hash"));
}

static void test_hash_key_flag_is_parsed_for_the_hash_policy(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--policy", "hash"), 0);
    assert_int_equal(cfg.hash_key.kind, HASHKEY_CLIENT);
    assert_int_equal(PARSE("--policy", "hash", "--hash-key", "path"), 0);
    assert_int_equal(cfg.hash_key.kind, HASHKEY_PATH);
    assert_int_equal(PARSE("--hash-key=header:X-User", "--policy=hash"), 0);
    assert_int_equal(cfg.hash_key.kind, HASHKEY_HEADER);
    assert_string_equal(cfg.hash_key.name, "X-User");
    assert_int_equal(PARSE("--policy", "hash", "--hash-key", "cookie:sid"), 0);
    assert_int_equal(cfg.hash_key.kind, HASHKEY_COOKIE);
    assert_string_equal(cfg.hash_key.name, "sid");
}

static void test_bad_hash_key_or_one_without_the_hash_policy_is_refused(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--policy", "hash", "--hash-key", "query"), -EINVAL);
    assert_non_null(strstr(err, "--hash-key 'query'"));
    assert_int_equal(PARSE("--policy", "hash", "--hash-key", "header:"), -EINVAL);
    assert_int_equal(PARSE("--policy", "hash", "--hash-key", "cookie:a;b"), -EINVAL);
    assert_int_equal(PARSE("--policy", "iphash", "--hash-key", "path"), -EINVAL);
    assert_non_null(strstr(err, "--policy hash"));
    assert_int_equal(PARSE("--hash-key", "path"), -EINVAL);
}

static void test_health_defaults_are_checks_off_and_passive_on(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-b", "x:1"), 0);
    assert_string_equal(cfg.health_path, "");
    assert_int_equal(cfg.health_interval_ms, 2000);
    assert_int_equal(cfg.health_timeout_ms, 1000);
    assert_int_equal(cfg.health_rise, 2);
    assert_int_equal(cfg.health_fall, 3);
    assert_int_equal(cfg.max_fails, 1);
    assert_int_equal(cfg.fail_window_ms, 10000);
    assert_false(cfg.observe_5xx);
}

static void test_health_flags_set_their_fields(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--health-path", "/healthz?full=1", "--health-interval=500",
                           "--health-timeout", "250", "--health-rise", "1", "--health-fall=5",
                           "--max-fails", "0", "--fail-window", "30000", "--observe", "5xx"),
                     0);
    assert_string_equal(cfg.health_path, "/healthz?full=1");
    assert_int_equal(cfg.health_interval_ms, 500);
    assert_int_equal(cfg.health_timeout_ms, 250);
    assert_int_equal(cfg.health_rise, 1);
    assert_int_equal(cfg.health_fall, 5);
    assert_int_equal(cfg.max_fails, 0);
    assert_int_equal(cfg.fail_window_ms, 30000);
    assert_true(cfg.observe_5xx);
    assert_int_equal(PARSE("--max-fails=1000"), 0);
    assert_int_equal(cfg.max_fails, 1000);
}

static void test_bad_health_values_are_refused_by_name(void **state)
{
    static const struct {
        const char *flag, *val, *msg;
    } bad[] = {
        {"--health-path", "health", "invalid --health-path 'health': expected a path starting "
                                    "with '/' (1-1024 visible ASCII characters, no spaces)"},
        {"--health-path", "/a b", NULL},
        {"--health-path", "", NULL},
        {"--health-interval", "0", "invalid --health-interval '0': expected milliseconds from 1 "
                                   "to 86400000"},
        {"--health-timeout", "1s", NULL},
        {"--health-rise", "0", "invalid --health-rise '0': expected a number of checks from 1 to "
                               "1000"},
        {"--health-fall", "1001", NULL},
        {"--max-fails", "-1", "invalid --max-fails '-1': expected a number of failures from 0 to "
                              "1000"},
        {"--fail-window", "0", NULL},
        {"--observe", "4xx", "invalid --observe '4xx': expected 5xx"},
    };
    char path[CONFIG_MAX_HEALTH_PATH + 2];
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *argv[] = {"lb", (char *)bad[i].flag, (char *)bad[i].val};
        assert_int_equal(parse(3, argv), -EINVAL);
        assert_non_null(strstr(err, bad[i].flag));
        if (bad[i].msg != NULL)
            assert_string_equal(err, bad[i].msg);
    }
    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0'; /* one byte too long */
    assert_int_equal(PARSE("--health-path", path), -EINVAL);
    path[sizeof(path) - 2] = '\0';
    assert_int_equal(PARSE("--health-path", path), 0);
    assert_int_equal(strlen(cfg.health_path), CONFIG_MAX_HEALTH_PATH);
}

static void test_send_proxy_backend_options_set_the_version_in_tcp_mode(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-m", "tcp", "-b", "a:1,send-proxy", "-b", "b:2,name=x,send-proxy-v2",
                           "-b", "c:3"),
                     0);
    assert_int_equal(cfg.backends[0].send_proxy, 1);
    assert_int_equal(cfg.backends[1].send_proxy, 2);
    assert_string_equal(cfg.backends[1].name, "x");
    assert_int_equal(cfg.backends[2].send_proxy, 0);
    /* -m may come after -b */
    assert_int_equal(PARSE("-b", "a:1,send-proxy,backup", "--mode=tcp"), 0);
    assert_int_equal(cfg.backends[0].send_proxy, 1);
    assert_true(cfg.backends[0].backup);
    expect_bad_backend("h:1,send-proxy=2", "send-proxy alone");
    expect_bad_backend("h:1,send-proxy-v2=yes", "send-proxy-v2 alone");
    expect_bad_backend("h:1,send-proxy,send-proxy", "'send-proxy' given twice");
    expect_bad_backend("h:1,send-proxy,send-proxy-v2", "one of send-proxy or send-proxy-v2");
    expect_bad_backend("h:1,send-proxy-v3", "unknown backend option 'send-proxy-v3'");
}

static void test_send_proxy_is_refused_in_http_mode(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-b", "a:1", "-b", "b:2,send-proxy-v2"), -EINVAL);
    assert_non_null(strstr(err, "send-proxy-v2 (backend 2) needs -m tcp"));
    assert_non_null(strstr(err, "X-Forwarded-For"));
    assert_int_equal(PARSE("-m", "http", "-b", "a:1,send-proxy"), -EINVAL);
    assert_non_null(strstr(err, "send-proxy (backend 1) needs -m tcp"));
}

static void test_tls_flags_set_the_files_and_the_listener(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-l", "1"), 0);
    assert_int_equal(cfg.num_tls_certs, 0);
    assert_int_equal(cfg.tls_listen_port, CONFIG_DEFAULT_TLS_PORT);
    assert_int_equal(PARSE("--tls-cert", "c.pem", "--tls-key", "k.pem"), 0);
    assert_int_equal(cfg.num_tls_certs, 1);
    assert_string_equal(cfg.tls_certs[0], "c.pem");
    assert_string_equal(cfg.tls_keys[0], "k.pem");
    assert_string_equal(cfg.tls_listen_host, "");
    assert_int_equal(cfg.tls_listen_port, 3443);
    assert_int_equal(PARSE("--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-listen",
                           "127.0.0.1:8443"),
                     0);
    assert_string_equal(cfg.tls_listen_host, "127.0.0.1");
    assert_int_equal(cfg.tls_listen_port, 8443);
    assert_int_equal(PARSE("--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-listen", "9443"), 0);
    assert_int_equal(cfg.tls_listen_port, 9443);
}

static void test_tls_flags_come_together_and_only_in_http_mode(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--tls-cert", "c.pem"), -EINVAL);
    assert_non_null(strstr(err, "--tls-cert needs --tls-key"));
    assert_int_equal(PARSE("--tls-key", "k.pem"), -EINVAL);
    assert_non_null(strstr(err, "--tls-key needs --tls-cert"));
    assert_int_equal(PARSE("--tls-listen", "8443"), -EINVAL);
    assert_non_null(strstr(err, "--tls-listen needs --tls-cert"));
    assert_int_equal(PARSE("--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-listen", "x:0"),
                     -EINVAL);
    assert_non_null(strstr(err, "--tls-listen"));
    assert_int_equal(PARSE("--tls-cert", "", "--tls-key", "k.pem"), -EINVAL);
    assert_non_null(strstr(err, "--tls-cert"));
    assert_int_equal(PARSE("-m", "tcp", "--tls-cert", "c.pem", "--tls-key", "k.pem"), -EINVAL);
    assert_non_null(strstr(err, "needs -m http"));
}

static void test_tls_pairs_repeat_and_a_directory_adds_more(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--tls-cert", "a.crt", "--tls-key", "a.key", "--tls-cert", "b.crt",
                           "--tls-key", "b.key", "--tls-cert-dir", "/etc/lb/certs",
                           "--tls-strict-sni"),
                     0);
    assert_int_equal(cfg.num_tls_certs, 2);
    assert_string_equal(cfg.tls_certs[1], "b.crt");
    assert_string_equal(cfg.tls_keys[1], "b.key");
    assert_string_equal(cfg.tls_cert_dir, "/etc/lb/certs");
    assert_true(cfg.tls_strict_sni);
    assert_true(config_tls(&cfg));
    assert_int_equal(PARSE("--tls-cert-dir", "d"), 0);
    assert_true(config_tls(&cfg));
    assert_int_equal(PARSE("--tls-cert", "a.crt", "--tls-key", "a.key", "--tls-cert", "b.crt"),
                     -EINVAL);
    assert_non_null(strstr(err, "one key per certificate"));
    assert_int_equal(PARSE("--tls-strict-sni"), -EINVAL);
    assert_non_null(strstr(err, "--tls-strict-sni needs"));
    char *args[2 * CONFIG_MAX_TLS_CERTS + 4];
    int n = 0;
    args[n++] = "lb";
    for (int i = 0; i <= CONFIG_MAX_TLS_CERTS; i++) {
        args[n++] = "--tls-cert";
        args[n++] = "c.pem";
    }
    assert_int_equal(parse(n, args), -EINVAL);
    assert_non_null(strstr(err, "at most 16 certificates"));
}

static void test_backend_tls_options(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-b", "a:1,tls,ca=/ca.pem,sni=api.example", "-b", "b:2,tls",
                           "-b", "c:3"),
                     0);
    assert_true(cfg.backends[0].tls);
    assert_string_equal(cfg.backends[0].tls_ca, "/ca.pem");
    assert_string_equal(cfg.backends[0].tls_sni, "api.example");
    assert_true(cfg.backends[1].tls);
    assert_string_equal(cfg.backends[1].tls_ca, "");
    assert_false(cfg.backends[2].tls);
    assert_int_equal(PARSE("-b", "a:1,ca=/ca.pem"), -EINVAL);
    assert_non_null(strstr(err, "tls with ca=FILE"));
    assert_int_equal(PARSE("-b", "a:1,tls=yes"), -EINVAL);
    assert_int_equal(PARSE("-b", "a:1,tls,sni=a b"), -EINVAL);
    assert_non_null(strstr(err, "sni=NAME"));
    assert_int_equal(PARSE("-m", "tcp", "-b", "a:1,tls"), -EINVAL);
    assert_non_null(strstr(err, "-b ...,tls (backend 1) needs -m http"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_listen_3000_and_three_local_backends),
        cmocka_unit_test(test_backends_replace_the_defaults_in_order),
        cmocka_unit_test(test_listen_accepts_port_or_addr_port),
        cmocka_unit_test(test_every_timeout_flag_sets_its_field),
        cmocka_unit_test(test_pool_flags_cap_and_time_the_idle_backend_connections),
        cmocka_unit_test(test_busy_poll_is_off_by_default_and_bounded),
        cmocka_unit_test(test_io_uring_is_on_by_default_and_can_be_turned_off),
        cmocka_unit_test(test_splice_is_on_by_default_and_can_be_turned_off),
        cmocka_unit_test(test_bad_value_names_the_flag),
        cmocka_unit_test(test_unknown_or_incomplete_options_are_refused),
        cmocka_unit_test(test_help_and_version_flags),
        cmocka_unit_test(test_backend_options_set_name_weight_and_backup),
        cmocka_unit_test(test_backends_without_options_weigh_1_and_have_no_name),
        cmocka_unit_test(test_malformed_backend_options_are_refused_by_name),
        cmocka_unit_test(test_policy_flag_takes_every_known_policy),
        cmocka_unit_test(test_hash_key_flag_is_parsed_for_the_hash_policy),
        cmocka_unit_test(test_bad_hash_key_or_one_without_the_hash_policy_is_refused),
        cmocka_unit_test(test_health_defaults_are_checks_off_and_passive_on),
        cmocka_unit_test(test_health_flags_set_their_fields),
        cmocka_unit_test(test_bad_health_values_are_refused_by_name),
        cmocka_unit_test(test_send_proxy_backend_options_set_the_version_in_tcp_mode),
        cmocka_unit_test(test_send_proxy_is_refused_in_http_mode),
        cmocka_unit_test(test_tls_flags_set_the_files_and_the_listener),
        cmocka_unit_test(test_tls_flags_come_together_and_only_in_http_mode),
        cmocka_unit_test(test_tls_pairs_repeat_and_a_directory_adds_more),
        cmocka_unit_test(test_backend_tls_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
