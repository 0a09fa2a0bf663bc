/*
 * harness.c - process control, sockets and response reading for the end-to-end tests.
 * Responses are framed with the shared parser in common/http.h, so the tests read exactly what a
 * strict HTTP/1.1 client would.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
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

int harness_free_ports(uint16_t *ports, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool taken = true;
        for (int attempt = 0; attempt < 50 && taken; attempt++) {
            ports[i] = harness_free_port();
            taken = ports[i] == 0;
            for (size_t k = 0; k < i && !taken; k++)
                taken = ports[k] == ports[i];
        }
        if (taken)
            return -1;
    }
    return 0;
}

/* Every path harness_bin made, kept for the life of the process so callers need not copy one. */
static struct bin_path {
    struct bin_path *next;
    char *name, *path;
} *bin_paths;

const char *harness_bin(const char *name)
{
    const char *dir = getenv("LBLAB_BIN");
    struct bin_path *b;

    for (b = bin_paths; b != NULL; b = b->next)
        if (strcmp(b->name, name) == 0)
            return b->path;
    b = calloc(1, sizeof(*b));
    if (b == NULL)
        harness_oom();
    b->name = harness_fmt("%s", name);
    b->path = harness_fmt("%s/%s", dir && *dir ? dir : "bin", name);
    b->next = bin_paths;
    bin_paths = b;
    return b->path;
}

int harness_timeout_ms(int timeout_ms)
{
    const char *env = getenv("LBLAB_TIMEOUT_SCALE");
    long scale = env != NULL ? strtol(env, NULL, 10) : 1;

    if (scale < 1 || scale > 100)
        scale = 1;
    return timeout_ms > INT_MAX / (int)scale ? INT_MAX : timeout_ms * (int)scale;
}

/* True when program path is one $LBLAB_WRAP applies to ($LBLAB_WRAP_PROGRAMS, a list of names). */
static bool wrapped(const char *path)
{
    const char *names = getenv("LBLAB_WRAP_PROGRAMS");
    const char *base = strrchr(path, '/');
    size_t len;

    base = base != NULL ? base + 1 : path;
    len = strlen(base);
    if (names == NULL || *names == '\0')
        names = "lb backend-sim";
    for (const char *p = names; *p != '\0';) {
        size_t n = strcspn(p, " ");
        if (n == len && strncmp(p, base, n) == 0)
            return true;
        p += n;
        p += strspn(p, " ");
    }
    return false;
}

