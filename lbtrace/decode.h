/*
 * decode.h - pure decoding of one captured frame down to its TCP segment: link layer (Ethernet
 * with 802.1Q/802.1ad VLAN tags, Linux cooked SLL and SLL2, BSD loopback NULL/LOOP, raw IP),
 * IPv4 or IPv6 (extension headers walked), then TCP with its options.
 *
 * No I/O and no allocation: the caller hands over the bytes libpcap captured, and the result
 * points into them. Every length is checked against what was captured, because lbtrace is fed
 * hostile captures: a short or lying header is reported, never read past.
 */
#ifndef LBTRACE_DECODE_H
#define LBTRACE_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Link types, numbered as libpcap's DLT_ values on Linux (pcap_datalink() returns them). */
#define DECODE_LINK_NULL 0       /* BSD loopback: 4-byte address family in host byte order */
#define DECODE_LINK_ETHERNET 1   /* Ethernet II, optionally VLAN-tagged */
#define DECODE_LINK_RAW 12       /* raw IPv4/IPv6 (DLT_RAW on Linux) */
#define DECODE_LINK_RAW_BSD 14   /* DLT_RAW on OpenBSD */
#define DECODE_LINK_RAW_LT 101   /* LINKTYPE_RAW as written in files */
#define DECODE_LINK_LOOP 108     /* OpenBSD loopback: address family in network byte order */
#define DECODE_LINK_LINUX_SLL 113
#define DECODE_LINK_IPV4 228
#define DECODE_LINK_IPV6 229
#define DECODE_LINK_LINUX_SLL2 276

/* TCP flag bits as on the wire. */
#define DECODE_TCP_FIN 0x01
#define DECODE_TCP_SYN 0x02
#define DECODE_TCP_RST 0x04
#define DECODE_TCP_PSH 0x08
#define DECODE_TCP_ACK 0x10
#define DECODE_TCP_URG 0x20
#define DECODE_TCP_ECE 0x40
#define DECODE_TCP_CWR 0x80

/* Why a frame was not decoded to a TCP segment. */
enum decode_status {
    DECODE_OK = 0,
    DECODE_NOT_TCP,     /* a well-formed frame of something else (ARP, UDP, ICMP...) */
    DECODE_FRAGMENT,    /* an IP fragment: lbtrace does not reassemble IP fragments */
    DECODE_UNSUPPORTED, /* an unknown link type */
    DECODE_MALFORMED,   /* a header is short, truncated or inconsistent */
};

/* One decoded TCP segment. Addresses are 4 bytes (IPv4) or 16 (IPv6) in network order. */
struct decode_packet {
    int family; /* AF_INET or AF_INET6 */
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    int vlan; /* the outermost VLAN id, or -1 */

    uint32_t seq, ack;
    uint8_t flags; /* DECODE_TCP_* */
    uint16_t window;

    /* TCP options (only those present are flagged) */
    bool has_mss, has_wscale, has_sack_perm, has_timestamp;
    uint16_t mss;
    uint8_t wscale;
    uint32_t tsval, tsecr;

    const uint8_t *payload; /* points into the frame */
    size_t payload_len;     /* bytes captured */
    size_t wire_payload_len; /* bytes the IP header says were sent (>= payload_len) */
};

/* Decodes frame[0..caplen) of link type link. Returns DECODE_OK with *out filled, or another
 * status with a one-line reason in err (err may be NULL). A frame cut short by the snapshot
 * length inside the payload is still DECODE_OK (payload_len < wire_payload_len); cut inside a
 * header it is DECODE_MALFORMED. */
enum decode_status decode_frame(int link, const uint8_t *frame, size_t caplen,
                                struct decode_packet *out, char *err, size_t err_len);

/* True when decode_frame() knows link. */
bool decode_link_supported(int link);

/* Short name of a link type ("EN10MB", "LINUX_SLL"...) for messages. */
const char *decode_link_name(int link);

/* Writes the TCP flags as tcpdump does ("S", "S.", "P.", "F.", "R") into buf. Returns buf. */
char *decode_flags_str(uint8_t flags, char *buf, size_t len);

#endif
