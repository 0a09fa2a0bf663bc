/*
 * http.c - the shared HTTP/1.1 parser (RFC 9112, RFC 9110): request and response header blocks,
 * and an incremental chunked-body decoder. The contract is in http.h.
 *
 * Design. Each call parses the whole buffer from its first byte, in one forward pass, without
 * allocating and without strlen: the start line and every field line are checked byte by byte
 * (8 bytes at a time on the common path of field values and request targets), and each field's
 * meaning (Content-Length, Transfer-Encoding, Host, Connection, Upgrade, Expect) is taken as soon
 * as its line is complete. So a malformed message is refused as early as possible - a garbage
 * request line before any header arrives, an over-long line before its end arrives - and every
 * proper prefix of a valid message is HTTP_INCOMPLETE. The scan never looks past
 * limits->max_header_bytes, which also bounds the cost of the stateless re-parse a caller does
 * when more bytes arrive.
 *
 * Decisions where the RFCs leave a choice (a proxy must be strict: two parsers that frame the
 * same bytes differently are how request smuggling works):
 *  - Line ends are CRLF only. A bare LF (RFC 9112 2.2 lets a recipient accept it) and a bare CR
 *    anywhere in the head are 400 (502 in a response). NUL and other CTLs (but HTAB in values) too.
 *  - Empty lines (CRLF) before a request line are skipped (RFC 9112 2.2 SHOULD); they count in
 *    the returned length. A response must start with its status line.
 *  - The request version is exactly "HTTP/1.0" or "HTTP/1.1"; any other (HTTP/1.2, HTTP/2.0,
 *    http/1.1) is 400 - the contract's error set has no 505.
 *  - The request target is VCHARs only (no SP, CTL, DEL or bytes >= 0x80: clients percent-encode).
 *    origin-form ("/..."); absolute-form with scheme http or https, a non-empty authority without
 *    userinfo, and a path that starts with "/" or is empty (path is then "/"); authority-form
 *    (host:port) with CONNECT and only there; "*" with OPTIONS and only there.
 *  - Host: an HTTP/1.1 request needs exactly one (also with an absolute-form target, whose
 *    authority then wins, RFC 9112 3.2.2); HTTP/1.0 may have none but never two. Its value must be
 *    uri-host [":" port]; an empty Host is 400: RFC 9110 7.2 allows it only when the target URI
 *    has no authority, which never happens for the http(s) URIs a load balancer serves.
 *  - Content-Length: 1*DIGIT, at most 2^63-1, no sign, space or hex; a list ("5, 5") or repeated
 *    fields merge only when all values are equal, else 400 (502).
 *  - Transfer-Encoding (all its fields, combined as one list; every element a bare token, no
 *    parameters, no empty elements, else 400/502):
 *      requests:  with Content-Length -> 400; in HTTP/1.0 -> 400 (RFC 9112 6.1: faulty framing);
 *                 chunked missing, not final, or present twice -> 400 (RFC 9112 6.3, so
 *                 "xchunked", "chunked, identity", "gzip" alone are 400); chunked final but an
 *                 earlier coding is not one of gzip, x-gzip, deflate, compress, x-compress ->
 *                 501 (RFC 9112 6.1, "foo, chunked"); else framing is chunked.
 *      responses: with Content-Length or in HTTP/1.0 -> 502; chunked twice -> 502; chunked final
 *                 -> chunked; otherwise (any codings) -> until close (RFC 9112 6.3 rule 4).
 *  - Responses: a status line without the SP before an empty reason ("HTTP/1.1 200\r\n") is
 *    accepted (unambiguous; some servers send it). The status is 3 digits, 100..999.
 *  - Limits: a start line longer than max_start_line is 414 (502), a header block longer than
 *    max_header_bytes (or INT_MAX) or with more fields than min(max_headers, the caller's array)
 *    is 431 (502). limits may be NULL for the defaults.
 *  - Expect: 100-continue and Upgrade are honoured in HTTP/1.1 only (RFC 9110 10.1.1, 7.8).
 *    A response framed until close never has keep_alive.
 *
 * The chunked decoder is a byte state machine that hands back payload spans in place; sizes are
 * hex only (no sign, "0x" or leading whitespace), at most 2^63-1, size lines (with extensions) are
 * bounded by HTTP_CHUNK_LINE_MAX, trailer fields are checked like header fields and bounded by
 * HTTP_CHUNK_TRAILER_MAX, and every line ends in CRLF.
 *
 * The body tracker puts the three framings behind one call, so lb, backend-sim and lbtrace frame
 * bodies alike: a Content-Length count-down, the chunked decoder, or "everything until close".
 * http_body_next() is the one step (framing, then at most one payload span); http_body_feed()
 * loops it, which for a length or until-close body is a single step.
 */
#include "http.h"

#include <limits.h>
#include <string.h>

#define HTTP_CHUNK_LINE_MAX 4096      /* a chunk-size line, extensions included, without CRLF */
#define HTTP_CHUNK_TRAILER_MAX 65536  /* the trailer section including its final CRLF */
#define HTTP_MAX_CONTENT_LENGTH ((uint64_t)INT64_MAX)

/* --- Character classes ------------------------------------------------------------------------ */

/* tchar (RFC 9110 5.6.2): the characters of tokens, so of methods and field names. */
static const unsigned char tchar_tab[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
};