/* In a child: execs argv, behind the words of $LBLAB_WRAP when it applies; never returns. */
static void exec_program(char *const argv[])
{
    const char *wrap = getenv("LBLAB_WRAP");

    if (wrap != NULL && *wrap != '\0' && wrapped(argv[0])) {
        char *words = strdup(wrap);
        size_t argc = 0, nwords = 0;
        while (argv[argc] != NULL)
            argc++;
        /* no more words than characters in wrap */
        char **full = calloc(strlen(wrap) + argc + 1, sizeof(*full));
        if (words == NULL || full == NULL)
            _exit(127);
        for (char *save = NULL, *w = strtok_r(words, " ", &save); w != NULL;
             w = strtok_r(NULL, " ", &save))
            full[nwords++] = w;
        memcpy(full + nwords, argv, (argc + 1) * sizeof(*full));
        execvp(full[0], full);
        fprintf(stderr, "harness: exec %s (LBLAB_WRAP): %s\n", full[0], strerror(errno));
        _exit(127);
    }
    execv(argv[0], argv);
    fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

void harness_oom(void)
{
    fprintf(stderr, "harness: out of memory\n");
    abort();
}

char *harness_fmt(const char *fmt, ...)
{
    char *s;
    va_list ap;

    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        harness_oom();
    return s;
}

char *harness_runf(int *exit_status, const char *fmt, ...)
{
    char *cmd, *out;
    va_list ap;

    va_start(ap, fmt);
    int n = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    if (n < 0)
        harness_oom();
    out = harness_run(cmd, exit_status);
    free(cmd);
    return out;
}

/* The number after key in text; when there is none, 0 with *ok set false. */
static unsigned long long number_after(const char *text, const char *key, bool *ok)
{
    const char *at = strstr(text, key);
    if (at == NULL) {
        *ok = false;
        return 0;
    }
    return strtoull(at + strlen(key), NULL, 10);
}

/* What lbtop --json says of lb on port (malloc'd), or NULL when lbtop failed. */
static char *lbtop_json(uint16_t port)
{
    int status;
    char *json = harness_runf(&status, "%s -p %u --json 2>&1", harness_bin("lbtop"), (unsigned)port);
    if (json != NULL && status != 0) {
        free(json);
        json = NULL;
    }
    return json;
}

int harness_lb_spliced(uint16_t port, struct harness_spliced *out)
{
    static const char object[] = "\"splice\": {", on[] = "\"splice\": {\"on\": true";
    char *json = lbtop_json(port);
    const char *sp = json != NULL ? strstr(json, object) : NULL;
    bool ok = sp != NULL;
    if (ok) {
        out->on = strncmp(sp, on, sizeof(on) - 1) == 0;
        out->bytes = number_after(sp, "\"bytes\": ", &ok);
        out->transfers = number_after(sp, "\"transfers\": ", &ok);
        out->pipes_made = number_after(sp, "\"pipes_made\": ", &ok);
    }
    free(json);
    return ok ? 0 : -1;
}

int harness_lb_spliced_records(uint16_t port)
{
    char *json = lbtop_json(port);
    if (json == NULL)
        return -1;
    int n = 0;
    for (const char *at = json; (at = strstr(at, "\"spliced\": true}")) != NULL; at++)
        n++;
    free(json);
    return n;
}

int harness_lb_wait_spliced(uint16_t port, unsigned long long transfers, unsigned long long bytes,
                            struct harness_spliced *out)
{
    for (int i = 0; i < 200; i++) {
        if (harness_lb_spliced(port, out) == 0 && out->transfers >= transfers &&
            out->bytes >= bytes)
            return 0;
        harness_sleep_ms(25);
    }
    return -1;
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
        exec_program(argv);
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
    uint64_t deadline = clock_mono_ms() + (uint64_t)harness_timeout_ms(timeout_ms);
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

int harness_freeze(pid_t pid, int timeout_ms)
{
    int st = 0;
    uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;

    if (pid <= 0 || kill(pid, SIGSTOP) < 0)
        return -1;
    /* kill() only queues the stop: a thread on the other CPU may run on for a moment. waitpid
     * with WUNTRACED reports the child once its whole thread group has stopped. */
    while (clock_mono_ms() < deadline) {
        pid_t r = waitpid(pid, &st, WUNTRACED | WNOHANG);
        if (r == pid && WIFSTOPPED(st))
            return 0;
        if (r == pid || (r < 0 && errno != EINTR))
            return -1; /* it exited instead */
        sleep_ms(5);
    }
    return -1;
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
    timeout_ms = harness_timeout_ms(timeout_ms);
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
    timeout_ms = harness_timeout_ms(timeout_ms);
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

/* A NUL-terminated malloc'd copy of n bytes (which need not hold a NUL), or NULL. */
static char *copy_bytes(const char *src, size_t n)
{
    char *copy = malloc(n + 1);
    if (copy != NULL) {
        memcpy(copy, src, n);
        copy[n] = '\0';
    }
    return copy;
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

char *harness_read_file(const char *path)
{
    char *out = calloc(1, 1);
    size_t len = 0, r;
    char chunk[4096];
    FILE *f = fopen(path, "rb");

    if (out == NULL)
        abort(); /* a test out of memory cannot go on */
    if (f == NULL)
        return out;
    while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (append(&out, &len, chunk, r) < 0)
            abort();
    fclose(f);
    return out;
}

bool harness_wait_for_text(const char *path, const char *needle, int timeout_ms)
{
    uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
    do {
        char *text = harness_read_file(path);
        bool found = strstr(text, needle) != NULL;
        free(text);
        if (found)
            return true;
        sleep_ms(20);
    } while (clock_mono_ms() < deadline);
    return false;
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
        resp->head = copy_bytes(c->buf, (size_t)n); /* not strndup: buf has no NUL */
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

/* --- Cleaning up after a failed test -----------------------------------------------------------
 * A list of what this process started, each with a sequence number; harness_test_setup() notes
 * the next number, harness_test_teardown() stops everything numbered from it on. The list is
 * owned by this module and touched only from the test's main thread. */
#define TRACK_MAX 256

static struct {
    pid_t pid;                /* or 0 */
    struct harness_sb *sb;    /* or NULL */
    unsigned long seq;
} tracked[TRACK_MAX];
static size_t n_tracked;
static unsigned long track_seq, track_mark;

static void track_add(pid_t pid, struct harness_sb *sb)
{
    if (n_tracked < TRACK_MAX) {
        tracked[n_tracked].pid = pid;
        tracked[n_tracked].sb = sb;
        tracked[n_tracked].seq = track_seq++;
        n_tracked++;
    }
}

static void track_remove_sb(struct harness_sb *sb)
{
    for (size_t i = 0; i < n_tracked; i++)
        if (tracked[i].sb == sb) {
            memmove(&tracked[i], &tracked[i + 1], (n_tracked - i - 1) * sizeof(tracked[0]));
            n_tracked--;
            return;
        }
}

void harness_track(pid_t pid)
{
    if (pid > 0)
        track_add(pid, NULL);
}

int harness_test_setup(void **state)
{
    (void)state;
    track_mark = track_seq;
    return 0;
}

int harness_test_teardown(void **state)
{
    (void)state;
    /* newest first: lb before the backends it uses */
    while (n_tracked > 0 && tracked[n_tracked - 1].seq >= track_mark) {
        size_t i = n_tracked - 1;
        if (tracked[i].sb != NULL) {
            harness_sb_stop(tracked[i].sb); /* removes entry i */
            continue;
        }
        int st;
        /* 0: still running; a pid the test already reaped gives -1 (ECHILD) and is skipped */
        if (waitpid(tracked[i].pid, &st, WNOHANG) == 0) {
            fprintf(stderr, "harness: stopping pid %d left running by a failed test\n",
                    (int)tracked[i].pid);
            harness_stop(tracked[i].pid, 5000);
        }
        n_tracked--;
    }
    return 0;
}

/* --- Starting the real programs ------------------------------------------------------------ */

void harness_sleep_ms(int ms)
{
    sleep_ms(ms);
}

/* harness_spawn, plus: the child gets SIGTERM if this test process dies (an ASan abort, say),
 * so a crashed test never leaves lb or backend-sim running. */
static pid_t spawn_tied(char *const argv[], const char *log_path)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
            _exit(127);
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
        exec_program(argv);
    }
    return pid;
}

enum accepting { ACCEPTING, EXITED, TIMED_OUT };

/* Waits until pid accepts on port, up to deadline. EXITED (then it is reaped): it exited first,
 * its port taken meanwhile, say. */
static enum accepting wait_accepting(pid_t pid, uint16_t port, uint64_t deadline)
{
    while (clock_mono_ms() < deadline) {
        if (!harness_alive(pid, NULL))
            return EXITED;
        int fd = harness_connect(port, 500);
        if (fd >= 0) {
            close(fd);
            return ACCEPTING;
        }
        sleep_ms(20);
    }
    return TIMED_OUT;
}

/* Spawns argv (whose port arguments were chosen by the caller) and waits for each of the n
 * ports; a process that exits first makes the caller retry with other ports. */
static pid_t spawn_and_wait(char *const argv[], const uint16_t *ports, size_t n,
                            const char *log_path)
{
    pid_t pid = spawn_tied(argv, log_path);
    uint64_t deadline;

    if (pid < 0)
        return -1;
    deadline = clock_mono_ms() + (uint64_t)harness_timeout_ms(15000);
    for (size_t i = 0; i < n; i++) {
        enum accepting up = wait_accepting(pid, ports[i], deadline);
        if (up == TIMED_OUT)
            harness_stop(pid, 2000);
        if (up != ACCEPTING)
            return -1;
    }
    return pid;
}

pid_t harness_spawn_listening_ports(char *const argv[], const uint16_t *ports, size_t n,
                                    const char *log_path)
{
    pid_t pid = spawn_and_wait(argv, ports, n, log_path);
    if (pid > 0)
        track_add(pid, NULL);
    return pid;
}

pid_t harness_spawn_listening(char *const argv[], uint16_t port, const char *log_path)
{
    return harness_spawn_listening_ports(argv, &port, 1, log_path);
}

pid_t harness_start_backend_sim(const char *name, uint16_t *port, const char *log_path)
{
    return harness_start_backend_sim_args(name, port, log_path, NULL);
}

#define SIM_MAX_EXTRA 16
pid_t harness_start_backend_sim_args(const char *name, uint16_t *port, const char *log_path,
                                     const char *const *extra)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        char port_arg[32];
        uint16_t p = harness_free_port();
        char *argv[6 + SIM_MAX_EXTRA] = {(char *)harness_bin("backend-sim"), "-p", port_arg,
                                         "--name", (char *)name};
        size_t argc = 5;

        snprintf(port_arg, sizeof(port_arg), "127.0.0.1:%u", (unsigned)p);
        for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
            if (i == SIM_MAX_EXTRA)
                return -1; /* a test asking for more arguments than fit */
            argv[argc++] = (char *)extra[i];
        }
        argv[argc] = NULL;
        pid_t pid = harness_spawn_listening(argv, p, log_path);
        if (pid > 0) {
            *port = p;
            return pid;
        }
    }
    return -1;
}

