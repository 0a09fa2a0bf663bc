/* test_simpage.c - unit tests of the test page, /whoami and /headers rendering
 * (backend-sim/simpage.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../backend-sim/simpage.h"

static struct http_header hdrs[] = {
    {"Host", 4, "localhost:3001", 14},
    {"X-Forwarded-For", 15, "10.0.0.1", 8},
    {"X-Request-ID", 12, "<script>alert(1)</script>", 25},
    {"Accept", 6, "a", 1},
    {"accept", 6, "b\"c", 3},
};

static void view(struct simpage_view *v)
{
    memset(v, 0, sizeof(*v));
    v->name = "b2";
    v->port = 3002;
    v->index = 1;
    v->pid = 4242;
    v->health = "up";
    v->instance_requests = 17;
    v->conn_requests = 3;
    v->client = "127.0.0.1:5555";
    v->method = "GET";
    v->method_len = 3;
    v->target = "/?q=<b>";
    v->target_len = 7;
    v->minor_version = 1;
    v->headers = hdrs;
    v->n_headers = sizeof(hdrs) / sizeof(hdrs[0]);
}

static const char *render(struct simbuf *b,
                          void (*fn)(struct simbuf *, const struct simpage_view *))
{
    struct simpage_view v;
    view(&v);
    simbuf_reset(b);
    fn(b, &v);
    simbuf_putc(b, '\0');
    assert_false(simbuf_failed(b));
    return b->data;
}

static void test_html_page_shows_instance_and_escapes_everything_echoed(void **state)
{
    struct simbuf b;
    const char *page;
    (void)state;
    simbuf_init(&b, 0);
    page = render(&b, simpage_html);
    assert_non_null(strstr(page, "<h1 id=\"name\">b2</h1>"));
    assert_non_null(strstr(page, "port 3002"));
    assert_non_null(strstr(page, "#2e7d32")); /* the second instance's colour, green */
    assert_non_null(strstr(page, ">4242<"));
    assert_non_null(strstr(page, ">17<"));
    assert_non_null(strstr(page, ">3<"));
    assert_non_null(strstr(page, "127.0.0.1:5555"));
    assert_null(strstr(page, "<script>"));
    assert_non_null(strstr(page, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(page, "/?q=&lt;b&gt;"));
    /* the two proxy headers stand out */
    assert_non_null(
        strstr(page, "<tr class=\"hl\"><td class=\"n\">X-Forwarded-For</td><td>10.0.0.1"));
    assert_non_null(strstr(page, "<tr class=\"hl\"><td class=\"n\">X-Request-ID"));
    assert_non_null(strstr(page, "<tr><td class=\"n\">Host"));
    simbuf_free(&b);
}

static void test_colours_differ_between_instances(void **state)
{
    (void)state;
    assert_string_equal(simpage_colour(0), "#1565c0");
    assert_string_equal(simpage_colour(1), "#2e7d32");
    assert_string_equal(simpage_colour(2), "#6a1b9a");
    assert_string_equal(simpage_colour(7), "#37474f");
    assert_string_equal(simpage_colour(8), "#1565c0"); /* eight colours, then again */
}

static void test_whoami_lists_instance_and_headers(void **state)
{
    struct simbuf b;
    const char *text;
    (void)state;
    simbuf_init(&b, 0);
    text = render(&b, simpage_whoami);
    assert_non_null(strstr(text, "Name: b2\nPort: 3002\nPid: 4242\n"));
    assert_non_null(strstr(text, "Requests: 17\n"));
    assert_non_null(strstr(text, "Connection-Requests: 3\n"));
    assert_non_null(strstr(text, "Client: 127.0.0.1:5555\n"));
    assert_non_null(strstr(text, "GET /?q=<b> HTTP/1.1\n"));
    assert_non_null(strstr(text, "X-Forwarded-For: 10.0.0.1\n"));
    simbuf_free(&b);
}

static void test_headers_json_merges_repeats_and_escapes(void **state)
{
    struct simbuf b;
    const char *json;
    (void)state;
    simbuf_init(&b, 0);
    json = render(&b, simpage_headers_json);
    assert_string_equal(json,
                        "{\"backend\":\"b2\",\"port\":3002,\"method\":\"GET\",\"path\":\"/?q=<b>\","
                        "\"client\":\"127.0.0.1:5555\",\"headers\":{\"Host\":\"localhost:3001\","
                        "\"X-Forwarded-For\":\"10.0.0.1\",\"X-Request-ID\":\"<script>alert(1)"
                        "</script>\",\"Accept\":\"a, b\\\"c\"}}\n");
    simbuf_free(&b);
}

static void test_a_proxy_header_shows_in_whoami_and_headers(void **state)
{
    struct simbuf b;
    struct simpage_view v;
    (void)state;
    simbuf_init(&b, 0);
    view(&v);
    v.client = "192.0.2.10:51234";
    v.proxy = "v1";
    simpage_whoami(&b, &v);
    simbuf_putc(&b, '\0');
    assert_non_null(strstr(b.data, "\nClient: 192.0.2.10:51234\nProxy: v1\nGET "));
    simbuf_reset(&b);
    simpage_headers_json(&b, &v);
    simbuf_putc(&b, '\0');
    assert_non_null(
        strstr(b.data, "\"client\":\"192.0.2.10:51234\",\"proxy\":\"v1\",\"headers\""));
    simbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_page_shows_instance_and_escapes_everything_echoed),
        cmocka_unit_test(test_colours_differ_between_instances),
        cmocka_unit_test(test_whoami_lists_instance_and_headers),
        cmocka_unit_test(test_headers_json_merges_repeats_and_escapes),
        cmocka_unit_test(test_a_proxy_header_shows_in_whoami_and_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
