/*
 * test_http_body.c - unit tests of the body tracker (struct http_body in common/http.c).
 *
 * No sockets: each case is the bytes that follow a header block (a body, then often the start of
 * a pipelined next request), fed whole, one byte at a time and split in two at every point; all
 * must agree on how many bytes are body, on the decoded payload and on done/error. Then the
 * edges: malformed chunked framing stays an error, end of stream ends only an until-close body,
 * NONE and LENGTH 0 are done at once, and a Content-Length of 2^63 counts down without overflow.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <limits.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "http.h"

#define S(lit) (lit), (sizeof(lit) - 1)
#define NEXT_REQUEST "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"

struct body_case {
    const char *name;
    enum http_framing framing;
    uint64_t content_length;
    const char *in;
    size_t in_len;
    size_t want_used;    /* bytes that belong to the body */
    const char *payload; /* the decoded payload */
    bool want_done;
};

static const struct body_case cases[] = {
    {"none", HTTP_BODY_NONE, 0, S(NEXT_REQUEST), 0, "", true},
    {"length 0", HTTP_BODY_LENGTH, 0, S(NEXT_REQUEST), 0, "", true},
    {"length, pipelined", HTTP_BODY_LENGTH, 5, S("hello" NEXT_REQUEST), 5, "hello", true},
    {"length, short", HTTP_BODY_LENGTH, 10, S("hello"), 5, "hello", false},
    {"chunked, pipelined", HTTP_BODY_CHUNKED, 0, S("5\r\nhello\r\n0\r\n\r\n" NEXT_REQUEST), 15,
     "hello", true},
    {"chunked, several chunks", HTTP_BODY_CHUNKED, 0,
     S("3\r\nabc\r\nA\r\n0123456789\r\n1\r\nx\r\n0\r\n\r\n"), 34, "abc0123456789x", true},
    {"chunked, extensions and trailers", HTTP_BODY_CHUNKED, 0,
     S("5;name=value;q=\"a b\"\r\nhello\r\n0;last\r\nX-Sum: 1\r\nX-More:  two \r\n\r\n"
       NEXT_REQUEST),
     64, "hello", true},
    {"chunked, upper-case hex and BWS", HTTP_BODY_CHUNKED, 0,
     S("0B \t;ext\r\nhello world\r\n0\r\n\r\nX"), 28, "hello world", true},
    {"chunked, only the last chunk", HTTP_BODY_CHUNKED, 0, S("0\r\n\r\n" NEXT_REQUEST), 5, "",
     true},
    {"chunked, cut inside a chunk", HTTP_BODY_CHUNKED, 0, S("5\r\nhel"), 6, "hel", false},
    {"chunked, cut inside the trailers", HTTP_BODY_CHUNKED, 0, S("2\r\nhi\r\n0\r\nX: y\r\n"), 16,
     "hi", false},
    {"until close", HTTP_BODY_UNTIL_CLOSE, 0, S("everything\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), 33,
     "everything\r\n0\r\n\r\nGET / HTTP/1.1\r\n", false},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* A heap copy of exactly n bytes, so ASan sees any read past the end. */
static char *copy(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    assert_non_null(p);
    memcpy(p, s, n);
    return p;
}

/* Feeds in[0..len) in pieces of at most step bytes, the first piece first_len bytes (0: step), as
 * a caller would: every piece starts where the body stopped taking bytes. Returns bytes used. */
static size_t feed_pieces(struct http_body *b, const char *in, size_t len, size_t first_len,
                          size_t step)
{
    size_t off = 0;

    while (off < len && !b->done) {
        size_t n = off == 0 && first_len > 0 ? first_len : step;
        if (n > len - off)
            n = len - off;
        char *piece = copy(in + off, n);
        ssize_t r = http_body_feed(b, piece, n);
        free(piece);
        assert_true(r >= 0);
        assert_true((size_t)r <= n);
        if ((size_t)r < n)
            assert_true(b->done); /* fewer than offered only at the end of the body */
        off += (size_t)r;
        if ((size_t)r < n)
            break;
    }
    return off;
}

static void check_result(const struct body_case *c, const struct http_body *b, size_t used)
{
    if (used != c->want_used || b->done != c->want_done || b->error ||
        b->consumed != c->want_used || b->payload != strlen(c->payload))
        fail_msg("%s: used %zu (want %zu), consumed %llu, payload %llu (want %zu), done %d",
                 c->name, used, c->want_used, (unsigned long long)b->consumed,
                 (unsigned long long)b->payload, strlen(c->payload), b->done);
}

static void test_body_every_split_gives_the_same_result(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCASES; i++) {
        const struct body_case *c = &cases[i];
        struct http_body b;

        /* all at once */
        http_body_init(&b, c->framing, c->content_length);
        check_result(c, &b, feed_pieces(&b, c->in, c->in_len, 0, c->in_len));
        /* one byte at a time */
        http_body_init(&b, c->framing, c->content_length);
        check_result(c, &b, feed_pieces(&b, c->in, c->in_len, 0, 1));
        /* in two pieces, split at every point */
        for (size_t split = 1; split < c->in_len; split++) {
            http_body_init(&b, c->framing, c->content_length);
            check_result(c, &b, feed_pieces(&b, c->in, c->in_len, split, c->in_len));
        }
    }
}

/* Gathers the payload spans http_body_next() names, feeding pieces of step bytes. */
static size_t next_pieces(struct http_body *b, const char *in, size_t len, size_t step,
                          char *out, size_t *out_len)
{
    size_t off = 0;

    *out_len = 0;
    while (off < len && !b->done) {
        size_t n = len - off < step ? len - off : step;
        const char *data;
        size_t data_len;
        ssize_t r = http_body_next(b, in + off, n, &data, &data_len);
        assert_true(r > 0);
        assert_true((size_t)r <= n);
        if (data_len > 0) {
            assert_true(data >= in + off && data + data_len <= in + off + (size_t)r);
            memcpy(out + *out_len, data, data_len);
            *out_len += data_len;
        }
        off += (size_t)r;
    }
    return off;
}

static void test_body_next_spans_decode_the_payload(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCASES; i++) {
        const struct body_case *c = &cases[i];
        size_t steps[] = {1, 2, 3, 7, c->in_len};
        for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
            struct http_body b;
            char out[256];
            size_t out_len;
            http_body_init(&b, c->framing, c->content_length);
            size_t used = next_pieces(&b, c->in, c->in_len, steps[k], out, &out_len);
            check_result(c, &b, used);
            if (out_len != strlen(c->payload) || memcmp(out, c->payload, out_len) != 0)
                fail_msg("%s, step %zu: payload \"%.*s\", want \"%s\"", c->name, steps[k],
                         (int)out_len, out, c->payload);
        }
    }
}