pid_t harness_start_lb(uint16_t *port, const uint16_t *backends, size_t n,
                       const char *const *extra, const char *log_path)
{
    size_t n_extra = 0;

    while (extra != NULL && extra[n_extra] != NULL)
        n_extra++;
    for (int attempt = 0; attempt < 3; attempt++) {
        size_t argc = 0, max = 4 + 2 * n + n_extra;
        char **argv = calloc(max + 1, sizeof(*argv));
        char (*addrs)[32] = calloc(n + 1, sizeof(*addrs));
        char listen_arg[32];
        uint16_t p = harness_free_port();
        pid_t pid = -1;

        if (argv == NULL || addrs == NULL) {
            free(argv);
            free(addrs);
            return -1;
        }
        snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%u", (unsigned)p);
        argv[argc++] = (char *)harness_bin("lb");
        argv[argc++] = "-l";
        argv[argc++] = listen_arg;
        for (size_t i = 0; i < n; i++) {
            snprintf(addrs[i], sizeof(addrs[i]), "127.0.0.1:%u", (unsigned)backends[i]);
            argv[argc++] = "-b";
            argv[argc++] = addrs[i];
        }
        for (size_t i = 0; i < n_extra; i++)
            argv[argc++] = (char *)extra[i];
        argv[argc] = NULL;
        pid = spawn_and_wait(argv, &p, 1, log_path);
        free(argv);
        free(addrs);
        if (pid > 0) {
            *port = p;
            track_add(pid, NULL);
            return pid;
        }
    }
    return -1;
}

