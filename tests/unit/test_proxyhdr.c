/* test_proxyhdr.c - unit tests of backend-sim's PROXY protocol parser (backend-sim/proxyhdr.c):
 * the very headers lb's builder is tested to write (proxyproto_vectors.h), every prefix of them
 * "incomplete", and malformed ones refused with a reason: no header, truncated or wrong
 * signature, bad lengths, an overlong v1 line, bad addresses and numbers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "../../backend-sim/proxyhdr.h"
#include "proxyproto_vectors.h"

/* The text form "ip port" of a parsed address, in a static buffer (one of two). */
static const char *addr_text(const struct sockaddr_storage *ss)
{
    static char out[2][80];
    static int k;
    char ip[INET6_ADDRSTRLEN];
    char *o = out[k++ & 1];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(o, 80, "%s %u", ip, ntohs(in->sin_port));
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        snprintf(o, 80, "%s %u", ip, ntohs(in6->sin6_port));
    }
    return o;
}

/* Parses hdr (n bytes) followed by a request: the header's length must come back, with the
 * addresses src and dst ("ip port"; NULL: no addresses); every shorter prefix is incomplete. */
static void expect_ok(const char *hdr, size_t n, int version, const char *src, const char *dst)
{
    char buf[1024];
    struct proxyhdr h;
    const char *why;
    memcpy(buf, hdr, n);
    memcpy(buf + n, "GET / HTTP/1.1\r\n\r\n", 18);

    for (size_t k = 0; k < n; k++)
        if (proxyhdr_parse(buf, k, &h, &why) != 0)
            fail_msg("a %zu-byte prefix of a %zu-byte header was not incomplete (%s)", k, n,
                     why ? why : "?");
    assert_int_equal(proxyhdr_parse(buf, n + 18, &h, &why), (ssize_t)n);
    assert_int_equal(h.version, version);
    if (src == NULL) {
        assert_false(h.has_addrs);
        return;
    }
    assert_true(h.has_addrs);
    assert_string_equal(addr_text(&h.src), src);
    assert_string_equal(addr_text(&h.dst), dst);
}

/* hdr (n bytes) must be refused with a reason holding want. */
static void expect_bad_n(const char *hdr, size_t n, const char *want)
{
    struct proxyhdr h;
    const char *why = NULL;
    ssize_t rc = proxyhdr_parse(hdr, n, &h, &why);
    if (rc != -EPROTO)
        fail_msg("'%.*s' gave %zd, not -EPROTO", (int)n, hdr, rc);
    assert_non_null(why);
    if (strstr(why, want) == NULL)
        fail_msg("'%.*s': reason '%s' lacks '%s'", (int)n, hdr, why, want);
}

#define expect_bad(s, want) expect_bad_n((s), sizeof(s) - 1, (want))

static void test_the_builders_vectors_parse(void **state)
{
    (void)state;
    expect_ok(PPV_V1_V4, strlen(PPV_V1_V4), 1, "192.0.2.10 51234", "198.51.100.1 8080");
    expect_ok(PPV_V1_V6, strlen(PPV_V1_V6), 1, "2001:db8::1 40000", "2001:db8::2 8443");
    expect_ok(PPV_V2_V4, PPV_V2_V4_LEN, 2, "192.0.2.10 51234", "198.51.100.1 8080");
    expect_ok(PPV_V2_V6, PPV_V2_V6_LEN, 2, "2001:db8::1 40000", "2001:db8::2 8443");
    expect_ok(PPV_V1_UNKNOWN, strlen(PPV_V1_UNKNOWN), 1, NULL, NULL);
    expect_ok(PPV_V2_LOCAL, PPV_V2_LOCAL_LEN, 2, NULL, NULL);
}

static void test_other_valid_forms(void **state)
{
    (void)state;
    /* the longest v1 line: 107 bytes */
    const char *longest = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                          "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert_int_equal(strlen(longest), 104);
    expect_ok(longest, strlen(longest), 1, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535",
              "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535");
    const char *unk = "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"; /* the rest is ignored */
    expect_ok(unk, strlen(unk), 1, NULL, NULL);
    expect_ok("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", 44, 1, "0.0.0.0 0",
              "255.255.255.255 65535");
    /* v2 with a TLV after the addresses: skipped with them */
    const char v2tlv[] = PPV_SIG "\x21\x11\x00\x10"
                                 "\x7f\x00\x00\x01\x7f\x00\x00\x02\x00\x50\x01\xbb"
                                 "\x04\x00\x01\x00";
    expect_ok(v2tlv, sizeof(v2tlv) - 1, 2, "127.0.0.1 80", "127.0.0.2 443");
    /* v2 PROXY over AF_UNSPEC and AF_UNIX: no addresses to take */
    const char unspec[] = PPV_SIG "\x21\x00\x00\x00";
    expect_ok(unspec, sizeof(unspec) - 1, 2, NULL, NULL);
    char unix_hdr[16 + 216];
    memcpy(unix_hdr, PPV_SIG "\x21\x31\x00\xd8", 16);
    memset(unix_hdr + 16, 0, 216);
    expect_ok(unix_hdr, sizeof(unix_hdr), 2, NULL, NULL);
}

