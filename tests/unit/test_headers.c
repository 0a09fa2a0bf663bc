/* test_headers.c - unit tests of request/response head rewriting (lb/headers.c). Heads are
 * parsed with the real parser, rewritten, and the output is parsed again to check it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../lb/headers.h"
#include "http.h"

static struct http_header hs[64], hs2[64];
static char out[8192];

static struct http_request parse_req(const char *text)
{
    struct http_request r = {.headers = hs, .num_headers = 64};
    int rc = http_parse_request(text, strlen(text), &r, NULL);
    assert_true(rc > 0);
    return r;
}

static const struct headers_request_opts opts = {
    .client_ip = "10.0.0.9",
    .proto = "http",
    .request_id = "lbid",
    .request_id_len = 4,
    .default_host = "backend:3001",
    .close = false,
};

/* Rewrites text and parses the result back into *again. */
static void rewrite_req(const char *text, const struct headers_request_opts *o,
                        struct http_request *again)
{
    struct http_request r = parse_req(text);
    ssize_t n = headers_rewrite_request(&r, o, out, sizeof(out));
    assert_true(n > 0);
    out[n] = '\0';
    *again = (struct http_request){.headers = hs2, .num_headers = 64};
    assert_int_equal(http_parse_request(out, (size_t)n, again, NULL), (int)n);
}

static int count(const struct http_header *h, size_t n, const char *name)
{
    int c = 0;
    for (size_t i = 0; i < n; i++)
        c += http_header_is(&h[i], name);
    return c;
}

static const char *value(const struct http_header *h, size_t n, const char *name)
{
    static char v[1024];
    const struct http_header *f = http_find_header(h, n, name);
    if (f == NULL)
        return NULL;
    snprintf(v, sizeof(v), "%.*s", (int)f->value_len, f->value);
    return v;
}

static void test_xff_merges_every_line_into_one_and_appends_client(void **state)
{
    struct http_request r;
    (void)state;
    rewrite_req("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-Other: y\r\n"
                "X-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n\r\n",
                &opts, &r);
    assert_int_equal(count(r.headers, r.num_headers, "X-Forwarded-For"), 1);
    assert_string_equal(value(r.headers, r.num_headers, "X-Forwarded-For"),
                        "1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.9");
    assert_string_equal(value(r.headers, r.num_headers, "X-Other"), "y");
}

static void test_xff_added_when_absent_with_proto_and_request_id(void **state)
{
    struct http_request r;
    (void)state;
    rewrite_req("GET /p?q=1 HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\n\r\n", &opts, &r);
    assert_string_equal(value(r.headers, r.num_headers, "X-Forwarded-For"), "10.0.0.9");
    assert_int_equal(count(r.headers, r.num_headers, "X-Forwarded-Proto"), 1);
    assert_string_equal(value(r.headers, r.num_headers, "X-Forwarded-Proto"), "http");
    assert_string_equal(value(r.headers, r.num_headers, "X-Request-ID"), "lbid");
    assert_int_equal(r.path_len, 6);
    assert_memory_equal(r.path, "/p?q=1", 6);
    assert_int_equal(r.minor_version, 1);
}

static void test_hop_by_hop_and_connection_named_fields_removed(void **state)
{
    struct http_request r;
    (void)state;
    rewrite_req("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: 5\r\n"
                "Proxy-Connection: x\r\nTE: trailers\r\nTrailer: X-T\r\nX-Secret: s\r\n"
                "Upgrade: h2c\r\nX-Kept: k\r\n\r\n",
                &opts, &r);
    const char *gone[] = {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
                          "X-Secret", "Upgrade"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        assert_int_equal(count(r.headers, r.num_headers, gone[i]), 0);
    assert_string_equal(value(r.headers, r.num_headers, "X-Kept"), "k");
}

static void test_connection_cannot_strip_framing_fields(void **state)
{
    struct http_request r;
    (void)state;
    rewrite_req("POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length, Host\r\n"
                "Content-Length: 5\r\n\r\n",
                &opts, &r);
    assert_int_equal(r.framing, HTTP_BODY_LENGTH);
    assert_int_equal(r.content_length, 5);
    assert_string_equal(value(r.headers, r.num_headers, "Host"), "a");
}

static void test_chunked_request_keeps_transfer_encoding(void **state)
{
    struct http_request r;
    (void)state;
    rewrite_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &opts, &r);
    assert_int_equal(r.framing, HTTP_BODY_CHUNKED);
}