const char *harness_head_header_nth(const char *head, const char *name, int nth)
{
    struct harness_response r = {.head = (char *)head};
    return head ? harness_header_nth(&r, name, nth) : NULL;
}

int harness_head_header_count(const char *head, const char *name)
{
    struct harness_response r = {.head = (char *)head};
    return head ? harness_header_count(&r, name) : 0;
}

/* --- Scripted backend ------------------------------------------------------------------------
 * Blocking sockets and a thread per connection keep each script a straight line of code; every
 * wait polls the connection together with a stop pipe that harness_sb_stop() makes readable, so
 * stopping never waits on a peer. Sends have a 10 s timeout so a peer that stops reading cannot
 * wedge a thread either.
 */
#define SB_BODY_KEEP (64u << 20)
#define SB_HEAD_MAX (256u << 10)
#define SB_IO_TIMEOUT_MS 30000

struct sb_record {
    char *head;
    char *body;
    size_t body_len;
    int error;
};

struct sb_conn {
    struct harness_sb *sb;
    int fd;
    pthread_t thread;
};

struct harness_sb {
    /* immutable after start */
    char name[64];
    struct harness_sb_step *steps;
    size_t n_steps;
    int listen_fd;
    int stop_pipe[2];
    uint16_t port;
    pthread_t accept_thread;

    /* lock held */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct sb_record records[HARNESS_SB_MAX_RECORDS];
    int n_records;
    struct sb_conn *conns[HARNESS_SB_MAX_CONNS];
    int n_conns;
    int n_open;
};

/* Waits until fd is readable (1), the stop pipe is (-1) or timeout_ms passed (0; -1 waits on). */
static int sb_wait(struct harness_sb *sb, int fd, int timeout_ms)
{
    struct pollfd p[2] = {{.fd = sb->stop_pipe[0], .events = POLLIN}, {.fd = fd, .events = POLLIN}};
    for (;;) {
        int r = poll(p, fd >= 0 ? 2 : 1, timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (p[0].revents & POLLIN))
            return -1;
        if (r == 0)
            return 0;
        return 1;
    }
}

/* Reads what is there into the growing buffer. Returns bytes read, 0 on EOF, -1 on error, stop or
 * a 30 s silence (idle: no limit but the stop). */
static ssize_t sb_fill(struct harness_sb *sb, int fd, char **buf, size_t *len, size_t *cap,
                       bool idle)
{
    if (*cap - *len < 16384) {
        size_t ncap = *cap ? *cap * 2 : 65536;
        char *bigger = realloc(*buf, ncap);
        if (bigger == NULL)
            return -1;
        *buf = bigger;
        *cap = ncap;
    }
    if (sb_wait(sb, fd, idle ? -1 : SB_IO_TIMEOUT_MS) != 1)
        return -1;
    for (;;) {
        ssize_t r = recv(fd, *buf + *len, *cap - *len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r > 0)
            *len += (size_t)r;
        return r;
    }
}

static const struct harness_sb_step *sb_step(struct harness_sb *sb, int i)
{
    static const struct harness_sb_step def = {.mode = HARNESS_SB_REPLY};
    if (sb->n_steps == 0)
        return &def;
    return &sb->steps[(size_t)i < sb->n_steps ? (size_t)i : sb->n_steps - 1];
}

