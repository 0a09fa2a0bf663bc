/*
 * fuzz_http.c - libFuzzer target for the shared HTTP parser (common/http.c). Built and run by
 * `make fuzz` (tests/fuzz/fuzz.mk, scripts/fuzz.sh).
 *
 * Each input is parsed as a request and as a response (with default and with tiny limits), fed
 * to the chunked decoder whole and in pieces, and followed as a body of each framing by the body
 * tracker, whole and in pieces whose sizes the input itself chooses. Besides the sanitizers' checks it asserts the
 * contract's invariants: a result is an error, incomplete, or a length within the input; errors
 * carry a status of the documented set and a reason; every parsed field points inside the header
 * block; a complete head stays complete with the same length when more bytes follow, and every
 * proper prefix of a complete head is incomplete; the chunked decoder gives the same outcome and
 * payload however the bytes are split; the body tracker never takes more bytes than it is given,
 * takes fewer only where the body ends, agrees with the decoder beneath it, and gives the same
 * outcome however the bytes are split and whether fed or stepped span by span.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define NH 24

static bool inside(const char *p, size_t n, const char *buf, size_t len)
{
    return p != NULL && p >= buf && n <= len && p + n <= buf + len;
}

/* A complete head: ends in CRLF CRLF, every CR is followed by LF and every LF preceded by CR,
 * no NUL. */
static void check_head_bytes(const char *buf, size_t n)
{
    CHECK(n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
    for (size_t i = 0; i < n; i++) {
        CHECK(buf[i] != '\0');
        if (buf[i] == '\r')
            CHECK(i + 1 < n && buf[i + 1] == '\n');
        if (buf[i] == '\n')
            CHECK(i > 0 && buf[i - 1] == '\r');
    }
}

/* How many parsed fields are named name. */
static size_t count(const struct http_header *hdrs, size_t n, const char *name)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += http_header_is(&hdrs[i], name);
    return c;
}

static int req_once(const char *buf, size_t len, const struct http_limits *lim, struct http_request *req,
                    struct http_header *hdrs, size_t cap)
{
    memset(req, 0xa5, sizeof(*req));
    req->headers = hdrs;
    req->num_headers = cap;
    return http_parse_request(buf, len, req, lim);
}

static int res_once(const char *buf, size_t len, const struct http_limits *lim, struct http_response *res,
                    struct http_header *hdrs, size_t cap, bool head)
{
    memset(res, 0xa5, sizeof(*res));
    res->headers = hdrs;
    res->num_headers = cap;
    return http_parse_response(buf, len, res, lim, head);
}

/* A prefix copy on the heap, so reading past its end is caught. */
static int req_prefix(const char *buf, size_t k, const struct http_limits *lim, size_t cap)
{
    struct http_header hdrs[NH];
    struct http_request req;
    char *p = malloc(k ? k : 1);
    CHECK(p != NULL);
    memcpy(p, buf, k);
    int rc = req_once(p, k, lim, &req, hdrs, cap);
    free(p);
    return rc;
}

static int res_prefix(const char *buf, size_t k, const struct http_limits *lim, size_t cap, bool head)
{
    struct http_header hdrs[NH];
    struct http_response res;
    char *p = malloc(k ? k : 1);
    CHECK(p != NULL);
    memcpy(p, buf, k);
    int rc = res_once(p, k, lim, &res, hdrs, cap, head);
    free(p);
    return rc;
}

