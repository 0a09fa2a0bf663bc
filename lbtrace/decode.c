/*
 * decode.c - frame -> TCP segment, as pure functions over a bounded byte span.
 *
 * Design: a cursor (pointer + bytes left) moves down the layers; each layer first checks that
 * its fixed header is captured, then that the lengths it announces fit, and only then reads.
 * Lengths announced by IP are trusted only downwards (trailing Ethernet padding is cut off, a
 * capture shorter than the IP length is a truncated payload), never to read further than caplen.
 */
#include "decode.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8
#define ETHERTYPE_VLAN9100 0x9100
#define IPPROTO_TCP_ 6
#define MAX_VLAN_TAGS 4
#define MAX_IPV6_EXT 8

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static enum decode_status fail(enum decode_status st, char *err, size_t err_len, const char *fmt,
                               ...)
{
    if (err != NULL && err_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return st;
}

bool decode_link_supported(int link)
{
    switch (link) {
    case DECODE_LINK_NULL:
    case DECODE_LINK_ETHERNET:
    case DECODE_LINK_RAW:
    case DECODE_LINK_RAW_BSD:
    case DECODE_LINK_RAW_LT:
    case DECODE_LINK_LOOP:
    case DECODE_LINK_LINUX_SLL:
    case DECODE_LINK_IPV4:
    case DECODE_LINK_IPV6:
    case DECODE_LINK_LINUX_SLL2:
        return true;
    default:
        return false;
    }
}

const char *decode_link_name(int link)
{
    switch (link) {
    case DECODE_LINK_NULL: return "NULL";
    case DECODE_LINK_ETHERNET: return "EN10MB";
    case DECODE_LINK_RAW:
    case DECODE_LINK_RAW_BSD:
    case DECODE_LINK_RAW_LT: return "RAW";
    case DECODE_LINK_LOOP: return "LOOP";
    case DECODE_LINK_LINUX_SLL: return "LINUX_SLL";
    case DECODE_LINK_IPV4: return "IPV4";
    case DECODE_LINK_IPV6: return "IPV6";
    case DECODE_LINK_LINUX_SLL2: return "LINUX_SLL2";
    default: return "unknown";
    }
}

char *decode_flags_str(uint8_t flags, char *buf, size_t len)
{
    static const struct { uint8_t bit; char c; } names[] = {
        {DECODE_TCP_SYN, 'S'}, {DECODE_TCP_FIN, 'F'}, {DECODE_TCP_PSH, 'P'}, {DECODE_TCP_RST, 'R'},
        {DECODE_TCP_URG, 'U'}, {DECODE_TCP_ECE, 'E'}, {DECODE_TCP_CWR, 'W'},
    };
    size_t n = 0;

    if (len == 0)
        return buf;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && n + 1 < len; i++)
        if (flags & names[i].bit)
            buf[n++] = names[i].c;
    if ((flags & DECODE_TCP_ACK) && n + 1 < len)
        buf[n++] = '.';
    if (n == 0 && len > 4) {
        memcpy(buf, "none", 4);
        n = 4;
    }
    buf[n] = '\0';
    return buf;
}

/* Parses TCP options in opt[0..len); a malformed option list ends parsing (as the kernel does),
 * it does not make the segment malformed. */
static void parse_tcp_options(const uint8_t *opt, size_t len, struct decode_packet *out)
{
    size_t i = 0;
    while (i < len) {
        uint8_t kind = opt[i];
        if (kind == 0) /* end of options */
            return;
        if (kind == 1) { /* NOP */
            i++;
            continue;
        }
        if (i + 1 >= len)
            return;
        uint8_t olen = opt[i + 1];
        if (olen < 2 || olen > len - i)
            return;
        const uint8_t *v = opt + i + 2;
        switch (kind) {
        case 2:
            if (olen == 4) {
                out->has_mss = true;
                out->mss = rd16(v);
            }
            break;
        case 3:
            if (olen == 3) {
                out->has_wscale = true;
                out->wscale = v[0];
            }
            break;
        case 4:
            if (olen == 2)
                out->has_sack_perm = true;
            break;
        case 8:
            if (olen == 10) {
                out->has_timestamp = true;
                out->tsval = rd32(v);
                out->tsecr = rd32(v + 4);
            }
            break;
        default:
            break;
        }
        i += olen;
    }
}

/* p[0..len) is a TCP segment whose IP payload length on the wire is wire_len (>= len when the
 * capture was cut short). */