/* Records a request; returns its index or -1 when the record table is full. */
static int sb_record(struct harness_sb *sb, const char *head, size_t head_len, int error)
{
    int i = -1;
    char *copy = copy_bytes(head, head_len);
    pthread_mutex_lock(&sb->lock);
    if (sb->n_records < HARNESS_SB_MAX_RECORDS && copy != NULL) {
        i = sb->n_records++;
        sb->records[i].head = copy;
        sb->records[i].error = error;
        copy = NULL;
    }
    pthread_cond_broadcast(&sb->cond);
    pthread_mutex_unlock(&sb->lock);
    free(copy);
    return i;
}

static void sb_record_body(struct harness_sb *sb, int i, char *body, size_t len)
{
    pthread_mutex_lock(&sb->lock);
    if (i >= 0) {
        free(sb->records[i].body);
        sb->records[i].body = body;
        sb->records[i].body_len = len;
        body = NULL;
    }
    pthread_mutex_unlock(&sb->lock);
    free(body);
}

static int sb_send(int fd, const void *buf, size_t n)
{
    return harness_send_all(fd, buf, n);
}

/* Reads the body of a request whose head ended at buf[head_len] into a malloc'd buffer (kept up
 * to SB_BODY_KEEP bytes). Consumes it from buf. Returns 0 or -1. */
static int sb_read_body(struct harness_sb *sb, int fd, const struct http_request *req, char **buf,
                        size_t *len, size_t *cap, char **body, size_t *body_len)
{
    *body = calloc(1, 1);
    *body_len = 0;
    if (*body == NULL)
        return -1;
    if (req->framing == HTTP_BODY_LENGTH) {
        uint64_t left = req->content_length;
        while (left > 0) {
            if (*len == 0 && sb_fill(sb, fd, buf, len, cap, false) <= 0)
                return -1;
            size_t take = *len < left ? *len : (size_t)left;
            if (*body_len + take <= SB_BODY_KEEP && append(body, body_len, *buf, take) < 0)
                return -1;
            memmove(*buf, *buf + take, *len - take);
            *len -= take;
            left -= take;
        }
        return 0;
    }
    if (req->framing == HTTP_BODY_CHUNKED) {
        struct http_chunked dec;
        http_chunked_init(&dec);
        while (!dec.done) {
            if (*len == 0 && sb_fill(sb, fd, buf, len, cap, false) <= 0)
                return -1;
            const char *data;
            size_t data_len;
            ssize_t used = http_chunked_feed(&dec, *buf, *len, &data, &data_len);
            if (used < 0)
                return -1;
            if (data_len > 0 && *body_len + data_len <= SB_BODY_KEEP &&
                append(body, body_len, data, data_len) < 0)
                return -1;
            memmove(*buf, *buf + used, *len - (size_t)used);
            *len -= (size_t)used;
            if (used == 0 && !dec.done && sb_fill(sb, fd, buf, len, cap, false) <= 0)
                return -1;
        }
    }
    return 0;
}