static void check_request(const char *buf, size_t len, const struct http_limits *lim, size_t cap)
{
    struct http_header hdrs[NH];
    struct http_request req;
    int rc = req_once(buf, len, lim, &req, hdrs, cap);

    CHECK(rc == HTTP_ERROR || rc == HTTP_INCOMPLETE || (rc > 0 && (size_t)rc <= len));
    CHECK(req.num_headers <= cap && req.num_headers <= lim->max_headers);
    if (rc == HTTP_ERROR) {
        CHECK(req.error == 400 || req.error == 414 || req.error == 431 || req.error == 501);
        CHECK(req.error_reason != NULL);
    }
    if (rc > 0) {
        size_t n = (size_t)rc;
        CHECK(n <= lim->max_header_bytes);
        CHECK(inside(req.method, req.method_len, buf, n) && req.method_len > 0);
        CHECK(inside(req.target, req.target_len, buf, n) && req.target_len > 0);
        CHECK(req.target_len <= lim->max_start_line);
        CHECK((req.path_len == 1 && req.path[0] == '/') || inside(req.path, req.path_len, buf, n));
        CHECK(req.host == NULL || inside(req.host, req.host_len, buf, n));
        CHECK(req.minor_version == 0 || req.minor_version == 1);
        CHECK(req.minor_version == 0 || req.host != NULL);
        CHECK(req.framing == HTTP_BODY_NONE || req.framing == HTTP_BODY_LENGTH ||
              req.framing == HTTP_BODY_CHUNKED);
        CHECK(req.framing != HTTP_BODY_LENGTH || req.content_length <= (uint64_t)INT64_MAX);
        for (size_t i = 0; i < req.num_headers; i++) {
            CHECK(inside(hdrs[i].name, hdrs[i].name_len, buf, n) && hdrs[i].name_len > 0);
            CHECK(hdrs[i].value_len == 0 || inside(hdrs[i].value, hdrs[i].value_len, buf, n));
            CHECK(memchr(hdrs[i].value, '\r', hdrs[i].value_len) == NULL);
            CHECK(memchr(hdrs[i].value, '\n', hdrs[i].value_len) == NULL);
            CHECK(memchr(hdrs[i].value, '\0', hdrs[i].value_len) == NULL);
        }
        check_head_bytes(buf, n);
        /* the framing agrees with the fields: never both, never a guess */
        size_t cl = count(hdrs, req.num_headers, "content-length");
        size_t te = count(hdrs, req.num_headers, "transfer-encoding");
        CHECK(!(cl > 0 && te > 0));
        CHECK((req.framing == HTTP_BODY_LENGTH) == (cl > 0));
        CHECK((req.framing == HTTP_BODY_CHUNKED) == (te > 0));
        CHECK(req.minor_version == 0 || count(hdrs, req.num_headers, "host") == 1);
        CHECK(req_prefix(buf, n - 1, lim, cap) == HTTP_INCOMPLETE);
        CHECK(req_prefix(buf, n / 2, lim, cap) == HTTP_INCOMPLETE);
        CHECK(req_prefix(buf, n / 3, lim, cap) == HTTP_INCOMPLETE);
    }
    /* A complete head in a prefix stays complete, an error stays an error. */
    int half = req_prefix(buf, len / 2, lim, cap);
    if (half > 0)
        CHECK(half == rc);
    if (half == HTTP_ERROR)
        CHECK(rc == HTTP_ERROR);
}

static void check_response(const char *buf, size_t len, const struct http_limits *lim, size_t cap,
                           bool head)
{
    struct http_header hdrs[NH];
    struct http_response res;
    int rc = res_once(buf, len, lim, &res, hdrs, cap, head);

    CHECK(rc == HTTP_ERROR || rc == HTTP_INCOMPLETE || (rc > 0 && (size_t)rc <= len));
    CHECK(res.num_headers <= cap);
    if (rc == HTTP_ERROR)
        CHECK(res.error == 502 && res.error_reason != NULL);
    if (rc > 0) {
        size_t n = (size_t)rc;
        CHECK(res.status >= 100 && res.status <= 999);
        CHECK(res.reason_len == 0 || inside(res.reason, res.reason_len, buf, n));
        if (head || res.status < 200 || res.status == 204 || res.status == 304)
            CHECK(res.framing == HTTP_BODY_NONE);
        CHECK(res.framing != HTTP_BODY_UNTIL_CLOSE || !res.keep_alive);
        for (size_t i = 0; i < res.num_headers; i++) {
            CHECK(inside(hdrs[i].name, hdrs[i].name_len, buf, n));
            CHECK(hdrs[i].value_len == 0 || inside(hdrs[i].value, hdrs[i].value_len, buf, n));
        }
        check_head_bytes(buf, n);
        CHECK(!(count(hdrs, res.num_headers, "content-length") > 0 &&
                count(hdrs, res.num_headers, "transfer-encoding") > 0));
        CHECK(res_prefix(buf, n - 1, lim, cap, head) == HTTP_INCOMPLETE);
        CHECK(res_prefix(buf, n / 2, lim, cap, head) == HTTP_INCOMPLETE);
    }
    int half = res_prefix(buf, len / 2, lim, cap, head);
    if (half > 0)
        CHECK(half == rc);
    if (half == HTTP_ERROR)
        CHECK(rc == HTTP_ERROR);
}

