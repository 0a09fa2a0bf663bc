/* test_cliopt.c - unit tests of the shared command-line wording and number parsing
 * (common/cliopt.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "cliopt.h"

static void test_digits_reject_junk_and_report_overflow_as_range(void **state)
{
    uint64_t v = 0;
    (void)state;
    assert_int_equal(cli_parse_digits("18446744073709551615", 20, UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(cli_parse_digits("18446744073709551616", 20, UINT64_MAX, &v), -ERANGE);
    assert_int_equal(cli_parse_digits("", 0, 10, &v), -EINVAL);
    assert_int_equal(cli_parse_digits("+1", 2, 10, &v), -EINVAL);
    assert_int_equal(cli_parse_digits(" 1", 2, 10, &v), -EINVAL);
    assert_int_equal(cli_parse_digits("11", 2, 10, &v), -ERANGE);
    assert_int_equal(cli_parse_digits("99999999999999999999999x", 24, 10, &v), -EINVAL);
    assert_int_equal(cli_parse_digits("007", 3, 10, &v), 0);
    assert_int_equal(v, 7);
    /* only the span counts */
    assert_int_equal(cli_parse_digits("12/x", 2, 100, &v), 0);
    assert_int_equal(v, 12);
    /* a maximum below 9 */
    assert_int_equal(cli_parse_digits("5", 1, 3, &v), -ERANGE);
    assert_int_equal(cli_parse_digits("0000000000000000000000003", 25, 3, &v), 0);
    assert_int_equal(v, 3);
}

static void test_uint_accepts_the_range_and_names_it_when_refusing(void **state)
{
    char err[128];
    uint64_t v = 0;
    (void)state;
    assert_int_equal(cli_parse_uint("--latency", "0", 0, 3600000, "milliseconds", &v, err,
                                    sizeof(err)),
                     0);
    assert_int_equal(v, 0);
    assert_int_equal(cli_parse_uint("--latency", "3600000", 0, 3600000, "milliseconds", &v, err,
                                    sizeof(err)),
                     0);
    assert_int_equal(v, 3600000);
    assert_int_equal(cli_parse_uint("--latency", "3600001", 0, 3600000, "milliseconds", &v, err,
                                    sizeof(err)),
                     -EINVAL);
    assert_string_equal(err,
                        "invalid --latency '3600001': expected milliseconds from 0 to 3600000");
    assert_int_equal(cli_parse_uint("-w", "0", 1, 256, NULL, &v, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "invalid -w '0': expected a number from 1 to 256");
    assert_int_equal(cli_parse_uint("-w", "-5", 1, 256, NULL, &v, err, sizeof(err)), -EINVAL);
    assert_int_equal(cli_parse_uint("-w", "", 1, 256, NULL, &v, err, sizeof(err)), -EINVAL);
    assert_int_equal(cli_parse_uint("-w", "4 ", 1, 256, NULL, &v, err, sizeof(err)), -EINVAL);
    assert_int_equal(cli_parse_uint("-c", "abc", 1, UINT64_MAX, NULL, &v, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "invalid -c 'abc': expected a number of at least 1");
}

static void test_real_takes_fractions_but_not_signs_or_words(void **state)
{
    char err[128];
    double d = 0;
    (void)state;
    assert_int_equal(cli_parse_real("-d", "0.5", 0.05, 3600, "seconds", &d, err, sizeof(err)), 0);
    assert_true(d == 0.5);
    assert_int_equal(cli_parse_real("-d", ".25", 0.05, 3600, "seconds", &d, err, sizeof(err)), 0);
    assert_true(d == 0.25);
    assert_int_equal(cli_parse_real("-d", "2", 0.05, 3600, "seconds", &d, err, sizeof(err)), 0);
    assert_true(d == 2);
    static const char *const bad[] = {"0.01", "3601", "-1", "+1", " 1", "1s", "inf", "nan",
                                      "0x10", "", "1e9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cli_parse_real("-d", bad[i], 0.05, 3600, "seconds", &d, err,
                                        sizeof(err)),
                         -EINVAL);
    assert_string_equal(err, "invalid -d '1e9': expected seconds from 0.05 to 3600");
}

static void test_port_is_1_to_65535(void **state)
{
    char err[128];
    uint16_t p = 0;
    (void)state;
    assert_int_equal(cli_parse_port("-p", "65535", &p, err, sizeof(err)), 0);
    assert_int_equal(p, 65535);
    assert_int_equal(cli_parse_port("-p", "1", &p, err, sizeof(err)), 0);
    assert_int_equal(p, 1);
    assert_int_equal(cli_parse_port("-p", "0", &p, err, sizeof(err)), -EINVAL);
    assert_int_equal(cli_parse_port("-p", "65536", &p, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "invalid -p '65536': expected a port from 1 to 65535");
}

static void test_invalid_formats_the_rest_and_never_overflows(void **state)
{
    char err[128], tiny[12];
    (void)state;
    assert_int_equal(cli_invalid(err, sizeof(err), "--view", "l5", "l4, l7 or %s", "both"),
                     -EINVAL);
    assert_string_equal(err, "invalid --view 'l5': expected l4, l7 or both");
    assert_int_equal(cli_invalid(tiny, sizeof(tiny), "--view", "l5", "l4, l7 or both"), -EINVAL);
    assert_string_equal(tiny, "invalid --v");
}

static void test_getopt_complaints_name_the_flag(void **state)
{
    static const struct option longs[] = {
        {"latency", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    char err[128];
    char *missing[] = {"prog", "--latency", NULL};
    char *unknown_long[] = {"prog", "--bogus", NULL};
    char *unknown_short[] = {"prog", "-x", NULL};
    (void)state;

    opterr = 0;
    optind = 0;
    int c = getopt_long(2, missing, ":l:", longs, NULL);
    assert_int_equal(c, ':');
    assert_int_equal(cli_getopt_error(c, missing, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "option '--latency' needs a value");

    optind = 0;
    c = getopt_long(2, unknown_long, ":l:", longs, NULL);
    assert_int_equal(c, '?');
    cli_getopt_error(c, unknown_long, err, sizeof(err));
    assert_string_equal(err, "unknown option '--bogus'");

    optind = 0;
    c = getopt_long(2, unknown_short, ":l:", longs, NULL);
    assert_int_equal(c, '?');
    cli_getopt_error(c, unknown_short, err, sizeof(err));
    assert_string_equal(err, "unknown option '-x'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digits_reject_junk_and_report_overflow_as_range),
        cmocka_unit_test(test_uint_accepts_the_range_and_names_it_when_refusing),
        cmocka_unit_test(test_real_takes_fractions_but_not_signs_or_words),
        cmocka_unit_test(test_port_is_1_to_65535),
        cmocka_unit_test(test_invalid_formats_the_rest_and_never_overflows),
        cmocka_unit_test(test_getopt_complaints_name_the_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
