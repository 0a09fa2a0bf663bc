/*
 * proxyproto.c - builds PROXY protocol v1 and v2 headers (see proxyproto.h).
 *
 * Both versions first bring the two addresses to one family (the protocol names a single one
 * for both), then write it: v1 with inet_ntop() and decimal ports, v2 as the fixed 16-byte
 * preamble followed by both addresses and both ports in network byte order. The header is
 * assembled in a local array and copied out only when it fits, so a short buffer never holds
 * half a header.
 */
#include "proxyproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The version 2 signature: \r\n\r\n\0\r\nQUIT\n. */
static const unsigned char v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                         0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* One endpoint in the family the header uses: 4 or 16 address bytes, port in host order. */
struct pp_end {
    int family; /* AF_INET, AF_INET6, or AF_UNSPEC when not an IP address */
    unsigned char addr[16];
    uint16_t port;
};

static struct pp_end end_of(const struct sockaddr *sa)
{
    struct pp_end e = {.family = AF_UNSPEC};

    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        e.family = AF_INET;
        memcpy(e.addr, &in->sin_addr, 4);
        e.port = ntohs(in->sin_port);
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        e.family = AF_INET6;
        memcpy(e.addr, &in6->sin6_addr, 16);
        e.port = ntohs(in6->sin6_port);
    }
    return e;
}

static bool end_is_mapped(const struct pp_end *e)
{
    static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return e->family == AF_INET6 && memcmp(e->addr, prefix, 12) == 0;
}

static void end_unmap(struct pp_end *e)
{
    memmove(e->addr, e->addr + 12, 4);
    e->family = AF_INET;
}

static void end_map(struct pp_end *e)
{
    memmove(e->addr + 12, e->addr, 4);
    memset(e->addr, 0, 10);
    e->addr[10] = e->addr[11] = 0xff;
    e->family = AF_INET6;
}

/* Brings src and dst to one family; false when either is not an IP address. */
static bool ends_match(struct pp_end *src, struct pp_end *dst)
{
    if (src->family == AF_UNSPEC || dst->family == AF_UNSPEC)
        return false;
    if (end_is_mapped(src) && end_is_mapped(dst)) {
        end_unmap(src); /* IPv4 on a dual-stack socket: say IPv4 */
        end_unmap(dst);
    }
    if (src->family == dst->family)
        return true;
    struct pp_end *v6 = src->family == AF_INET6 ? src : dst;
    struct pp_end *v4 = src->family == AF_INET ? src : dst;
    if (end_is_mapped(v6))
        end_unmap(v6);
    else
        end_map(v4);
    return true;
}

static ssize_t build_v1(struct pp_end *src, struct pp_end *dst, char *buf, size_t cap)
{
    char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

    if (!ends_match(src, dst))
        return snprintf(buf, cap, "PROXY UNKNOWN\r\n");
    if (inet_ntop(src->family, src->addr, s, sizeof(s)) == NULL ||
        inet_ntop(dst->family, dst->addr, d, sizeof(d)) == NULL)
        return snprintf(buf, cap, "PROXY UNKNOWN\r\n");
    return snprintf(buf, cap, "PROXY %s %s %s %u %u\r\n",
                    src->family == AF_INET ? "TCP4" : "TCP6", s, d, (unsigned)src->port,
                    (unsigned)dst->port);
}

static ssize_t build_v2(struct pp_end *src, struct pp_end *dst, unsigned char *buf)
{
    size_t alen = 0, n = 16;

    memcpy(buf, v2_sig, sizeof(v2_sig));
    if (!ends_match(src, dst)) {
        buf[12] = 0x20; /* version 2, LOCAL: no addresses follow */
        buf[13] = 0x00; /* AF_UNSPEC, UNSPEC */
    } else {
        alen = src->family == AF_INET ? 4 : 16;
        buf[12] = 0x21;                                  /* version 2, PROXY */
        buf[13] = src->family == AF_INET ? 0x11 : 0x21; /* AF_INET(6), STREAM */
        memcpy(buf + n, src->addr, alen);
        memcpy(buf + n + alen, dst->addr, alen);
        n += 2 * alen;
        buf[n++] = (unsigned char)(src->port >> 8);
        buf[n++] = (unsigned char)(src->port & 0xff);
        buf[n++] = (unsigned char)(dst->port >> 8);
        buf[n++] = (unsigned char)(dst->port & 0xff);
    }
    buf[14] = (unsigned char)((n - 16) >> 8);
    buf[15] = (unsigned char)((n - 16) & 0xff);
    return (ssize_t)n;
}

ssize_t proxyproto_header(int version, const struct sockaddr *client,
                          const struct sockaddr *lb_addr, char *out, size_t cap)
{
    unsigned char buf[PROXYPROTO_MAX_LEN];
    struct pp_end src = end_of(client), dst = end_of(lb_addr);
    ssize_t n;

    if (version == 1)
        n = build_v1(&src, &dst, (char *)buf, sizeof(buf));
    else if (version == 2)
        n = build_v2(&src, &dst, buf);
    else
        return -EINVAL;
    if (n < 0 || (size_t)n >= sizeof(buf))
        return -EINVAL; /* cannot happen: every header fits PROXYPROTO_MAX_LEN */
    if ((size_t)n > cap)
        return -ENOSPC;
    memcpy(out, buf, (size_t)n);
    return n;
}
