/*
 * net.h - small socket helpers shared by every lblab program: parsing "HOST:PORT" arguments,
 * opening listening sockets, and printing socket addresses.
 *
 * Error convention (for the whole project): commands return 0 or -errno, constructors return a
 * descriptor or -errno, predicates return bool. Functions that can fail for reasons a user must
 * read take a caller-owned err buffer and write one line into it.
 */
#ifndef LBLAB_NET_H
#define LBLAB_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Room for "[ipv6]:port" plus the NUL. */
#define NET_ADDRSTR_LEN 64
/* Room for a host name or numeric address from the command line. */
#define NET_HOST_LEN 256

/* Parses a decimal port 1..65535 with nothing around it. Returns 0 or -EINVAL. */
int net_parse_port(const char *s, uint16_t *port);

/* Splits "HOST:PORT", "[V6]:PORT" or, when the port is optional, "HOST" / "PORT" alone (a string of
 * digits only is taken as a port). host gets "" when absent. Returns 0 or -EINVAL. */
int net_split_hostport(const char *s, char *host, size_t host_len, uint16_t *port,
                       bool port_optional);

/* Opens a listening TCP socket on host (NULL or "" for every address; "*" too) and port, with
 * SO_REUSEADDR, close-on-exec and, when nonblock, O_NONBLOCK. The host must be numeric or
 * "localhost". Returns the descriptor, or -errno with a message in err. */
int net_listen_tcp(const char *host, uint16_t port, int backlog, bool nonblock, char *err,
                   size_t err_len);

/* Sets O_NONBLOCK on fd. Returns 0 or -errno. */
int net_set_nonblocking(int fd);

/* Sets TCP_NODELAY on fd. Returns 0 or -errno. */
int net_set_nodelay(int fd);

/* Sets TCP_DEFER_ACCEPT on the listening socket fd: the kernel completes a connection but
 * reports it to accept() only once its first bytes have arrived, or after about seconds
 * (a SYN-ACK retransmission) for a client that stays silent. Only for protocols in which the
 * client speaks first. Returns 0 or -errno. */
int net_defer_accept(int fd, int seconds);

/* Writes "1.2.3.4:80" or "[::1]:80" into buf. Returns buf. */
char *net_format_addr(const struct sockaddr *sa, char *buf, size_t len);

/* The port of an AF_INET or AF_INET6 address (0 for others). */
uint16_t net_addr_port(const struct sockaddr *sa);

/* Writes the address without port ("1.2.3.4", "::1") into buf. Returns buf. */
char *net_format_ip(const struct sockaddr *sa, char *buf, size_t len);

/* True when the 16 bytes of an IPv6 address are an IPv4-mapped address (::ffff:a.b.c.d). */
bool net_is_v4mapped(const unsigned char addr[16]);

/* Copies the address in (in_len bytes) to out; an IPv4-mapped IPv6 address (what a dual-stack
 * listener sees for an IPv4 peer) becomes the plain AF_INET address with the same port, so it
 * prints as 1.2.3.4 and not ::ffff:1.2.3.4. in may point at out. Returns the length of out's
 * address (in_len, clamped to sizeof(*out), or sizeof(struct sockaddr_in) when unmapped). */
socklen_t net_unmap_v4(const struct sockaddr *in, socklen_t in_len, struct sockaddr_storage *out);

#endif
