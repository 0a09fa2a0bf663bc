/*
 * fuzz_headers.c - libFuzzer target for lb's head rewriting (lb/headers.c): parse, rewrite,
 * parse the rewrite again.
 *
 * The input's first byte picks the options (Connection: close, keep the chunked coding, the
 * Connection field of a response, a sticky cookie) and the output buffer's size (sometimes too
 * small, so -ENOSPC is exercised with ASan watching the buffer's end); the rest is parsed as a
 * request and as a response. Every rewrite that fits must parse again completely, to exactly its
 * length, as one message with the same framing and length as the original (the property that
 * keeps lb from desynchronising a backend connection: request smuggling), with one Host, one
 * X-Forwarded-For ending in the client address, and no hop-by-hop field but those lb adds. The
 * cookie, request-id and Host helpers are run over the same parse.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz_check.h"
#include "headers.h"
#include "http.h"

#define NH 64
/* lb adds up to four fields (Host, X-Forwarded-For, X-Forwarded-Proto, X-Request-ID) and a
 * Connection field; the session refuses a request whose rewrite passes the field limit (431),
 * so the reparse here allows for them. */
#define NH_OUT (NH + 8)
#define CLIENT_IP "192.0.2.1"

static size_t count(const struct http_header *hs, size_t n, const char *name)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += http_header_is(&hs[i], name);
    return c;
}

static const struct http_limits big = {
    .max_start_line = 1 << 20, .max_header_bytes = 1 << 22, .max_headers = NH_OUT};

static void check_request(const char *buf, size_t len, uint8_t flags)
{
    struct http_header hdrs[NH], out_hdrs[NH_OUT];
    struct http_request req = {.headers = hdrs, .num_headers = NH};
    int n = http_parse_request(buf, len, &req, NULL);
    if (n <= 0)
        return;

    const char *id;
    size_t id_len;
    if (headers_client_request_id(&req, &id, &id_len)) {
        CHECK(id_len >= 1 && id_len <= HEADERS_MAX_REQUEST_ID);
        CHECK(id >= buf && id + id_len <= buf + n);
    }
    const char *cv;
    size_t cv_len;
    if (headers_find_cookie(req.headers, req.num_headers, "sid", &cv, &cv_len))
        CHECK(cv_len > 0 && cv >= buf && cv + cv_len <= buf + n);

    struct headers_request_opts o = {.client_ip = CLIENT_IP,
                                     .proto = "http",
                                     .request_id = "0123456789abcdef",
                                     .request_id_len = 16,
                                     .default_host = "backend.example:8080",
                                     .close = flags & 1};
    size_t cap = (flags & 0x30) == 0x30 ? (size_t)n / 2 + 1 : (size_t)n * 2 + 1024;
    char *out = fuzz_alloc(cap);
    ssize_t w = headers_rewrite_request(&req, &o, out, cap);
    CHECK(w == -ENOSPC || (w > 0 && (size_t)w <= cap));
    if (w > 0) {
        struct http_request again = {.headers = out_hdrs, .num_headers = NH_OUT};
        int m = http_parse_request(out, (size_t)w, &again, &big);
        if (m != w)
            fprintf(stderr, "rewrite of %d bytes gave %d (%s):\n%.*s\n", n, m,
                    m == HTTP_ERROR ? again.error_reason : "", (int)w, out);
        CHECK(m == w);
        CHECK(again.framing == req.framing);
        CHECK(again.framing != HTTP_BODY_LENGTH || again.content_length == req.content_length);
        CHECK(again.method_len == req.method_len && memcmp(again.method, req.method, req.method_len) == 0);
        CHECK(again.minor_version == 1);
        CHECK(count(again.headers, again.num_headers, "Host") == 1);
        CHECK(count(again.headers, again.num_headers, "X-Forwarded-For") == 1);
        CHECK(count(again.headers, again.num_headers, "X-Forwarded-Proto") == 1);
        CHECK(count(again.headers, again.num_headers, "X-Request-ID") == 1);
        CHECK(count(again.headers, again.num_headers, "Keep-Alive") == 0);
        CHECK(count(again.headers, again.num_headers, "Proxy-Connection") == 0);
        CHECK(count(again.headers, again.num_headers, "TE") == 0);
        CHECK(count(again.headers, again.num_headers, "Trailer") == 0);
        CHECK(count(again.headers, again.num_headers, "Connection") <= 1);
        for (size_t i = 0; i < again.num_headers; i++) {
            const struct http_header *h = &again.headers[i];
            if (http_header_is(h, "X-Forwarded-For")) {
                size_t k = sizeof(CLIENT_IP) - 1;
                CHECK(h->value_len >= k && memcmp(h->value + h->value_len - k, CLIENT_IP, k) == 0);
            }
        }
        /* moving to another backend: the Host lb wrote is replaced in place */
        size_t cap2 = (size_t)w + 64;
        char *moved = fuzz_alloc(cap2);
        memcpy(moved, out, (size_t)w);
        ssize_t r = headers_replace_host(moved, (size_t)w, cap2, "other.example:9090");
        CHECK(r > 0 || r == -ENOSPC || r == -ENOENT);
        if (r > 0) {
            struct http_request third = {.headers = out_hdrs, .num_headers = NH_OUT};
            CHECK(http_parse_request(moved, (size_t)r, &third, &big) == r);
            CHECK(third.framing == req.framing);
            CHECK(count(third.headers, third.num_headers, "Host") == 1);
        }
        free(moved);
    }
    free(out);
}