static enum decode_status decode_tcp(const uint8_t *p, size_t len, size_t wire_len,
                                     struct decode_packet *out, char *err, size_t err_len)
{
    if (len < 20)
        return fail(DECODE_MALFORMED, err, err_len, "TCP header truncated (%zu of 20 bytes)",
                    len);
    size_t doff = (size_t)(p[12] >> 4) * 4;
    if (doff < 20)
        return fail(DECODE_MALFORMED, err, err_len, "TCP data offset %zu < 20", doff);
    if (doff > wire_len)
        return fail(DECODE_MALFORMED, err, err_len, "TCP data offset %zu beyond segment (%zu)",
                    doff, wire_len);
    if (doff > len)
        return fail(DECODE_MALFORMED, err, err_len, "TCP options truncated (%zu of %zu bytes)",
                    len, doff);
    out->sport = rd16(p);
    out->dport = rd16(p + 2);
    out->seq = rd32(p + 4);
    out->ack = rd32(p + 8);
    out->flags = p[13];
    out->window = rd16(p + 14);
    parse_tcp_options(p + 20, doff - 20, out);
    out->payload = p + doff;
    out->payload_len = len - doff;
    out->wire_payload_len = wire_len - doff;
    return DECODE_OK;
}

static enum decode_status decode_ipv4(const uint8_t *p, size_t len, struct decode_packet *out,
                                      char *err, size_t err_len)
{
    if (len < 20)
        return fail(DECODE_MALFORMED, err, err_len, "IPv4 header truncated (%zu of 20 bytes)",
                    len);
    if (p[0] >> 4 != 4)
        return fail(DECODE_MALFORMED, err, err_len, "IP version %d in an IPv4 frame", p[0] >> 4);
    size_t ihl = (size_t)(p[0] & 0x0f) * 4;
    size_t total = rd16(p + 2);
    if (ihl < 20)
        return fail(DECODE_MALFORMED, err, err_len, "IPv4 header length %zu < 20", ihl);
    if (ihl > len)
        return fail(DECODE_MALFORMED, err, err_len, "IPv4 options truncated");
    if (total == 0 && len > ihl)
        total = len; /* TSO on the capturing host: the length field may be 0 */
    if (total < ihl)
        return fail(DECODE_MALFORMED, err, err_len, "IPv4 total length %zu < header %zu", total,
                    ihl);
    out->family = AF_INET;
    memcpy(out->src, p + 12, 4);
    memcpy(out->dst, p + 16, 4);
    uint16_t frag = rd16(p + 6);
    if ((frag & 0x1fff) != 0 || (frag & 0x2000) != 0)
        return fail(DECODE_FRAGMENT, err, err_len, "IPv4 fragment");
    if (p[9] != IPPROTO_TCP_)
        return fail(DECODE_NOT_TCP, err, err_len, "IPv4 protocol %d", p[9]);
    size_t captured = len < total ? len : total; /* drop link-layer padding */
    return decode_tcp(p + ihl, captured - ihl, total - ihl, out, err, err_len);
}

static enum decode_status decode_ipv6(const uint8_t *p, size_t len, struct decode_packet *out,
                                      char *err, size_t err_len)
{
    if (len < 40)
        return fail(DECODE_MALFORMED, err, err_len, "IPv6 header truncated (%zu of 40 bytes)",
                    len);
    if (p[0] >> 4 != 6)
        return fail(DECODE_MALFORMED, err, err_len, "IP version %d in an IPv6 frame", p[0] >> 4);
    size_t plen = rd16(p + 4);
    uint8_t next = p[6];
    out->family = AF_INET6;
    memcpy(out->src, p + 8, 16);
    memcpy(out->dst, p + 24, 16);
    if (plen == 0)
        return fail(DECODE_MALFORMED, err, err_len, "IPv6 jumbogram or empty payload");
    size_t captured = len - 40 < plen ? len - 40 : plen;
    const uint8_t *q = p + 40;
    size_t wire = plen;

    for (int i = 0; i < MAX_IPV6_EXT; i++) {
        switch (next) {
        case IPPROTO_TCP_:
            return decode_tcp(q, captured, wire, out, err, err_len);
        case 0:  /* hop-by-hop */
        case 43: /* routing */
        case 60: /* destination options */
        {
            if (captured < 8)
                return fail(DECODE_MALFORMED, err, err_len, "IPv6 extension header truncated");
            size_t hl = ((size_t)q[1] + 1) * 8;
            if (hl > captured || hl > wire)
                return fail(DECODE_MALFORMED, err, err_len, "IPv6 extension header too long");
            next = q[0];
            q += hl;
            captured -= hl;
            wire -= hl;
            break;
        }
        case 44: /* fragment */
            return fail(DECODE_FRAGMENT, err, err_len, "IPv6 fragment");
        case 59:
            return fail(DECODE_NOT_TCP, err, err_len, "IPv6 no next header");
        default:
            return fail(DECODE_NOT_TCP, err, err_len, "IPv6 next header %d", next);
        }
    }
    return fail(DECODE_MALFORMED, err, err_len, "too many IPv6 extension headers");
}