/* One connection's requests, in order, until the script or the peer ends it. */
static void *sb_conn_main(void *arg)
{
    struct sb_conn *conn = arg;
    struct harness_sb *sb = conn->sb;
    int fd = conn->fd;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    struct http_limits limits;
    bool reset = false;

    http_limits_default(&limits);
    for (;;) {
        struct http_header headers[128];
        struct http_request req = {.headers = headers, .num_headers = 128};
        int n;

        while ((n = http_parse_request(buf ? buf : "", len, &req, &limits)) == HTTP_INCOMPLETE) {
            req.num_headers = 128;
            if (len > SB_HEAD_MAX || sb_fill(sb, fd, &buf, &len, &cap, len == 0) <= 0)
                goto out_close;
        }
        if (n == HTTP_ERROR) {
            static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                      "Connection: close\r\n\r\n";
            sb_record(sb, buf, len, req.error ? req.error : 400);
            sb_send(fd, bad, sizeof(bad) - 1);
            goto out_close;
        }

        int idx = sb_record(sb, buf, (size_t)n, 0);
        const struct harness_sb_step *step = sb_step(sb, idx < 0 ? INT32_MAX : idx);
        bool is_head = req.method_len == 4 && memcmp(req.method, "HEAD", 4) == 0;
        bool keep = req.keep_alive && !step->close_after;
        char *body = NULL;
        size_t body_len = 0;

        memmove(buf, buf + n, len - (size_t)n);
        len -= (size_t)n;
        reset = step->reset;
        if (step->mode == HARNESS_SB_CLOSE)
            goto out_close;
        if (step->mode == HARNESS_SB_STALL) {
            sb_wait(sb, -1, -1); /* until the stop */
            goto out_close;
        }
        if (req.expect_continue && step->send_continue) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            if (sb_send(fd, cont, sizeof(cont) - 1) < 0)
                goto out_close;
        }
        if (step->skip_body) {
            keep = false;
            body = calloc(1, 1);
        } else if (sb_read_body(sb, fd, &req, &buf, &len, &cap, &body, &body_len) < 0) {
            sb_record_body(sb, idx, body, body_len);
            goto out_close;
        }
        if (step->delay_ms > 0 && sb_wait(sb, -1, step->delay_ms) < 0) {
            sb_record_body(sb, idx, body, body_len);
            goto out_close;
        }

        /* recorded before the reply goes out: a client that has the reply may look at it at once
         * (the record owns body from here; it stays valid for the echo below) */
        if (idx >= 0)
            sb_record_body(sb, idx, body, body_len);
        char head[512];
        int sent = 0;
        if (step->mode == HARNESS_SB_HANG) {
            if (idx < 0)
                free(body);
            for (;;) {
                char sink[4096];
                if (sb_wait(sb, fd, -1) != 1)
                    goto out_close;
                ssize_t r = recv(fd, sink, sizeof(sink), 0);
                if (r == 0 || (r < 0 && errno != EINTR))
                    goto out_close;
            }
        } else if (step->mode == HARNESS_SB_ECHO) {
            int hl = snprintf(head, sizeof(head),
                              "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nX-Backend: %s\r\n%s\r\n",
                              body_len, sb->name, keep ? "" : "Connection: close\r\n");
            sent = sb_send(fd, head, (size_t)hl);
            if (sent == 0 && !is_head)
                sent = sb_send(fd, body, body_len);
        } else if (step->reply != NULL) {
            size_t rl = step->reply_len ? step->reply_len : strlen(step->reply);
            if (step->dribble) {
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                for (size_t k = 0; k < rl && sent == 0; k++) {
                    sent = sb_send(fd, step->reply + k, 1);
                    if (sent == 0 && sb_wait(sb, -1, 1) < 0)
                        sent = -1;
                }
            } else {
                if (step->fin_with_reply) {
                    /* corked: the FIN that out_close's shutdown() queues rides on the reply */
                    int one = 1;
                    if (setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one)) != 0)
                        sent = -1;
                    keep = false;
                }
                if (sent == 0)
                    sent = sb_send(fd, step->reply, rl);
            }
        } else if (step->mode == HARNESS_SB_TUNNEL) {
            int hl = snprintf(head, sizeof(head),
                              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nX-Backend: %s\r\n\r\n", sb->name);
            sent = sb_send(fd, head, (size_t)hl);
        } else {
            int hl = snprintf(head, sizeof(head),
                              "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nX-Backend: %s\r\n%s\r\n%s",
                              strlen(sb->name), sb->name, keep ? "" : "Connection: close\r\n",
                              is_head ? "" : sb->name);
            sent = sb_send(fd, head, (size_t)hl);
        }
        if (idx < 0)
            free(body); /* no record took it */
        if (sent < 0)
            goto out_close;
        if (step->hang_after) {
            for (;;) {
                char sink[4096];
                if (sb_wait(sb, fd, -1) != 1)
                    goto out_close;
                ssize_t r = recv(fd, sink, sizeof(sink), 0);
                if (r == 0 || (r < 0 && errno != EINTR))
                    goto out_close;
            }
        }

        if (step->mode == HARNESS_SB_TUNNEL) {
            if (len > 0 && sb_send(fd, buf, len) < 0)
                goto out_close;
            len = 0;
            for (;;) {
                char chunk[16384];
                if (sb_wait(sb, fd, -1) != 1)
                    goto out_close;
                ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0 || sb_send(fd, chunk, (size_t)r) < 0)
                    goto out_close;
            }
        }
        if (!keep)
            goto out_close;
    }

out_close:
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    } else {
        /* A FIN the peer sees before any RST: stop sending, then drain briefly before close so
         * unread request bytes do not turn the close into a reset. */
        shutdown(fd, SHUT_WR);
        for (int i = 0; i < 20; i++) {
            char sink[4096];
            if (sb_wait(sb, fd, 50) != 1)
                break;
            ssize_t r = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
            if (r <= 0)
                break;
        }
    }
    close(fd);
    free(buf);
    pthread_mutex_lock(&sb->lock);
    sb->n_open--;
    pthread_cond_broadcast(&sb->cond);
    pthread_mutex_unlock(&sb->lock);
    return NULL;
}

