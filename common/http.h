/*
 * http.h - the shared HTTP/1.1 message parser (RFC 9112), used by lb, backend-sim and lbtrace.
 *
 * The contract follows picohttpparser: stateless, zero-copy, never allocates. The caller owns the
 * buffer and hands over everything received so far; parsed fields point into that buffer. A parse
 * call returns
 *   > 0             the length of the complete header block (start line through the empty line),
 *   HTTP_INCOMPLETE the bytes so far are a valid prefix: read more and call again,
 *   HTTP_ERROR      the bytes can never become a valid message; ->error holds the status to answer
 *                   (400, 414, 431, 501 for requests; 502 for responses) and ->error_reason a
 *                   short static text for logs.
 * Errors are reported as early as they can be known, so a garbage request line is refused before
 * its headers arrive and an over-long line is refused before its end arrives.
 *
 * Strictness (RFC 9112 and RFC 9110): request-line and status-line syntax, header names are
 * tokens, no whitespace before the colon, no obs-fold, no bare CR, no NUL, no blank or
 * whitespace-only line before the first header, Content-Length is one valid number (identical
 * repeats merge), Transfer-Encoding with Content-Length is an error, chunked must be the final
 * coding, exactly one Host in an HTTP/1.1 request (an absolute-form target's authority wins).
 * Responses get the same strictness: malformed framing from a backend is an error, never relayed.
 * The exact rules chosen where the RFCs leave a choice (bare LF refused, empty Host refused, which
 * Transfer-Encoding lists are 400, 501 or until-close) are listed at the top of http.c.
 *
 * Bodies are followed by the body tracker at the end of this file (struct http_body), one for
 * all framings: it tells the caller how many of the bytes after a header block belong to the
 * body and when the body is complete, and names payload spans without copying so that a proxy
 * can forward the bytes verbatim or decoded. Chunked bodies go through the incremental decoder
 * (struct http_chunked) beneath it.
 */
#ifndef LBLAB_HTTP_H
#define LBLAB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define HTTP_ERROR (-1)
#define HTTP_INCOMPLETE (-2)

/* One header field; name and value point into the caller's buffer. The value has its leading and
 * trailing whitespace removed. */
struct http_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* How the body after a header block is delimited. */
enum http_framing {
    HTTP_BODY_NONE,        /* no body at all (GET without length, HEAD/1xx/204/304 responses) */
    HTTP_BODY_LENGTH,      /* exactly content_length bytes (content_length may be 0) */
    HTTP_BODY_CHUNKED,     /* chunked transfer coding (RFC 9112 7.1) */
    HTTP_BODY_UNTIL_CLOSE, /* responses only: the body ends when the server closes */
};

/* Size limits; a message beyond them is refused (414 for the request line, 431 for headers). */
struct http_limits {
    size_t max_start_line;   /* request line or status line, without its CRLF */
    size_t max_header_bytes; /* the whole header block, start line included */
    size_t max_headers;      /* number of header fields; also bounded by the caller's array */
};

#define HTTP_LIMITS_DEFAULT_START_LINE 8192
#define HTTP_LIMITS_DEFAULT_HEADER_BYTES 65536
#define HTTP_LIMITS_DEFAULT_HEADERS 100

/* Fills *limits with the defaults above. */
void http_limits_default(struct http_limits *limits);

struct http_request {
    /* in: the caller's header array and its capacity; out: the number of fields parsed */
    struct http_header *headers;
    size_t num_headers;

    /* out: the request line */
    const char *method;
    size_t method_len;
    const char *target; /* as sent: origin-form, absolute-form, authority-form or "*" */
    size_t target_len;
    const char *path; /* origin-form path and query; for absolute-form its path ("/" if empty,
                         then a static string, not in the buffer); for authority-form (CONNECT)
                         and "*" (OPTIONS) the target itself */
    size_t path_len;
    int minor_version; /* HTTP/1.minor_version: 0 or 1 */

    /* out: what the parser derived from the headers */
    const char *host; /* the absolute-form authority if present, else the Host value; may be NULL
                         for HTTP/1.0 without Host */
    size_t host_len;
    enum http_framing framing; /* NONE, LENGTH or CHUNKED; never UNTIL_CLOSE */
    uint64_t content_length;   /* with HTTP_BODY_LENGTH */
    bool keep_alive;           /* the client wants the connection kept (version + Connection) */
    bool expect_continue;      /* Expect: 100-continue */
    bool upgrade;              /* an Upgrade header named in Connection */