/* Bytes allowed in a field value or reason phrase: HTAB, SP, VCHAR, obs-text. */
static const unsigned char field_tab[256] = {
    ['\t'] = 1, [' ' ... '~'] = 1, [0x80 ... 0xff] = 1,
};

/* reg-name (RFC 3986 3.2.2): unreserved, sub-delims and '%' of pct-encoded. */
static const unsigned char regname_tab[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
    ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1, ['!'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1,
    ['('] = 1, [')'] = 1, ['*'] = 1, ['+'] = 1, [','] = 1, [';'] = 1, ['='] = 1, ['%'] = 1,
};

static inline bool is_tchar(char c) { return tchar_tab[(unsigned char)c] != 0; }
static inline bool is_field_byte(char c) { return field_tab[(unsigned char)c] != 0; }
static inline bool is_vchar(char c) { return (unsigned char)c > 0x20 && (unsigned char)c < 0x7f; }
static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
static inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

int http_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c; }

/* a[0..n) equals the lowercase NUL-terminated lc, ignoring ASCII case in a. */
static bool eq_nocase(const char *a, size_t n, const char *lc, size_t lc_len)
{
    if (n != lc_len)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(a[i]) != lc[i])
            return false;
    return true;
}
#define EQ_LIT(a, n, lit) eq_nocase((a), (n), (lit), sizeof(lit) - 1)

/* SWAR helpers: test 8 bytes at once (any-byte-less-than and any-byte-equal tricks). */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static inline uint64_t load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline bool any_less(uint64_t v, unsigned n) { return ((v - ONES * n) & ~v & HIGHS) != 0; }

static inline bool any_equal(uint64_t v, unsigned char c)
{
    uint64_t x = v ^ (ONES * c);
    return ((x - ONES) & ~x & HIGHS) != 0;
}

/* First byte of [p, end) that is not a field-value byte (or end). */
static const char *skip_field_bytes(const char *p, const char *end)
{
    while (p < end) {
        if (end - p >= 8) {
            uint64_t v = load8(p);
            if (!any_less(v, 0x20) && !any_equal(v, 0x7f)) {
                p += 8;
                continue;
            }
        }
        if (!is_field_byte(*p))
            break;
        p++;
    }
    return p;
}

/* First byte of [p, end) that is not a VCHAR (or end). */
static const char *skip_vchars(const char *p, const char *end)
{
    while (p < end) {
        if (end - p >= 8) {
            uint64_t v = load8(p);
            if (!any_less(v, 0x21) && !any_equal(v, 0x7f) && (v & HIGHS) == 0) {
                p += 8;
                continue;
            }
        }
        if (!is_vchar(*p))
            break;
        p++;
    }
    return p;
}

static const char *skip_tchars(const char *p, const char *end)
{
    while (p < end && is_tchar(*p))
        p++;
    return p;
}

/* --- Comma-separated lists ---------------------------------------------------------------------- */

/* Iterates the elements of a list value: *elem and *elem_len get the next element with OWS trimmed
 * (possibly empty). Returns false when the list is exhausted. */
struct list_iter {
    const char *p;
    const char *end;
    bool done;
};

static void list_init(struct list_iter *it, const char *value, size_t len)
{
    it->p = value;
    it->end = value + len;
    it->done = false;
}

static bool list_next(struct list_iter *it, const char **elem, size_t *elem_len)
{
    if (it->done)
        return false;
    const char *comma = memchr(it->p, ',', (size_t)(it->end - it->p));
    const char *s = it->p;
    const char *e = comma != NULL ? comma : it->end;
    if (comma != NULL)
        it->p = comma + 1;
    else
        it->done = true;
    while (s < e && is_ows(*s))
        s++;
    while (e > s && is_ows(e[-1]))
        e--;
    *elem = s;
    *elem_len = (size_t)(e - s);
    return true;
}

/* --- Header block parser ------------------------------------------------------------------------ */

enum fail_kind { FAIL_BAD, FAIL_LINE_TOO_LONG, FAIL_TOO_LARGE, FAIL_NOT_IMPLEMENTED };

/* State of one parse: the bytes in reach, the caller's array, what the fields said so far. */
struct parse {
    const char *buf;
    const char *end; /* buf + min(len, max_header_bytes) */
    bool cut;        /* len > max_header_bytes: reaching end means the block is too large */
    bool request;
    size_t max_line;
    struct http_header *headers;
    size_t cap;
    size_t nh;

    int error;
    const char *error_reason;

    int minor;
    bool have_cl;
    uint64_t cl;
    bool have_te;
    unsigned te_chunked;  /* how many times chunked appeared */
    bool te_last_chunked; /* the last coding so far is chunked */
    bool te_unknown;      /* a coding other than chunked and the known compressions */
    unsigned hosts;
    const char *host;
    size_t host_len;
    bool conn_close;
    bool conn_keep_alive;
    bool conn_upgrade;
    bool have_upgrade;
    bool expect_continue;
};

static int fail(struct parse *ps, enum fail_kind kind, const char *reason)
{
    static const int request_status[] = {
        [FAIL_BAD] = 400, [FAIL_LINE_TOO_LONG] = 414, [FAIL_TOO_LARGE] = 431,
        [FAIL_NOT_IMPLEMENTED] = 501,
    };
    ps->error = ps->request ? request_status[kind] : 502;
    ps->error_reason = reason;
    return HTTP_ERROR;
}

