/*
 * harness.c - process control, sockets and response reading for the end-to-end tests.
 * Responses are framed with the shared parser in common/http.h, so the tests read exactly what a
 * strict HTTP/1.1 client would.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "http.h"

uint16_t harness_free_port(void)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t sl = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return 0;
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
            getsockname(fd, (struct sockaddr *)&sa, &sl) == 0) {
            uint16_t port = ntohs(sa.sin_port);
            close(fd);
            if (port < 3000 || port > 3003)
                return port;
            continue;
        }
        close(fd);
    }
    return 0;
}

const char *harness_bin(const char *name)
{
    static char path[4096];
    const char *dir = getenv("LBLAB_BIN");
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "bin", name);
    return path;
}

pid_t harness_spawn(char *const argv[], const char *log_path)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (log_path != NULL) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
                close(fd);
            }
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            close(devnull);
        }
        execv(argv[0], argv);
        fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

bool harness_wait_port(uint16_t port, int timeout_ms)
{
    uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
    do {
        int fd = harness_connect(port, 500);
        if (fd >= 0) {
            close(fd);
            return true;
        }
        sleep_ms(20);
    } while (clock_mono_ms() < deadline);
    return false;
}

bool harness_alive(pid_t pid, int *status)
{
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
        if (status)
            *status = st;
        return false;
    }
    return r == 0;
}

int harness_stop(pid_t pid, int timeout_ms)
{
    int status = 0;
    uint64_t deadline;

    if (pid <= 0)
        return -1;
    if (kill(pid, SIGTERM) < 0 && errno == ESRCH) {
        return waitpid(pid, &status, 0) == pid ? status : -1;
    }
    deadline = clock_mono_ms() + (uint64_t)timeout_ms;
    while (clock_mono_ms() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0)
            return -1;
        sleep_ms(10);
    }
    fprintf(stderr, "harness: pid %d ignored SIGTERM for %d ms; killing it\n", (int)pid,
            timeout_ms);
    kill(pid, SIGKILL);
    return waitpid(pid, &status, 0) == pid ? status : -1;
}

int harness_connect(uint16_t port, int timeout_ms)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int harness_send_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

char *harness_recv_all(int fd, size_t max, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);

    while (buf != NULL && n < max) {
        if (n == cap) {
            char *bigger = realloc(buf, cap * 2 + 1);
            if (bigger == NULL)
                break;
            buf = bigger;
            cap *= 2;
        }
        size_t want = cap - n < max - n ? cap - n : max - n;
        ssize_t r = recv(fd, buf + n, want, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    if (buf != NULL)
        buf[n] = '\0';
    *len = n;
    return buf;
}

int harness_conn_open(struct harness_conn *c, uint16_t port, int timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->fd = harness_connect(port, timeout_ms);
    return c->fd >= 0 ? 0 : -1;
}

void harness_conn_close(struct harness_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

/* Reads more bytes into c->buf. Returns bytes read, 0 on close, -1 on error or timeout. */
static ssize_t conn_fill(struct harness_conn *c)
{
    if (c->cap - c->len < 65536) {
        size_t cap = c->cap ? c->cap * 2 : 131072;
        char *bigger = realloc(c->buf, cap);
        if (bigger == NULL)
            return -1;
        c->buf = bigger;
        c->cap = cap;
    }
    for (;;) {
        ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r > 0)
            c->len += (size_t)r;
        return r;
    }
}

