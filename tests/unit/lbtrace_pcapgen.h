/*
 * lbtrace_pcapgen.h - a tiny pcap writer for lbtrace's tests: hand-made captures of TCP
 * conversations with any link type, so edge cases (split headers, retransmissions, overlaps,
 * reordering, RST mid-body, VLAN, Linux cooked, loopback, truncation, garbage) are written down
 * as code next to the tests that read them.
 *
 * The pcap format is a 24-byte global header then, per frame, a 16-byte record header and the
 * bytes. Frames are Ethernet (optionally 802.1Q-tagged), Linux SLL/SLL2, BSD NULL or raw IP
 * around IPv4/IPv6 + TCP with correct checksums. Header-only (static functions) so that every
 * lbtrace test can include it.
 */
#ifndef LBTRACE_PCAPGEN_H
#define LBTRACE_PCAPGEN_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define PG_LINK_NULL 0
#define PG_LINK_EN10MB 1
#define PG_LINK_RAW 101
#define PG_LINK_SLL 113
#define PG_LINK_SLL2 276

#define PG_FIN 0x01
#define PG_SYN 0x02
#define PG_RST 0x04
#define PG_PSH 0x08
#define PG_ACK 0x10

struct pg {
    FILE *f;
    int link;
    int vlan;       /* >= 0: tag Ethernet frames with this VLAN id */
    uint64_t ts_us; /* the next frame's time */
    size_t snaplen; /* 0: frames are written whole; else cut at this many bytes */
};

struct pg_endpoint {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    uint16_t port;
};

/* One TCP connection being written: the client side and the server side with their next seq. */
struct pg_conn {
    struct pg *pg;
    struct pg_endpoint c, s;
    uint32_t cseq, sseq;
};