/* The bytes ran out before the block ended. */
static int more(struct parse *ps)
{
    if (ps->cut)
        return fail(ps, FAIL_TOO_LARGE, "header section too large");
    return HTTP_INCOMPLETE;
}

/* uri-host [":" port] (RFC 3986): an IP-literal in brackets or a reg-name, then optionally a port
 * of at most 5 digits up to 65535. need_port: authority-form of CONNECT, port required. */
static bool valid_authority(const char *s, size_t n, bool need_port)
{
    size_t i = 0;

    if (n == 0)
        return false;
    if (s[0] == '[') {
        for (i = 1; i < n && s[i] != ']'; i++)
            if (!(http_hex_value(s[i]) >= 0 || s[i] == ':' || s[i] == '.' ||
                  regname_tab[(unsigned char)s[i]]))
                return false;
        if (i == n || i == 1)
            return false;
        i++;
    } else {
        for (; i < n && s[i] != ':'; i++) {
            if (!regname_tab[(unsigned char)s[i]])
                return false;
            if (s[i] == '%' &&
                (i + 2 >= n || http_hex_value(s[i + 1]) < 0 || http_hex_value(s[i + 2]) < 0))
                return false;
        }
        if (i == 0)
            return false;
    }
    if (i == n)
        return !need_port;
    if (s[i] != ':')
        return false;
    i++;
    if (i == n)
        return !need_port;
    if (n - i > 5)
        return false;
    unsigned port = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        port = port * 10 + (unsigned)(s[i] - '0');
    }
    return port <= 65535;
}

static int on_content_length(struct parse *ps, const char *v, size_t n)
{
    struct list_iter it;
    const char *e;
    size_t elen;

    if (ps->have_te)
        return fail(ps, FAIL_BAD, "Content-Length with Transfer-Encoding");
    list_init(&it, v, n);
    while (list_next(&it, &e, &elen)) {
        uint64_t x = 0;
        if (elen == 0)
            return fail(ps, FAIL_BAD, "empty Content-Length");
        for (size_t i = 0; i < elen; i++) {
            if (!is_digit(e[i]))
                return fail(ps, FAIL_BAD, "invalid Content-Length");
            unsigned d = (unsigned)(e[i] - '0');
            if (x > (HTTP_MAX_CONTENT_LENGTH - d) / 10)
                return fail(ps, FAIL_BAD, "Content-Length too large");
            x = x * 10 + d;
        }
        if (ps->have_cl && x != ps->cl)
            return fail(ps, FAIL_BAD, "conflicting Content-Length values");
        ps->have_cl = true;
        ps->cl = x;
    }
    return 0;
}

static int on_transfer_encoding(struct parse *ps, const char *v, size_t n)
{
    struct list_iter it;
    const char *e;
    size_t elen;

    if (ps->have_cl)
        return fail(ps, FAIL_BAD, "Content-Length with Transfer-Encoding");
    if (ps->minor == 0)
        return fail(ps, FAIL_BAD, "Transfer-Encoding in HTTP/1.0");
    ps->have_te = true;
    list_init(&it, v, n);
    while (list_next(&it, &e, &elen)) {
        if (elen == 0 || skip_tchars(e, e + elen) != e + elen)
            return fail(ps, FAIL_BAD, "invalid Transfer-Encoding");
        if (EQ_LIT(e, elen, "chunked")) {
            ps->te_chunked++;
            ps->te_last_chunked = true;
        } else {
            ps->te_last_chunked = false;
            if (!(EQ_LIT(e, elen, "gzip") || EQ_LIT(e, elen, "x-gzip") ||
                  EQ_LIT(e, elen, "deflate") || EQ_LIT(e, elen, "compress") ||
                  EQ_LIT(e, elen, "x-compress")))
                ps->te_unknown = true;
        }
    }
    if (ps->te_chunked > 1)
        return fail(ps, FAIL_BAD, "chunked applied twice");
    return 0;
}

static void on_connection(struct parse *ps, const char *v, size_t n)
{
    struct list_iter it;
    const char *e;
    size_t elen;

    list_init(&it, v, n);
    while (list_next(&it, &e, &elen)) {
        if (EQ_LIT(e, elen, "close"))
            ps->conn_close = true;
        else if (EQ_LIT(e, elen, "keep-alive"))
            ps->conn_keep_alive = true;
        else if (EQ_LIT(e, elen, "upgrade"))
            ps->conn_upgrade = true;
    }
}

/* Takes the meaning of one complete field. Returns 0 or HTTP_ERROR. */
static int on_field(struct parse *ps, const struct http_header *h)
{
    const char *n = h->name;
    size_t len = h->name_len;

    switch (len) {
    case 4:
        if (ps->request && EQ_LIT(n, len, "host")) {
            if (++ps->hosts > 1)
                return fail(ps, FAIL_BAD, "more than one Host");
            if (!valid_authority(h->value, h->value_len, false))
                return fail(ps, FAIL_BAD, "invalid Host");
            ps->host = h->value;
            ps->host_len = h->value_len;
        }
        break;
    case 6:
        if (ps->request && EQ_LIT(n, len, "expect") && EQ_LIT(h->value, h->value_len, "100-continue"))
            ps->expect_continue = true;
        break;
    case 7:
        if (EQ_LIT(n, len, "upgrade"))
            ps->have_upgrade = true;
        break;
    case 10:
        if (EQ_LIT(n, len, "connection"))
            on_connection(ps, h->value, h->value_len);
        break;
    case 14:
        if (EQ_LIT(n, len, "content-length"))
            return on_content_length(ps, h->value, h->value_len);
        break;
    case 17:
        if (EQ_LIT(n, len, "transfer-encoding"))
            return on_transfer_encoding(ps, h->value, h->value_len);
        break;
    default:
        break;
    }
    return 0;
}