static void test_client_request_id_is_kept_once(void **state)
{
    struct http_request r;
    (void)state;
    rewrite_req("GET / HTTP/1.1\r\nHost: a\r\nX-Request-ID: abc-123\r\n\r\n", &opts, &r);
    assert_int_equal(count(r.headers, r.num_headers, "X-Request-ID"), 1);
    assert_string_equal(value(r.headers, r.num_headers, "X-Request-ID"), "abc-123");
}

static void test_invalid_or_repeated_client_request_id_is_replaced(void **state)
{
    struct http_request r;
    const char *id;
    size_t len;
    (void)state;
    rewrite_req("GET / HTTP/1.1\r\nHost: a\r\nX-Request-ID: one\r\nX-Request-ID: two\r\n\r\n", &opts,
                &r);
    assert_int_equal(count(r.headers, r.num_headers, "X-Request-ID"), 1);
    assert_string_equal(value(r.headers, r.num_headers, "X-Request-ID"), "lbid");
    struct http_request q = parse_req("GET / HTTP/1.1\r\nHost: a\r\nX-Request-ID: has space\r\n\r\n");
    assert_false(headers_client_request_id(&q, &id, &len));
    q = parse_req("GET / HTTP/1.1\r\nHost: a\r\nX-Request-ID: ok\r\n\r\n");
    assert_true(headers_client_request_id(&q, &id, &len));
    assert_int_equal(len, 2);
}

static void test_absolute_form_becomes_origin_form_with_its_host(void **state)
{
    struct http_request r;
    (void)state;
    rewrite_req("GET http://example.com:8080/x/y?z HTTP/1.1\r\nHost: other\r\n\r\n", &opts, &r);
    assert_int_equal(r.target_len, 6);
    assert_memory_equal(r.target, "/x/y?z", 6);
    assert_string_equal(value(r.headers, r.num_headers, "Host"), "example.com:8080");
}

static void test_http10_request_without_host_gets_one_and_goes_out_as_11(void **state)
{
    struct http_request r;
    (void)state;
    rewrite_req("GET / HTTP/1.0\r\n\r\n", &opts, &r);
    assert_int_equal(r.minor_version, 1);
    assert_string_equal(value(r.headers, r.num_headers, "Host"), "backend:3001");
}

