/*
 * pipebuf.c - splice(2) through a pipe between two sockets, and each worker's cache of empty
 * pipes. See pipebuf.h.
 */
#include "pipebuf.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static void close_ends(const int fd[2])
{
    close(fd[0]);
    close(fd[1]);
}

void pipebuf_init(struct pipebuf *p, struct pipebuf_cache *cache)
{
    p->fd[0] = p->fd[1] = -1;
    p->held = 0;
    p->moved = 0;
    p->cache = cache;
}

/* Gives p a pipe: a cached one, or a new one. Returns 0 or -errno. */
static int take_pipe(struct pipebuf *p)
{
    struct pipebuf_cache *c = p->cache;
    if (c != NULL && c->count > 0) {
        c->count--;
        p->fd[0] = c->fds[c->count][0];
        p->fd[1] = c->fds[c->count][1];
        if (c->count < c->low)
            c->low = c->count;
    } else if (pipe2(p->fd, O_NONBLOCK | O_CLOEXEC) != 0) {
        int err = errno;
        p->fd[0] = p->fd[1] = -1;
        return -err;
    } else if (c != NULL) {
        c->counts.made++;
    }
    if (c != NULL)
        c->counts.transfers++;
    return 0;
}

ssize_t pipebuf_fill(struct pipebuf *p, int fd, size_t max)
{
    if (p->held >= PIPEBUF_BYTES)
        return -EAGAIN;
    if (p->fd[0] < 0) {
        int rc = take_pipe(p);
        if (rc != 0)
            return rc;
    }
    size_t room = PIPEBUF_BYTES - p->held;
    ssize_t n;
    do
        n = splice(fd, NULL, p->fd[1], NULL, max < room ? max : room,
                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    p->held += (size_t)n;
    return n;
}

ssize_t pipebuf_drain(struct pipebuf *p, int fd)
{
    if (p->held == 0)
        return 0;
    ssize_t n;
    do
        n = splice(p->fd[0], NULL, fd, NULL, p->held, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -EPIPE; /* the pipe holds bytes: a socket that takes none cannot go on */
    p->held -= (size_t)n;
    p->moved += (unsigned long long)n;
    if (p->cache != NULL)
        p->cache->counts.bytes += (unsigned long long)n;
    return n;
}

void pipebuf_close(struct pipebuf *p)
{
    struct pipebuf_cache *c = p->cache;
    if (p->fd[0] >= 0) {
        if (p->held == 0 && c != NULL && c->count < PIPEBUF_CACHE_MAX) {
            c->fds[c->count][0] = p->fd[0];
            c->fds[c->count][1] = p->fd[1];
            c->count++;
        } else {
            close_ends(p->fd);
        }
    }
    p->fd[0] = p->fd[1] = -1;
    p->held = 0;
}

size_t pipebuf_cache_trim(struct pipebuf_cache *cache)
{
    size_t idle = cache->low < cache->count ? cache->low : cache->count;
    /* the oldest: the bottom of the stack was not taken all second */
    for (size_t i = 0; i < idle; i++)
        close_ends(cache->fds[i]);
    for (size_t i = idle; i < cache->count; i++) {
        cache->fds[i - idle][0] = cache->fds[i][0];
        cache->fds[i - idle][1] = cache->fds[i][1];
    }
    cache->count -= idle;
    cache->low = cache->count;
    return idle;
}

void pipebuf_cache_fini(struct pipebuf_cache *cache)
{
    for (size_t i = 0; i < cache->count; i++)
        close_ends(cache->fds[i]);
    cache->count = cache->low = 0; /* the counts stay: totals of the worker's life */
}