static void test_body_next_names_each_chunk_span(void **state)
{
    static const char in[] = "5;x=1\r\nhello\r\n3\r\nabc\r\n0\r\nT: v\r\n\r\n" NEXT_REQUEST;
    struct http_body b;
    const char *data;
    size_t data_len;
    (void)state;

    http_body_init(&b, HTTP_BODY_CHUNKED, 0);
    /* size line and the first chunk's data */
    assert_int_equal(http_body_next(&b, in, sizeof(in) - 1, &data, &data_len), 12);
    assert_ptr_equal(data, in + 7);
    assert_int_equal(data_len, 5);
    /* CRLF, size line, second chunk */
    assert_int_equal(http_body_next(&b, in + 12, sizeof(in) - 13, &data, &data_len), 8);
    assert_ptr_equal(data, in + 17);
    assert_int_equal(data_len, 3);
    assert_false(b.done);
    /* CRLF, last chunk, trailer, final CRLF: framing only */
    assert_int_equal(http_body_next(&b, in + 20, sizeof(in) - 21, &data, &data_len), 13);
    assert_null(data);
    assert_int_equal(data_len, 0);
    assert_true(b.done);
    assert_int_equal(b.consumed, 33);
    assert_int_equal(b.payload, 8);
    /* the next request is not the body's */
    assert_int_equal(http_body_next(&b, in + 33, sizeof(in) - 34, &data, &data_len), 0);
    assert_int_equal(data_len, 0);

    /* a piece that holds only framing names no span */
    http_body_init(&b, HTTP_BODY_CHUNKED, 0);
    assert_int_equal(http_body_next(&b, S("5;x=1\r"), &data, &data_len), 6);
    assert_int_equal(data_len, 0);
    assert_int_equal(http_body_next(&b, S("\nhel"), &data, &data_len), 4);
    assert_int_equal(data_len, 3);
    assert_memory_equal(data, "hel", 3);
}

