/*
 * test_http.c - unit tests of the shared HTTP/1.1 parser (common/http.c).
 *
 * Every valid message is parsed whole (its fields checked) and then every proper prefix of it is
 * parsed from an exactly-sized heap copy, which must be HTTP_INCOMPLETE (and, under ASan, must not
 * read past its end). Then corpora of malformed and smuggling-shaped requests and responses, each
 * with the exact status the parser must answer, and the chunked decoder fed whole and byte by byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define MAX_HEADERS 64
#define S(lit) (lit), (sizeof(lit) - 1)

/* --- Helpers ---------------------------------------------------------------------------------- */

static char *copy(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    assert_non_null(p);
    memcpy(p, s, n);
    return p;
}

static int parse_req(const char *s, size_t n, struct http_request *req, struct http_header *hdrs,
                     size_t cap, const struct http_limits *limits)
{
    struct http_limits def;
    if (limits == NULL) {
        http_limits_default(&def);
        limits = &def;
    }
    memset(req, 0, sizeof(*req));
    req->headers = hdrs;
    req->num_headers = cap;
    return http_parse_request(s, n, req, limits);
}

static int parse_res(const char *s, size_t n, struct http_response *res, struct http_header *hdrs,
                     size_t cap, bool head)
{
    struct http_limits limits;
    http_limits_default(&limits);
    memset(res, 0, sizeof(*res));
    res->headers = hdrs;
    res->num_headers = cap;
    return http_parse_response(s, n, res, &limits, head);
}

static bool span_is(const char *p, size_t n, const char *want)
{
    if (want == NULL)
        return p == NULL && n == 0;
    return p != NULL && n == strlen(want) && memcmp(p, want, n) == 0;
}