/* Decodes buf feeding pieces of at most step bytes (0: all at once). Returns the bytes consumed
 * or -1; the payload is appended to out (capacity len). */
static ssize_t chunked(const char *buf, size_t len, size_t step, char *out, size_t *out_len,
                       bool *done)
{
    struct http_chunked dec;
    size_t pos = 0;

    http_chunked_init(&dec);
    *out_len = 0;
    while (!dec.done && pos < len) {
        size_t n = step == 0 || len - pos < step ? len - pos : step;
        const char *data;
        size_t data_len;
        ssize_t used = http_chunked_feed(&dec, buf + pos, n, &data, &data_len);
        if (used < 0)
            return -1;
        CHECK((size_t)used <= n);
        CHECK(used > 0 || dec.done);
        if (data_len > 0) {
            CHECK(data >= buf + pos && data + data_len <= buf + pos + (size_t)used);
            CHECK(*out_len + data_len <= len);
            memcpy(out + *out_len, data, data_len);
            *out_len += data_len;
        }
        CHECK(dec.total == *out_len);
        pos += (size_t)used;
    }
    *done = dec.done;
    return (ssize_t)pos;
}

static void check_chunked(const char *buf, size_t len, size_t step)
{
    char *a = malloc(len + 1), *b = malloc(len + 1);
    size_t alen, blen;
    bool adone, bdone;
    CHECK(a != NULL && b != NULL);
    ssize_t ra = chunked(buf, len, 0, a, &alen, &adone);
    ssize_t rb = chunked(buf, len, step, b, &blen, &bdone);
    CHECK(ra == rb);
    if (ra >= 0) {
        CHECK(adone == bdone);
        CHECK(alen == blen && memcmp(a, b, alen) == 0);
    }
    free(a);
    free(b);
}

/* What the body tracker made of an input. */
struct body_outcome {
    bool error;
    bool done;
    uint64_t consumed;
    uint64_t payload;
};

/* Follows buf[0..len) as a body framed f (length cl), in pieces of sizes taken in turn from
 * sizes[0..nsizes) (each % 13 + 1; nsizes 0: all at once), through http_body_next when step,
 * else http_body_feed. */
