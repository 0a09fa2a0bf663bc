/*
 * proxyproto.h - the PROXY protocol header lb sends a backend first in -m tcp (-b ...,send-proxy).
 *
 * A layer-4 balancer connects to the backend from its own address, so the backend sees lb as its
 * client. The PROXY protocol (HAProxy's, versions 1 and 2) fixes that: before any byte of the
 * client's, lb writes one header naming the client's address and the address the client
 * connected to; a backend that expects it (backend-sim --accept-proxy) reads it off first.
 * Version 1 is one line of text, version 2 a binary block with a 12-byte signature.
 *
 * Pure: builds bytes into a caller's buffer, no system call, no allocation.
 */
#ifndef LB_PROXYPROTO_H
#define LB_PROXYPROTO_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Longest header proxyproto_header() writes: a v1 line is at most 107 bytes with its CRLF; a v2
 * header for IPv6 is 16 + 36 = 52 bytes. */
#define PROXYPROTO_MAX_LEN 108

/* Writes the version 1 or 2 header for a connection from client (the client's address and port)
 * to lb_addr (the address it connected to: getsockname() of lb's accepted socket) into
 * out[0..cap). IPv4 and IPv6 give TCP4 / TCP6 (v2: AF_INET / AF_INET6 over STREAM); an IPv4
 * address and an IPv6 one together are both written as IPv6 (IPv4-mapped), unless the IPv6 one
 * is itself IPv4-mapped, then both as IPv4; two IPv4-mapped addresses are written as IPv4. Any other family (or NULL) gives "PROXY UNKNOWN\r\n"
 * in v1 and a LOCAL command with family UNSPEC in v2 (the backend then uses the connection's own
 * addresses). Returns the header's length, -ENOSPC when cap is too small (out is then
 * unspecified), or -EINVAL when version is neither 1 nor 2. */
ssize_t proxyproto_header(int version, const struct sockaddr *client,
                          const struct sockaddr *lb_addr, char *out, size_t cap);

#endif
