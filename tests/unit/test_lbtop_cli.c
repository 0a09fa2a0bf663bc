/* test_lbtop_cli.c - unit tests of lbtop's command line (lbtop/cli.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "../../lbtop/cli.h"

/* Parses "lbtop" followed by the NULL-terminated arguments. */
static int parse(struct lbtop_options *o, char *err, size_t err_len, ...)
{
    char *argv[16] = {"lbtop"};
    int argc = 1;
    va_list ap;

    va_start(ap, err_len);
    for (char *a; argc < 15 && (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    return lbtop_cli_parse(o, argc, argv, err, err_len);
}

#define PARSE(o, err, ...) parse(o, err, sizeof(err), __VA_ARGS__, (char *)NULL)

static void test_defaults_watch_port_3000_interactively(void **state)
{
    struct lbtop_options o;
    char err[256];
    char *argv[] = {"lbtop", NULL};
    (void)state;

    assert_int_equal(lbtop_cli_parse(&o, 1, argv, err, sizeof(err)), 0);
    assert_string_equal(o.shm_name, "/lblab-3000");
    assert_int_equal(o.port, 3000);
    assert_true(o.delay_s > 0.99 && o.delay_s < 1.01);
    assert_false(o.batch);
}

static void test_port_and_shm_name_the_segment(void **state)
{
    struct lbtop_options o;
    char err[256];
    (void)state;

    assert_int_equal(PARSE(&o, err, "-p", "8080"), 0);
    assert_string_equal(o.shm_name, "/lblab-8080");
    assert_int_equal(PARSE(&o, err, "--shm", "/lblab-test"), 0);
    assert_string_equal(o.shm_name, "/lblab-test");
    assert_int_equal(o.port, 0);
    assert_int_equal(PARSE(&o, err, "-p", "8080", "--shm", "/x"), -EINVAL);
    assert_non_null(strstr(err, "--shm"));
    assert_int_equal(PARSE(&o, err, "-p", "0"), -EINVAL);
    assert_non_null(strstr(err, "-p '0'"));
    assert_int_equal(PARSE(&o, err, "--shm", "no-slash"), -EINVAL);
    assert_non_null(strstr(err, "--shm 'no-slash'"));
}

static void test_batch_flags(void **state)
{
    struct lbtop_options o;
    char err[256];
    (void)state;

    assert_int_equal(PARSE(&o, err, "--once"), 0);
    assert_true(o.batch);
    assert_int_equal(o.iterations, 1);
    assert_int_equal(PARSE(&o, err, "--json"), 0);
    assert_true(o.batch && o.json);
    assert_int_equal(o.iterations, 1);
    assert_int_equal(PARSE(&o, err, "-n", "3", "-d", "0.5"), 0);
    assert_true(o.batch);
    assert_false(o.json);
    assert_int_equal(o.iterations, 3);
    assert_true(o.delay_s > 0.49 && o.delay_s < 0.51);
    assert_int_equal(PARSE(&o, err, "--json", "-n", "2"), 0);
    assert_int_equal(o.iterations, 2);
}

static void test_bad_values_are_named(void **state)
{
    struct lbtop_options o;
    char err[256];
    (void)state;

    assert_int_equal(PARSE(&o, err, "-d", "abc"), -EINVAL);
    assert_non_null(strstr(err, "-d 'abc'"));
    assert_int_equal(PARSE(&o, err, "-d", "0"), -EINVAL);
    assert_int_equal(PARSE(&o, err, "-n", "0"), -EINVAL);
    assert_non_null(strstr(err, "-n '0'"));
    assert_int_equal(PARSE(&o, err, "--bogus"), -EINVAL);
    assert_non_null(strstr(err, "--bogus"));
    assert_int_equal(PARSE(&o, err, "-x"), -EINVAL);
    assert_non_null(strstr(err, "-x"));
    assert_int_equal(PARSE(&o, err, "-p"), -EINVAL);
    assert_non_null(strstr(err, "needs a value"));
    assert_int_equal(PARSE(&o, err, "extra"), -EINVAL);
    assert_int_equal(PARSE(&o, err, "-h"), 0);
    assert_true(o.help);
    assert_int_equal(PARSE(&o, err, "-V"), 0);
    assert_true(o.version);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_watch_port_3000_interactively),
        cmocka_unit_test(test_port_and_shm_name_the_segment),
        cmocka_unit_test(test_batch_flags),
        cmocka_unit_test(test_bad_values_are_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