static void test_body_next_length_and_until_close_spans_are_the_bytes(void **state)
{
    static const char in[] = "0123456789";
    struct http_body b;
    const char *data;
    size_t data_len;
    (void)state;

    http_body_init(&b, HTTP_BODY_LENGTH, 4);
    assert_int_equal(http_body_next(&b, in, 10, &data, &data_len), 4);
    assert_ptr_equal(data, in);
    assert_int_equal(data_len, 4);
    assert_true(b.done);

    http_body_init(&b, HTTP_BODY_UNTIL_CLOSE, 99);
    assert_int_equal(http_body_next(&b, in, 10, &data, &data_len), 10);
    assert_ptr_equal(data, in);
    assert_int_equal(data_len, 10);
    assert_false(b.done);
}

static void test_body_none_and_length_0_are_done_at_init(void **state)
{
    struct http_body b;
    (void)state;

    http_body_init(&b, HTTP_BODY_NONE, 123); /* the length means nothing without LENGTH */
    assert_true(b.done);
    assert_false(b.error);
    assert_int_equal(http_body_feed(&b, S("GET")), 0);
    assert_int_equal(http_body_remaining(&b), 0);
    assert_true(http_body_eof(&b));

    http_body_init(&b, HTTP_BODY_LENGTH, 0);
    assert_true(b.done);
    assert_int_equal(http_body_feed(&b, S("GET")), 0);
    assert_int_equal(b.consumed, 0);
    assert_true(http_body_eof(&b));

    http_body_init(&b, HTTP_BODY_CHUNKED, 0);
    assert_false(b.done);
    http_body_init(&b, HTTP_BODY_UNTIL_CLOSE, 0);
    assert_false(b.done);
}

static void test_body_feed_after_done_takes_nothing(void **state)
{
    struct http_body b;
    (void)state;

    http_body_init(&b, HTTP_BODY_LENGTH, 3);
    assert_int_equal(http_body_feed(&b, S("abcdef")), 3);
    assert_true(b.done);
    assert_int_equal(http_body_feed(&b, S("def")), 0);
    assert_int_equal(http_body_feed(&b, "", 0), 0);
    assert_int_equal(b.consumed, 3);

    http_body_init(&b, HTTP_BODY_CHUNKED, 0);
    assert_int_equal(http_body_feed(&b, S("0\r\n\r\n0\r\n\r\n")), 5);
    assert_int_equal(http_body_feed(&b, S("0\r\n\r\n")), 0);
    assert_int_equal(b.consumed, 5);
}

static void test_body_empty_feed_takes_nothing(void **state)
{
    struct http_body b;
    (void)state;

    http_body_init(&b, HTTP_BODY_LENGTH, 3);
    assert_int_equal(http_body_feed(&b, NULL, 0), 0);
    assert_false(b.done);
    http_body_init(&b, HTTP_BODY_CHUNKED, 0);
    assert_int_equal(http_body_feed(&b, NULL, 0), 0);
    assert_false(b.done);
    http_body_init(&b, HTTP_BODY_UNTIL_CLOSE, 0);
    assert_int_equal(http_body_feed(&b, NULL, 0), 0);
    assert_false(b.done);
}