/* Parses field lines from p through the empty line. Returns the block length or an error. */
static int parse_fields(struct parse *ps, const char *p)
{
    for (;;) {
        if (p == ps->end)
            return more(ps);
        if (*p == '\r') {
            if (p + 1 == ps->end)
                return more(ps);
            if (p[1] != '\n')
                return fail(ps, FAIL_BAD, "bare CR");
            p += 2;
            return (int)(p - ps->buf);
        }
        if (*p == '\n')
            return fail(ps, FAIL_BAD, "bare LF line end");
        if (is_ows(*p))
            return fail(ps, FAIL_BAD, ps->nh == 0 ? "whitespace line before the first header"
                                                   : "obs-fold (header line continuation)");
        if (ps->nh == ps->cap)
            return fail(ps, FAIL_TOO_LARGE, "too many header fields");

        const char *name = p;
        p = skip_tchars(p, ps->end);
        if (p == ps->end)
            return more(ps);
        if (*p != ':') {
            if (is_ows(*p))
                return fail(ps, FAIL_BAD, "whitespace before colon");
            return fail(ps, FAIL_BAD, "invalid character in header name");
        }
        if (p == name)
            return fail(ps, FAIL_BAD, "empty header name");
        size_t name_len = (size_t)(p - name);
        p++;

        const char *value = p;
        p = skip_field_bytes(p, ps->end);
        if (p == ps->end)
            return more(ps);
        if (*p != '\r')
            return fail(ps, FAIL_BAD, *p == '\n' ? "bare LF line end" : "invalid character in header value");
        if (p + 1 == ps->end)
            return more(ps);
        if (p[1] != '\n')
            return fail(ps, FAIL_BAD, "bare CR");
        const char *vend = p;
        p += 2;
        while (value < vend && is_ows(*value))
            value++;
        while (vend > value && is_ows(vend[-1]))
            vend--;

        struct http_header *h = &ps->headers[ps->nh++];
        h->name = name;
        h->name_len = name_len;
        h->value = value;
        h->value_len = (size_t)(vend - value);
        if (on_field(ps, h) != 0)
            return HTTP_ERROR;
    }
}

/* Reads "HTTP/1.0" or "HTTP/1.1" at *pp, within lim. Returns 0, HTTP_INCOMPLETE (ran into lim) or
 * -3 (not a valid version). */
#define BAD_VERSION (-3)
static int parse_version(const char **pp, const char *lim, int *minor)
{
    static const char prefix[] = "HTTP/1.";
    const char *p = *pp;

    for (size_t i = 0; i < sizeof(prefix) - 1; i++, p++) {
        if (p == lim)
            return HTTP_INCOMPLETE;
        if (*p != prefix[i])
            return BAD_VERSION;
    }
    if (p == lim)
        return HTTP_INCOMPLETE;
    if (*p != '0' && *p != '1')
        return BAD_VERSION;
    *minor = *p - '0';
    *pp = p + 1;
    return 0;
}

/* The start line is bounded: lim = line + max_line + 1 when that is before ps->end. Running into
 * lim means the line is too long; running into ps->end means read more. */
static int out_of_line(struct parse *ps, const char *line, const char *lim)
{
    if ((size_t)(lim - line) > ps->max_line)
        return fail(ps, FAIL_LINE_TOO_LONG, ps->request ? "request line too long" : "status line too long");
    return more(ps);
}

static const char *line_limit(const struct parse *ps, const char *line)
{
    if ((size_t)(ps->end - line) > ps->max_line)
        return line + ps->max_line + 1;
    return ps->end;
}

/* After the start line's last character: CR LF. Returns 0 (and moves *pp past it), HTTP_ERROR,
 * HTTP_INCOMPLETE, or BAD_VERSION when the next byte is not CR (the caller names the error). */
static int expect_crlf(struct parse *ps, const char **pp, const char *line, const char *lim)
{
    const char *p = *pp;
    if (p == lim)
        return out_of_line(ps, line, lim);
    if (*p != '\r')
        return BAD_VERSION;
    p++;
    if (p == ps->end)
        return more(ps);
    if (*p != '\n')
        return fail(ps, FAIL_BAD, "bare CR");
    *pp = p + 1;
    return 0;
}

static bool starts_with_nocase(const char *s, size_t n, const char *lc)
{
    size_t k = strlen(lc);
    return n >= k && eq_nocase(s, k, lc, k);
}

