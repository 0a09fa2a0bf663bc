/* test_hashkey.c - unit tests of --hash-key parsing and key extraction (lb/hashkey.c), over
 * requests parsed by the real parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "../../lb/hashkey.h"

static struct http_header headers[16];
static struct http_request req;

/* Parses the request head text into req. */
static void parse(const char *text)
{
    req = (struct http_request){.headers = headers, .num_headers = 16};
    assert_true(http_parse_request(text, strlen(text), &req, NULL) > 0);
}

/* The key of the request under spec text, as a string in a static buffer; *from_request tells
 * whether it came from the request. */
static const char *key_of(const char *spec_text, bool *from_request)
{
    static char out[256];
    struct hashkey_spec spec = {0};
    const char *key;
    size_t len;
    if (spec_text != NULL)
        assert_int_equal(hashkey_parse(spec_text, &spec), 0);
    *from_request = hashkey_get(&spec, &req, "10.0.0.7", 8, &key, &len);
    assert_true(len < sizeof(out));
    memcpy(out, key, len);
    out[len] = '\0';
    return out;
}

static void test_parse_accepts_path_header_and_cookie(void **state)
{
    struct hashkey_spec s;
    (void)state;
    assert_int_equal(hashkey_parse("path", &s), 0);
    assert_int_equal(s.kind, HASHKEY_PATH);
    assert_int_equal(hashkey_parse("header:X-User", &s), 0);
    assert_int_equal(s.kind, HASHKEY_HEADER);
    assert_string_equal(s.name, "X-User");
    assert_int_equal(hashkey_parse("cookie:session_id", &s), 0);
    assert_int_equal(s.kind, HASHKEY_COOKIE);
    assert_string_equal(s.name, "session_id");
}

static void test_parse_refuses_unknown_kinds_and_bad_names(void **state)
{
    struct hashkey_spec s = {.kind = HASHKEY_CLIENT};
    char long_name[100] = "header:";
    (void)state;
    memset(long_name + 7, 'a', 64);
    const char *bad[] = {"", "uri", "Path", "path:", "header:", "cookie:", "header:a b",
                         "cookie:a=b", "header:x:y", "cookie:;", long_name, "header"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (hashkey_parse(bad[i], &s) != -EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(s.kind, HASHKEY_CLIENT); /* untouched */
    }
    long_name[7 + 63] = '\0';
    assert_int_equal(hashkey_parse(long_name, &s), 0); /* 63 characters is the longest */
}

static void test_path_key_stops_before_the_query(void **state)
{
    bool from;
    (void)state;
    parse("GET /img/cat.png?v=123 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_string_equal(key_of("path", &from), "/img/cat.png");
    assert_true(from);
    parse("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_string_equal(key_of("path", &from), "/plain");
    parse("GET http://example.com/abs/path?q HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_string_equal(key_of("path", &from), "/abs/path");
}

static void test_header_key_is_the_first_value_whatever_the_name_case(void **state)
{
    bool from;
    (void)state;
    parse("GET / HTTP/1.1\r\nHost: x\r\nx-user:  alice  \r\nX-User: bob\r\n\r\n");
    assert_string_equal(key_of("header:X-User", &from), "alice");
    assert_true(from);
}

static void test_missing_or_empty_header_falls_back_to_the_client_address(void **state)
{
    bool from;
    (void)state;
    parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_string_equal(key_of("header:X-User", &from), "10.0.0.7");
    assert_false(from);
    parse("GET / HTTP/1.1\r\nHost: x\r\nX-User:\r\n\r\n");
    assert_string_equal(key_of("header:X-User", &from), "10.0.0.7");
    assert_false(from);
}

static void test_cookie_key_is_found_among_several_cookies_and_headers(void **state)
{
    bool from;
    (void)state;
    parse("GET / HTTP/1.1\r\nHost: x\r\nCookie: theme=dark; sid=abc123;lang=fr\r\n\r\n");
    assert_string_equal(key_of("cookie:sid", &from), "abc123");
    assert_true(from);
    assert_string_equal(key_of("cookie:lang", &from), "fr");
    assert_string_equal(key_of("cookie:theme", &from), "dark");
    parse("GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\nCookie: sid=\"q\"\r\n\r\n");
    assert_string_equal(key_of("cookie:sid", &from), "\"q\""); /* as sent, quotes included */
}

static void test_cookie_names_match_exactly(void **state)
{
    bool from;
    (void)state;
    parse("GET / HTTP/1.1\r\nHost: x\r\nCookie: SID=upper; xsid=longer; sid2=other\r\n\r\n");
    assert_string_equal(key_of("cookie:sid", &from), "10.0.0.7");
    assert_false(from);
}

static void test_missing_or_empty_cookie_falls_back_to_the_client_address(void **state)
{
    bool from;
    (void)state;
    parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_string_equal(key_of("cookie:sid", &from), "10.0.0.7");
    assert_false(from);
    parse("GET / HTTP/1.1\r\nHost: x\r\nCookie: sid=; other=1; junk\r\n\r\n");
    assert_string_equal(key_of("cookie:sid", &from), "10.0.0.7");
    assert_false(from);
    parse("GET / HTTP/1.1\r\nHost: x\r\nCookie: sid=; sid=second\r\n\r\n");
    assert_string_equal(key_of("cookie:sid", &from), "second");
}

static void test_no_spec_is_the_client_address(void **state)
{
    bool from;
    (void)state;
    parse("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_string_equal(key_of(NULL, &from), "10.0.0.7");
    assert_false(from);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts_path_header_and_cookie),
        cmocka_unit_test(test_parse_refuses_unknown_kinds_and_bad_names),
        cmocka_unit_test(test_path_key_stops_before_the_query),
        cmocka_unit_test(test_header_key_is_the_first_value_whatever_the_name_case),
        cmocka_unit_test(test_missing_or_empty_header_falls_back_to_the_client_address),
        cmocka_unit_test(test_cookie_key_is_found_among_several_cookies_and_headers),
        cmocka_unit_test(test_cookie_names_match_exactly),
        cmocka_unit_test(test_missing_or_empty_cookie_falls_back_to_the_client_address),
        cmocka_unit_test(test_no_spec_is_the_client_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
