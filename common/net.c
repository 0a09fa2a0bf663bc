/*
 * net.c - socket helpers shared by every lblab program. Nothing here blocks except where a name
 * is resolved for a listening socket at start-up (numeric hosts and "localhost" only).
 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cliopt.h"

int net_parse_port(const char *s, uint16_t *port)
{
    uint64_t v = 0;

    /* at most five characters: "000080" is refused rather than read as 80 */
    if (s == NULL || strlen(s) > 5 || cli_parse_digits(s, strlen(s), 65535, &v) != 0 || v == 0)
        return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

int net_split_hostport(const char *s, char *host, size_t host_len, uint16_t *port,
                       bool port_optional)
{
    const char *host_start = s, *host_end, *port_str = NULL;

    if (s == NULL || *s == '\0' || host_len == 0)
        return -EINVAL;
    if (port_optional && all_digits(s)) {
        host[0] = '\0';
        return net_parse_port(s, port);
    }
    if (s[0] == '[') {
        host_start = s + 1;
        host_end = strchr(host_start, ']');
        if (host_end == NULL)
            return -EINVAL;
        if (host_end[1] == ':')
            port_str = host_end + 2;
        else if (host_end[1] != '\0')
            return -EINVAL;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon != NULL && strchr(s, ':') != colon)
            return -EINVAL; /* a bare IPv6 address needs brackets */
        host_end = colon ? colon : s + strlen(s);
        if (colon)
            port_str = colon + 1;
    }
    size_t n = (size_t)(host_end - host_start);
    if (n == 0 || n >= host_len)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)host_start[i];
        if (c <= ' ' || c >= 0x7f || c == '/' || c == '@')
            return -EINVAL;
    }
    if (port_str == NULL) {
        if (!port_optional)
            return -EINVAL;
    } else if (net_parse_port(port_str, port) != 0) {
        return -EINVAL;
    }
    memcpy(host, host_start, n);
    host[n] = '\0';
    return 0;
}

int net_set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

int net_set_nodelay(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        return -errno;
    return 0;
}

int net_defer_accept(int fd, int seconds)
{
    if (setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof(seconds)) < 0)
        return -errno;
    return 0;
}

int net_listen_tcp(const char *host, uint16_t port, int backlog, bool nonblock, char *err,
                   size_t err_len)
{
    struct addrinfo hints = {0}, *res = NULL;
    char port_str[8];
    int fd = -1, rc, one = 1;

    if (host != NULL && (host[0] == '\0' || strcmp(host, "*") == 0))
        host = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | (host && strcmp(host, "localhost") != 0 ? AI_NUMERICHOST : 0);
    snprintf(port_str, sizeof(port_str), "%u", port);
    if (host == NULL)
        hints.ai_family = AF_INET6; /* dual-stack: [::] also takes IPv4 */
    rc = getaddrinfo(host, port_str, &hints, &res);
    if (rc != 0 && host == NULL) {
        hints.ai_family = AF_INET; /* no IPv6 on this machine */
        rc = getaddrinfo(host, port_str, &hints, &res);
    }
    if (rc != 0) {
        snprintf(err, err_len, "cannot use listen address '%s': %s", host ? host : "*",
                 gai_strerror(rc));
        return -EINVAL;
    }
    fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0),
                0);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, err_len, "socket: %s", strerror(errno));
        goto out_free;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
        rc = -errno;
        snprintf(err, err_len, "setsockopt(SO_REUSEADDR): %s", strerror(errno));
        goto out_close;
    }
    if (res->ai_family == AF_INET6 && host == NULL) {
        int zero = 0;
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
        rc = -errno;
        snprintf(err, err_len, "cannot listen on %s:%u: %s", host ? host : "*", port,
                 strerror(errno));
        goto out_close;
    }
    if (listen(fd, backlog) < 0) {
        rc = -errno;
        snprintf(err, err_len, "listen: %s", strerror(errno));
        goto out_close;
    }
    freeaddrinfo(res);
    return fd;

out_close:
    close(fd);
out_free:
    freeaddrinfo(res);
    return rc;
}

uint16_t net_addr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
    return 0;
}

/* "a.b.c.d" into buf (at least INET_ADDRSTRLEN bytes): what inet_ntop() writes, without the
 * sprintf() glibc's makes for it (lb formats a client's address for every request). */
static void format_ipv4(const struct in_addr *a, char *buf)
{
    const unsigned char *b = (const unsigned char *)&a->s_addr;
    size_t at = 0;
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        if (v >= 100)
            buf[at++] = (char)('0' + v / 100);
        if (v >= 10)
            buf[at++] = (char)('0' + v / 10 % 10);
        buf[at++] = (char)('0' + v % 10);
        buf[at++] = i < 3 ? '.' : '\0';
    }
}

char *net_format_ip(const struct sockaddr *sa, char *buf, size_t len)
{
    const void *src = NULL;

    if (sa->sa_family == AF_INET && len >= INET_ADDRSTRLEN) {
        format_ipv4(&((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf);
        return buf;
    }
    if (sa->sa_family == AF_INET)
        src = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        src = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (src == NULL || inet_ntop(sa->sa_family, src, buf, (socklen_t)len) == NULL)
        snprintf(buf, len, "?");
    return buf;
}

char *net_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];

    net_format_ip(sa, ip, sizeof(ip));
    if (sa->sa_family == AF_INET6)
        snprintf(buf, len, "[%s]:%u", ip, net_addr_port(sa));
    else
        snprintf(buf, len, "%s:%u", ip, net_addr_port(sa));
    return buf;
}

bool net_is_v4mapped(const unsigned char addr[16])
{
    static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(addr, prefix, sizeof(prefix)) == 0;
}

socklen_t net_unmap_v4(const struct sockaddr *in, socklen_t in_len, struct sockaddr_storage *out)
{
    struct sockaddr_in6 v6;

    if (in_len > sizeof(*out))
        in_len = sizeof(*out);
    if (in->sa_family == AF_INET6 && in_len >= sizeof(v6)) {
        memcpy(&v6, in, sizeof(v6));
        if (net_is_v4mapped(v6.sin6_addr.s6_addr)) {
            struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = v6.sin6_port};
            memcpy(&v4.sin_addr, &v6.sin6_addr.s6_addr[12], 4);
            memset(out, 0, sizeof(*out));
            memcpy(out, &v4, sizeof(v4));
            return sizeof(v4);
        }
    }
    memmove(out, in, in_len);
    return in_len;
}
