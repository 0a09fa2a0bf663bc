/*
 * pipebuf.h - a kernel pipe used as the buffer between two sockets.
 *
 * splice(2) moves bytes from a socket into a pipe and from the pipe into another socket without
 * copying them through lb's memory: the kernel hands over references to its own pages. The
 * layer-4 relay (relay.h) moves bulk transfers this way, and an HTTP session large request and
 * response bodies (session.h). A pipe costs two descriptors and holds at most PIPEBUF_BYTES,
 * so a reader never runs further ahead of its writer than that.
 *
 * All functions run on the owning worker's thread.
 */
#ifndef LB_PIPEBUF_H
#define LB_PIPEBUF_H

#include <stddef.h>
#include <sys/types.h>

#define PIPEBUF_BYTES (64 * 1024) /* what a pipe holds (Linux's default size) */

struct pipebuf {
    int fd[2];   /* read end, write end; -1 until the first fill */
    size_t held; /* bytes in the pipe: spliced in, not yet out */
};

/* No pipe yet: the first pipebuf_fill() makes one. */
void pipebuf_init(struct pipebuf *p);

/* Moves up to max bytes that socket fd has, and no more than the pipe has room for, into p
 * (making the pipe first if p has none). Returns the bytes moved; 0 at the socket's end of
 * stream; or -errno: -EAGAIN when the socket has nothing now or the pipe is full, -EINVAL when
 * the socket cannot be spliced (nothing moved: copy instead), else the failure (of pipe2() too,
 * -EMFILE when out of descriptors). */
ssize_t pipebuf_fill(struct pipebuf *p, int fd, size_t max);

/* Moves what p holds into socket fd. Returns the bytes moved, 0 when p holds none, or -errno:
 * -EAGAIN when the socket is full, else the write's failure. */
ssize_t pipebuf_drain(struct pipebuf *p, int fd);

/* Closes the pipe, with whatever it still holds. p is then as after pipebuf_init(). */
void pipebuf_close(struct pipebuf *p);

#endif
