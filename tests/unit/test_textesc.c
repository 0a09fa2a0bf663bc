/* test_textesc.c - unit tests of HTML escaping and the JSON adapter (backend-sim/textesc.c). */
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

static void test_json_string_and_member_use_the_shared_escaper_and_write_null(void **state)
{
    struct simbuf b;
    (void)state;
    simbuf_init(&b, 0);
    textesc_json_string(&b, "a\"\xc3\xa9\xff", 5);
    textesc_json_string(&b, NULL, 0);
    textesc_json_member(&b, ",\"k\":", "v", 1);
    simbuf_putc(&b, '\0');
    assert_string_equal(b.data, "\"a\\\"\xc3\xa9\\u00ff\"null,\"k\":\"v\"");
    simbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_escapes_markup_and_quotes),
        cmocka_unit_test(test_json_string_and_member_use_the_shared_escaper_and_write_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
