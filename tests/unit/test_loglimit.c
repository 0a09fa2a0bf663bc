/* test_loglimit.c - unit tests of lb's rate-limited warnings (lb/loglimit.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lb/loglimit.h"

/* A limiter writing into a memory stream the test reads back. */
struct capture {
    FILE *f;
    char *text;
    size_t len;
    struct loglimit *l;
};

static void capture_open(struct capture *c, uint32_t interval_ms)
{
    c->text = NULL;
    c->len = 0;
    c->f = open_memstream(&c->text, &c->len);
    assert_non_null(c->f);
    c->l = loglimit_create(c->f, interval_ms);
    assert_non_null(c->l);
}

/* What was printed so far. */
static const char *captured(struct capture *c)
{
    assert_int_equal(fflush(c->f), 0);
    return c->text;
}

static void capture_close(struct capture *c)
{
    loglimit_destroy(c->l);
    fclose(c->f);
    free(c->text);
}

static void test_first_line_is_printed_at_once(void **state)
{
    struct capture c;
    (void)state;
    capture_open(&c, 1000);
    assert_true(loglimit_printf(c.l, "accept", 5000, "lb: accept: %s", "Too many open files"));
    assert_string_equal(captured(&c), "lb: accept: Too many open files\n");
    capture_close(&c);
}

static void test_repeats_within_the_interval_are_counted_not_printed(void **state)
{
    struct capture c;
    (void)state;
    capture_open(&c, 1000);
    assert_true(loglimit_printf(c.l, "accept", 5000, "line %d", 1));
    for (int i = 0; i < 1253; i++)
        assert_false(loglimit_printf(c.l, "accept", 5000 + (uint64_t)i % 1000, "line %d", i));
    assert_string_equal(captured(&c), "line 1\n");
    assert_true(loglimit_printf(c.l, "accept", 6000, "line %d", 2));
    assert_string_equal(captured(&c), "line 1\nline 2 (1253 similar suppressed)\n");
    /* the count starts again from the line printed */
    assert_true(loglimit_printf(c.l, "accept", 7000, "line %d", 3));
    assert_string_equal(captured(&c), "line 1\nline 2 (1253 similar suppressed)\nline 3\n");
    capture_close(&c);
}

static void test_keys_are_limited_independently(void **state)
{
    struct capture c;
    (void)state;
    capture_open(&c, 1000);
    assert_true(loglimit_printf(c.l, "a", 100, "A"));
    assert_true(loglimit_printf(c.l, "b", 100, "B"));
    assert_false(loglimit_printf(c.l, "a", 200, "A"));
    assert_false(loglimit_printf(c.l, "b", 300, "B"));
    assert_false(loglimit_printf(c.l, "b", 400, "B"));
    assert_true(loglimit_printf(c.l, "b", 1100, "B"));
    assert_true(loglimit_printf(c.l, "a", 1100, "A"));
    assert_string_equal(captured(&c), "A\nB\nB (2 similar suppressed)\nA (1 similar suppressed)\n");
    capture_close(&c);
}

static void test_a_full_table_forgets_the_key_printed_longest_ago(void **state)
{
    struct capture c;
    char key[16];
    (void)state;
    capture_open(&c, 1000);
    for (int i = 0; i < LOGLIMIT_KEYS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_true(loglimit_printf(c.l, key, 100 + (uint64_t)i, "%s", key));
    }
    assert_false(loglimit_printf(c.l, "k0", 500, "k0"));
    /* a new key takes k0's place (printed first), so k0 is new again afterwards */
    assert_true(loglimit_printf(c.l, "new", 600, "new"));
    assert_true(loglimit_printf(c.l, "k0", 700, "k0 again"));
    /* the others are still remembered */
    assert_false(loglimit_printf(c.l, "k5", 700, "k5"));
    const char *out = captured(&c);
    assert_non_null(strstr(out, "new\nk0 again\n"));
    assert_null(strstr(out, "suppressed"));
    capture_close(&c);
}

static void test_long_keys_are_compared_by_their_start(void **state)
{
    struct capture c;
    char a[100], b[100];
    (void)state;
    memset(a, 'x', sizeof(a) - 1);
    a[sizeof(a) - 1] = '\0';
    memcpy(b, a, sizeof(b));
    b[80] = 'y'; /* differs beyond LOGLIMIT_KEY_MAX */
    capture_open(&c, 1000);
    assert_true(loglimit_printf(c.l, a, 10, "one"));
    assert_false(loglimit_printf(c.l, b, 20, "two"));
    capture_close(&c);
}

static void test_a_clock_going_back_does_not_silence_a_key(void **state)
{
    struct capture c;
    (void)state;
    capture_open(&c, 1000);
    assert_true(loglimit_printf(c.l, "k", 5000, "one"));
    assert_true(loglimit_printf(c.l, "k", 10, "two"));
    capture_close(&c);
}

static void test_long_lines_are_cut_not_overrun(void **state)
{
    struct capture c;
    char big[2000];
    (void)state;
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    capture_open(&c, 1000);
    assert_true(loglimit_printf(c.l, "k", 1, "%s", big));
    const char *out = captured(&c);
    assert_true(strlen(out) < sizeof(big));
    assert_int_equal(out[strlen(out) - 1], '\n');
    capture_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_line_is_printed_at_once),
        cmocka_unit_test(test_repeats_within_the_interval_are_counted_not_printed),
        cmocka_unit_test(test_keys_are_limited_independently),
        cmocka_unit_test(test_a_full_table_forgets_the_key_printed_longest_ago),
        cmocka_unit_test(test_long_keys_are_compared_by_their_start),
        cmocka_unit_test(test_a_clock_going_back_does_not_silence_a_key),
        cmocka_unit_test(test_long_lines_are_cut_not_overrun),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
