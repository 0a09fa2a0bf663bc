/*
 * proxyhdr.h - reads the PROXY protocol header a connection starts with (--accept-proxy).
 *
 * A layer-4 balancer in front of backend-sim (lb -m tcp -b ...,send-proxy) writes one header
 * before the client's bytes, naming the client's address; backend-sim then reports that address
 * instead of the balancer's. Both versions of HAProxy's PROXY protocol are read, told apart by
 * their first bytes: version 1 is one text line ("PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n", at
 * most 107 bytes), version 2 a binary block after a 12-byte signature.
 *
 * Strict: anything that is not exactly a header (a plain HTTP request, a short or overlong line,
 * a wrong signature, lengths that do not add up, an address or port out of form) is an error
 * with a reason, and the caller closes the connection. Pure and stateless like the HTTP parser:
 * the caller keeps the bytes and calls again with more until it gets an answer.
 */
#ifndef LBLAB_PROXYHDR_H
#define LBLAB_PROXYHDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* The longest v1 line (with its CRLF), and the longest v2 header accepted (the 16-byte preamble
 * and up to 512 bytes of addresses and extensions, more than enough for a Unix address and a
 * few TLVs). */
#define PROXYHDR_V1_MAX 107
#define PROXYHDR_V2_MAX (16 + 512)

struct proxyhdr {
    int version; /* 1 or 2 */
    /* false: the header gave no addresses (v1 UNKNOWN, v2 LOCAL, or a family other than IPv4
     * and IPv6): the connection's own addresses stand */
    bool has_addrs;
    struct sockaddr_storage src; /* the client, AF_INET or AF_INET6, when has_addrs */
    struct sockaddr_storage dst; /* the address the client connected to, same family */
};

/* Reads the header at buf[0..len). Returns its length (the bytes to skip before the first byte
 * of the client's) with *out filled, 0 when buf holds only the beginning of a possible header
 * (read more), or -EPROTO when buf does not start with a valid header, with a short reason in
 * *why (a static string). */
ssize_t proxyhdr_parse(const char *buf, size_t len, struct proxyhdr *out, const char **why);

#endif
