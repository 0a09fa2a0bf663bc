/* test_textesc.c - unit tests of HTML/JSON escaping (backend-sim/textesc.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../backend-sim/simbuf.h"
#include "../../backend-sim/textesc.h"

static const char *html(struct simbuf *b, const char *s, size_t n)
{
    simbuf_reset(b);
    textesc_html(b, s, n);
    simbuf_putc(b, '\0');
    return b->data;
}

static const char *json(struct simbuf *b, const char *s, size_t n)
{
    simbuf_reset(b);
    textesc_json(b, s, n);
    simbuf_putc(b, '\0');
    return b->data;
}

static void test_html_escapes_markup_and_quotes(void **state)
{
    struct simbuf b;
    const char *s = "<script>alert('x\")</script> & co";
    (void)state;
    simbuf_init(&b, 0);
    assert_string_equal(html(&b, s, strlen(s)),
                        "&lt;script&gt;alert(&#39;x&quot;)&lt;/script&gt; &amp; co");
    assert_string_equal(html(&b, "plain", 5), "plain");
    assert_string_equal(html(&b,
                             "a\x01"
                             "b\tc",
                             5),
                        "a&#xFFFD;b\tc");
    simbuf_free(&b);
}

static void test_json_escapes_quotes_backslashes_and_controls(void **state)
{
    struct simbuf b;
    const char *s = "a\"b\\c\nd\x7f\x01";
    (void)state;
    simbuf_init(&b, 0);
    assert_string_equal(json(&b, s, strlen(s)), "a\\\"b\\\\c\\nd\\u007f\\u0001");
    simbuf_free(&b);
}

static void test_json_keeps_valid_utf8_and_escapes_invalid_bytes(void **state)
{
    struct simbuf b;
    (void)state;
    simbuf_init(&b, 0);
    assert_string_equal(json(&b, "caf\xc3\xa9", 5), "caf\xc3\xa9");
    assert_string_equal(json(&b, "\xff\xc3", 2), "\\u00ff\\u00c3");
    /* an overlong encoding of '/' is not valid UTF-8 */
    assert_string_equal(json(&b, "\xc0\xaf", 2), "\\u00c0\\u00af");
    simbuf_reset(&b);
    textesc_json_string(&b, NULL, 0);
    simbuf_putc(&b, '\0');
    assert_string_equal(b.data, "null");
    simbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_escapes_markup_and_quotes),
        cmocka_unit_test(test_json_escapes_quotes_backslashes_and_controls),
        cmocka_unit_test(test_json_keeps_valid_utf8_and_escapes_invalid_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