static void *sb_accept_main(void *arg)
{
    struct harness_sb *sb = arg;

    for (;;) {
        if (sb_wait(sb, sb->listen_fd, -1) != 1)
            break;
        int fd = accept4(sb->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
                continue;
            break;
        }
        struct timeval tv = {.tv_sec = 10};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

        struct sb_conn *conn = calloc(1, sizeof(*conn));
        pthread_mutex_lock(&sb->lock);
        if (conn == NULL || sb->n_conns >= HARNESS_SB_MAX_CONNS) {
            pthread_mutex_unlock(&sb->lock);
            free(conn);
            close(fd);
            continue;
        }
        conn->sb = sb;
        conn->fd = fd;
        if (pthread_create(&conn->thread, NULL, sb_conn_main, conn) != 0) {
            pthread_mutex_unlock(&sb->lock);
            free(conn);
            close(fd);
            continue;
        }
        sb->conns[sb->n_conns++] = conn;
        sb->n_open++;
        pthread_mutex_unlock(&sb->lock);
    }
    return NULL;
}

struct harness_sb *harness_sb_start(const char *name, const struct harness_sb_step *steps, size_t n)
{
    struct harness_sb *sb = calloc(1, sizeof(*sb));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);

    if (sb == NULL)
        return NULL;
    snprintf(sb->name, sizeof(sb->name), "%s", name ? name : "sb");
    sb->listen_fd = -1;
    sb->stop_pipe[0] = sb->stop_pipe[1] = -1;
    if (n > 0) {
        sb->steps = calloc(n, sizeof(*steps));
        if (sb->steps == NULL)
            goto out_free;
        memcpy(sb->steps, steps, n * sizeof(*steps));
        sb->n_steps = n;
    }
    if (pipe2(sb->stop_pipe, O_CLOEXEC) < 0)
        goto out_free;
    for (int attempt = 0; attempt < 20; attempt++) {
        sb->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (sb->listen_fd < 0)
            goto out_close;
        sa.sin_port = 0;
        if (bind(sb->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
            getsockname(sb->listen_fd, (struct sockaddr *)&sa, &sl) == 0 &&
            (ntohs(sa.sin_port) < 3000 || ntohs(sa.sin_port) > 3003))
            break;
        close(sb->listen_fd);
        sb->listen_fd = -1;
    }
    if (sb->listen_fd < 0 || listen(sb->listen_fd, 128) < 0)
        goto out_close;
    sb->port = ntohs(sa.sin_port);
    pthread_mutex_init(&sb->lock, NULL);
    pthread_cond_init(&sb->cond, NULL);
    if (pthread_create(&sb->accept_thread, NULL, sb_accept_main, sb) != 0) {
        pthread_mutex_destroy(&sb->lock);
        pthread_cond_destroy(&sb->cond);
        goto out_close;
    }
    track_add(0, sb);
    return sb;

out_close:
    if (sb->listen_fd >= 0)
        close(sb->listen_fd);
    if (sb->stop_pipe[0] >= 0) {
        close(sb->stop_pipe[0]);
        close(sb->stop_pipe[1]);
    }
out_free:
    free(sb->steps);
    free(sb);
    return NULL;
}

uint16_t harness_sb_port(const struct harness_sb *sb)
{
    return sb->port;
}

int harness_sb_requests(struct harness_sb *sb)
{
    pthread_mutex_lock(&sb->lock);
    int n = sb->n_records;
    pthread_mutex_unlock(&sb->lock);
    return n;
}

int harness_sb_connections(struct harness_sb *sb)
{
    pthread_mutex_lock(&sb->lock);
    int n = sb->n_conns;
    pthread_mutex_unlock(&sb->lock);
    return n;
}

static struct timespec deadline_in(int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    timeout_ms = harness_timeout_ms(timeout_ms);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    return until;
}

int harness_sb_open_connections(struct harness_sb *sb)
{
    pthread_mutex_lock(&sb->lock);
    int n = sb->n_open;
    pthread_mutex_unlock(&sb->lock);
    return n;
}

bool harness_sb_wait_open_at_most(struct harness_sb *sb, int n, int timeout_ms)
{
    struct timespec until = deadline_in(timeout_ms);
    bool ok;
    pthread_mutex_lock(&sb->lock);
    while (sb->n_open > n)
        if (pthread_cond_timedwait(&sb->cond, &sb->lock, &until) != 0)
            break;
    ok = sb->n_open <= n;
    pthread_mutex_unlock(&sb->lock);
    return ok;
}