static void test_body_malformed_chunked_is_an_error_and_stays_one(void **state)
{
    static const struct {
        const char *in;
        size_t len;
    } bad[] = {
        {S("x\r\n")},                        /* not hex */
        {S("-5\r\n")},                       /* a sign */
        {S("0x5\r\nhello\r\n")},             /* a 0x prefix */
        {S("5\nhello\r\n0\r\n\r\n")},        /* bare LF after the size */
        {S("5\r\nhelloXX0\r\n\r\n")},        /* no CRLF after the data */
        {S("5 5\r\n")},                      /* space inside the size */
        {S("10000000000000000\r\n")},        /* over 2^63-1 */
        {S("0\r\nContent-Length: 5\r\n\r\n")}, /* framing field as a trailer */
        {S("0\r\nbad trailer\r\n\r\n")},     /* not a field line */
        {S("0\r\n\rX")},                     /* bare CR at the end */
    };
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct http_body b;
        const char *data;
        size_t data_len;

        /* whole */
        http_body_init(&b, HTTP_BODY_CHUNKED, 0);
        if (http_body_feed(&b, bad[i].in, bad[i].len) != HTTP_ERROR)
            fail_msg("bad case %zu: not refused", i);
        assert_true(b.error);
        assert_false(b.done);
        assert_int_equal(http_body_feed(&b, S("0\r\n\r\n")), HTTP_ERROR);
        assert_int_equal(http_body_next(&b, S("0\r\n\r\n"), &data, &data_len), HTTP_ERROR);
        assert_int_equal(data_len, 0);
        assert_false(http_body_eof(&b));

        /* byte at a time: accepted bytes until the bad one, then error for good */
        http_body_init(&b, HTTP_BODY_CHUNKED, 0);
        size_t k = 0;
        ssize_t r = 0;
        for (; k < bad[i].len; k++) {
            r = http_body_feed(&b, bad[i].in + k, 1);
            if (r != 1)
                break;
        }
        if (r != HTTP_ERROR)
            fail_msg("bad case %zu: byte at a time, %zd at byte %zu", i, r, k);
        assert_int_equal(b.consumed, k);
        assert_int_equal(http_body_feed(&b, bad[i].in + k, 1), HTTP_ERROR);
    }
}

static void test_body_eof_ends_only_an_until_close_body(void **state)
{
    struct http_body b;
    (void)state;

    http_body_init(&b, HTTP_BODY_LENGTH, 10);
    assert_int_equal(http_body_feed(&b, S("hello")), 5);
    assert_false(http_body_eof(&b));
    assert_false(b.done);

    http_body_init(&b, HTTP_BODY_LENGTH, 5);
    assert_int_equal(http_body_feed(&b, S("hello")), 5);
    assert_true(http_body_eof(&b)); /* already complete */

    http_body_init(&b, HTTP_BODY_CHUNKED, 0);
    assert_int_equal(http_body_feed(&b, S("5\r\nhello\r\n")), 10);
    assert_false(http_body_eof(&b));
    assert_false(b.done);

    http_body_init(&b, HTTP_BODY_UNTIL_CLOSE, 0);
    assert_int_equal(http_body_feed(&b, S("hello")), 5);
    assert_false(b.done);
    assert_true(http_body_eof(&b));
    assert_true(b.done);
    assert_int_equal(b.consumed, 5);
    assert_int_equal(http_body_feed(&b, S("more")), 0); /* nothing after the end */

    http_body_init(&b, HTTP_BODY_UNTIL_CLOSE, 0);
    assert_true(http_body_eof(&b)); /* an empty body is a body */
}

static void test_body_huge_content_length_counts_down(void **state)
{
    static char block[65536];
    const uint64_t big = (uint64_t)1 << 63;
    struct http_body b;
    (void)state;

    http_body_init(&b, HTTP_BODY_LENGTH, big);
    assert_false(b.done);
    assert_true(http_body_remaining(&b) == big);
    for (int i = 0; i < 64; i++)
        assert_int_equal(http_body_feed(&b, block, sizeof(block)), sizeof(block));
    assert_false(b.done);
    assert_true(b.consumed == 64u * sizeof(block));
    assert_true(b.payload == 64u * sizeof(block));
    assert_true(http_body_remaining(&b) == big - 64u * sizeof(block));
    assert_false(http_body_eof(&b));

    http_body_init(&b, HTTP_BODY_LENGTH, UINT64_MAX);
    assert_int_equal(http_body_feed(&b, block, sizeof(block)), sizeof(block));
    assert_true(http_body_remaining(&b) == UINT64_MAX - sizeof(block));
    assert_false(b.done);

    /* and the last bytes of a long count end it exactly */
    http_body_init(&b, HTTP_BODY_LENGTH, sizeof(block) + 1);
    assert_int_equal(http_body_feed(&b, block, sizeof(block)), sizeof(block));
    assert_int_equal(http_body_feed(&b, block, sizeof(block)), 1);
    assert_true(b.done);
}

