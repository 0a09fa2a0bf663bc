/*
 * fuzz_body.c - libFuzzer target for the body tracker (common/http.c http_body_*) with random
 * framings, and as lb and lbtrace use it: a stream of responses, each head parsed, its body
 * followed, the bytes after it the next message.
 *
 * Input: a selector byte (framing, or "a stream of messages"), a Content-Length, up to 15 piece
 * sizes, then the bytes. Each body is followed five ways: whole, in the input's pieces through
 * http_body_feed(), through http_body_next() collecting the payload, through http_body_next()
 * taking only part of each span (the documented copy-restore-refeed pattern of a caller whose
 * buffer is full), and in pieces through http_body_skip() (as lb counts a spliced body it never
 * sees; a chunked body must refuse it, unchanged, and is fed instead). Asserts they agree on where the body ends, on error, and on
 * the payload; that a length body's payload is its bytes verbatim and a chunked one's is the
 * decoder's output; that http_body_remaining() and http_body_eof() say what the contract says.
 */
#include <string.h>

#include "fuzz_check.h"
#include "http.h"

#define NH 24

struct outcome {
    bool error, done;
    uint64_t consumed, payload;
    char *data; /* payload collected (stepped ways) */
    size_t data_len;
};

/* way 0: whole; 1: pieces via feed; 2: pieces via next; 3: pieces via next taking half spans;
 * 4: pieces via skip (feed for chunked) */
static struct outcome follow(const char *buf, size_t len, enum http_framing f, uint64_t cl,
                             const uint8_t *sizes, size_t nsizes, int way)
{
    struct outcome o = {.data = fuzz_alloc(len)};
    bool stepped = way == 2 || way == 3; /* the payload spans are collected */
    struct http_body b;
    size_t pos = 0, k = 0;

    http_body_init(&b, f, cl);
    CHECK(b.done == (f == HTTP_BODY_NONE || (f == HTTP_BODY_LENGTH && cl == 0)));
    while (pos < len && !b.done) {
        size_t n = way == 0 || nsizes == 0 ? len - pos : (size_t)sizes[k++ % nsizes] % 17 + 1;
        if (n > len - pos)
            n = len - pos;
        const char *data = NULL;
        size_t data_len = 0;
        ssize_t r;
        if (way == 4) {
            struct http_body before = b;
            r = http_body_skip(&b, n);
            if (f == HTTP_BODY_CHUNKED) {
                CHECK(r == HTTP_ERROR && b.consumed == before.consumed &&
                      b.payload == before.payload && b.done == before.done && !b.error);
                r = http_body_feed(&b, buf + pos, n);
            }
        } else if (way < 2) {
            r = http_body_feed(&b, buf + pos, n);
        } else {
            struct http_body copy = b;
            r = http_body_next(&b, buf + pos, n, &data, &data_len);
            if (way == 3 && r > 0 && data_len > 1) {
                /* take only half of the span: restore and feed up to there */
                size_t take = (size_t)(data - (buf + pos)) + data_len / 2;
                b = copy;
                ssize_t r2 = http_body_feed(&b, buf + pos, take);
                CHECK(r2 == (ssize_t)take);
                data_len /= 2;
                r = r2;
            }
        }
        if (r < 0) {
            CHECK(r == HTTP_ERROR && b.error && f == HTTP_BODY_CHUNKED);
            CHECK(http_body_feed(&b, buf, len) == HTTP_ERROR);
            CHECK(!http_body_eof(&b));
            o.error = true;
            return o;
        }
        CHECK((size_t)r <= n && (r > 0 || b.done));
        CHECK(stepped || (size_t)r == n || b.done);
        if (data_len > 0) {
            CHECK(data >= buf + pos && data + data_len <= buf + pos + (size_t)r);
            memcpy(o.data + o.data_len, data, data_len);
            o.data_len += data_len;
        }
        pos += (size_t)r;
        CHECK(b.consumed == pos && b.payload <= b.consumed);
        if (stepped)
            CHECK(b.payload == o.data_len);
    }
    if (b.done)
        CHECK(http_body_feed(&b, buf + pos, len - pos) == 0);
    uint64_t rem = http_body_remaining(&b);
    if (b.done)
        CHECK(rem == 0);
    else if (f == HTTP_BODY_LENGTH)
        CHECK(rem == cl - b.consumed);
    else
        CHECK(rem == UINT64_MAX);
    o.done = b.done;
    o.consumed = b.consumed;
    o.payload = b.payload;
    CHECK(http_body_eof(&b) == (o.done || f == HTTP_BODY_UNTIL_CLOSE));
    return o;
}

/* Follows one body all five ways; returns the bytes it took, or -1 on error. */
static long check_body(const char *buf, size_t len, enum http_framing f, uint64_t cl,
                       const uint8_t *sizes, size_t nsizes)
{
    struct outcome o[5];
    for (int w = 0; w < 5; w++)
        o[w] = follow(buf, len, f, cl, sizes, nsizes, w);
    for (int w = 1; w < 5; w++) {
        CHECK(o[w].error == o[0].error);
        if (!o[0].error)
            CHECK(o[w].done == o[0].done && o[w].consumed == o[0].consumed &&
                  o[w].payload == o[0].payload);
    }
    if (!o[0].error) {
        CHECK(o[2].data_len == o[3].data_len && memcmp(o[2].data, o[3].data, o[2].data_len) == 0);
        if (f == HTTP_BODY_LENGTH || f == HTTP_BODY_UNTIL_CLOSE)
            CHECK(o[2].data_len == o[0].consumed && memcmp(o[2].data, buf, o[2].data_len) == 0);
        if (f == HTTP_BODY_LENGTH)
            CHECK(o[0].consumed == (cl < len ? cl : len) && o[0].done == (cl <= len));
        if (f == HTTP_BODY_UNTIL_CLOSE)
            CHECK(o[0].consumed == len && !o[0].done);
        if (f == HTTP_BODY_NONE)
            CHECK(o[0].consumed == 0 && o[0].done);
    }
    long took = o[0].error ? -1 : (long)o[0].consumed;
    for (int w = 0; w < 5; w++)
        free(o[w].data);
    return took;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t sel = fuzz_u8(&in);
    uint64_t cl = fuzz_u32(&in);
    size_t nsizes;
    const uint8_t *sizes = fuzz_bytes(&in, fuzz_u8(&in) % 16, &nsizes);
    size_t len = in.left;
    char *buf = fuzz_dup(in.p, len);

    if (sel % 5 < 4) {
        /* one body, framing from the selector; a huge length now and then */
        if (sel & 0x80)
            cl = UINT64_MAX - cl;
        check_body(buf, len, (enum http_framing)(sel % 5), cl, sizes, nsizes);
    } else {
        /* a stream of responses, as a proxy or a tracer reads it */
        size_t pos = 0;
        for (int msgs = 0; msgs < 16 && pos < len; msgs++) {
            struct http_header hdrs[NH];
            struct http_response res = {.headers = hdrs, .num_headers = NH};
            int n = http_parse_response(buf + pos, len - pos, &res, NULL, sel & 0x40);
            if (n <= 0)
                break;
            pos += (size_t)n;
            long took = check_body(buf + pos, len - pos, res.framing, res.content_length, sizes,
                                   nsizes);
            if (took < 0 || res.framing == HTTP_BODY_UNTIL_CLOSE)
                break;
            pos += (size_t)took;
        }
    }
    free(buf);
    return 0;
}