/* Classifies req->target and sets path and the target's authority. Returns 0 or HTTP_ERROR. */
static int parse_target(struct parse *ps, struct http_request *req, const char **authority,
                        size_t *authority_len)
{
    const char *t = req->target;
    size_t n = req->target_len;
    bool connect = req->method_len == 7 && memcmp(req->method, "CONNECT", 7) == 0;
    bool options = req->method_len == 7 && memcmp(req->method, "OPTIONS", 7) == 0;

    *authority = NULL;
    *authority_len = 0;
    if (connect) {
        if (!valid_authority(t, n, true))
            return fail(ps, FAIL_BAD, "CONNECT needs an authority-form target");
        *authority = t;
        *authority_len = n;
        req->path = t;
        req->path_len = n;
        return 0;
    }
    if (t[0] == '/') {
        req->path = t;
        req->path_len = n;
        return 0;
    }
    if (n == 1 && t[0] == '*') {
        if (!options)
            return fail(ps, FAIL_BAD, "asterisk-form target without OPTIONS");
        req->path = t;
        req->path_len = n;
        return 0;
    }
    size_t skip;
    if (starts_with_nocase(t, n, "http://"))
        skip = 7;
    else if (starts_with_nocase(t, n, "https://"))
        skip = 8;
    else
        return fail(ps, FAIL_BAD, "invalid request target");
    const char *a = t + skip;
    const char *end = t + n;
    const char *ae = a;
    while (ae < end && *ae != '/' && *ae != '?' && *ae != '#')
        ae++;
    if (!valid_authority(a, (size_t)(ae - a), false))
        return fail(ps, FAIL_BAD, "invalid authority in absolute-form target");
    if (ae == end) {
        req->path = "/";
        req->path_len = 1;
    } else if (*ae == '/') {
        req->path = ae;
        req->path_len = (size_t)(end - ae);
    } else {
        return fail(ps, FAIL_BAD, "absolute-form target without a path");
    }
    *authority = a;
    *authority_len = (size_t)(ae - a);
    return 0;
}

static void parse_init(struct parse *ps, const char *buf, size_t len, const struct http_limits *limits,
                       bool request, struct http_header *headers, size_t cap)
{
    struct http_limits def;
    if (limits == NULL) {
        http_limits_default(&def);
        limits = &def;
    }
    size_t max_bytes = limits->max_header_bytes;
    if (max_bytes > INT_MAX)
        max_bytes = INT_MAX;
    memset(ps, 0, sizeof(*ps));
    ps->buf = buf;
    ps->cut = len > max_bytes;
    ps->end = buf + (ps->cut ? max_bytes : len);
    ps->request = request;
    ps->max_line = limits->max_start_line;
    ps->headers = headers;
    ps->cap = headers == NULL ? 0 : (cap < limits->max_headers ? cap : limits->max_headers);
}

int http_parse_request(const char *buf, size_t len, struct http_request *req,
                       const struct http_limits *limits)
{
    struct parse ps;
    struct http_header *headers = req->headers;
    size_t cap = req->num_headers;
    const char *p = buf;
    const char *line;
    const char *lim;
    int rc;

    memset(req, 0, sizeof(*req));
    req->headers = headers;
    if (len == 0)
        return HTTP_INCOMPLETE; /* before any pointer arithmetic: buf may be NULL */
    parse_init(&ps, buf, len, limits, true, headers, cap);

    /* Empty lines before the request line are ignored (RFC 9112 2.2). */
    while (p < ps.end && *p == '\r') {
        if (p + 1 == ps.end) {
            rc = more(&ps);
            goto out;
        }
        if (p[1] != '\n') {
            rc = fail(&ps, FAIL_BAD, "bare CR");
            goto out;
        }
        p += 2;
    }
    if (p < ps.end && *p == '\n') {
        rc = fail(&ps, FAIL_BAD, "bare LF line end");
        goto out;
    }
    line = p;
    lim = line_limit(&ps, line);

    /* method SP */
    req->method = p;
    p = skip_tchars(p, lim);
    if (p == lim) {
        rc = out_of_line(&ps, line, lim);
        goto out;
    }
    if (*p != ' ' || p == req->method) {
        rc = fail(&ps, FAIL_BAD, p == req->method ? "invalid method" : "invalid character in method");
        goto out;
    }
    req->method_len = (size_t)(p - req->method);
    p++;

    /* request-target SP */
    req->target = p;
    p = skip_vchars(p, lim);
    if (p == lim) {
        rc = out_of_line(&ps, line, lim);
        goto out;
    }
    if (*p != ' ' || p == req->target) {
        rc = fail(&ps, FAIL_BAD, p == req->target ? "empty request target"
                                 : (*p == '\r' || *p == '\n') ? "missing HTTP version"
                                                              : "invalid character in request target");
        goto out;
    }
    req->target_len = (size_t)(p - req->target);
    p++;

    /* HTTP-version CRLF */
    rc = parse_version(&p, lim, &ps.minor);
    if (rc == HTTP_INCOMPLETE) {
        rc = out_of_line(&ps, line, lim);
        goto out;
    }
    if (rc == BAD_VERSION) {
        rc = fail(&ps, FAIL_BAD, "unsupported HTTP version");
        goto out;
    }
    rc = expect_crlf(&ps, &p, line, lim);
    if (rc == BAD_VERSION)
        rc = fail(&ps, FAIL_BAD, "unsupported HTTP version");
    if (rc != 0)
        goto out;
    req->minor_version = ps.minor;

    const char *authority;
    size_t authority_len;
    rc = parse_target(&ps, req, &authority, &authority_len);
    if (rc != 0)
        goto out;

    rc = parse_fields(&ps, p);
    if (rc < 0)
        goto out;

    if (ps.minor == 1 && ps.hosts == 0) {
        rc = fail(&ps, FAIL_BAD, "HTTP/1.1 request without Host");
        goto out;
    }
    if (ps.have_te) {
        if (ps.te_chunked != 1 || !ps.te_last_chunked) {
            rc = fail(&ps, FAIL_BAD, "chunked is not the final transfer coding");
            goto out;
        }
        if (ps.te_unknown) {
            rc = fail(&ps, FAIL_NOT_IMPLEMENTED, "unknown transfer coding");
            goto out;
        }
        req->framing = HTTP_BODY_CHUNKED;
    } else if (ps.have_cl) {
        req->framing = HTTP_BODY_LENGTH;
        req->content_length = ps.cl;
    } else {
        req->framing = HTTP_BODY_NONE;
    }
    if (authority != NULL) {
        req->host = authority;
        req->host_len = authority_len;
    } else {
        req->host = ps.host;
        req->host_len = ps.host_len;
    }
    if (ps.minor == 1) {
        req->keep_alive = !ps.conn_close;
        req->expect_continue = ps.expect_continue;
        req->upgrade = ps.have_upgrade && ps.conn_upgrade;
    } else {
        req->keep_alive = ps.conn_keep_alive && !ps.conn_close;
    }

out:
    req->num_headers = ps.nh;
    if (rc == HTTP_ERROR) {
        req->error = ps.error;
        req->error_reason = ps.error_reason;
    }
    return rc;
}

