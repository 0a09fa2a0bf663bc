/*
 * pipebuf.c - splice(2) through a pipe between two sockets. See pipebuf.h.
 */
#include "pipebuf.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

void pipebuf_init(struct pipebuf *p)
{
    p->fd[0] = p->fd[1] = -1;
    p->held = 0;
}

ssize_t pipebuf_fill(struct pipebuf *p, int fd, size_t max)
{
    if (p->held >= PIPEBUF_BYTES)
        return -EAGAIN;
    if (p->fd[0] < 0 && pipe2(p->fd, O_NONBLOCK | O_CLOEXEC) != 0) {
        int err = errno;
        p->fd[0] = p->fd[1] = -1;
        return -err;
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
    return n;
}

void pipebuf_close(struct pipebuf *p)
{
    if (p->fd[0] >= 0) {
        close(p->fd[0]);
        close(p->fd[1]);
    }
    pipebuf_init(p);
}