static void check_response(const char *buf, size_t len, uint8_t flags)
{
    struct http_header hdrs[NH], out_hdrs[NH_OUT];
    struct http_response res = {.headers = hdrs, .num_headers = NH};
    bool head = flags & 0x40;
    int n = http_parse_response(buf, len, &res, NULL, head);
    if (n <= 0)
        return;

    static const enum headers_connection conns[] = {HEADERS_CONN_NONE, HEADERS_CONN_KEEP_ALIVE,
                                                    HEADERS_CONN_CLOSE, HEADERS_CONN_UPGRADE};
    struct headers_response_opts o = {.request_id = "0123456789abcdef",
                                      .request_id_len = (flags & 2) ? 16 : 0,
                                      .keep_chunked = res.framing == HTTP_BODY_CHUNKED,
                                      .connection = conns[(flags >> 2) & 3],
                                      .cookie_name = (flags & 0x80) ? "lbsid" : NULL,
                                      .cookie_value = "b1"};
    size_t cap = (flags & 0x30) == 0x30 ? (size_t)n / 2 + 1 : (size_t)n * 2 + 1024;
    char *out = fuzz_alloc(cap);
    ssize_t w = headers_rewrite_response(&res, &o, out, cap);
    CHECK(w == -ENOSPC || (w > 0 && (size_t)w <= cap));
    if (w > 0) {
        struct http_response again = {.headers = out_hdrs, .num_headers = NH_OUT};
        int m = http_parse_response(out, (size_t)w, &again, &big, head);
        if (m != w)
            fprintf(stderr, "rewrite of %d bytes gave %d (%s):\n%.*s\n", n, m,
                    m == HTTP_ERROR ? again.error_reason : "", (int)w, out);
        CHECK(m == w);
        CHECK(again.status == res.status);
        if (res.framing == HTTP_BODY_LENGTH || res.framing == HTTP_BODY_CHUNKED)
            CHECK(again.framing == res.framing);
        CHECK(again.framing != HTTP_BODY_LENGTH || again.content_length == res.content_length);
        CHECK(count(again.headers, again.num_headers, "X-Request-ID") == (o.request_id_len > 0));
        CHECK(count(again.headers, again.num_headers, "Keep-Alive") == 0);
        CHECK(count(again.headers, again.num_headers, "Connection") <= 1);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *buf = fuzz_dup(data + 1, size - 1);
    check_request(buf, size - 1, data[0]);
    check_response(buf, size - 1, data[0]);
    free(buf);
    return 0;
}
