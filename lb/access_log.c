/*
 * access_log.c - formatting and writing access-log lines (see access_log.h for the format and
 * why lines never interleave).
 */
#include "access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int access_log_open(struct access_log *log, const char *path, char *err, size_t err_len)
{
    log->fd = -1;
    log->owned = false;
    if (path == NULL || *path == '\0')
        return 0;
    if (strcmp(path, "-") == 0) {
        log->fd = STDOUT_FILENO;
        return 0;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        snprintf(err, err_len, "invalid --access-log '%s': %s", path, strerror(e));
        return -e;
    }
    log->fd = fd;
    log->owned = true;
    return 0;
}

void access_log_close(struct access_log *log)
{
    if (log->owned && log->fd >= 0)
        close(log->fd);
    log->fd = -1;
    log->owned = false;
}

bool access_log_enabled(const struct access_log *log)
{
    return log->fd >= 0;
}

struct line {
    char *p;
    size_t len, cap;
};

static void add(struct line *l, const char *s, size_t n)
{
    if (n > l->cap - l->len)
        n = l->cap - l->len;
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void addf(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(struct line *l, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        add(l, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Adds s[0..n) cut at max bytes, with '"', '\\' and bytes outside printable ASCII as \xHH
 * (spaces too, unless spaces is true: for text inside quotes meant to be read). */
static void add_text(struct line *l, const char *s, size_t n, size_t max, bool spaces)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < (spaces ? 0x20 : 0x21) || c > 0x7e || c == '"' || c == '\\') {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            add(l, esc, 4);
        } else {
            add(l, (const char *)&c, 1);
        }
    }
    if (n > max)
        add(l, "...", 3);
}

static void add_escaped(struct line *l, const char *s, size_t n, size_t max)
{
    add_text(l, s, n, max, false);
}

/* time=2026-11-27T05:12:01.123Z (UTC, milliseconds) */
static void add_time(struct line *l, uint64_t wall_ns)
{
    time_t secs = (time_t)(wall_ns / 1000000000u);
    struct tm tm;
    char when[32];

    gmtime_r(&secs, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    addf(l, "time=%s.%03uZ", when, (unsigned)(wall_ns / 1000000u % 1000u));
}

/* Milliseconds with three decimals, cut (not rounded) to the microsecond; "-" unless known. */
static void add_ms(struct line *l, const char *key, uint64_t ns, bool known)
{
    uint64_t us = ns / 1000;

    if (!known)
        addf(l, " %s=-", key);
    else
        addf(l, " %s=%llu.%03llu", key, (unsigned long long)(us / 1000),
             (unsigned long long)(us % 1000));
}

size_t access_log_format(char *out, size_t cap, const struct request_record *r)
{
    struct line l = {out, 0, cap > 0 ? cap - 1 : 0};

    if (cap == 0)
        return 0;
    add_time(&l, r->wall_ns);
    addf(&l, " client=%s", r->client_text ? r->client_text : "-");
    add(&l, " backend=", 9);
    if (r->backend_name != NULL && r->backend_name[0] != '\0')
        add_escaped(&l, r->backend_name, strlen(r->backend_name), 256);
    else
        add(&l, "-", 1);
    addf(&l, " backend_addr=%s", r->server_text ? r->server_text : "-");
    add(&l, " id=", 4);
    if (r->id_len)
        add_escaped(&l, r->id, r->id_len, 128);
    else
        add(&l, "-", 1);
    add(&l, " method=", 8);
    if (r->method_len)
        add_escaped(&l, r->method, r->method_len, 32);
    else
        add(&l, "-", 1);
    if (r->path != NULL) {
        add(&l, " path=\"", 7);
        add_escaped(&l, r->path, r->path_len, ACCESS_LOG_MAX_PATH);
        add(&l, "\"", 1);
    } else {
        add(&l, " path=-", 7); /* no request: -m tcp, or the head never arrived */
    }
    if (r->status > 0)
        addf(&l, " status=%d", r->status);
    else
        add(&l, " status=-", 9);
    addf(&l, " req_bytes=%llu bytes=%llu", (unsigned long long)r->bytes_in,
         (unsigned long long)r->bytes_out);
    add_ms(&l, "connect_ms", r->connect_ns, r->connect_ns > 0 || r->reused);
    add_ms(&l, "first_byte_ms", r->first_byte_ns, r->first_byte_ns > 0);
    add_ms(&l, "total_ms", r->total_ns, r->total_ns > 0);
    if (r->spliced > 0)
        addf(&l, " spliced=%llu", (unsigned long long)r->spliced);
    if (r->end != NULL)
        addf(&l, " end=%s", r->end);
    l.p[l.len++] = '\n'; /* room was kept for it */
    return l.len;
}

int access_log_flush(const struct access_log *log, struct access_log_buf *buf)
{
    size_t off = 0;
    int rc = 0;
    while (off < buf->len && log->fd >= 0) {
        ssize_t n = write(log->fd, buf->data + off, buf->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        off += (size_t)n;
    }
    buf->len = 0;
    return rc;
}

size_t access_log_format_health(char *out, size_t cap, uint64_t wall_ns, const char *backend,
                                const char *state, const char *reason)
{
    struct line l = {out, 0, cap > 0 ? cap - 1 : 0};

    if (cap == 0)
        return 0;
    add_time(&l, wall_ns);
    add(&l, " event=health backend=", 22);
    add_escaped(&l, backend, strlen(backend), 128);
    add(&l, " state=", 7);
    add_escaped(&l, state, strlen(state), 16);
    add(&l, " reason=\"", 9);
    add_text(&l, reason, strlen(reason), 256, true);
    add(&l, "\"", 1);
    l.p[l.len++] = '\n'; /* room was kept for it */
    return l.len;
}

size_t access_log_format_retry(char *out, size_t cap, uint64_t wall_ns, const char *id,
                               size_t id_len, const char *backend, bool sent, const char *why)
{
    struct line l = {out, 0, cap > 0 ? cap - 1 : 0};

    if (cap == 0)
        return 0;
    add_time(&l, wall_ns);
    add(&l, " event=retry id=", 16);
    if (id != NULL && id_len > 0)
        add_escaped(&l, id, id_len, 128);
    else
        add(&l, "-", 1);
    add(&l, " backend=", 9);
    add_escaped(&l, backend, strlen(backend), 128);
    add(&l, sent ? " sent=yes why=\"" : " sent=no why=\"", sent ? 15 : 14);
    add_text(&l, why, strlen(why), 256, true);
    add(&l, "\"", 1);
    l.p[l.len++] = '\n'; /* room was kept for it */
    return l.len;
}

static void append(const struct access_log *log, struct access_log_buf *buf, const char *line,
                   size_t n)
{
    if (n > sizeof(buf->data) - buf->len)
        access_log_flush(log, buf);
    memcpy(buf->data + buf->len, line, n);
    buf->len += n;
}

void access_log_append(const struct access_log *log, struct access_log_buf *buf,
                       const struct request_record *r)
{
    char line[ACCESS_LOG_BUF];
    if (log->fd < 0)
        return;
    append(log, buf, line, access_log_format(line, sizeof(line), r));
}

void access_log_append_retry(const struct access_log *log, struct access_log_buf *buf,
                             uint64_t wall_ns, const char *id, size_t id_len, const char *backend,
                             bool sent, const char *why)
{
    char line[ACCESS_LOG_BUF];
    if (log->fd < 0)
        return;
    append(log, buf, line,
           access_log_format_retry(line, sizeof(line), wall_ns, id, id_len, backend, sent, why));
}

void access_log_append_health(const struct access_log *log, struct access_log_buf *buf,
                              uint64_t wall_ns, const char *backend, const char *state,
                              const char *reason)
{
    char line[512];
    if (log->fd < 0)
        return;
    append(log, buf, line, access_log_format_health(line, sizeof(line), wall_ns, backend, state,
                                                    reason));
}