    /* out, with HTTP_ERROR */
    int error;                /* the status to answer: 400, 414, 431 or 501 */
    const char *error_reason; /* static text, e.g. "Content-Length with Transfer-Encoding" */
};

/* Parses a request header block from buf[0..len). The caller sets req->headers and
 * req->num_headers first; every other field is overwritten. limits may be NULL (the defaults).
 * Returns the header block length (empty lines before the request line included),
 * HTTP_INCOMPLETE or HTTP_ERROR. On HTTP_INCOMPLETE the out fields are not meaningful. */
int http_parse_request(const char *buf, size_t len, struct http_request *req,
                       const struct http_limits *limits);

struct http_response {
    /* in: the caller's header array and its capacity; out: the number of fields parsed */
    struct http_header *headers;
    size_t num_headers;

    /* out: the status line */
    int minor_version;
    int status; /* 100..999 */
    const char *reason;
    size_t reason_len;

    /* out: derived */
    enum http_framing framing; /* any of the four */
    uint64_t content_length;   /* with HTTP_BODY_LENGTH */
    bool keep_alive;           /* the server will keep the connection (version + Connection) */

    /* out, with HTTP_ERROR */
    int error; /* always 502: the backend broke HTTP */
    const char *error_reason;
};

/* Parses a response header block. request_was_head tells the parser that the request was HEAD,
 * so the response has no body whatever its headers say (likewise 1xx, 204 and 304 always).
 * Returns the header block length, HTTP_INCOMPLETE or HTTP_ERROR. */
int http_parse_response(const char *buf, size_t len, struct http_response *res,
                        const struct http_limits *limits, bool request_was_head);

/* --- Helpers over parsed headers ------------------------------------------------------------ */

/* True when the n bytes at a and b are equal, ignoring ASCII case. */
bool http_name_eq(const char *a, const char *b, size_t n);

/* True when the header's name equals name, ignoring ASCII case. Inline: a proxy asks this of
 * every header of every message, mostly with a literal name, whose length the compiler then
 * knows (no strlen() at run time) and whose length usually differs (no call at all). */
static inline bool http_header_is(const struct http_header *h, const char *name)
{
    size_t n = strlen(name);
    return h->name_len == n && http_name_eq(h->name, name, n);
}

/* The first header named name (ASCII case ignored), or NULL. */
const struct http_header *http_find_header(const struct http_header *headers, size_t n,
                                           const char *name);

/* True when the comma-separated list value[0..len) holds token (ASCII case ignored), as in
 * "Connection: keep-alive, Upgrade". */
bool http_list_has_token(const char *value, size_t len, const char *token);

/* True when h is hop-by-hop: Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
 * Transfer-Encoding, Upgrade, or a field named in any Connection header among headers[0..n) -
 * except Content-Length and Host, which "Connection: Content-Length" must not strip (a proxy that
 * drops the length it framed the body with desynchronises the next hop). */
bool http_is_hop_by_hop(const struct http_header *h, const struct http_header *headers, size_t n);

/* The standard reason phrase for a status ("Not Found"), or "Unknown". */
const char *http_status_reason(int status);

/* The value of the hexadecimal digit c (0-9, a-f, A-F), or -1: for chunk sizes and for
 * percent-encoded bytes in a target (RFC 3986 section 2.1). */
int http_hex_value(char c);

/* --- Incremental chunked-body decoder -------------------------------------------------------- */

/* Decoder state; zero it with http_chunked_init(). Chunk-size lines (with extensions) and the
 * trailer section have size limits (4096 bytes per size line, 64 KiB of trailers), sizes are hex
 * digits only and at most 2^63-1, every line ends in CRLF, and trailer lines must be valid field
 * lines. Framing and routing fields (Content-Length, Transfer-Encoding, Host) are refused as
 * trailers (RFC 9110 6.5.1: a recipient that merged them would be misled). Trailer fields are
 * consumed, not reported. */
struct http_chunked {
    int state;           /* private */
    uint64_t chunk_left; /* private: payload bytes left in the current chunk */
    size_t line_len;     /* private: length of the size or trailer line so far */
    size_t trailer_len;  /* private: bytes of trailer section so far */
    bool seen_digit;     /* private */
    unsigned trailer_match; /* private: forbidden trailer names the current name still matches */
    bool done;           /* out: the final CRLF after the trailers was consumed */
    uint64_t total;      /* out: payload bytes decoded so far */
};

void http_chunked_init(struct http_chunked *dec);