static void test_missing_header_or_wrong_signature(void **state)
{
    (void)state;
    expect_bad("GET / HTTP/1.1\r\n", "no PROXY header");
    expect_bad("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "no PROXY header");
    expect_bad("PROXX", "\"PROXY \"");
    expect_bad("PROXY\r\n", "\"PROXY \"");
    expect_bad("\r\n\r\n\0\r\nQUIX\n", "wrong signature");
    expect_bad("\r\nGET / HTTP/1.1\r\n", "wrong signature");
    expect_bad(PPV_SIG "\x11\x11\x00\x0c", "version is not 2");
    expect_bad(PPV_SIG "\x22\x11\x00\x0c", "neither LOCAL nor PROXY");
    expect_bad(PPV_SIG "\x21\x41\x00\x0c", "unknown address family");
    expect_bad(PPV_SIG "\x21\x13\x00\x0c", "unknown address family");
    expect_bad(PPV_SIG "\x21\x12\x00\x0c", "other than STREAM");
}

static void test_bad_v2_lengths(void **state)
{
    (void)state;
    expect_bad(PPV_SIG "\x21\x11\x00\x08", "too short for the addresses");
    expect_bad(PPV_SIG "\x21\x21\x00\x0c", "too short for the addresses");
    expect_bad(PPV_SIG "\x21\x31\x00\x24", "too short for the addresses");
    expect_bad(PPV_SIG "\x21\x11\x02\x01", "beyond the 512 bytes");
    expect_bad(PPV_SIG "\x21\x11\xff\xff", "beyond the 512 bytes");
    /* a header announcing more than arrived is incomplete, not wrong */
    struct proxyhdr h;
    const char *why;
    assert_int_equal(proxyhdr_parse(PPV_V2_V4, PPV_V2_V4_LEN - 1, &h, &why), 0);
}

static void test_v1_line_too_long_or_badly_ended(void **state)
{
    (void)state;
    char line[200];
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    expect_bad_n(line, 107, "longer than 107 bytes");
    expect_bad_n(line, sizeof(line), "longer than 107 bytes");
    line[105] = '\r';
    line[106] = '\n';
    struct proxyhdr h;
    const char *why;
    assert_int_equal(proxyhdr_parse(line, sizeof(line), &h, &why), 107); /* 107 is fine */
    line[105] = 'x';
    line[106] = '\r';
    line[107] = '\n';
    expect_bad_n(line, sizeof(line), "longer than 107 bytes");
    expect_bad_n(line, 107, "longer than 107 bytes");
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", "CR not followed by LF");
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "not printable");
    expect_bad("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", "not printable");
}

static void test_v1_bad_fields_and_numbers(void **state)
{
    (void)state;
    expect_bad("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "not TCP4, TCP6 or UNKNOWN");
    expect_bad("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "not TCP4, TCP6 or UNKNOWN");
    expect_bad("PROXY UNKNOWNX\r\n", "not TCP4, TCP6 or UNKNOWN");
    expect_bad("PROXY TCP4\r\n", "not TCP4, TCP6 or UNKNOWN");
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "four fields");
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "four fields");
    expect_bad("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "four fields");
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "four fields");
    expect_bad("PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n", "bad IPv4 address");
    expect_bad("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "bad IPv4 address");
    expect_bad("PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "bad IPv4 address");
    expect_bad("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "bad IPv6 address");
    expect_bad("PROXY TCP6 ::1 ::g 1 2\r\n", "bad IPv6 address");
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "bad port");
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 080\r\n", "bad port");
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "bad port");
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n", "bad port");
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 123456 2\r\n", "bad port");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_builders_vectors_parse),
        cmocka_unit_test(test_other_valid_forms),
        cmocka_unit_test(test_missing_header_or_wrong_signature),
        cmocka_unit_test(test_bad_v2_lengths),
        cmocka_unit_test(test_v1_line_too_long_or_badly_ended),
        cmocka_unit_test(test_v1_bad_fields_and_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