static struct body_outcome body_follow(const char *buf, size_t len, enum http_framing f,
                                       uint64_t cl, const uint8_t *sizes, size_t nsizes,
                                       bool step)
{
    struct http_body b;
    size_t pos = 0, k = 0;

    http_body_init(&b, f, cl);
    while (pos < len && !b.done) {
        size_t n = nsizes == 0 ? len - pos : (size_t)(sizes[k++ % nsizes] % 13) + 1;
        const char *data = NULL;
        size_t data_len = 0;
        uint64_t payload_before = b.payload;
        ssize_t r;
        if (n > len - pos)
            n = len - pos;
        if (step)
            r = http_body_next(&b, buf + pos, n, &data, &data_len);
        else
            r = http_body_feed(&b, buf + pos, n);
        if (r < 0) {
            CHECK(r == HTTP_ERROR && b.error && !b.done && f == HTTP_BODY_CHUNKED);
            CHECK(data_len == 0);
            CHECK(http_body_feed(&b, buf, len) == HTTP_ERROR); /* and stays an error */
            CHECK(!http_body_eof(&b));
            return (struct body_outcome){.error = true};
        }
        CHECK((size_t)r <= n);
        CHECK(r > 0 || b.done);
        CHECK(step || (size_t)r == n || b.done); /* fewer only where the body ends */
        if (step) {
            CHECK(data_len == b.payload - payload_before);
            CHECK(data_len == 0 || (data >= buf + pos && data + data_len <= buf + pos + (size_t)r));
        }
        pos += (size_t)r;
        CHECK(b.consumed == pos);
        CHECK(b.payload <= b.consumed);
    }
    CHECK(http_body_feed(&b, buf + pos, len - pos) == (b.done ? 0 : (ssize_t)(len - pos)));
    struct body_outcome o = {.done = b.done, .consumed = b.consumed, .payload = b.payload};
    bool eof_ends = http_body_eof(&b);
    CHECK(eof_ends == (o.done || f == HTTP_BODY_UNTIL_CLOSE));
    return o;
}

static void check_body(const char *buf, size_t len, const uint8_t *sizes, size_t nsizes)
{
    static const enum http_framing framings[] = {HTTP_BODY_NONE, HTTP_BODY_LENGTH,
                                                 HTTP_BODY_CHUNKED, HTTP_BODY_UNTIL_CLOSE};
    uint64_t cl = len > 1 ? (uint64_t)sizes[1] % (len + 2) : 0;

    for (size_t i = 0; i < sizeof(framings) / sizeof(framings[0]); i++) {
        enum http_framing f = framings[i];
        struct body_outcome whole = body_follow(buf, len, f, cl, sizes, 0, false);
        struct body_outcome split = body_follow(buf, len, f, cl, sizes, nsizes, false);
        struct body_outcome stepped = body_follow(buf, len, f, cl, sizes, nsizes, true);
        CHECK(whole.error == split.error && whole.error == stepped.error);
        if (!whole.error) {
            CHECK(whole.done == split.done && whole.done == stepped.done);
            CHECK(whole.consumed == split.consumed && whole.consumed == stepped.consumed);
            CHECK(whole.payload == split.payload && whole.payload == stepped.payload);
            CHECK(whole.consumed <= len);
        }
        switch (f) {
        case HTTP_BODY_NONE: CHECK(whole.done && whole.consumed == 0); break;
        case HTTP_BODY_LENGTH:
            CHECK(whole.consumed == (cl < len ? cl : len) && whole.payload == whole.consumed);
            CHECK(whole.done == (cl <= len));
            break;
        case HTTP_BODY_UNTIL_CLOSE:
            CHECK(whole.consumed == len && whole.payload == len && !whole.done);
            break;
        case HTTP_BODY_CHUNKED: {
            /* the tracker agrees with the decoder beneath it */
            char *out = malloc(len + 1);
            size_t out_len;
            bool done;
            CHECK(out != NULL);
            ssize_t r = chunked(buf, len, 0, out, &out_len, &done);
            CHECK((r < 0) == whole.error);
            if (r >= 0)
                CHECK((uint64_t)r == whole.consumed && out_len == whole.payload &&
                      done == whole.done);
            free(out);
            break;
        }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_limits def, tiny = {.max_start_line = 40, .max_header_bytes = 200, .max_headers = 4};
    char *buf = malloc(size ? size : 1);

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    http_limits_default(&def);

    check_request(buf, size, &def, NH);
    check_request(buf, size, &tiny, 3);
    check_response(buf, size, &def, NH, false);
    check_response(buf, size, &def, NH, true);
    check_response(buf, size, &tiny, 4, false);
    check_chunked(buf, size, size > 0 ? (size_t)(data[0] % 7) + 1 : 1);
    check_body(buf, size, data, size < 64 ? size : 64);

    free(buf);
    return 0;
}