static void test_upgrade_request_keeps_upgrade_and_connection_upgrade(void **state)
{
    struct http_request r;
    (void)state;
    rewrite_req("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                &opts, &r);
    assert_true(r.upgrade);
    assert_string_equal(value(r.headers, r.num_headers, "Upgrade"), "websocket");
}

static void test_close_option_adds_connection_close(void **state)
{
    struct http_request r;
    struct headers_request_opts o = opts;
    (void)state;
    o.close = true;
    rewrite_req("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &o, &r);
    assert_false(r.keep_alive);
}

static void test_request_too_big_for_buffer_is_enospc(void **state)
{
    (void)state;
    struct http_request r = parse_req("GET /a-long-path HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(headers_rewrite_request(&r, &opts, out, 20), -ENOSPC);
}

static ssize_t rewrite_res(const char *text, bool head, const struct headers_response_opts *o,
                           struct http_response *again)
{
    struct http_response r = {.headers = hs, .num_headers = 64};
    assert_true(http_parse_response(text, strlen(text), &r, NULL, head) > 0);
    ssize_t n = headers_rewrite_response(&r, o, out, sizeof(out));
    assert_true(n > 0);
    out[n] = '\0';
    *again = (struct http_response){.headers = hs2, .num_headers = 64};
    assert_int_equal(http_parse_response(out, (size_t)n, again, NULL, head), (int)n);
    return n;
}

static void test_response_gets_request_id_and_loses_hop_by_hop(void **state)
{
    struct http_response r;
    struct headers_response_opts o = {.request_id = "rid", .request_id_len = 3,
                                      .connection = HEADERS_CONN_NONE};
    (void)state;
    rewrite_res("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Hop\r\nX-Hop: 1\r\n"
                "Keep-Alive: timeout=5\r\nX-Request-ID: backend-said\r\nX-Backend: b1\r\n\r\n",
                false, &o, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(count(r.headers, r.num_headers, "X-Hop"), 0);
    assert_int_equal(count(r.headers, r.num_headers, "Keep-Alive"), 0);
    assert_int_equal(count(r.headers, r.num_headers, "Connection"), 0);
    assert_int_equal(count(r.headers, r.num_headers, "X-Request-ID"), 1);
    assert_string_equal(value(r.headers, r.num_headers, "X-Request-ID"), "rid");
    assert_string_equal(value(r.headers, r.num_headers, "X-Backend"), "b1");
    assert_int_equal(r.content_length, 2);
}

static void test_response_chunked_kept_or_dropped_for_http10(void **state)
{
    struct http_response r;
    struct headers_response_opts o = {.request_id = "rid", .request_id_len = 3,
                                      .keep_chunked = true, .connection = HEADERS_CONN_NONE};
    const char *text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    (void)state;
    rewrite_res(text, false, &o, &r);
    assert_int_equal(r.framing, HTTP_BODY_CHUNKED);
    o.keep_chunked = false;
    o.connection = HEADERS_CONN_CLOSE;
    rewrite_res(text, false, &o, &r);
    assert_int_equal(r.framing, HTTP_BODY_UNTIL_CLOSE);
    assert_false(r.keep_alive);
}

static void test_response_connection_modes(void **state)
{
    struct http_response r;
    struct headers_response_opts o = {.request_id = "rid", .request_id_len = 3,
                                      .connection = HEADERS_CONN_KEEP_ALIVE};
    (void)state;
    rewrite_res("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, &o, &r);
    assert_int_equal(r.minor_version, 1);
    assert_string_equal(value(r.headers, r.num_headers, "Connection"), "keep-alive");
    o.connection = HEADERS_CONN_UPGRADE;
    rewrite_res("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
                false, &o, &r);
    assert_int_equal(r.status, 101);
    assert_string_equal(value(r.headers, r.num_headers, "Upgrade"), "websocket");
    assert_string_equal(value(r.headers, r.num_headers, "Connection"), "upgrade");
}

static void test_added_host_is_replaced_when_the_request_moves(void **state)
{
    (void)state;
    char head[128] = "GET / HTTP/1.1\r\nHost: localhost:3001\r\nX-Forwarded-For: 10.0.0.9\r\n\r\n";
    size_t len = strlen(head);
    ssize_t n = headers_replace_host(head, len, sizeof(head), "backend-two.example:8080");
    assert_int_equal(n, (ssize_t)strlen("GET / HTTP/1.1\r\nHost: backend-two.example:8080\r\n"
                                        "X-Forwarded-For: 10.0.0.9\r\n\r\n"));
    head[n] = '\0';
    assert_string_equal(head, "GET / HTTP/1.1\r\nHost: backend-two.example:8080\r\n"
                              "X-Forwarded-For: 10.0.0.9\r\n\r\n");
    /* and back to a shorter name */
    n = headers_replace_host(head, (size_t)n, sizeof(head), "b:1");
    head[n] = '\0';
    assert_string_equal(head, "GET / HTTP/1.1\r\nHost: b:1\r\nX-Forwarded-For: 10.0.0.9\r\n\r\n");
}

static void test_replacing_host_that_does_not_fit_leaves_the_head_alone(void **state)
{
    (void)state;
    char head[40] = "GET / HTTP/1.1\r\nHost: a:1\r\n\r\n";
    size_t len = strlen(head);
    assert_int_equal(headers_replace_host(head, len, sizeof(head), "a-much-longer-name:8080"),
                     -ENOSPC);
    assert_string_equal(head, "GET / HTTP/1.1\r\nHost: a:1\r\n\r\n");
    assert_int_equal(headers_replace_host(head, len, sizeof(head), "b:2") > 0, 1);
    char nohost[] = "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n";
    assert_int_equal(headers_replace_host(nohost, strlen(nohost), sizeof(nohost), "b:2"), -ENOENT);
}

static void test_cookie_found_among_others_and_fields(void **state)
{
    (void)state;
    struct http_request r = parse_req("GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1; lbsrv=abc ;b=2\r\n"
                                      "Cookie: lbsrv=second\r\n\r\n");
    const char *v;
    size_t n;
    assert_true(headers_find_cookie(r.headers, r.num_headers, "lbsrv", &v, &n));
    assert_int_equal(n, 3);
    assert_memory_equal(v, "abc", 3);
    assert_true(headers_find_cookie(r.headers, r.num_headers, "b", &v, &n));
    assert_int_equal(n, 1);
    assert_memory_equal(v, "2", 1);
    assert_false(headers_find_cookie(r.headers, r.num_headers, "lb", &v, &n)); /* no prefix match */
    assert_false(headers_find_cookie(r.headers, r.num_headers, "c", &v, &n));
}

static void test_sticky_cookie_added_unless_the_backend_sets_it(void **state)
{
    (void)state;
    struct http_response r;
    struct headers_response_opts o = {.cookie_name = "lbsrv", .cookie_value = "0123456789abcdef"};
    rewrite_res("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nSet-Cookie: lbsrvx=1\r\n\r\n", false, &o, &r);
    assert_int_equal(count(r.headers, r.num_headers, "Set-Cookie"), 2);
    assert_non_null(strstr(out, "\r\nSet-Cookie: lbsrvx=1\r\n"));
    assert_non_null(strstr(out, "\r\nSet-Cookie: lbsrv=0123456789abcdef; Path=/; HttpOnly; "
                                "SameSite=Lax\r\n"));
    rewrite_res("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nSet-Cookie: lbsrv=mine; Path=/\r\n\r\n", false,
                &o, &r);
    assert_int_equal(count(r.headers, r.num_headers, "Set-Cookie"), 1);
    assert_string_equal(value(r.headers, r.num_headers, "Set-Cookie"), "lbsrv=mine; Path=/");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xff_merges_every_line_into_one_and_appends_client),
        cmocka_unit_test(test_xff_added_when_absent_with_proto_and_request_id),
        cmocka_unit_test(test_hop_by_hop_and_connection_named_fields_removed),
        cmocka_unit_test(test_connection_cannot_strip_framing_fields),
        cmocka_unit_test(test_chunked_request_keeps_transfer_encoding),
        cmocka_unit_test(test_client_request_id_is_kept_once),
        cmocka_unit_test(test_invalid_or_repeated_client_request_id_is_replaced),
        cmocka_unit_test(test_absolute_form_becomes_origin_form_with_its_host),
        cmocka_unit_test(test_http10_request_without_host_gets_one_and_goes_out_as_11),
        cmocka_unit_test(test_upgrade_request_keeps_upgrade_and_connection_upgrade),
        cmocka_unit_test(test_close_option_adds_connection_close),
        cmocka_unit_test(test_request_too_big_for_buffer_is_enospc),
        cmocka_unit_test(test_response_gets_request_id_and_loses_hop_by_hop),
        cmocka_unit_test(test_response_chunked_kept_or_dropped_for_http10),
        cmocka_unit_test(test_response_connection_modes),
        cmocka_unit_test(test_added_host_is_replaced_when_the_request_moves),
        cmocka_unit_test(test_replacing_host_that_does_not_fit_leaves_the_head_alone),
        cmocka_unit_test(test_cookie_found_among_others_and_fields),
        cmocka_unit_test(test_sticky_cookie_added_unless_the_backend_sets_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
