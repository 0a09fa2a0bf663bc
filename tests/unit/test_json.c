/* test_json.c - unit tests of JSON string escaping (common/json.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct collect {
    char buf[256];
    size_t len;
    unsigned calls;
};

static void collect_sink(void *ctx, const char *p, size_t len)
{
    struct collect *c = ctx;
    assert_true(c->len + len < sizeof(c->buf));
    memcpy(c->buf + c->len, p, len);
    c->len += len;
    c->buf[c->len] = '\0';
    c->calls++;
}

static const char *escape(struct collect *c, const char *s, size_t n)
{
    memset(c, 0, sizeof(*c));
    json_escape(s, n, collect_sink, c);
    return c->buf;
}

static void test_escapes_quotes_backslashes_and_controls(void **state)
{
    struct collect c;
    const char *s = "a\"b\\c\nd\x7f\x01\r\t";
    (void)state;
    assert_string_equal(escape(&c, s, strlen(s)), "a\\\"b\\\\c\\nd\\u007f\\u0001\\r\\t");
}

static void test_escapes_a_nul_inside_the_length(void **state)
{
    struct collect c;
    (void)state;
    assert_string_equal(escape(&c, "a\0b", 3), "a\\u0000b");
}

static void test_keeps_valid_utf8(void **state)
{
    struct collect c;
    (void)state;
    assert_string_equal(escape(&c, "caf\xc3\xa9", 5), "caf\xc3\xa9");
    assert_string_equal(escape(&c, "\xe2\x82\xac", 3), "\xe2\x82\xac");       /* U+20AC */
    assert_string_equal(escape(&c, "\xf0\x9f\x98\x80", 4), "\xf0\x9f\x98\x80"); /* U+1F600 */
}

static void test_escapes_bytes_that_are_not_valid_utf8(void **state)
{
    struct collect c;
    (void)state;
    assert_string_equal(escape(&c, "\xff\xc3", 2), "\\u00ff\\u00c3");
    /* an overlong encoding of '/' */
    assert_string_equal(escape(&c, "\xc0\xaf", 2), "\\u00c0\\u00af");
    /* a UTF-16 surrogate (U+D800) encoded in UTF-8 */
    assert_string_equal(escape(&c, "\xed\xa0\x80", 3), "\\u00ed\\u00a0\\u0080");
    /* a sequence cut short by the length */
    assert_string_equal(escape(&c, "\xe2\x82\xac", 2), "\\u00e2\\u0082");
}

static void test_plain_text_goes_to_the_sink_in_one_run(void **state)
{
    struct collect c;
    (void)state;
    assert_string_equal(escape(&c, "/index.html", 11), "/index.html");
    assert_int_equal(c.calls, 1);
}

static void test_write_string_quotes_and_treats_null_as_empty(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    (void)state;
    assert_non_null(f);
    json_write_string(f, "a\"b\\c\n\x01\xc3\xa9");
    fputc(' ', f);
    json_write_string(f, NULL);
    assert_int_equal(fclose(f), 0);
    assert_string_equal(buf, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\" \"\"");
    free(buf);
}

static void test_write_member_puts_the_lead_before_the_string(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    (void)state;
    assert_non_null(f);
    json_write_member(f, "{\"path\":", "/a\"b");
    json_write_member(f, ",\"host\":", NULL);
    fputc('}', f);
    assert_int_equal(fclose(f), 0);
    assert_string_equal(buf, "{\"path\":\"/a\\\"b\",\"host\":\"\"}");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes_quotes_backslashes_and_controls),
        cmocka_unit_test(test_escapes_a_nul_inside_the_length),
        cmocka_unit_test(test_keeps_valid_utf8),
        cmocka_unit_test(test_escapes_bytes_that_are_not_valid_utf8),
        cmocka_unit_test(test_plain_text_goes_to_the_sink_in_one_run),
        cmocka_unit_test(test_write_string_quotes_and_treats_null_as_empty),
        cmocka_unit_test(test_write_member_puts_the_lead_before_the_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
