/*
 * admin.c - one POST to lb's admin endpoint (see admin.h).
 *
 * Connecting is nonblocking with poll() so an address that does not answer costs the timeout,
 * not the kernel's minutes; the request and the answer then go through the socket with send and
 * receive timeouts. The answer is small (lb's JSON word on the change, or its error): read until
 * lb closes (it always does), then the status line and one JSON member are all lbtop needs.
 */
#include "admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "stats_shm.h"

/* The endpoint's socket address; an address of every host becomes loopback. */
static socklen_t endpoint_of(const struct stats_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == 4) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(a->port);
        memcpy(&in->sin_addr, a->addr, 4);
        if (in->sin_addr.s_addr == htonl(INADDR_ANY))
            in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return sizeof(*in);
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(a->port);
    in6->sin6_scope_id = a->scope_id;
    memcpy(&in6->sin6_addr, a->addr, 16);
    if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
        in6->sin6_addr = in6addr_loopback;
    return sizeof(*in6);
}

/* Connects to sa within timeout_ms; the socket is blocking again after. Returns fd or -errno. */
static int connect_within(const struct sockaddr_storage *sa, socklen_t len, int timeout_ms)
{
    int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = connect(fd, (const struct sockaddr *)sa, len);
    if (rc < 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t el = sizeof(err);
        rc = poll(&p, 1, timeout_ms);
        if (rc == 0)
            err = ETIMEDOUT;
        else if (rc < 0)
            err = errno;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
            err = errno;
        errno = err;
        rc = err == 0 ? 0 : -1;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    if (rc < 0 || fcntl(fd, F_SETFL, 0) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* name with every byte but letters, digits and - . _ ~ : written %XX (a '#' would end the
 * path). */
static void percent_encode(const char *name, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0' && k + 4 < len; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~:", *p) != NULL) {
            out[k++] = (char)*p;
        } else {
            out[k++] = '%';
            out[k++] = hex[*p >> 4];
            out[k++] = hex[*p & 15];
        }
    }
    out[k] = '\0';
}

/* The string value of "key" in a small JSON text, into out ("" when absent). */
static void json_word(const char *text, const char *key, char *out, size_t len)
{
    char k[32];
    snprintf(k, sizeof(k), "\"%s\": \"", key);
    const char *p = strstr(text, k);
    out[0] = '\0';
    if (p != NULL) {
        p += strlen(k);
        snprintf(out, len, "%.*s", (int)strcspn(p, "\""), p);
    }
}

int lbtop_admin_post(const struct stats_addr *admin, const char *name, const char *action,
                     int timeout_ms, char *msg, size_t msg_len)
{
    struct sockaddr_storage ss;
    char where[64], path[256], req[512], answer[2048], word[128];

    if (admin->family != 4 && admin->family != 6) {
        snprintf(msg, msg_len, "lb runs without --admin: no endpoint to %s %s through", action,
                 name);
        return -1;
    }
    socklen_t sl = endpoint_of(admin, &ss);
    stats_addr_format(admin, where, sizeof(where));
    int fd = connect_within(&ss, sl, timeout_ms);
    if (fd < 0) {
        snprintf(msg, msg_len, "%s %s: admin endpoint %s: %s", action, name, where,
                 strerror(-fd));
        return -1;
    }
    percent_encode(name, path, sizeof(path));
    int n = snprintf(req, sizeof(req),
                     "POST /backends/%s/%s HTTP/1.1\r\nHost: lb-admin\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n",
                     path, action);
    size_t got = 0;
    bool sent = n > 0 && (size_t)n < sizeof(req) &&
                send(fd, req, (size_t)n, MSG_NOSIGNAL) == (ssize_t)n;
    while (sent && got + 1 < sizeof(answer)) {
        ssize_t r = recv(fd, answer + got, sizeof(answer) - 1 - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    int e = errno;
    close(fd);
    answer[got] = '\0';
    int status = 0;
    if (!sent || sscanf(answer, "HTTP/1.%*d %d", &status) != 1) {
        snprintf(msg, msg_len, "%s %s: no answer from the admin endpoint %s%s%s", action, name,
                 where, got == 0 && e != 0 ? ": " : "", got == 0 && e != 0 ? strerror(e) : "");
        return -1;
    }
    const char *body = strstr(answer, "\r\n\r\n");
    body = body ? body + 4 : "";
    if (status != 200) {
        json_word(body, "error", word, sizeof(word));
        snprintf(msg, msg_len, "%s %s: lb answered %d%s%s", action, name, status,
                 word[0] ? ": " : "", word);
        return -1;
    }
    json_word(body, "state", word, sizeof(word));
    snprintf(msg, msg_len, "%s %s: %s", action, name, word[0] ? word : "done");
    return 0;
}
