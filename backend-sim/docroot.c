/*
 * docroot.c - safe mapping of request paths to files under --docroot (see docroot.h).
 */
#include "docroot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef SYS_openat2
#include <linux/openat2.h>
#endif

#include "http.h"

int docroot_map_path(const char *p, size_t n, char *out, size_t out_len)
{
    size_t o = 0, seg_start = 0;

    if (n == 0 || p[0] != '/')
        return -EINVAL;
    for (size_t i = 1; i <= n; i++) {
        unsigned char c;
        if (i == n || p[i] == '/') {
            /* end of a segment out[seg_start..o) */
            size_t len = o - seg_start;
            if ((len == 1 && out[seg_start] == '.') ||
                (len == 2 && out[seg_start] == '.' && out[seg_start + 1] == '.'))
                return -EINVAL;
            if (len == 0 && i < n)
                return -EINVAL; /* "//" */
            if (i < n) {
                if (o + 1 >= out_len)
                    return -ENAMETOOLONG;
                out[o++] = '/';
                seg_start = o;
            }
            continue;
        }
        c = (unsigned char)p[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -EINVAL;
            int hi = http_hex_value(p[i + 1]), lo = http_hex_value(p[i + 2]);
            if (hi < 0 || lo < 0)
                return -EINVAL;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
            if (c == '/')
                return -EINVAL; /* an encoded slash would hide a segment */
        }
        if (c < 0x20 || c == 0x7f || c == '\\')
            return -EINVAL;
        if (o + 1 >= out_len)
            return -ENAMETOOLONG;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

static int open_beneath(int root_fd, const char *rel)
{
    int fd;
#ifdef SYS_openat2
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    fd = (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
    if (fd >= 0)
        return fd;
    if (errno != ENOSYS && errno != EPERM)
        return -errno;
#endif
    /* older kernels: the segment checks above already keep ".." out */
    fd = openat(root_fd, rel, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    return fd >= 0 ? fd : -errno;
}

int docroot_open(int root_fd, const char *p, size_t n, uint64_t *size, const char **content_type)
{
    char rel[4096];
    struct stat st;
    int fd, rc;

    rc = docroot_map_path(p, n, rel, sizeof(rel) - sizeof("/index.html"));
    if (rc == -ENAMETOOLONG)
        return -ENOENT;
    if (rc != 0)
        return rc;
    fd = open_beneath(root_fd, rel[0] ? rel : ".");
    if (fd < 0)
        return fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP || fd == -EXDEV ? -ENOENT : fd;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out_close;
    }
    *content_type = docroot_content_type(rel, strlen(rel));
    if (S_ISDIR(st.st_mode)) {
        size_t l = strlen(rel);
        close(fd);
        if (l > 0 && rel[l - 1] != '/')
            rel[l++] = '/';
        memcpy(rel + l, "index.html", sizeof("index.html"));
        fd = open_beneath(root_fd, rel);
        if (fd < 0)
            return -ENOENT;
        *content_type = docroot_content_type(rel, strlen(rel));
        if (fstat(fd, &st) < 0) {
            rc = -errno;
            goto out_close;
        }
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -ENOENT;
        goto out_close;
    }
    *size = (uint64_t)st.st_size;
    return fd;

out_close:
    close(fd);
    return rc;
}

const char *docroot_content_type(const char *p, size_t n)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"json", "application/json"},
        {"txt", "text/plain; charset=utf-8"},
        {"md", "text/plain; charset=utf-8"},
        {"xml", "application/xml"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"ico", "image/x-icon"},
        {"pdf", "application/pdf"},
        {"wasm", "application/wasm"},
        {"mp4", "video/mp4"},
    };
    size_t dot = n;
    while (dot > 0 && p[dot - 1] != '.' && p[dot - 1] != '/')
        dot--;
    if (dot == 0 || p[dot - 1] != '.')
        return n > 0 && p[n - 1] == '/' ? "text/html; charset=utf-8" : "application/octet-stream";
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t l = strlen(types[i].ext);
        if (n - dot == l && strncasecmp(p + dot, types[i].ext, l) == 0)
            return types[i].type;
    }
    return "application/octet-stream";
}