int http_parse_response(const char *buf, size_t len, struct http_response *res,
                        const struct http_limits *limits, bool request_was_head)
{
    struct parse ps;
    struct http_header *headers = res->headers;
    size_t cap = res->num_headers;
    const char *p = buf;
    const char *line;
    const char *lim;
    int rc;

    memset(res, 0, sizeof(*res));
    res->headers = headers;
    if (len == 0)
        return HTTP_INCOMPLETE; /* before any pointer arithmetic: buf may be NULL */
    parse_init(&ps, buf, len, limits, false, headers, cap);
    line = p;
    lim = line_limit(&ps, line);

    /* HTTP-version SP status-code [SP reason-phrase] CRLF */
    rc = parse_version(&p, lim, &ps.minor);
    if (rc == HTTP_INCOMPLETE) {
        rc = out_of_line(&ps, line, lim);
        goto out;
    }
    if (rc == BAD_VERSION) {
        rc = fail(&ps, FAIL_BAD, "unsupported HTTP version in status line");
        goto out;
    }
    res->minor_version = ps.minor;
    for (int i = 0; i < 4; i++, p++) {
        if (p == lim) {
            rc = out_of_line(&ps, line, lim);
            goto out;
        }
        if (i == 0 ? *p != ' ' : !is_digit(*p)) {
            rc = fail(&ps, FAIL_BAD, "invalid status line");
            goto out;
        }
        if (i > 0)
            res->status = res->status * 10 + (*p - '0');
    }
    if (res->status < 100) {
        rc = fail(&ps, FAIL_BAD, "invalid status code");
        goto out;
    }
    if (p == lim) {
        rc = out_of_line(&ps, line, lim);
        goto out;
    }
    if (*p == ' ') {
        p++;
        res->reason = p;
        p = skip_field_bytes(p, lim);
        res->reason_len = (size_t)(p - res->reason);
    } else {
        res->reason = p;
    }
    rc = expect_crlf(&ps, &p, line, lim);
    if (rc == BAD_VERSION)
        rc = fail(&ps, FAIL_BAD, "invalid status line");
    if (rc != 0)
        goto out;

    rc = parse_fields(&ps, p);
    if (rc < 0)
        goto out;

    int s = res->status;
    bool bodyless = request_was_head || (s >= 100 && s < 200) || s == 204 || s == 304;
    if (bodyless) {
        res->framing = HTTP_BODY_NONE;
    } else if (ps.have_te) {
        res->framing = ps.te_last_chunked ? HTTP_BODY_CHUNKED : HTTP_BODY_UNTIL_CLOSE;
    } else if (ps.have_cl) {
        res->framing = HTTP_BODY_LENGTH;
        res->content_length = ps.cl;
    } else {
        res->framing = HTTP_BODY_UNTIL_CLOSE;
    }
    if (ps.minor == 1)
        res->keep_alive = !ps.conn_close;
    else
        res->keep_alive = ps.conn_keep_alive && !ps.conn_close;
    if (res->framing == HTTP_BODY_UNTIL_CLOSE)
        res->keep_alive = false;

out:
    res->num_headers = ps.nh;
    if (rc == HTTP_ERROR) {
        res->error = ps.error;
        res->error_reason = ps.error_reason;
    }
    return rc;
}

void http_limits_default(struct http_limits *limits)
{
    limits->max_start_line = HTTP_LIMITS_DEFAULT_START_LINE;
    limits->max_header_bytes = HTTP_LIMITS_DEFAULT_HEADER_BYTES;
    limits->max_headers = HTTP_LIMITS_DEFAULT_HEADERS;
}

/* --- Helpers over parsed headers ------------------------------------------------------------------ */

bool http_name_eq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

const struct http_header *http_find_header(const struct http_header *headers, size_t n,
                                           const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (http_header_is(&headers[i], name))
            return &headers[i];
    return NULL;
}