/* Feeds buf[0..len) to the decoder. Returns how many bytes it consumed (0..len), or HTTP_ERROR on
 * malformed chunked framing (and again on every later call). It consumes every byte it is given up
 * to the end of a payload span or of the body, so 0 with len > 0 means dec->done. When the
 * consumed bytes contain payload, *data and *data_len name one span of it inside buf (else
 * *data_len is 0); the call stops after that span, so the caller loops until everything is
 * consumed or dec->done. Bytes after the end of the body are not consumed. Most callers want
 * the body tracker below, which puts this decoder behind the same calls as the other framings. */
ssize_t http_chunked_feed(struct http_chunked *dec, const char *buf, size_t len, const char **data,
                          size_t *data_len);


/* --- Incremental body tracker ---------------------------------------------------------------- */

/* Follows one message body through the bytes that come after its header block, whatever the
 * framing, so that a caller learns how many of the bytes it holds belong to the body and when the
 * body is complete. Zero-copy and allocation-free like the parser: it looks at bytes, never keeps
 * them, so the caller may feed any split of the stream (one byte at a time or all at once gives
 * the same result). Chunked framing is checked by http_chunked_feed() above, with its limits.
 *
 * Typical use: after a header block of n bytes, http_body_init() from the parsed ->framing and
 * ->content_length, then hand the bytes after the block to http_body_feed() (to count and forward
 * them verbatim) or http_body_next() (to see the payload), until ->done; the bytes after the end
 * of the body begin the next message. */
struct http_body {
    enum http_framing framing;   /* read-only after init: as given to http_body_init() */
    uint64_t left;               /* private: HTTP_BODY_LENGTH bytes still to come */
    struct http_chunked chunked; /* private: the decoder of a HTTP_BODY_CHUNKED body */
    bool error;                  /* out: malformed chunked framing seen (feed returns HTTP_ERROR) */
    bool done;                   /* out: the body is complete; NONE and LENGTH 0 are done at init */
    uint64_t consumed;           /* out: bytes accepted as body so far (framing included) */
    uint64_t payload;            /* out: payload bytes so far (chunked: decoded data only) */
};

/* Starts tracking a body framed as framing; content_length is the length with HTTP_BODY_LENGTH
 * (any value up to UINT64_MAX) and ignored otherwise. Overwrites every field of *b. */
void http_body_init(struct http_body *b, enum http_framing framing, uint64_t content_length);

/* Looks at buf[0..len), the bytes that follow those fed before. Returns how many of them belong
 * to the body (0..len; fewer than len only when the body ended inside buf, and then b->done; 0
 * once done), or HTTP_ERROR on malformed chunked framing (then b->error, and HTTP_ERROR again on
 * every later call). Chunked bodies count their framing as sent: size lines with extensions,
 * payload, CRLFs, trailers. HTTP_BODY_UNTIL_CLOSE takes every byte; HTTP_BODY_NONE none. */
ssize_t http_body_feed(struct http_body *b, const char *buf, size_t len);

/* Like http_body_feed(), but stops after one span of payload and names it: *data and *data_len
 * point into buf (for HTTP_BODY_LENGTH and HTTP_BODY_UNTIL_CLOSE the consumed bytes themselves;
 * for chunked the decoded chunk data, *data_len 0 when the consumed bytes held only framing).
 * Returns bytes consumed (framing before the span, and the span) or HTTP_ERROR; the caller loops
 * until everything is consumed or b->done. For callers that want the payload (an echo, a decoder
 * to HTTP/1.0). A caller that cannot take the whole span may copy *b before the call, restore the
 * copy, and feed again only up to the part of the span it took. */
ssize_t http_body_next(struct http_body *b, const char *buf, size_t len, const char **data,
                       size_t *data_len);

/* Counts the next n bytes of a HTTP_BODY_LENGTH or HTTP_BODY_UNTIL_CLOSE body as fed without
 * looking at them: for bytes that went by without passing through the caller's memory (spliced
 * from socket to socket). Those framings never look at their bytes, so this is what
 * http_body_feed() would do with them. Returns how many belong to the body (fewer than n only
 * when the body ends before; 0 once done), or HTTP_ERROR for a chunked body, whose framing must
 * be seen. */
ssize_t http_body_skip(struct http_body *b, uint64_t n);

/* The peer closed its side after the bytes fed so far. Returns true when that properly ends the
 * body (HTTP_BODY_UNTIL_CLOSE: b->done becomes true; or the body was already done), false when
 * the body is cut short (or malformed). */
bool http_body_eof(struct http_body *b);

/* Body bytes still due: with HTTP_BODY_LENGTH the bytes still to come, 0 once the body is done,
 * else UINT64_MAX (chunked and until-close bodies do not say how much is to come). */
uint64_t http_body_remaining(const struct http_body *b);

#endif
