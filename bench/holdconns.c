/*
 * holdconns.c - the client of the memory benchmark (scripts/bench-mem.sh): it opens N
 * connections to a proxy on loopback, sends one request on each if asked (a GET, or a POST with a
 * body), reads each response whole, then holds the connections open and idle until its standard
 * input closes, while the caller reads the proxy's memory.
 *
 * Usage: holdconns -p PORT -n N [-m none|get|post] [-u PATH] [-b BODY_BYTES] [-c AT_ONCE]
 *   -m   what each connection carries before it idles (default none)
 *   -u   the request's path (default /)
 *   -b   the POST body's size in bytes (default 16000)
 *   -c   requests in flight at once: -c N sends every request before reading any answer (a
 *        burst); default 16
 * It prints "ready OPEN" when every request was answered (OPEN: connections the proxy still
 * keeps open), then waits for end of input and closes everything. Errors go to standard error
 * with exit status 1. Every socket has a 30 s receive timeout: a proxy that stops answering
 * ends the run instead of hanging it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define RECV_TIMEOUT_S 30
#define HEAD_MAX 16384

enum mode { MODE_NONE, MODE_GET, MODE_POST };

static void fail(const char *what, int err)
{
    fprintf(stderr, "holdconns: %s: %s\n", what, strerror(err));
    exit(1);
}

static int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail("socket", errno);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
        fail("connect", errno);
    struct timeval tv = {.tv_sec = RECV_TIMEOUT_S};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
        fail("setsockopt SO_RCVTIMEO", errno);
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        fail("setsockopt TCP_NODELAY", errno);
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail("send", w < 0 ? errno : EPIPE);
        p += w;
        n -= (size_t)w;
    }
}

/* Reads one response whole: its head, then Content-Length bytes of body. */
static void read_response(int fd)
{
    char buf[HEAD_MAX + 1];
    size_t have = 0;
    char *end = NULL;
    while (end == NULL) {
        if (have == HEAD_MAX) {
            fprintf(stderr, "holdconns: a response head larger than %d bytes\n", HEAD_MAX);
            exit(1);
        }
        ssize_t r = recv(fd, buf + have, HEAD_MAX - have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            fail("reading a response head", r < 0 ? errno : ECONNRESET);
        have += (size_t)r;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t head_len = (size_t)(end + 4 - buf);
    long long body = -1;
    for (char *line = strstr(buf, "\r\n"); line != NULL && line < end; line = strstr(line + 2, "\r\n"))
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
            body = atoll(line + 17);
    if (body < 0) {
        fprintf(stderr, "holdconns: a response without Content-Length\n");
        exit(1);
    }
    long long left = body - (long long)(have - head_len);
    while (left > 0) {
        ssize_t r = recv(fd, buf, sizeof(buf) - 1 < (size_t)left ? sizeof(buf) - 1 : (size_t)left, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            fail("reading a response body", r < 0 ? errno : ECONNRESET);
        left -= r;
    }
}

/* The connection is still open: nothing to read, and no end of stream. */
static bool still_open(int fd)
{
    char c;
    ssize_t r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static long parse_number(const char *flag, const char *s, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "holdconns: %s '%s': expected a number from %ld to %ld\n", flag, s, min, max);
        exit(1);
    }
    return v;
}

int main(int argc, char **argv)
{
    long port = 0, n = 0, body = 16000, at_once = 16;
    enum mode mode = MODE_NONE;
    const char *path = "/";
    int opt;
    while ((opt = getopt(argc, argv, "p:n:m:u:b:c:")) != -1) {
        switch (opt) {
        case 'p': port = parse_number("-p", optarg, 1, 65535); break;
        case 'n': n = parse_number("-n", optarg, 1, 1000000); break;
        case 'b': body = parse_number("-b", optarg, 0, 1L << 30); break;
        case 'c': at_once = parse_number("-c", optarg, 1, 1000000); break;
        case 'u': path = optarg; break;
        case 'm':
            if (strcmp(optarg, "none") == 0)
                mode = MODE_NONE;
            else if (strcmp(optarg, "get") == 0)
                mode = MODE_GET;
            else if (strcmp(optarg, "post") == 0)
                mode = MODE_POST;
            else {
                fprintf(stderr, "holdconns: -m '%s': expected none, get or post\n", optarg);
                return 1;
            }
            break;
        default:
            fprintf(stderr, "usage: holdconns -p PORT -n N [-m none|get|post] [-u PATH] "
                            "[-b BODY_BYTES] [-c AT_ONCE]\n");
            return 1;
        }
    }
    if (port == 0 || n == 0) {
        fprintf(stderr, "holdconns: -p PORT and -n N are needed\n");
        return 1;
    }

    char head[512];
    int head_len = mode == MODE_POST
        ? snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: bench\r\nContent-Length: %ld\r\n\r\n", path, body)
        : snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", path);
    if (head_len < 0 || (size_t)head_len >= sizeof(head)) {
        fprintf(stderr, "holdconns: -u '%s': the path is too long\n", path);
        return 1;
    }
    char *payload = calloc(1, body > 0 ? (size_t)body : 1);
    int *fds = calloc((size_t)n, sizeof(int));
    if (payload == NULL || fds == NULL)
        fail("calloc", ENOMEM);
    memset(payload, 'x', (size_t)body);

    for (long i = 0; i < n; i += at_once) {
        long last = i + at_once < n ? i + at_once : n;
        for (long j = i; j < last; j++) {
            fds[j] = connect_to((uint16_t)port);
            if (mode == MODE_NONE)
                continue;
            send_all(fds[j], head, (size_t)head_len);
            if (mode == MODE_POST)
                send_all(fds[j], payload, (size_t)body);
        }
        if (mode != MODE_NONE)
            for (long j = i; j < last; j++)
                read_response(fds[j]);
    }
    long open = 0;
    for (long i = 0; i < n; i++)
        open += still_open(fds[i]);
    printf("ready %ld\n", open);
    fflush(stdout);

    char c;
    while (read(STDIN_FILENO, &c, 1) > 0 || errno == EINTR)
        errno = 0;
    for (long i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    free(payload);
    return 0;
}