static bool eq_nocase2(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

bool http_list_has_token(const char *value, size_t len, const char *token)
{
    struct list_iter it;
    const char *e;
    size_t elen;
    size_t tlen = strlen(token);

    if (value == NULL)
        return false;
    list_init(&it, value, len);
    while (list_next(&it, &e, &elen))
        if (eq_nocase2(e, elen, token, tlen))
            return true;
    return false;
}

bool http_is_hop_by_hop(const struct http_header *h, const struct http_header *headers, size_t n)
{
    /* one test per name, each with a literal: lengths known at compile time */
    if (http_header_is(h, "connection") || http_header_is(h, "keep-alive") ||
        http_header_is(h, "proxy-connection") || http_header_is(h, "te") ||
        http_header_is(h, "trailer") || http_header_is(h, "transfer-encoding") ||
        http_header_is(h, "upgrade"))
        return true;
    /* Connection may not nominate the fields that frame or route the message: "Connection:
     * Content-Length" must not let a proxy strip the length it framed the body with. */
    if (http_header_is(h, "content-length") || http_header_is(h, "host"))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!http_header_is(&headers[i], "connection"))
            continue;
        struct list_iter it;
        const char *e;
        size_t elen;
        list_init(&it, headers[i].value, headers[i].value_len);
        while (list_next(&it, &e, &elen))
            if (elen > 0 && eq_nocase2(e, elen, h->name, h->name_len))
                return true;
    }
    return false;
}

const char *http_status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* --- Incremental chunked-body decoder --------------------------------------------------------------- */

enum chunked_state {
    CH_SIZE = 0,    /* hex digits of a chunk size */
    CH_SIZE_WS,     /* BWS after the size: only ";" may follow */
    CH_EXT,         /* chunk extensions up to CR */
    CH_SIZE_LF,     /* the LF of the size line */
    CH_DATA,        /* chunk payload */
    CH_DATA_CR,     /* CRLF after the payload */
    CH_DATA_LF,
    CH_TRAILER,     /* the start of a trailer line, or the final CRLF */
    CH_TRAILER_NAME,
    CH_TRAILER_VALUE,
    CH_TRAILER_LF,
    CH_END_LF,      /* the LF of the final CRLF */
    CH_ERROR,
};

/* Fields that must never come as trailers: a recipient merging them into the header section
 * would take framing or routing from them (smuggling). Matched as the name arrives, byte by byte. */
static const char *const forbidden_trailers[] = {"content-length", "transfer-encoding", "host"};
#define FORBIDDEN_TRAILERS (sizeof(forbidden_trailers) / sizeof(forbidden_trailers[0]))

/* Narrows dec->trailer_match by the name byte c at position dec->line_len. */
static void trailer_name_byte(struct http_chunked *dec, char c)
{
    char lc = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    for (size_t k = 0; k < FORBIDDEN_TRAILERS; k++)
        if (dec->line_len >= strlen(forbidden_trailers[k]) ||
            forbidden_trailers[k][dec->line_len] != lc)
            dec->trailer_match &= ~(1u << k);
    dec->line_len++;
}

void http_chunked_init(struct http_chunked *dec)
{
    memset(dec, 0, sizeof(*dec));
    dec->state = CH_SIZE;
}

ssize_t http_chunked_feed(struct http_chunked *dec, const char *buf, size_t len, const char **data,
                          size_t *data_len)
{
    size_t i = 0;

    *data = NULL;
    *data_len = 0;
    if (dec->state == CH_ERROR)
        return HTTP_ERROR;
    while (i < len && !dec->done) {
        char c = buf[i];
        /* Size lines and the trailer section are bounded. */
        if (dec->state == CH_SIZE || dec->state == CH_SIZE_WS || dec->state == CH_EXT) {
            if (c != '\r' && ++dec->line_len > HTTP_CHUNK_LINE_MAX)
                goto bad;
        } else if (dec->state >= CH_TRAILER) {
            if (++dec->trailer_len > HTTP_CHUNK_TRAILER_MAX)
                goto bad;
        }
        switch (dec->state) {
        case CH_SIZE: {
            int d = http_hex_value(c);
            if (d >= 0) {
                if (dec->chunk_left > (HTTP_MAX_CONTENT_LENGTH >> 4))
                    goto bad;
                dec->chunk_left = (dec->chunk_left << 4) | (uint64_t)d;
                dec->seen_digit = true;
            } else if (!dec->seen_digit) {
                goto bad;
            } else if (c == ';') {
                dec->state = CH_EXT;
            } else if (is_ows(c)) {
                dec->state = CH_SIZE_WS;
            } else if (c == '\r') {
                dec->state = CH_SIZE_LF;
            } else {
                goto bad;
            }
            break;
        }
        case CH_SIZE_WS:
            if (c == ';')
                dec->state = CH_EXT;
            else if (!is_ows(c))
                goto bad;
            break;
        case CH_EXT:
            if (c == '\r')
                dec->state = CH_SIZE_LF;
            else if (!is_field_byte(c))
                goto bad;
            break;
        case CH_SIZE_LF:
            if (c != '\n')
                goto bad;
            dec->line_len = 0;
            dec->seen_digit = false;
            dec->state = dec->chunk_left == 0 ? CH_TRAILER : CH_DATA;
            break;
        case CH_DATA: {
            size_t take = len - i;
            if ((uint64_t)take > dec->chunk_left)
                take = (size_t)dec->chunk_left;
            *data = buf + i;
            *data_len = take;
            dec->chunk_left -= take;
            dec->total += take;
            i += take;
            if (dec->chunk_left == 0)
                dec->state = CH_DATA_CR;
            return (ssize_t)i;
        }
        case CH_DATA_CR:
            if (c != '\r')
                goto bad;
            dec->state = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (c != '\n')
                goto bad;
            dec->state = CH_SIZE;
            dec->line_len = 0;
            break;
        case CH_TRAILER:
            if (c == '\r') {
                dec->state = CH_END_LF;
            } else if (is_tchar(c)) {
                dec->state = CH_TRAILER_NAME;
                dec->line_len = 0;
                dec->trailer_match = (1u << FORBIDDEN_TRAILERS) - 1;
                trailer_name_byte(dec, c);
            } else {
                goto bad;
            }
            break;
        case CH_TRAILER_NAME:
            if (c == ':') {
                for (size_t k = 0; k < FORBIDDEN_TRAILERS; k++)
                    if ((dec->trailer_match >> k & 1u) &&
                        dec->line_len == strlen(forbidden_trailers[k]))
                        goto bad;
                dec->state = CH_TRAILER_VALUE;
            } else if (is_tchar(c)) {
                trailer_name_byte(dec, c);
            } else {
                goto bad;
            }
            break;
        case CH_TRAILER_VALUE:
            if (c == '\r')
                dec->state = CH_TRAILER_LF;
            else if (!is_field_byte(c))
                goto bad;
            break;
        case CH_TRAILER_LF:
            if (c != '\n')
                goto bad;
            dec->state = CH_TRAILER;
            break;
        case CH_END_LF:
            if (c != '\n')
                goto bad;
            dec->done = true;
            break;
        default:
            goto bad;
        }
        i++;
    }
    return (ssize_t)i;

bad:
    dec->state = CH_ERROR;
    *data = NULL;
    *data_len = 0;
    return HTTP_ERROR;
}