static inline void pg_put16le(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void pg_put32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void pg_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void pg_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* Opens path for writing a pcap of link type link (microsecond timestamps). NULL on error. */
static inline struct pg *pg_open(const char *path, int link)
{
    struct pg *pg = calloc(1, sizeof(*pg));
    uint8_t gh[24];
    if (pg == NULL)
        return NULL;
    pg->f = fopen(path, "wb");
    if (pg->f == NULL) {
        free(pg);
        return NULL;
    }
    pg->link = link;
    pg->vlan = -1;
    pg->ts_us = 1700000000ull * 1000000ull;
    pg_put32le(gh, 0xa1b2c3d4);
    pg_put16le(gh + 4, 2);
    pg_put16le(gh + 6, 4);
    pg_put32le(gh + 8, 0);
    pg_put32le(gh + 12, 0);
    pg_put32le(gh + 16, 262144);
    pg_put32le(gh + 20, (uint32_t)link);
    fwrite(gh, 1, sizeof(gh), pg->f);
    return pg;
}

static inline void pg_close(struct pg *pg)
{
    if (pg == NULL)
        return;
    fclose(pg->f);
    free(pg);
}

/* Writes one record holding frame[0..len) (cut at pg->snaplen when set); time advances 100 us. */
static inline void pg_record(struct pg *pg, const uint8_t *frame, size_t len)
{
    uint8_t rh[16];
    size_t cap = pg->snaplen && len > pg->snaplen ? pg->snaplen : len;
    pg_put32le(rh, (uint32_t)(pg->ts_us / 1000000u));
    pg_put32le(rh + 4, (uint32_t)(pg->ts_us % 1000000u));
    pg_put32le(rh + 8, (uint32_t)cap);
    pg_put32le(rh + 12, (uint32_t)len);
    fwrite(rh, 1, sizeof(rh), pg->f);
    fwrite(frame, 1, cap, pg->f);
    pg->ts_us += 100;
}

static inline uint32_t pg_sum(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    return sum;
}

static inline uint16_t pg_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Builds the link header for an IP packet of the given family into out; returns its length. */
static inline size_t pg_link_header(const struct pg *pg, int family, uint8_t *out)
{
    uint16_t ethertype = family == AF_INET6 ? 0x86dd : 0x0800;
    switch (pg->link) {
    case PG_LINK_EN10MB: {
        static const uint8_t macs[12] = {0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1};
        memcpy(out, macs, 12);
        if (pg->vlan >= 0) {
            pg_put16(out + 12, 0x8100);
            pg_put16(out + 14, (uint16_t)pg->vlan);
            pg_put16(out + 16, ethertype);
            return 18;
        }
        pg_put16(out + 12, ethertype);
        return 14;
    }
    case PG_LINK_SLL:
        memset(out, 0, 16);
        pg_put16(out + 2, 772); /* ARPHRD_LOOPBACK */
        pg_put16(out + 4, 6);
        pg_put16(out + 14, ethertype);
        return 16;
    case PG_LINK_SLL2:
        memset(out, 0, 20);
        pg_put16(out, ethertype);
        pg_put32(out + 4, 1);
        pg_put16(out + 8, 772);
        out[11] = 6;
        return 20;
    case PG_LINK_NULL:
        pg_put32le(out, family == AF_INET6 ? 30 : 2); /* host order, written little-endian */
        return 4;
    default:
        return 0;
    }
}

/* Writes one TCP segment from a to b. */
static inline void pg_tcp(struct pg *pg, const struct pg_endpoint *a, const struct pg_endpoint *b,
                   uint32_t seq, uint32_t ack, uint8_t flags, const void *payload, size_t len)
{
    size_t cap = 128 + len;
    uint8_t *frame = calloc(1, cap);
    size_t off, iplen, tcplen = 20 + ((flags & PG_SYN) ? 4 : 0);
    if (frame == NULL)
        return;
    off = pg_link_header(pg, a->family, frame);
    uint8_t *ip = frame + off;
    uint8_t *tcp;
    uint32_t sum;
    if (a->family == AF_INET6) {
        iplen = 40;
        tcp = ip + 40;
        ip[0] = 0x60;
        pg_put16(ip + 4, (uint16_t)(tcplen + len));
        ip[6] = 6;
        ip[7] = 64;
        memcpy(ip + 8, a->addr, 16);
        memcpy(ip + 24, b->addr, 16);
        sum = pg_sum(0, ip + 8, 32) + 6 + (uint32_t)(tcplen + len);
    } else {
        iplen = 20;
        tcp = ip + 20;
        ip[0] = 0x45;
        pg_put16(ip + 2, (uint16_t)(20 + tcplen + len));
        pg_put16(ip + 6, 0x4000); /* DF */
        ip[8] = 64;
        ip[9] = 6;
        memcpy(ip + 12, a->addr, 4);
        memcpy(ip + 16, b->addr, 4);
        pg_put16(ip + 10, pg_fold(pg_sum(0, ip, 20)));
        sum = pg_sum(0, ip + 12, 8) + 6 + (uint32_t)(tcplen + len);
    }
    pg_put16(tcp, a->port);
    pg_put16(tcp + 2, b->port);
    pg_put32(tcp + 4, seq);
    pg_put32(tcp + 8, ack);
    tcp[12] = (uint8_t)((tcplen / 4) << 4);
    tcp[13] = flags;
    pg_put16(tcp + 14, 65535);
    if (flags & PG_SYN) { /* MSS option */
        tcp[20] = 2;
        tcp[21] = 4;
        pg_put16(tcp + 22, 1460);
    }
    if (len)
        memcpy(tcp + tcplen, payload, len);
    sum = pg_sum(sum, tcp, tcplen + len);
    pg_put16(tcp + 16, pg_fold(sum));
    pg_record(pg, frame, off + iplen + tcplen + len);
    free(frame);
}

static inline struct pg_endpoint pg_v4(const char *ip, uint16_t port)
{
    struct pg_endpoint e = {.family = AF_INET, .port = port};
    inet_pton(AF_INET, ip, e.addr);
    return e;
}

static inline struct pg_endpoint pg_v6(const char *ip, uint16_t port)
{
    struct pg_endpoint e = {.family = AF_INET6, .port = port};
    inet_pton(AF_INET6, ip, e.addr);
    return e;
}

/* Starts a connection c -> s with a full three-way handshake. */
static inline struct pg_conn pg_connect(struct pg *pg, struct pg_endpoint c, struct pg_endpoint s,
                                 uint32_t cisn, uint32_t sisn)
{
    struct pg_conn k = {.pg = pg, .c = c, .s = s, .cseq = cisn + 1, .sseq = sisn + 1};
    pg_tcp(pg, &c, &s, cisn, 0, PG_SYN, NULL, 0);
    pg_tcp(pg, &s, &c, sisn, cisn + 1, PG_SYN | PG_ACK, NULL, 0);
    pg_tcp(pg, &c, &s, cisn + 1, sisn + 1, PG_ACK, NULL, 0);
    return k;
}

/* Sends data from the client (from_client) or the server, advancing that side's seq. */
static inline void pg_send(struct pg_conn *k, bool from_client, const void *data, size_t len)
{
    if (from_client) {
        pg_tcp(k->pg, &k->c, &k->s, k->cseq, k->sseq, PG_PSH | PG_ACK, data, len);
        k->cseq += (uint32_t)len;
    } else {
        pg_tcp(k->pg, &k->s, &k->c, k->sseq, k->cseq, PG_PSH | PG_ACK, data, len);
        k->sseq += (uint32_t)len;
    }
}

static inline void pg_sends(struct pg_conn *k, bool from_client, const char *s)
{
    pg_send(k, from_client, s, strlen(s));
}

/* Sends data at an explicit offset from the side's current seq without advancing it (for
 * out-of-order, overlapping and retransmitted segments). */
static inline void pg_send_at(struct pg_conn *k, bool from_client, int32_t offset, const void *data,
                       size_t len)
{
    if (from_client)
        pg_tcp(k->pg, &k->c, &k->s, k->cseq + (uint32_t)offset, k->sseq, PG_PSH | PG_ACK, data,
               len);
    else
        pg_tcp(k->pg, &k->s, &k->c, k->sseq + (uint32_t)offset, k->cseq, PG_PSH | PG_ACK, data,
               len);
}

/* Closes with FIN from both sides (client first) and the last ACK. */
static inline void pg_close_conn(struct pg_conn *k)
{
    pg_tcp(k->pg, &k->c, &k->s, k->cseq, k->sseq, PG_FIN | PG_ACK, NULL, 0);
    k->cseq++;
    pg_tcp(k->pg, &k->s, &k->c, k->sseq, k->cseq, PG_FIN | PG_ACK, NULL, 0);
    k->sseq++;
    pg_tcp(k->pg, &k->c, &k->s, k->cseq, k->sseq, PG_ACK, NULL, 0);
}

/* Sends a RST from the client or the server. */
static inline void pg_reset(struct pg_conn *k, bool from_client)
{
    if (from_client)
        pg_tcp(k->pg, &k->c, &k->s, k->cseq, 0, PG_RST, NULL, 0);
    else
        pg_tcp(k->pg, &k->s, &k->c, k->sseq, 0, PG_RST, NULL, 0);
}

/* Writes raw bytes as one frame (garbage, truncated headers). */
static inline void pg_raw(struct pg *pg, const void *frame, size_t len)
{
    pg_record(pg, frame, len);
}

#endif