static void conn_consume(struct harness_conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

static int append(char **dst, size_t *dst_len, const char *src, size_t n)
{
    char *bigger = realloc(*dst, *dst_len + n + 1);
    if (bigger == NULL)
        return -1;
    memcpy(bigger + *dst_len, src, n);
    *dst_len += n;
    bigger[*dst_len] = '\0';
    *dst = bigger;
    return 0;
}

static int read_body(struct harness_conn *c, const struct http_response *res,
                     struct harness_response *resp)
{
    resp->body = calloc(1, 1);
    if (resp->body == NULL)
        return -1;
    if (res->framing == HTTP_BODY_NONE) {
        resp->complete = true;
        return 0;
    }
    if (res->framing == HTTP_BODY_LENGTH) {
        uint64_t left = res->content_length;
        while (left > 0) {
            if (c->len == 0 && conn_fill(c) <= 0)
                return 0; /* cut short: complete stays false */
            size_t take = c->len < left ? c->len : (size_t)left;
            if (append(&resp->body, &resp->body_len, c->buf, take) < 0)
                return -1;
            conn_consume(c, take);
            left -= take;
        }
        resp->complete = true;
        return 0;
    }
    if (res->framing == HTTP_BODY_CHUNKED) {
        struct http_chunked dec;
        http_chunked_init(&dec);
        resp->chunked = true;
        while (!dec.done) {
            if (c->len == 0 && conn_fill(c) <= 0)
                return 0;
            const char *data;
            size_t data_len;
            ssize_t used = http_chunked_feed(&dec, c->buf, c->len, &data, &data_len);
            if (used < 0)
                return 0; /* malformed chunking: incomplete */
            if (data_len > 0 && append(&resp->body, &resp->body_len, data, data_len) < 0)
                return -1;
            conn_consume(c, (size_t)used);
            if (used == 0 && !dec.done && conn_fill(c) <= 0)
                return 0;
        }
        resp->complete = true;
        return 0;
    }
    /* until close */
    for (;;) {
        if (c->len > 0) {
            if (append(&resp->body, &resp->body_len, c->buf, c->len) < 0)
                return -1;
            c->len = 0;
        }
        ssize_t r = conn_fill(c);
        if (r == 0) {
            resp->complete = true;
            resp->closed = true;
            return 0;
        }
        if (r < 0)
            return 0;
    }
}

int harness_read_response(struct harness_conn *c, bool head_request, bool keep_interim,
                          struct harness_response *resp)
{
    struct http_limits limits;
    http_limits_default(&limits);
    memset(resp, 0, sizeof(*resp));

    for (;;) {
        struct http_header headers[128];
        struct http_response res = {.headers = headers, .num_headers = 128};
        int n = http_parse_response(c->buf ? c->buf : "", c->len, &res, &limits, head_request);
        if (n == HTTP_ERROR) {
            fprintf(stderr, "harness: malformed response: %s\n", res.error_reason);
            return -1;
        }
        if (n == HTTP_INCOMPLETE) {
            if (conn_fill(c) <= 0)
                return -1;
            continue;
        }
        if (res.status >= 100 && res.status < 200 && res.status != 101 && !keep_interim) {
            conn_consume(c, (size_t)n);
            continue;
        }
        resp->status = res.status;
        resp->minor_version = res.minor_version;
        resp->head = strndup(c->buf, (size_t)n);
        resp->head_len = (size_t)n;
        conn_consume(c, (size_t)n);
        if (resp->head == NULL)
            return -1;
        if (res.status == 101 || (res.status >= 100 && res.status < 200)) {
            resp->body = calloc(1, 1);
            resp->complete = true;
            return resp->body ? 0 : -1;
        }
        if (read_body(c, &res, resp) < 0)
            return -1;
        if (!resp->closed && !res.keep_alive)
            resp->closed = true;
        return 0;
    }
}

void harness_response_free(struct harness_response *resp)
{
    free(resp->head);
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

const char *harness_header_nth(const struct harness_response *resp, const char *name, int nth)
{
    static char value[8192];
    size_t name_len = strlen(name);
    const char *line = resp->head ? strstr(resp->head, "\r\n") : NULL;

    while (line != NULL) {
        line += 2;
        const char *end = strstr(line, "\r\n");
        if (end == NULL || end == line)
            break;
        if ((size_t)(end - line) > name_len && line[name_len] == ':' &&
            strncasecmp(line, name, name_len) == 0 && nth-- == 0) {
            const char *v = line + name_len + 1;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            size_t n = (size_t)(end - v);
            while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                n--;
            if (n >= sizeof(value))
                n = sizeof(value) - 1;
            memcpy(value, v, n);
            value[n] = '\0';
            return value;
        }
        line = end;
    }
    return NULL;
}

const char *harness_header(const struct harness_response *resp, const char *name)
{
    return harness_header_nth(resp, name, 0);
}

int harness_header_count(const struct harness_response *resp, const char *name)
{
    int n = 0;
    while (harness_header_nth(resp, name, n) != NULL)
        n++;
    return n;
}

int harness_exchange(uint16_t port, const char *request, size_t request_len, int timeout_ms,
                     struct harness_response *resp)
{
    struct harness_conn c;
    bool head = request_len >= 5 && memcmp(request, "HEAD ", 5) == 0;
    int rc = -1;

    memset(resp, 0, sizeof(*resp));
    if (harness_conn_open(&c, port, timeout_ms) < 0)
        return -1;
    if (harness_send_all(c.fd, request, request_len) == 0)
        rc = harness_read_response(&c, head, false, resp);
    harness_conn_close(&c);
    return rc;
}

char *harness_run(const char *command, int *exit_status)
{
    FILE *p = popen(command, "r");
    char *out = calloc(1, 1);
    size_t len = 0;
    char chunk[4096];
    size_t r;

    if (p == NULL) {
        *exit_status = -1;
        return out;
    }
    while ((r = fread(chunk, 1, sizeof(chunk), p)) > 0)
        if (out != NULL && append(&out, &len, chunk, r) < 0)
            break;
    *exit_status = pclose(p);
    return out;
}