/* --- Incremental body tracker ------------------------------------------------------------------ */

void http_body_init(struct http_body *b, enum http_framing framing, uint64_t content_length)
{
    memset(b, 0, sizeof(*b));
    b->framing = framing;
    switch (framing) {
    case HTTP_BODY_LENGTH:
        b->left = content_length;
        b->done = content_length == 0;
        break;
    case HTTP_BODY_CHUNKED: http_chunked_init(&b->chunked); break;
    case HTTP_BODY_UNTIL_CLOSE: break;
    case HTTP_BODY_NONE:
    default: b->done = true; break;
    }
}

ssize_t http_body_next(struct http_body *b, const char *buf, size_t len, const char **data,
                       size_t *data_len)
{
    size_t take = len;

    *data = NULL;
    *data_len = 0;
    if (b->error)
        return HTTP_ERROR;
    if (b->done || len == 0)
        return 0;
    switch (b->framing) {
    case HTTP_BODY_LENGTH:
        if ((uint64_t)take > b->left)
            take = (size_t)b->left;
        b->left -= take;
        b->done = b->left == 0;
        break;
    case HTTP_BODY_CHUNKED: {
        ssize_t r = http_chunked_feed(&b->chunked, buf, len, data, data_len);
        if (r < 0) {
            b->error = true;
            return HTTP_ERROR;
        }
        b->consumed += (uint64_t)r;
        b->payload += *data_len;
        b->done = b->chunked.done;
        return r;
    }
    case HTTP_BODY_UNTIL_CLOSE: break;
    default: return 0; /* HTTP_BODY_NONE is done at init */
    }
    *data = buf;
    *data_len = take;
    b->consumed += take;
    b->payload += take;
    return (ssize_t)take;
}

ssize_t http_body_feed(struct http_body *b, const char *buf, size_t len)
{
    size_t used = 0;

    if (b->error)
        return HTTP_ERROR;
    /* one step for a length or until-close body; one per payload span for a chunked one */
    while (used < len && !b->done) {
        const char *data;
        size_t data_len;
        ssize_t r = http_body_next(b, buf + used, len - used, &data, &data_len);
        if (r < 0)
            return HTTP_ERROR;
        if (r == 0)
            break; /* cannot happen before done: the decoder consumes all it can use */
        used += (size_t)r;
    }
    return (ssize_t)used;
}

ssize_t http_body_skip(struct http_body *b, uint64_t n)
{
    if (b->error || b->framing == HTTP_BODY_CHUNKED)
        return HTTP_ERROR;
    if (b->done || b->framing == HTTP_BODY_NONE)
        return 0;
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    if (b->framing == HTTP_BODY_LENGTH) {
        if (n > b->left)
            n = b->left;
        b->left -= n;
        b->done = b->left == 0;
    }
    b->consumed += n;
    b->payload += n;
    return (ssize_t)n;
}

bool http_body_eof(struct http_body *b)
{
    if (b->error)
        return false;
    if (b->framing == HTTP_BODY_UNTIL_CLOSE)
        b->done = true;
    return b->done;
}

uint64_t http_body_remaining(const struct http_body *b)
{
    if (b->done)
        return 0;
    if (b->framing == HTTP_BODY_LENGTH)
        return b->left;
    return UINT64_MAX;
}
