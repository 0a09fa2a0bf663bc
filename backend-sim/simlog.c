/*
 * simlog.c - JSON request-log lines and their writer (see simlog.h).
 */
#include "simlog.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "textesc.h"

static void put_time(struct simbuf *b, uint64_t ns)
{
    time_t sec = (time_t)(ns / 1000000000u);
    struct tm tm;
    char tmp[40];

    gmtime_r(&sec, &tm);
    size_t n = strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
    simbuf_append(b, tmp, n);
    simbuf_printf(b, ".%03uZ", (unsigned)((ns / 1000000u) % 1000u));
}

void simlog_format(struct simbuf *b, const struct simlog_entry *e)
{
    simbuf_puts(b, "{\"time\":\"");
    put_time(b, e->time_ns);
    textesc_json_member(b, "\",\"backend\":", e->backend, strlen(e->backend));
    textesc_json_member(b, ",\"local_addr\":", e->local_addr, strlen(e->local_addr));
    simbuf_printf(b, ",\"local_port\":%u", e->local_port);
    textesc_json_member(b, ",\"peer_addr\":", e->peer_addr, strlen(e->peer_addr));
    simbuf_printf(b, ",\"peer_port\":%u", e->peer_port);
    if (e->proxy != NULL) {
        textesc_json_member(b, ",\"proxy\":", e->proxy, strlen(e->proxy));
        textesc_json_member(b, ",\"proxy_from\":", e->proxy_from, strlen(e->proxy_from));
    }
    textesc_json_member(b, ",\"method\":", e->method, e->method_len);
    textesc_json_member(b, ",\"path\":", e->path, e->path_len);
    textesc_json_member(b, ",\"request_id\":", e->request_id, e->request_id_len);
    textesc_json_member(b, ",\"x_forwarded_for\":", e->xff, e->xff_len);
    simbuf_printf(
        b, ",\"status\":%d,\"bytes\":%llu,\"conn_requests\":%llu,\"duration_ms\":%llu.%03u}\n",
        e->status, (unsigned long long)e->bytes, (unsigned long long)e->conn_requests,
        (unsigned long long)(e->duration_us / 1000u), (unsigned)(e->duration_us % 1000u));
}

int simlog_init(struct simlog *log, int fd)
{
    int rc = pthread_mutex_init(&log->lock, NULL);
    log->fd = fd;
    return -rc;
}

void simlog_destroy(struct simlog *log)
{
    pthread_mutex_destroy(&log->lock);
}

int simlog_write(struct simlog *log, const char *data, size_t len)
{
    int rc = 0;

    pthread_mutex_lock(&log->lock);
    while (len > 0) {
        ssize_t w = write(log->fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = w < 0 ? -errno : -EIO;
            break;
        }
        data += w;
        len -= (size_t)w;
    }
    pthread_mutex_unlock(&log->lock);
    return rc;
}