static void test_body_remaining_says_what_is_known(void **state)
{
    struct http_body b;
    (void)state;

    http_body_init(&b, HTTP_BODY_LENGTH, 7);
    assert_int_equal(http_body_remaining(&b), 7);
    assert_int_equal(http_body_feed(&b, S("abc")), 3);
    assert_int_equal(http_body_remaining(&b), 4);
    http_body_init(&b, HTTP_BODY_CHUNKED, 0);
    assert_true(http_body_remaining(&b) == UINT64_MAX);
    assert_int_equal(http_body_feed(&b, S("0\r\n\r\n")), 5);
    assert_int_equal(http_body_remaining(&b), 0);
    http_body_init(&b, HTTP_BODY_UNTIL_CLOSE, 0);
    assert_true(http_body_remaining(&b) == UINT64_MAX);
}

/* Bytes spliced past lb (never in its memory) are counted as a feed of them would count them,
 * never past the body's end; a chunked body cannot be skipped: its framing must be seen. */
static void test_body_skip_counts_unseen_bytes_like_a_feed(void **state)
{
    struct http_body b, fed;
    (void)state;

    http_body_init(&b, HTTP_BODY_LENGTH, 100000);
    fed = b;
    assert_int_equal(http_body_skip(&b, 65536), 65536);
    static char bytes[65536];
    assert_int_equal(http_body_feed(&fed, bytes, sizeof(bytes)), 65536);
    assert_memory_equal(&b, &fed, sizeof(b));
    assert_int_equal(http_body_remaining(&b), 100000 - 65536);
    /* more than is left: only the rest belongs to the body */
    assert_int_equal(http_body_skip(&b, 65536), 100000 - 65536);
    assert_true(b.done);
    assert_int_equal(b.consumed, 100000);
    assert_int_equal(b.payload, 100000);
    assert_int_equal(http_body_skip(&b, 10), 0);

    http_body_init(&b, HTTP_BODY_UNTIL_CLOSE, 0);
    assert_int_equal(http_body_skip(&b, UINT64_MAX), SSIZE_MAX);
    assert_false(b.done);
    http_body_init(&b, HTTP_BODY_NONE, 0);
    assert_int_equal(http_body_skip(&b, 5), 0);
    http_body_init(&b, HTTP_BODY_CHUNKED, 0);
    assert_int_equal(http_body_skip(&b, 5), HTTP_ERROR);
    assert_int_equal(b.consumed, 0);
}

/* A caller under backpressure (backend-sim's echo) takes only part of a span: it restores a copy
 * of the tracker and feeds again only up to what it took. */
static void test_body_partial_span_by_restore_and_refeed(void **state)
{
    static const char in[] = "6\r\nabcdef\r\n0\r\n\r\n";
    struct http_body b, saved;
    const char *data;
    size_t data_len;
    (void)state;

    http_body_init(&b, HTTP_BODY_CHUNKED, 0);
    saved = b;
    assert_int_equal(http_body_next(&b, S(in), &data, &data_len), 9);
    assert_int_equal(data_len, 6);
    /* the sink took 2 of the 6 payload bytes */
    b = saved;
    size_t upto = (size_t)(data - in) + 2;
    assert_int_equal(http_body_next(&b, in, upto, &data, &data_len), 5);
    assert_memory_equal(data, "ab", 2);
    assert_int_equal(b.payload, 2);
    /* the rest later */
    assert_int_equal(http_body_feed(&b, in + 5, sizeof(in) - 1 - 5), sizeof(in) - 1 - 5);
    assert_true(b.done);
    assert_int_equal(b.payload, 6);
    assert_int_equal(b.consumed, sizeof(in) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_every_split_gives_the_same_result),
        cmocka_unit_test(test_body_next_spans_decode_the_payload),
        cmocka_unit_test(test_body_next_names_each_chunk_span),
        cmocka_unit_test(test_body_next_length_and_until_close_spans_are_the_bytes),
        cmocka_unit_test(test_body_none_and_length_0_are_done_at_init),
        cmocka_unit_test(test_body_feed_after_done_takes_nothing),
        cmocka_unit_test(test_body_empty_feed_takes_nothing),
        cmocka_unit_test(test_body_malformed_chunked_is_an_error_and_stays_one),
        cmocka_unit_test(test_body_eof_ends_only_an_until_close_body),
        cmocka_unit_test(test_body_huge_content_length_counts_down),
        cmocka_unit_test(test_body_remaining_says_what_is_known),
        cmocka_unit_test(test_body_skip_counts_unseen_bytes_like_a_feed),
        cmocka_unit_test(test_body_partial_span_by_restore_and_refeed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