bool harness_sb_wait_requests(struct harness_sb *sb, int n, int timeout_ms)
{
    struct timespec until = deadline_in(timeout_ms);
    bool ok;

    pthread_mutex_lock(&sb->lock);
    while (sb->n_records < n)
        if (pthread_cond_timedwait(&sb->cond, &sb->lock, &until) != 0)
            break;
    ok = sb->n_records >= n;
    pthread_mutex_unlock(&sb->lock);
    return ok;
}

char *harness_sb_head(struct harness_sb *sb, int i)
{
    char *copy = NULL;
    pthread_mutex_lock(&sb->lock);
    if (i >= 0 && i < sb->n_records)
        copy = strdup(sb->records[i].head);
    pthread_mutex_unlock(&sb->lock);
    return copy;
}

char *harness_sb_body(struct harness_sb *sb, int i, size_t *len)
{
    char *copy = NULL;
    *len = 0;
    pthread_mutex_lock(&sb->lock);
    if (i >= 0 && i < sb->n_records && sb->records[i].body != NULL) {
        copy = malloc(sb->records[i].body_len + 1);
        if (copy != NULL) {
            memcpy(copy, sb->records[i].body, sb->records[i].body_len);
            copy[sb->records[i].body_len] = '\0';
            *len = sb->records[i].body_len;
        }
    }
    pthread_mutex_unlock(&sb->lock);
    return copy;
}

int harness_sb_error(struct harness_sb *sb, int i)
{
    int e = 0;
    pthread_mutex_lock(&sb->lock);
    if (i >= 0 && i < sb->n_records)
        e = sb->records[i].error;
    pthread_mutex_unlock(&sb->lock);
    return e;
}

void harness_sb_stop(struct harness_sb *sb)
{
    if (sb == NULL)
        return;
    track_remove_sb(sb);
    if (write(sb->stop_pipe[1], "x", 1) < 0)
        fprintf(stderr, "harness: scripted backend stop: %s\n", strerror(errno));
    pthread_join(sb->accept_thread, NULL);
    /* the accept thread is gone, so conns[] no longer changes */
    for (int i = 0; i < sb->n_conns; i++) {
        pthread_join(sb->conns[i]->thread, NULL);
        free(sb->conns[i]);
    }
    for (int i = 0; i < sb->n_records; i++) {
        free(sb->records[i].head);
        free(sb->records[i].body);
    }
    close(sb->listen_fd);
    close(sb->stop_pipe[0]);
    close(sb->stop_pipe[1]);
    pthread_mutex_destroy(&sb->lock);
    pthread_cond_destroy(&sb->cond);
    free(sb->steps);
    free(sb);
}

/* --- A small lab ------------------------------------------------------------------------------ */

int harness_lab_stop(struct harness_lab *lab)
{
    int status = -1;
    if (lab->lb_pid > 0)
        status = harness_stop(lab->lb_pid, 15000);
    lab->lb_pid = 0;
    for (size_t i = 0; i < lab->n; i++) {
        if (lab->sim_pid[i] > 0)
            harness_stop(lab->sim_pid[i], 10000);
        lab->sim_pid[i] = 0;
    }
    return status;
}

int harness_lab_start(struct harness_lab *lab, size_t n, const char *const *lb_extra)
{
    memset(lab, 0, sizeof(*lab));
    if (n > HARNESS_LAB_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof(name), "b%zu", i + 1);
        lab->sim_pid[i] = harness_start_backend_sim(name, &lab->sim_port[i], NULL);
        lab->n = i + 1;
        if (lab->sim_pid[i] <= 0) {
            fprintf(stderr, "harness: backend-sim %s did not start\n", name);
            harness_lab_stop(lab);
            return -1;
        }
    }
    lab->lb_pid = harness_start_lb(&lab->lb_port, lab->sim_port, n, lb_extra, NULL);
    if (lab->lb_pid <= 0) {
        fprintf(stderr, "harness: lb did not start\n");
        lab->lb_pid = 0;
        harness_lab_stop(lab);
        return -1;
    }
    return 0;
}

int harness_conn_request(struct harness_conn *c, const char *request, struct harness_response *resp)
{
    bool head = strncmp(request, "HEAD ", 5) == 0;
    memset(resp, 0, sizeof(*resp));
    if (harness_send_all(c->fd, request, strlen(request)) < 0)
        return -1;
    return harness_read_response(c, head, false, resp);
}

bool harness_conn_closed(struct harness_conn *c, int timeout_ms)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    char byte;

    if (c->len > 0)
        return false;
    for (;;) {
        int r = poll(&p, 1, harness_timeout_ms(timeout_ms));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        ssize_t n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    }
}
