/*
 * proxyhdr.c - parses PROXY protocol v1 and v2 headers (see proxyhdr.h).
 *
 * The first byte chooses the version ('P' for v1, '\r' for v2's signature); from there each
 * reader checks every byte it has, so a wrong header is refused as soon as it is seen rather than
 * after a timeout, and answers "incomplete" only while what it has could still begin a valid one.
 * Addresses are read with inet_pton(), which takes exactly the canonical dotted quad and the
 * usual IPv6 forms; ports are 1 to 5 digits without a leading zero, at most 65535.
 */
#include "proxyhdr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

static const char v1_prefix[] = "PROXY ";
static const unsigned char v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                         0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

static ssize_t fail(const char **why, const char *reason)
{
    *why = reason;
    return -EPROTO;
}

/* A port: 1-5 digits, no leading zero, at most 65535. */
static bool parse_port(const char *p, size_t n, uint16_t *port)
{
    uint32_t v = 0;

    if (n == 0 || n > 5 || (n > 1 && p[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(p[i] - '0');
    }
    if (v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

/* An address of the given family into ss (its port left 0). */
static bool parse_ip(int family, const char *p, size_t n, struct sockaddr_storage *ss)
{
    char text[INET6_ADDRSTRLEN];

    if (n == 0 || n >= sizeof(text))
        return false;
    memcpy(text, p, n);
    text[n] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        return inet_pton(AF_INET, text, &in->sin_addr) == 1;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    return inet_pton(AF_INET6, text, &in6->sin6_addr) == 1;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* "TCP4 SRC DST SPORT DPORT" (line[0..n), without "PROXY " and CRLF) into out. */
static ssize_t parse_v1_tcp(const char *line, size_t n, struct proxyhdr *out, const char **why)
{
    int family = line[3] == '4' ? AF_INET : AF_INET6;
    const char *f[4];
    size_t flen[4], nf = 0;
    uint16_t sport, dport;

    for (size_t i = 5, start = 5; i <= n; i++) {
        if (i < n && line[i] != ' ')
            continue;
        if (i == start || nf == 4)
            return fail(why, "v1: not exactly four fields separated by single spaces after "
                             "TCP4/TCP6");
        f[nf] = line + start;
        flen[nf++] = i - start;
        start = i + 1;
    }
    if (nf != 4)
        return fail(why, "v1: not exactly four fields separated by single spaces after TCP4/TCP6");
    if (!parse_ip(family, f[0], flen[0], &out->src) || !parse_ip(family, f[1], flen[1], &out->dst))
        return fail(why, family == AF_INET ? "v1: bad IPv4 address" : "v1: bad IPv6 address");
    if (!parse_port(f[2], flen[2], &sport) || !parse_port(f[3], flen[3], &dport))
        return fail(why, "v1: bad port (0-65535, no leading zero)");
    set_port(&out->src, sport);
    set_port(&out->dst, dport);
    out->has_addrs = true;
    return 0;
}

static ssize_t parse_v1(const char *buf, size_t len, struct proxyhdr *out, const char **why)
{
    size_t have = len < PROXYHDR_V1_MAX ? len : PROXYHDR_V1_MAX;
    size_t cr = 0;

    if (memcmp(buf, v1_prefix, have < 6 ? have : 6) != 0)
        return fail(why, "v1: does not start with \"PROXY \"");
    while (cr < have && buf[cr] != '\r') {
        if ((unsigned char)buf[cr] < 0x20 || (unsigned char)buf[cr] > 0x7e)
            return fail(why, "v1: a byte that is not printable text before the CRLF");
        cr++;
    }
    if (cr == have)
        return len >= PROXYHDR_V1_MAX ? fail(why, "v1: line longer than 107 bytes") : 0;
    if (cr + 1 == len)
        return cr + 2 > PROXYHDR_V1_MAX ? fail(why, "v1: line longer than 107 bytes") : 0;
    if (buf[cr + 1] != '\n')
        return fail(why, "v1: CR not followed by LF");
    if (cr + 2 > PROXYHDR_V1_MAX)
        return fail(why, "v1: line longer than 107 bytes");
    if (cr < 6)
        return fail(why, "v1: does not start with \"PROXY \"");

    const char *line = buf + 6;
    size_t n = cr - 6;
    out->version = 1;
    out->has_addrs = false;
    if (n >= 7 && memcmp(line, "UNKNOWN", 7) == 0 && (n == 7 || line[7] == ' '))
        return (ssize_t)(cr + 2); /* the rest of an UNKNOWN line is to be ignored */
    if (n < 5 || (memcmp(line, "TCP4 ", 5) != 0 && memcmp(line, "TCP6 ", 5) != 0))
        return fail(why, "v1: protocol is not TCP4, TCP6 or UNKNOWN");
    ssize_t rc = parse_v1_tcp(line, n, out, why);
    return rc < 0 ? rc : (ssize_t)(cr + 2);
}

static ssize_t parse_v2(const unsigned char *buf, size_t len, struct proxyhdr *out,
                        const char **why)
{
    if (memcmp(buf, v2_sig, len < sizeof(v2_sig) ? len : sizeof(v2_sig)) != 0)
        return fail(why, "v2: wrong signature");
    if (len < 16)
        return 0;
    unsigned ver = buf[12] >> 4, cmd = buf[12] & 0x0f;
    unsigned fam = buf[13] >> 4, proto = buf[13] & 0x0f;
    size_t alen = ((size_t)buf[14] << 8) | buf[15];
    if (ver != 2)
        return fail(why, "v2: version is not 2");
    if (cmd > 1)
        return fail(why, "v2: command is neither LOCAL nor PROXY");
    if (fam > 3 || proto > 2)
        return fail(why, "v2: unknown address family or transport protocol");
    if (16 + alen > PROXYHDR_V2_MAX)
        return fail(why, "v2: length beyond the 512 bytes accepted");
    if (cmd == 1 && ((fam == 1 && alen < 12) || (fam == 2 && alen < 36) ||
                     (fam == 3 && alen < 216)))
        return fail(why, "v2: length too short for the addresses of its family");
    if (cmd == 1 && (fam == 1 || fam == 2) && proto != 1)
        return fail(why, "v2: an IP address family over a transport other than STREAM");
    if (len < 16 + alen)
        return 0;

    out->version = 2;
    out->has_addrs = false;
    if (cmd == 1 && (fam == 1 || fam == 2)) {
        size_t n = fam == 1 ? 4 : 16;
        const unsigned char *a = buf + 16;
        memset(&out->src, 0, sizeof(out->src));
        memset(&out->dst, 0, sizeof(out->dst));
        if (fam == 1) {
            struct sockaddr_in *s = (struct sockaddr_in *)&out->src;
            struct sockaddr_in *d = (struct sockaddr_in *)&out->dst;
            s->sin_family = d->sin_family = AF_INET;
            memcpy(&s->sin_addr, a, n);
            memcpy(&d->sin_addr, a + n, n);
        } else {
            struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->src;
            struct sockaddr_in6 *d = (struct sockaddr_in6 *)&out->dst;
            s->sin6_family = d->sin6_family = AF_INET6;
            memcpy(&s->sin6_addr, a, n);
            memcpy(&d->sin6_addr, a + n, n);
        }
        set_port(&out->src, (uint16_t)((a[2 * n] << 8) | a[2 * n + 1]));
        set_port(&out->dst, (uint16_t)((a[2 * n + 2] << 8) | a[2 * n + 3]));
        out->has_addrs = true;
    }
    return (ssize_t)(16 + alen);
}

ssize_t proxyhdr_parse(const char *buf, size_t len, struct proxyhdr *out, const char **why)
{
    *why = NULL;
    if (len == 0)
        return 0;
    if (buf[0] == 'P')
        return parse_v1(buf, len, out, why);
    if (buf[0] == '\r')
        return parse_v2((const unsigned char *)buf, len, out, why);
    return fail(why, "no PROXY header: the connection does not start with \"PROXY \" or the v2 "
                     "signature");
}