/* Dispatches on an IP version nibble (raw IP link types). */
static enum decode_status decode_ip(const uint8_t *p, size_t len, struct decode_packet *out,
                                    char *err, size_t err_len)
{
    if (len < 1)
        return fail(DECODE_MALFORMED, err, err_len, "empty IP packet");
    if (p[0] >> 4 == 4)
        return decode_ipv4(p, len, out, err, err_len);
    if (p[0] >> 4 == 6)
        return decode_ipv6(p, len, out, err, err_len);
    return fail(DECODE_MALFORMED, err, err_len, "IP version %d", p[0] >> 4);
}

static enum decode_status decode_ethertype(uint16_t type, const uint8_t *p, size_t len,
                                           struct decode_packet *out, char *err, size_t err_len)
{
    if (type == ETHERTYPE_IPV4)
        return decode_ipv4(p, len, out, err, err_len);
    if (type == ETHERTYPE_IPV6)
        return decode_ipv6(p, len, out, err, err_len);
    return fail(DECODE_NOT_TCP, err, err_len, "ethertype 0x%04x", type);
}

static enum decode_status decode_ethernet(const uint8_t *p, size_t len, struct decode_packet *out,
                                          char *err, size_t err_len)
{
    if (len < 14)
        return fail(DECODE_MALFORMED, err, err_len, "Ethernet header truncated");
    uint16_t type = rd16(p + 12);
    p += 14;
    len -= 14;
    for (int tags = 0; type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ ||
                       type == ETHERTYPE_VLAN9100;
         tags++) {
        if (tags == MAX_VLAN_TAGS)
            return fail(DECODE_MALFORMED, err, err_len, "too many VLAN tags");
        if (len < 4)
            return fail(DECODE_MALFORMED, err, err_len, "VLAN tag truncated");
        if (out->vlan < 0)
            out->vlan = rd16(p) & 0x0fff;
        type = rd16(p + 2);
        p += 4;
        len -= 4;
    }
    return decode_ethertype(type, p, len, out, err, err_len);
}

enum decode_status decode_frame(int link, const uint8_t *frame, size_t caplen,
                                struct decode_packet *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    out->vlan = -1;
    if (err != NULL && err_len > 0)
        err[0] = '\0';
    if (frame == NULL)
        caplen = 0;

    switch (link) {
    case DECODE_LINK_ETHERNET:
        return decode_ethernet(frame, caplen, out, err, err_len);
    case DECODE_LINK_NULL:
    case DECODE_LINK_LOOP: {
        if (caplen < 4)
            return fail(DECODE_MALFORMED, err, err_len, "loopback header truncated");
        /* The family is in the writer's byte order for NULL; accept both orders. The values
         * differ by OS for IPv6 (24, 28, 30), so the IP version nibble decides. */
        uint32_t le = (uint32_t)frame[0] | (uint32_t)frame[1] << 8 |
                      (uint32_t)frame[2] << 16 | (uint32_t)frame[3] << 24;
        uint32_t be = rd32(frame);
        uint32_t fam = le < be ? le : be;
        if (fam != 2 && fam != 24 && fam != 28 && fam != 30 && fam != 10)
            return fail(DECODE_NOT_TCP, err, err_len, "loopback family %u", (unsigned)fam);
        return decode_ip(frame + 4, caplen - 4, out, err, err_len);
    }
    case DECODE_LINK_RAW:
    case DECODE_LINK_RAW_BSD:
    case DECODE_LINK_RAW_LT:
        return decode_ip(frame, caplen, out, err, err_len);
    case DECODE_LINK_IPV4:
        return decode_ipv4(frame, caplen, out, err, err_len);
    case DECODE_LINK_IPV6:
        return decode_ipv6(frame, caplen, out, err, err_len);
    case DECODE_LINK_LINUX_SLL:
        /* packet type(2) ARPHRD(2) addr len(2) addr(8) protocol(2) */
        if (caplen < 16)
            return fail(DECODE_MALFORMED, err, err_len, "Linux cooked header truncated");
        return decode_ethertype(rd16(frame + 14), frame + 16, caplen - 16, out, err, err_len);
    case DECODE_LINK_LINUX_SLL2:
        /* protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) addr len(1) addr(8) */
        if (caplen < 20)
            return fail(DECODE_MALFORMED, err, err_len, "Linux cooked v2 header truncated");
        return decode_ethertype(rd16(frame), frame + 20, caplen - 20, out, err, err_len);
    default:
        return fail(DECODE_UNSUPPORTED, err, err_len, "link type %d not supported", link);
    }
}