#define assert_span(p, n, want)                                                                    \
    do {                                                                                           \
        if (!span_is((p), (n), (want))) {                                                          \
            print_error("span '%.*s' != '%s'\n", (int)(n), (p) ? (p) : "", (want) ? (want) : "(null)"); \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

/* Every proper prefix of a request head is incomplete. */
static void assert_request_prefixes_incomplete(const char *msg, size_t n)
{
    struct http_header hdrs[MAX_HEADERS];
    struct http_request req;
    for (size_t i = 0; i < n; i++) {
        char *p = copy(msg, i);
        int rc = parse_req(p, i, &req, hdrs, MAX_HEADERS, NULL);
        if (rc != HTTP_INCOMPLETE) {
            print_error("prefix of %zu bytes: rc %d (%d %s)\n", i, rc, req.error,
                        req.error_reason ? req.error_reason : "");
            free(p);
            fail();
        }
        free(p);
    }
}

static void assert_response_prefixes_incomplete(const char *msg, size_t n, bool head)
{
    struct http_header hdrs[MAX_HEADERS];
    struct http_response res;
    for (size_t i = 0; i < n; i++) {
        char *p = copy(msg, i);
        int rc = parse_res(p, i, &res, hdrs, MAX_HEADERS, head);
        if (rc != HTTP_INCOMPLETE) {
            print_error("prefix of %zu bytes: rc %d (%d %s)\n", i, rc, res.error,
                        res.error_reason ? res.error_reason : "");
            free(p);
            fail();
        }
        free(p);
    }
}

/* --- Valid requests -------------------------------------------------------------------------- */

struct valid_request {
    const char *name;
    const char *msg;
    size_t len;
    size_t head_len; /* 0: the whole message */
    const char *method;
    const char *target;
    const char *path;
    const char *host;
    int minor;
    enum http_framing framing;
    uint64_t content_length;
    bool keep_alive;
    bool expect_continue;
    bool upgrade;
    size_t num_headers;
};

static const struct valid_request valid_requests[] = {
    {"simple GET", S("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), 0, "GET", "/", "/",
     "example.com", 1, HTTP_BODY_NONE, 0, true, false, false, 1},
    {"GET with query and headers",
     S("GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: curl/8.0\r\n"
       "Accept: */*\r\n\r\n"),
     0, "GET", "/a/b?x=1&y=%20", "/a/b?x=1&y=%20", "example.com:8080", 1, HTTP_BODY_NONE, 0, true,
     false, false, 3},
    {"POST with Content-Length",
     S("POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\n"
       "hello world"),
     80, "POST", "/submit", "/submit", "h", 1, HTTP_BODY_LENGTH, 11, true, false, false, 3},
    {"POST chunked", S("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"), 0,
     "POST", "/up", "/up", "h", 1, HTTP_BODY_CHUNKED, 0, true, false, false, 2},
    {"gzip then chunked",
     S("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 0, "POST", "/up",
     "/up", "h", 1, HTTP_BODY_CHUNKED, 0, true, false, false, 2},
    {"codings over two fields",
     S("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: deflate\r\nTransfer-Encoding: CHUNKED\r\n\r\n"),
     0, "POST", "/up", "/up", "h", 1, HTTP_BODY_CHUNKED, 0, true, false, false, 3},
    {"absolute-form authority wins",
     S("GET http://backend.example:8080/p?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n"), 0, "GET",
     "http://backend.example:8080/p?q=1", "/p?q=1", "backend.example:8080", 1, HTTP_BODY_NONE, 0,
     true, false, false, 1},
    {"absolute-form without path", S("GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n"),
     0, "GET", "HTTPS://example.com", "/", "example.com", 1, HTTP_BODY_NONE, 0, true, false, false, 1},
    {"HTTP/1.0 without Host", S("GET /old HTTP/1.0\r\n\r\n"), 0, "GET", "/old", "/old", NULL, 0,
     HTTP_BODY_NONE, 0, false, false, false, 0},
    {"HTTP/1.0 keep-alive",
     S("GET / HTTP/1.0\r\nHost: h\r\nConnection: Keep-Alive\r\nExpect: 100-continue\r\n\r\n"), 0,
     "GET", "/", "/", "h", 0, HTTP_BODY_NONE, 0, true, false, false, 3},
    {"HTTP/1.1 Connection close",
     S("GET / HTTP/1.1\r\nConnection: keep-alive\r\nHost: h\r\nConnection: close\r\n\r\n"), 0, "GET",
     "/", "/", "h", 1, HTTP_BODY_NONE, 0, false, false, false, 3},
    {"odd but legal whitespace",
     S("GET / HTTP/1.1\r\nHost:example.com\r\nX-A: \t spaced  value \t\r\nX-Empty:\r\n"
       "X-Tab:\tv\r\nX-Blank:   \r\n\r\n"),
     0, "GET", "/", "/", "example.com", 1, HTTP_BODY_NONE, 0, true, false, false, 5},
    {"Expect 100-continue",
     S("PUT /f HTTP/1.1\r\nHost: h\r\nexpect: 100-Continue\r\ncontent-length: 5\r\n\r\n"), 0, "PUT",
     "/f", "/f", "h", 1, HTTP_BODY_LENGTH, 5, true, true, false, 3},
    {"websocket upgrade",
     S("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
     0, "GET", "/ws", "/ws", "h", 1, HTTP_BODY_NONE, 0, true, false, true, 5},
    {"OPTIONS asterisk", S("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), 0, "OPTIONS", "*", "*", "h", 1,
     HTTP_BODY_NONE, 0, true, false, false, 1},
    {"CONNECT authority-form",
     S("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"), 0, "CONNECT",
     "example.com:443", "example.com:443", "example.com:443", 1, HTTP_BODY_NONE, 0, true, false,
     false, 1},
    {"empty lines before the request line", S("\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n"), 0, "GET",
     "/x", "/x", "h", 1, HTTP_BODY_NONE, 0, true, false, false, 1},
    {"identical Content-Length repeats merge",
     S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 005\r\n"
       "Content-Length: 5 , 5\r\n\r\n"),
     0, "POST", "/", "/", "h", 1, HTTP_BODY_LENGTH, 5, true, false, false, 4},
    {"obs-text in a value and IPv6 Host",
     S("GET / HTTP/1.1\r\nHost: [::1]:3000\r\nX-Name: caf\xc3\xa9\r\n\r\n"), 0, "GET", "/", "/",
     "[::1]:3000", 1, HTTP_BODY_NONE, 0, true, false, false, 2},
    {"HEAD with mixed-case names",
     S("HEAD /i HTTP/1.1\r\nhOsT: h\r\ncOnTeNt-LeNgTh: 0\r\n\r\n"), 0, "HEAD", "/i", "/i", "h", 1,
     HTTP_BODY_LENGTH, 0, true, false, false, 2},
};

static void check_valid_request(const struct valid_request *v)
{
    struct http_header hdrs[MAX_HEADERS];
    struct http_request req;
    size_t head_len = v->head_len ? v->head_len : v->len;
    char *buf = copy(v->msg, v->len);

    int rc = parse_req(buf, v->len, &req, hdrs, MAX_HEADERS, NULL);
    if (rc < 0)
        print_error("%s: rc %d error %d (%s)\n", v->name, rc, req.error,
                    req.error_reason ? req.error_reason : "");
    assert_int_equal(rc, (int)head_len);
    assert_span(req.method, req.method_len, v->method);
    assert_span(req.target, req.target_len, v->target);
    assert_span(req.path, req.path_len, v->path);
    assert_span(req.host, req.host_len, v->host);
    assert_int_equal(req.minor_version, v->minor);
    assert_int_equal(req.framing, v->framing);
    if (v->framing == HTTP_BODY_LENGTH)
        assert_int_equal(req.content_length, v->content_length);
    assert_int_equal(req.keep_alive, v->keep_alive);
    assert_int_equal(req.expect_continue, v->expect_continue);
    assert_int_equal(req.upgrade, v->upgrade);
    assert_int_equal(req.num_headers, v->num_headers);
    for (size_t i = 0; i < req.num_headers; i++) {
        assert_true(req.headers[i].name >= buf && req.headers[i].name + req.headers[i].name_len <= buf + rc);
        assert_true(req.headers[i].value >= buf && req.headers[i].value + req.headers[i].value_len <= buf + rc);
    }
    free(buf);
    assert_request_prefixes_incomplete(v->msg, head_len);
}

static void test_valid_requests_parse_and_prefixes_are_incomplete(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid_requests) / sizeof(valid_requests[0]); i++)
        check_valid_request(&valid_requests[i]);
}

static void test_header_values_are_trimmed(void **state)
{
    struct http_header hdrs[MAX_HEADERS];
    struct http_request req;
    const struct valid_request *v = &valid_requests[11];
    (void)state;
    assert_int_equal(parse_req(v->msg, v->len, &req, hdrs, MAX_HEADERS, NULL), (int)v->len);
    assert_span(hdrs[0].name, hdrs[0].name_len, "Host");
    assert_span(hdrs[1].value, hdrs[1].value_len, "spaced  value");
    assert_int_equal(hdrs[2].value_len, 0);
    assert_span(hdrs[3].value, hdrs[3].value_len, "v");
    assert_int_equal(hdrs[4].value_len, 0);
    assert_ptr_equal(http_find_header(hdrs, req.num_headers, "x-a"), &hdrs[1]);
    assert_null(http_find_header(hdrs, req.num_headers, "x-missing"));
    assert_true(http_header_is(&hdrs[0], "HOST"));
    assert_false(http_header_is(&hdrs[0], "Hos"));
}

static void test_pipelined_requests_parse_one_at_a_time(void **state)
{
    static const char two[] = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                              "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    struct http_header hdrs[MAX_HEADERS];
    struct http_request req;
    (void)state;
    int n = parse_req(two, sizeof(two) - 1, &req, hdrs, MAX_HEADERS, NULL);
    assert_int_equal(n, 48);
    assert_span(req.path, req.path_len, "/a");
    assert_int_equal(req.framing, HTTP_BODY_LENGTH);
    assert_int_equal(req.content_length, 3);
    const char *next = two + n + 3;
    size_t rest = sizeof(two) - 1 - (size_t)n - 3;
    int m = parse_req(next, rest, &req, hdrs, MAX_HEADERS, NULL);
    assert_int_equal(m, (int)rest);
    assert_span(req.method, req.method_len, "GET");
    assert_span(req.path, req.path_len, "/b");
    assert_request_prefixes_incomplete(next, rest);
}

/* --- Malformed and smuggling-shaped requests -------------------------------------------------- */

struct bad_request {
    const char *name;
    const char *msg;
    size_t len;
    int status;
};

#define H "GET / HTTP/1.1\r\nHost: h\r\n"
#define P "POST / HTTP/1.1\r\nHost: h\r\n"

static const struct bad_request bad_requests[] = {
    {"CL then TE", S(P "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), 400},
    {"TE then CL", S(P "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), 400},
    {"TE chunked by obs-fold", S(P "Transfer-Encoding:\r\n chunked\r\n\r\n"), 400},
    {"TE value folded", S(P "Transfer-Encoding: gzip,\r\n\tchunked\r\n\r\n"), 400},
    {"space before colon (TE)", S(P "Transfer-Encoding : chunked\r\n\r\n"), 400},
    {"tab before colon (CL)", S(P "Content-Length\t: 5\r\n\r\n"), 400},
    {"differing Content-Length fields", S(P "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400},
    {"differing Content-Length list", S(P "Content-Length: 5, 6\r\n\r\n"), 400},
    {"Content-Length with plus", S(P "Content-Length: +5\r\n\r\n"), 400},
    {"Content-Length negative", S(P "Content-Length: -5\r\n\r\n"), 400},
    {"Content-Length hex", S(P "Content-Length: 0x5\r\n\r\n"), 400},
    {"Content-Length with inner space", S(P "Content-Length: 1 0\r\n\r\n"), 400},
    {"Content-Length empty", S(P "Content-Length:\r\n\r\n"), 400},
    {"Content-Length empty element", S(P "Content-Length: 5,\r\n\r\n"), 400},
    {"Content-Length decimal point", S(P "Content-Length: 5.0\r\n\r\n"), 400},
    {"Content-Length 2^63", S(P "Content-Length: 9223372036854775808\r\n\r\n"), 400},
    {"Content-Length 2^64+", S(P "Content-Length: 99999999999999999999999\r\n\r\n"), 400},
    {"TE xchunked", S(P "Transfer-Encoding: xchunked\r\n\r\n"), 400},
    {"TE chunked then identity", S(P "Transfer-Encoding: chunked, identity\r\n\r\n"), 400},
    {"TE field twice", S(P "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), 400},
    {"TE chunked twice in a list", S(P "Transfer-Encoding: chunked, chunked\r\n\r\n"), 400},
    {"TE chunked not final over fields", S(P "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"), 400},
    {"TE gzip alone", S(P "Transfer-Encoding: gzip\r\n\r\n"), 400},
    {"TE identity", S(P "Transfer-Encoding: identity\r\n\r\n"), 400},
    {"TE with parameters", S(P "Transfer-Encoding: chunked;q=1\r\n\r\n"), 400},
    {"TE empty", S(P "Transfer-Encoding:\r\n\r\n"), 400},
    {"TE trailing empty element", S(P "Transfer-Encoding: chunked,\r\n\r\n"), 400},
    {"TE vertical tab", S(P "Transfer-Encoding: \x0b" "chunked\r\n\r\n"), 400},
    {"TE in HTTP/1.0", S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400},
    {"TE unknown coding", S(P "Transfer-Encoding: foo, chunked\r\n\r\n"), 501},
    {"TE unknown coding over fields", S(P "Transfer-Encoding: br\r\nTransfer-Encoding: chunked\r\n\r\n"), 501},
    {"bare CR in a value", S(H "X-A: a\rb\r\n\r\n"), 400},
    {"bare CR before CRLF", S(H "X-A: a\r\r\n\r\n"), 400},
    {"bare CR in request line", S("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"bare CR ends head", S(H "\rX"), 400},
    {"bare LF everywhere", S("GET / HTTP/1.1\nHost: h\n\n"), 400},
    {"bare LF after request line", S("GET / HTTP/1.1\nHost: h\r\n\r\n"), 400},
    {"bare LF after a field", S(H "X-A: b\nX-B: c\r\n\r\n"), 400},
    {"bare LF ends head", S(H "\n"), 400},
    {"bare LF before request line", S("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"NUL in a value", S(H "X-A: a\0b\r\n\r\n"), 400},
    {"NUL in target", S("GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"NUL in method", S("G\0T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"NUL in a name", S(H "X\0A: b\r\n\r\n"), 400},
    {"DEL in a value", S(H "X-A: a\x7f\r\n\r\n"), 400},
    {"obs-fold", S(H "X-A: a\r\n  b\r\n\r\n"), 400},
    {"name with space", S(H "X A: b\r\n\r\n"), 400},
    {"name with at sign", S(H "X@A: b\r\n\r\n"), 400},
    {"name with quote", S(H "X\"A: b\r\n\r\n"), 400},
    {"name with slash", S(H "X/A: b\r\n\r\n"), 400},
    {"empty name", S(H ": b\r\n\r\n"), 400},
    {"no colon", S(H "X-A\r\n\r\n"), 400},
    {"two Hosts", S(H "Host: h\r\n\r\n"), 400},
    {"two different Hosts", S(H "Host: evil\r\n\r\n"), 400},
    {"two Hosts in HTTP/1.0", S("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400},
    {"no Host in HTTP/1.1", S("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"), 400},
    {"no Host with absolute-form", S("GET http://h/ HTTP/1.1\r\n\r\n"), 400},
    {"empty Host", S("GET / HTTP/1.1\r\nHost:\r\n\r\n"), 400},
    {"Host with space", S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400},
    {"Host with slash", S("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400},
    {"Host with userinfo", S("GET / HTTP/1.1\r\nHost: u@h\r\n\r\n"), 400},
    {"Host with bad port", S("GET / HTTP/1.1\r\nHost: h:80x\r\n\r\n"), 400},
    {"Host with big port", S("GET / HTTP/1.1\r\nHost: h:65536\r\n\r\n"), 400},
    {"whitespace line before first header", S("GET / HTTP/1.1\r\n \r\nHost: h\r\n\r\n"), 400},
    {"indented first header", S("GET / HTTP/1.1\r\n Host: h\r\n\r\n"), 400},
    {"tab-indented first header", S("GET / HTTP/1.1\r\n\tX: y\r\nHost: h\r\n\r\n"), 400},
    {"two spaces after method", S("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"two spaces after target", S("GET /  HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"tab separator", S("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"space after version", S("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), 400},
    {"leading space", S(" GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"lowercase version", S("GET / http/1.1\r\nHost: h\r\n\r\n"), 400},
    {"HTTP/1.2", S("GET / HTTP/1.2\r\nHost: h\r\n\r\n"), 400},
    {"HTTP/2.0", S("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 400},
    {"HTTP/1.10", S("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), 400},
    {"HTTP/0.9 request", S("GET /\r\n\r\n"), 400},
    {"no version", S("GET / \r\nHost: h\r\n\r\n"), 400},
    {"method with paren", S("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"a status line as request", S("HTTP/1.1 200 OK\r\n\r\n"), 400},
    {"relative target", S("GET foo HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"asterisk with GET", S("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"CONNECT with origin-form", S("CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"CONNECT without port", S("CONNECT example.com HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"authority-form without CONNECT", S("GET example.com:80 HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"absolute-form ftp", S("GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"absolute-form with userinfo", S("GET http://u:p@h/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"absolute-form empty authority", S("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"absolute-form query without path", S("GET http://h?x HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"non-ASCII target", S("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"DEL in target", S("GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {"tab in target", S("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
};

static void test_malformed_requests_are_refused_with_exact_status(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_requests) / sizeof(bad_requests[0]); i++) {
        const struct bad_request *b = &bad_requests[i];
        struct http_header hdrs[MAX_HEADERS];
        struct http_request req;
        char *buf = copy(b->msg, b->len);
        int rc = parse_req(buf, b->len, &req, hdrs, MAX_HEADERS, NULL);
        free(buf);
        if (rc != HTTP_ERROR || req.error != b->status) {
            print_error("%s: rc %d error %d (%s), want %d\n", b->name, rc, req.error,
                        req.error_reason ? req.error_reason : "", b->status);
            fail();
        }
        assert_non_null(req.error_reason);
    }
}

static void test_garbage_request_line_refused_before_headers(void **state)
{
    struct http_header hdrs[4];
    struct http_request req;
    (void)state;
    assert_int_equal(parse_req(S("G@T"), &req, hdrs, 4, NULL), HTTP_ERROR);
    assert_int_equal(req.error, 400);
    assert_int_equal(parse_req(S("GET /a\x01"), &req, hdrs, 4, NULL), HTTP_ERROR);
    assert_int_equal(parse_req(S("GET / HTTX"), &req, hdrs, 4, NULL), HTTP_ERROR);
    assert_int_equal(parse_req(S("GET / HTTP/1.1\r\nHost : "), &req, hdrs, 4, NULL), HTTP_ERROR);
    assert_int_equal(parse_req(S("GET / HTTP/1.1\r\nX: a\nb"), &req, hdrs, 4, NULL), HTTP_ERROR);
    assert_int_equal(parse_req(S("\x16\x03\x01\x02"), &req, hdrs, 4, NULL), HTTP_ERROR); /* TLS */
    assert_int_equal(req.error, 400);
}

static void test_framing_conflicts_refused_before_head_ends(void **state)
{
    struct http_header hdrs[8];
    struct http_request req;
    struct http_response res;
    (void)state;
    /* no empty line yet: the conflict is already known */
    assert_int_equal(parse_req(S(P "Content-Length: 1\r\nContent-Length: 2\r\n"), &req, hdrs, 8, NULL),
                     HTTP_ERROR);
    assert_int_equal(req.error, 400);
    assert_int_equal(parse_req(S(P "Transfer-Encoding: chunked\r\nContent-Length: 2\r\n"), &req, hdrs,
                               8, NULL),
                     HTTP_ERROR);
    assert_int_equal(req.error, 400);
    assert_int_equal(parse_req(S("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n"), &req, hdrs, 8, NULL),
                     HTTP_ERROR);
    assert_int_equal(parse_res(S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n"), &res,
                               hdrs, 8, false),
                     HTTP_ERROR);
    assert_int_equal(res.error, 502);
    /* but a missing Host or a TE list is judged only at the end: more fields may come */
    assert_int_equal(parse_req(S("GET / HTTP/1.1\r\nAccept: */*\r\n"), &req, hdrs, 8, NULL),
                     HTTP_INCOMPLETE);
    assert_int_equal(parse_req(S(P "Transfer-Encoding: gzip\r\n"), &req, hdrs, 8, NULL), HTTP_INCOMPLETE);
}

static void test_chunked_not_final_is_400_before_unknown_coding_501(void **state)
{
    struct http_header hdrs[8];
    struct http_request req;
    (void)state;
    /* RFC 9112 6.3 (MUST 400) takes precedence over 6.1 (SHOULD 501) */
    assert_int_equal(parse_req(S(P "Transfer-Encoding: foo\r\n\r\n"), &req, hdrs, 8, NULL), HTTP_ERROR);
    assert_int_equal(req.error, 400);
    assert_int_equal(parse_req(S(P "Transfer-Encoding: foo, chunked\r\n\r\n"), &req, hdrs, 8, NULL),
                     HTTP_ERROR);
    assert_int_equal(req.error, 501);
    assert_string_equal(req.error_reason, "unknown transfer coding");
    assert_int_equal(parse_req(S(P "Transfer-Encoding: x-gzip, deflate, compress, x-compress, chunked\r\n\r\n"),
                               &req, hdrs, 8, NULL),
                     (int)sizeof(P "Transfer-Encoding: x-gzip, deflate, compress, x-compress, chunked\r\n\r\n") - 1);
    assert_int_equal(req.framing, HTTP_BODY_CHUNKED);
}

static void test_empty_input_is_incomplete(void **state)
{
    struct http_header hdrs[4];
    struct http_request req = {.headers = hdrs, .num_headers = 4};
    struct http_response res = {.headers = hdrs, .num_headers = 4};
    struct http_chunked dec;
    const char *data;
    size_t data_len;
    (void)state;
    assert_int_equal(http_parse_request(NULL, 0, &req, NULL), HTTP_INCOMPLETE);
    assert_int_equal(req.num_headers, 0);
    assert_int_equal(http_parse_response(NULL, 0, &res, NULL, false), HTTP_INCOMPLETE);
    http_chunked_init(&dec);
    assert_int_equal(http_chunked_feed(&dec, NULL, 0, &data, &data_len), 0);
    assert_int_equal(data_len, 0);
    assert_false(dec.done);
}

static void test_request_line_limit_is_414_before_line_ends(void **state)
{
    struct http_header hdrs[4];
    struct http_request req;
    struct http_limits limits = {.max_start_line = 32, .max_header_bytes = 1024, .max_headers = 10};
    char line[64];
    (void)state;

    /* exactly at the limit: accepted */
    snprintf(line, sizeof(line), "GET /%s HTTP/1.1", "aaaaaaaaaaaaaaaaaa");
    assert_int_equal(strlen(line), 32);
    char msg[128];
    int n = snprintf(msg, sizeof(msg), "%s\r\nHost: h\r\n\r\n", line);
    assert_int_equal(parse_req(msg, (size_t)n, &req, hdrs, 4, &limits), n);

    /* one more byte: 414, and already without the CRLF or anything after */
    n = snprintf(msg, sizeof(msg), "GET /%s HTTP/1.1\r\nHost: h\r\n\r\n", "aaaaaaaaaaaaaaaaaaa");
    assert_int_equal(parse_req(msg, (size_t)n, &req, hdrs, 4, &limits), HTTP_ERROR);
    assert_int_equal(req.error, 414);
    assert_int_equal(parse_req(msg, 33, &req, hdrs, 4, &limits), HTTP_ERROR);
    assert_int_equal(req.error, 414);
    assert_int_equal(parse_req(msg, 32, &req, hdrs, 4, &limits), HTTP_INCOMPLETE);

    /* default limit: an 8193-byte target never ending */
    size_t big = 10000;
    char *huge = malloc(big);
    assert_non_null(huge);
    memcpy(huge, "GET /", 5);
    memset(huge + 5, 'a', big - 5);
    assert_int_equal(parse_req(huge, big, &req, hdrs, 4, NULL), HTTP_ERROR);
    assert_int_equal(req.error, 414);
    assert_int_equal(parse_req(huge, 8192, &req, hdrs, 4, NULL), HTTP_INCOMPLETE);
    free(huge);
}

static void test_too_many_headers_is_431(void **state)
{
    struct http_header hdrs[8];
    struct http_request req;
    struct http_limits limits = {.max_start_line = 100, .max_header_bytes = 4096, .max_headers = 3};
    (void)state;
    static const char three[] = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
    static const char four[] = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_int_equal(parse_req(S(three), &req, hdrs, 8, &limits), (int)sizeof(three) - 1);
    assert_int_equal(req.num_headers, 3);
    assert_int_equal(parse_req(S(four), &req, hdrs, 8, &limits), HTTP_ERROR);
    assert_int_equal(req.error, 431);
    /* the caller's array bounds it too */
    limits.max_headers = 100;
    assert_int_equal(parse_req(S(four), &req, hdrs, 3, &limits), HTTP_ERROR);
    assert_int_equal(req.error, 431);
    /* refused as soon as the extra field begins */
    assert_int_equal(parse_req(four, sizeof(four) - 6, &req, hdrs, 3, &limits), HTTP_ERROR);
    assert_int_equal(req.error, 431);
}

static void test_header_block_limit_is_431(void **state)
{
    struct http_header hdrs[8];
    struct http_request req;
    static const char msg[] = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: 0123456789\r\n\r\n";
    size_t n = sizeof(msg) - 1;
    struct http_limits limits = {.max_start_line = 100, .max_header_bytes = n, .max_headers = 8};
    (void)state;
    assert_int_equal(parse_req(msg, n, &req, hdrs, 8, &limits), (int)n);
    limits.max_header_bytes = n - 1;
    assert_int_equal(parse_req(msg, n, &req, hdrs, 8, &limits), HTTP_ERROR);
    assert_int_equal(req.error, 431);
    assert_int_equal(parse_req(msg, n - 1, &req, hdrs, 8, &limits), HTTP_INCOMPLETE);

    /* default limit: 70000 bytes of one header value */
    size_t big = 70000;
    char *huge = malloc(big);
    assert_non_null(huge);
    memcpy(huge, "GET / HTTP/1.1\r\nX: ", 19);
    memset(huge + 19, 'v', big - 19);
    assert_int_equal(parse_req(huge, big, &req, hdrs, 8, NULL), HTTP_ERROR);
    assert_int_equal(req.error, 431);
    free(huge);
}

/* --- Responses ------------------------------------------------------------------------------- */

struct valid_response {
    const char *name;
    const char *msg;
    size_t len;
    bool head;
    int minor;
    int status;
    const char *reason;
    enum http_framing framing;
    uint64_t content_length;
    bool keep_alive;
    size_t num_headers;
};

static const struct valid_response valid_responses[] = {
    {"200 with length", S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Backend: a\r\n\r\n"), false, 1,
     200, "OK", HTTP_BODY_LENGTH, 5, true, 2},
    {"chunked", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), false, 1, 200, "OK",
     HTTP_BODY_CHUNKED, 0, true, 1},
    {"empty reason", S("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"), false, 1, 200, "",
     HTTP_BODY_LENGTH, 0, true, 1},
    {"no reason, no SP", S("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n"), false, 1, 404, "",
     HTTP_BODY_LENGTH, 0, true, 1},
    {"reason with spaces", S("HTTP/1.1 503 Service  Unavailable\r\nContent-Length: 0\r\n\r\n"), false,
     1, 503, "Service  Unavailable", HTTP_BODY_LENGTH, 0, true, 1},
    {"204 no body", S("HTTP/1.1 204 No Content\r\n\r\n"), false, 1, 204, "No Content",
     HTTP_BODY_NONE, 0, true, 0},
    {"304 with a length", S("HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n"), false, 1,
     304, "Not Modified", HTTP_BODY_NONE, 0, true, 1},
    {"HEAD response", S("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"), true, 1, 200, "OK",
     HTTP_BODY_NONE, 0, true, 1},
    {"HEAD response chunked", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), true, 1,
     200, "OK", HTTP_BODY_NONE, 0, true, 1},
    {"HTTP/1.0 until close", S("HTTP/1.0 200 OK\r\nServer: x\r\n\r\n"), false, 0, 200, "OK",
     HTTP_BODY_UNTIL_CLOSE, 0, false, 1},
    {"HTTP/1.1 until close", S("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"), false, 1, 200,
     "OK", HTTP_BODY_UNTIL_CLOSE, 0, false, 1},
    {"TE not ending in chunked", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), false, 1,
     200, "OK", HTTP_BODY_UNTIL_CLOSE, 0, false, 1},
    {"101 upgrade",
     S("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
     false, 1, 101, "Switching Protocols", HTTP_BODY_NONE, 0, true, 2},
    {"100 continue", S("HTTP/1.1 100 Continue\r\n\r\n"), false, 1, 100, "Continue", HTTP_BODY_NONE,
     0, true, 0},
    {"HTTP/1.0 keep-alive", S("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n"),
     false, 0, 200, "OK", HTTP_BODY_LENGTH, 2, true, 2},
    {"Connection close", S("HTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Length: 2\r\n\r\n"),
     false, 1, 500, "Oops", HTTP_BODY_LENGTH, 2, false, 2},
};

static void test_valid_responses_parse_and_prefixes_are_incomplete(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid_responses) / sizeof(valid_responses[0]); i++) {
        const struct valid_response *v = &valid_responses[i];
        struct http_header hdrs[MAX_HEADERS];
        struct http_response res;
        char *buf = copy(v->msg, v->len);
        int rc = parse_res(buf, v->len, &res, hdrs, MAX_HEADERS, v->head);
        if (rc != (int)v->len)
            print_error("%s: rc %d error %d (%s)\n", v->name, rc, res.error,
                        res.error_reason ? res.error_reason : "");
        assert_int_equal(rc, (int)v->len);
        assert_int_equal(res.minor_version, v->minor);
        assert_int_equal(res.status, v->status);
        assert_int_equal(res.reason_len, strlen(v->reason));
        assert_memory_equal(res.reason, v->reason, res.reason_len);
        assert_int_equal(res.framing, v->framing);
        if (v->framing == HTTP_BODY_LENGTH)
            assert_int_equal(res.content_length, v->content_length);
        assert_int_equal(res.keep_alive, v->keep_alive);
        assert_int_equal(res.num_headers, v->num_headers);
        free(buf);
        assert_response_prefixes_incomplete(v->msg, v->len, v->head);
    }
}

static const struct bad_request bad_responses[] = {
    {"two-digit status", S("HTTP/1.1 20 OK\r\n\r\n"), 502},
    {"four-digit status", S("HTTP/1.1 2000 OK\r\n\r\n"), 502},
    {"status below 100", S("HTTP/1.1 099 Low\r\n\r\n"), 502},
    {"status with letter", S("HTTP/1.1 2x0 OK\r\n\r\n"), 502},
    {"HTTP/1.2", S("HTTP/1.2 200 OK\r\n\r\n"), 502},
    {"HTTP/2", S("HTTP/2 200 OK\r\n\r\n"), 502},
    {"lowercase version", S("http/1.1 200 OK\r\n\r\n"), 502},
    {"two spaces", S("HTTP/1.1  200 OK\r\n\r\n"), 502},
    {"not HTTP", S("ICY 200 OK\r\n\r\n"), 502},
    {"bare LF", S("HTTP/1.1 200 OK\nContent-Length: 0\n\n"), 502},
    {"bare CR in reason", S("HTTP/1.1 200 O\rK\r\n\r\n"), 502},
    {"NUL in reason", S("HTTP/1.1 200 O\0K\r\n\r\n"), 502},
    {"leading empty line", S("\r\nHTTP/1.1 200 OK\r\n\r\n"), 502},
    {"differing Content-Length", S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n"), 502},
    {"Content-Length list conflict", S("HTTP/1.1 200 OK\r\nContent-Length: 5, 7\r\n\r\n"), 502},
    {"Content-Length sign", S("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), 502},
    {"Content-Length letters", S("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n"), 502},
    {"CL and TE", S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), 502},
    {"chunked twice", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 502},
    {"TE in HTTP/1.0", S("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), 502},
    {"obs-fold", S("HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n"), 502},
    {"space before colon", S("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n"), 502},
    {"whitespace line first", S("HTTP/1.1 200 OK\r\n \r\n\r\n"), 502},
    {"CL on a 204 still checked", S("HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n"), 502},
};

static void test_malformed_responses_are_502(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_responses) / sizeof(bad_responses[0]); i++) {
        const struct bad_request *b = &bad_responses[i];
        struct http_header hdrs[MAX_HEADERS];
        struct http_response res;
        char *buf = copy(b->msg, b->len);
        int rc = parse_res(buf, b->len, &res, hdrs, MAX_HEADERS, false);
        free(buf);
        if (rc != HTTP_ERROR || res.error != b->status) {
            print_error("%s: rc %d error %d (%s), want %d\n", b->name, rc, res.error,
                        res.error_reason ? res.error_reason : "", b->status);
            fail();
        }
    }
}

static void test_response_limits_are_502(void **state)
{
    struct http_header hdrs[2];
    struct http_response res;
    struct http_limits limits = {.max_start_line = 20, .max_header_bytes = 64, .max_headers = 2};
    (void)state;
    memset(&res, 0, sizeof(res));
    res.headers = hdrs;
    res.num_headers = 2;
    assert_int_equal(http_parse_response(S("HTTP/1.1 200 A long reason phrase"), &res, &limits, false),
                     HTTP_ERROR);
    assert_int_equal(res.error, 502);
    res.num_headers = 2;
    assert_int_equal(http_parse_response(S("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), &res,
                                         &limits, false),
                     HTTP_ERROR);
    assert_int_equal(res.error, 502);
    res.num_headers = 2;
    assert_int_equal(http_parse_response(S("HTTP/1.1 200 OK\r\nA: 01234567890123456789012345678901234567890123456789\r\n\r\n"),
                                         &res, &limits, false),
                     HTTP_ERROR);
    assert_int_equal(res.error, 502);
}

/* --- Chunked decoder ------------------------------------------------------------------------- */

/* Decodes body[0..len) feeding at most step bytes per call. Returns the bytes consumed (the body
 * length when done) or -1 on error; the payload goes to out. */
static ssize_t decode(const char *body, size_t len, size_t step, char *out, size_t out_cap,
                      size_t *out_len, struct http_chunked *dec)
{
    char *buf = copy(body, len);
    size_t pos = 0;
    ssize_t result;

    http_chunked_init(dec);
    *out_len = 0;
    while (!dec->done && pos < len) {
        const char *data;
        size_t data_len;
        size_t n = len - pos < step ? len - pos : step;
        ssize_t used = http_chunked_feed(dec, buf + pos, n, &data, &data_len);
        if (used < 0) {
            result = -1;
            goto out_free;
        }
        assert_true((size_t)used <= n);
        assert_true(used > 0 || dec->done);
        if (data_len > 0) {
            assert_true(data >= buf + pos && data + data_len <= buf + pos + (size_t)used);
            assert_true(*out_len + data_len <= out_cap);
            memcpy(out + *out_len, data, data_len);
            *out_len += data_len;
        }
        pos += (size_t)used;
    }
    result = (ssize_t)pos;
out_free:
    free(buf);
    return result;
}

struct chunked_case {
    const char *name;
    const char *body;
    size_t len;
    const char *payload;
    size_t consumed; /* 0: the whole body */
};

static const struct chunked_case good_chunked[] = {
    {"two chunks", S("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), "hello world", 0},
    {"upper-case hex", S("A\r\n0123456789\r\n0\r\n\r\n"), "0123456789", 0},
    {"leading zeros", S("0005\r\nhello\r\n000\r\n\r\n"), "hello", 0},
    {"extensions", S("5;name=value\r\nhello\r\n1 ; a=\"q\" ;b\r\n!\r\n0;last\r\n\r\n"), "hello!", 0},
    {"trailers", S("3\r\nabc\r\n0\r\nX-Checksum: 123\r\nOther:\tw \r\n\r\n"), "abc", 0},
    {"trailers named like framing fields but longer or shorter",
     S("0\r\nContent-Lengths: 1\r\nHostname: h\r\nHos: h\r\nTransfer-Encodin: x\r\n\r\n"), "", 0},
    {"empty body", S("0\r\n\r\n"), "", 0},
    {"stops at the end of the body", S("2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), "hi", 12},
    {"binary payload", S("4\r\n\0\r\n\xff\r\n0\r\n\r\n"), "\0\r\n\xff", 0},
};

static void test_chunked_decodes_whole_and_byte_by_byte(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(good_chunked) / sizeof(good_chunked[0]); i++) {
        const struct chunked_case *c = &good_chunked[i];
        size_t want_len = strcmp(c->name, "binary payload") == 0 ? 4 : strlen(c->payload);
        size_t consumed = c->consumed ? c->consumed : c->len;
        static const size_t steps[] = {1, 2, 3, 7, 1 << 20};
        for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
            char out[256];
            size_t out_len;
            struct http_chunked dec;
            ssize_t n = decode(c->body, c->len, steps[s], out, sizeof(out), &out_len, &dec);
            if (n != (ssize_t)consumed || !dec.done || out_len != want_len ||
                memcmp(out, c->payload, want_len) != 0) {
                print_error("%s (step %zu): n %zd done %d out_len %zu\n", c->name, steps[s], n,
                            dec.done, out_len);
                fail();
            }
            assert_int_equal(dec.total, want_len);
        }
    }
}

static void test_chunked_prefixes_are_not_done(void **state)
{
    static const char body[] = "5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n";
    (void)state;
    for (size_t i = 0; i + 1 < sizeof(body); i++) {
        char out[64];
        size_t out_len;
        struct http_chunked dec;
        ssize_t n = decode(body, i, 1 << 20, out, sizeof(out), &out_len, &dec);
        assert_int_equal(n, (ssize_t)i);
        assert_int_equal(dec.done, i == sizeof(body) - 1);
    }
}

static void test_chunked_done_consumes_nothing_more(void **state)
{
    struct http_chunked dec;
    const char *data;
    size_t data_len;
    (void)state;
    http_chunked_init(&dec);
    assert_int_equal(http_chunked_feed(&dec, S("0\r\n\r\n"), &data, &data_len), 5);
    assert_true(dec.done);
    assert_int_equal(http_chunked_feed(&dec, S("more"), &data, &data_len), 0);
    assert_int_equal(data_len, 0);
}

static void test_chunked_big_size_up_to_2_63(void **state)
{
    struct http_chunked dec;
    const char *data;
    size_t data_len;
    (void)state;
    http_chunked_init(&dec);
    assert_int_equal(http_chunked_feed(&dec, S("7fffffffffffffff\r\nab"), &data, &data_len), 20);
    assert_int_equal(data_len, 2);
    assert_memory_equal(data, "ab", 2);
    assert_int_equal(dec.chunk_left, INT64_MAX - 2);
}

static const struct chunked_case bad_chunked[] = {
    {"non-hex size", S("x\r\n"), NULL, 0},
    {"0x prefix", S("0x10\r\n"), NULL, 0},
    {"negative", S("-1\r\n"), NULL, 0},
    {"plus sign", S("+5\r\nhello\r\n0\r\n\r\n"), NULL, 0},
    {"leading space", S(" 5\r\nhello\r\n0\r\n\r\n"), NULL, 0},
    {"empty size", S("\r\n"), NULL, 0},
    {"trailing space without extension", S("5 \r\nhello\r\n0\r\n\r\n"), NULL, 0},
    {"2^63", S("8000000000000000\r\n"), NULL, 0},
    {"17 hex digits", S("10000000000000000\r\n"), NULL, 0},
    {"overflow 2^64", S("ffffffffffffffffff\r\n"), NULL, 0},
    {"missing CRLF after data", S("5\r\nhelloX\r\n0\r\n\r\n"), NULL, 0},
    {"LF only after data", S("5\r\nhello\n0\r\n\r\n"), NULL, 0},
    {"LF only after size", S("5\nhello\r\n0\r\n\r\n"), NULL, 0},
    {"bare CR after size", S("5\rhello\r\n0\r\n\r\n"), NULL, 0},
    {"LF only at the end", S("0\r\n\n"), NULL, 0},
    {"CR CR at the end", S("0\r\n\r\r"), NULL, 0},
    {"CTL in extension", S("5;a\x01\r\nhello\r\n0\r\n\r\n"), NULL, 0},
    {"LF in extension", S("5;a\nhello\r\n0\r\n\r\n"), NULL, 0},
    {"trailer without colon", S("0\r\nbad\r\n\r\n"), NULL, 0},
    {"trailer obs-fold", S("0\r\nA: b\r\n c\r\n\r\n"), NULL, 0},
    {"trailer space before colon", S("0\r\nA : b\r\n\r\n"), NULL, 0},
    {"trailer bare LF", S("0\r\nA: b\n\r\n"), NULL, 0},
    {"trailer NUL", S("0\r\nA: b\0\r\n\r\n"), NULL, 0},
    {"Content-Length trailer", S("3\r\nabc\r\n0\r\nContent-Length: 50\r\n\r\n"), NULL, 0},
    {"Transfer-Encoding trailer", S("0\r\nX: y\r\ntransfer-ENCODING: chunked\r\n\r\n"), NULL, 0},
    {"Host trailer", S("0\r\nHOST: evil\r\n\r\n"), NULL, 0},
    {"semicolon without size", S(";x\r\n"), NULL, 0},
};

static void test_chunked_bad_framing_is_an_error(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_chunked) / sizeof(bad_chunked[0]); i++) {
        const struct chunked_case *c = &bad_chunked[i];
        static const size_t steps[] = {1, 1 << 20};
        for (size_t s = 0; s < 2; s++) {
            char out[64];
            size_t out_len;
            struct http_chunked dec;
            ssize_t n = decode(c->body, c->len, steps[s], out, sizeof(out), &out_len, &dec);
            if (n != -1) {
                print_error("%s (step %zu): accepted, n %zd\n", c->name, steps[s], n);
                fail();
            }
        }
    }
}

static void test_chunked_size_line_and_trailers_are_bounded(void **state)
{
    struct http_chunked dec;
    const char *data;
    size_t data_len;
    size_t n = 5000;
    char *line = malloc(n);
    (void)state;
    assert_non_null(line);

    /* a size line of 4096 bytes is fine, 4097 is not */
    memset(line, 'a', n);
    memcpy(line, "1;", 2);
    line[4096] = '\r';
    line[4097] = '\n';
    http_chunked_init(&dec);
    assert_int_equal(http_chunked_feed(&dec, line, 4098, &data, &data_len), 4098);
    line[4096] = 'a';
    http_chunked_init(&dec);
    assert_int_equal(http_chunked_feed(&dec, line, n, &data, &data_len), HTTP_ERROR);
    /* errors stick */
    assert_int_equal(http_chunked_feed(&dec, S("0\r\n\r\n"), &data, &data_len), HTTP_ERROR);
    free(line);

    /* a trailer section over 64 KiB */
    http_chunked_init(&dec);
    assert_int_equal(http_chunked_feed(&dec, S("0\r\n"), &data, &data_len), 3);
    static const char field[] = "X-Long-Trailer-Field: 0123456789012345678901234567890123456789\r\n";
    ssize_t rc = 0;
    for (int i = 0; i < 2000 && rc >= 0; i++)
        rc = http_chunked_feed(&dec, S(field), &data, &data_len);
    assert_int_equal(rc, HTTP_ERROR);
}

/* --- Helpers ------------------------------------------------------------------------------- */

static void test_list_has_token(void **state)
{
    (void)state;
    assert_true(http_list_has_token(S("keep-alive, Upgrade"), "upgrade"));
    assert_true(http_list_has_token(S(" close "), "close"));
    assert_true(http_list_has_token(S(",,close,"), "CLOSE"));
    assert_true(http_list_has_token(S("a,\tb\t,c"), "b"));
    assert_false(http_list_has_token(S("closed"), "close"));
    assert_false(http_list_has_token(S("xclose, close-it"), "close"));
    assert_false(http_list_has_token(S(""), "close"));
    /* only the given length counts */
    assert_false(http_list_has_token("keep-alive, close", 10, "close"));
}

static void test_hop_by_hop_includes_fields_named_in_connection(void **state)
{
    struct http_header hdrs[MAX_HEADERS];
    struct http_request req;
    static const char msg[] = "GET / HTTP/1.1\r\nHost: h\r\nConnection: close, X-Secret\r\n"
                              "Connection: x-other\r\nX-Secret: 1\r\nX-Other: 2\r\nX-Public: 3\r\n"
                              "Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n"
                              "Trailer: X\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n";
    (void)state;
    assert_int_equal(parse_req(S(msg), &req, hdrs, MAX_HEADERS, NULL), (int)sizeof(msg) - 1);
    size_t n = req.num_headers;
    const char *hop[] = {"Connection", "X-Secret", "X-Other", "Keep-Alive", "Proxy-Connection",
                         "TE", "Trailer", "Upgrade"};
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++) {
        const struct http_header *h = http_find_header(hdrs, n, hop[i]);
        assert_non_null(h);
        assert_true(http_is_hop_by_hop(h, hdrs, n));
    }
    assert_false(http_is_hop_by_hop(http_find_header(hdrs, n, "X-Public"), hdrs, n));
    assert_false(http_is_hop_by_hop(http_find_header(hdrs, n, "Host"), hdrs, n));
    struct http_header te = {"Transfer-Encoding", 17, "chunked", 7};
    assert_true(http_is_hop_by_hop(&te, hdrs, n));
}

static void test_connection_cannot_strip_content_length(void **state)
{
    struct http_header hdrs[MAX_HEADERS];
    struct http_request req;
    static const char msg[] = "POST / HTTP/1.1\r\nHost: h\r\nConnection: Content-Length, Host\r\n"
                              "Content-Length: 3\r\n\r\n";
    (void)state;
    assert_int_equal(parse_req(S(msg), &req, hdrs, MAX_HEADERS, NULL), (int)sizeof(msg) - 1);
    assert_false(http_is_hop_by_hop(http_find_header(hdrs, req.num_headers, "Content-Length"), hdrs,
                                    req.num_headers));
    assert_false(http_is_hop_by_hop(http_find_header(hdrs, req.num_headers, "Host"), hdrs,
                                    req.num_headers));
}

static void test_status_reason(void **state)
{
    (void)state;
    assert_string_equal(http_status_reason(200), "OK");
    assert_string_equal(http_status_reason(404), "Not Found");
    assert_string_equal(http_status_reason(414), "URI Too Long");
    assert_string_equal(http_status_reason(431), "Request Header Fields Too Large");
    assert_string_equal(http_status_reason(502), "Bad Gateway");
    assert_string_equal(http_status_reason(504), "Gateway Timeout");
    assert_string_equal(http_status_reason(999), "Unknown");
    assert_string_equal(http_status_reason(-1), "Unknown");
}

static void test_limits_default(void **state)
{
    struct http_limits l;
    (void)state;
    http_limits_default(&l);
    assert_int_equal(l.max_start_line, HTTP_LIMITS_DEFAULT_START_LINE);
    assert_int_equal(l.max_header_bytes, HTTP_LIMITS_DEFAULT_HEADER_BYTES);
    assert_int_equal(l.max_headers, HTTP_LIMITS_DEFAULT_HEADERS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_requests_parse_and_prefixes_are_incomplete),
        cmocka_unit_test(test_header_values_are_trimmed),
        cmocka_unit_test(test_pipelined_requests_parse_one_at_a_time),
        cmocka_unit_test(test_malformed_requests_are_refused_with_exact_status),
        cmocka_unit_test(test_garbage_request_line_refused_before_headers),
        cmocka_unit_test(test_framing_conflicts_refused_before_head_ends),
        cmocka_unit_test(test_chunked_not_final_is_400_before_unknown_coding_501),
        cmocka_unit_test(test_empty_input_is_incomplete),
        cmocka_unit_test(test_request_line_limit_is_414_before_line_ends),
        cmocka_unit_test(test_too_many_headers_is_431),
        cmocka_unit_test(test_header_block_limit_is_431),
        cmocka_unit_test(test_valid_responses_parse_and_prefixes_are_incomplete),
        cmocka_unit_test(test_malformed_responses_are_502),
        cmocka_unit_test(test_response_limits_are_502),
        cmocka_unit_test(test_chunked_decodes_whole_and_byte_by_byte),
        cmocka_unit_test(test_chunked_prefixes_are_not_done),
        cmocka_unit_test(test_chunked_done_consumes_nothing_more),
        cmocka_unit_test(test_chunked_big_size_up_to_2_63),
        cmocka_unit_test(test_chunked_bad_framing_is_an_error),
        cmocka_unit_test(test_chunked_size_line_and_trailers_are_bounded),
        cmocka_unit_test(test_list_has_token),
        cmocka_unit_test(test_hop_by_hop_includes_fields_named_in_connection),
        cmocka_unit_test(test_connection_cannot_strip_content_length),
        cmocka_unit_test(test_status_reason),
        cmocka_unit_test(test_limits_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
