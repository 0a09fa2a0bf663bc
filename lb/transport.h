/*
 * transport.h - the seam through which lb moves bytes on a connection.
 *
 * A session never calls recv() or sendmsg() itself: it reads and writes through a struct
 * transport, whose ops table says how: plain TCP sockets (transport_plain.c) or TLS
 * (transport_tls.c), each a table of ops rather than a branch inside the proxy's state machine
 * (the shape of HAProxy's xprt_ops and nginx's c->recv / c->send).
 *
 * Every op follows one convention: a byte count (> 0), 0 for end of stream (reads only),
 * -EAGAIN when the socket has nothing to give or no room right now (wait for the next epoll
 * event), or another -errno for a failure. EINTR never reaches the caller.
 */
#ifndef LB_TRANSPORT_H
#define LB_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct transport;

struct transport_ops {
    const char *name;
    /* Reads up to len bytes into buf. */
    ssize_t (*read)(struct transport *t, char *buf, size_t len);
    /* Writes the cnt buffers of iov in order, perhaps only part of them. */
    ssize_t (*writev)(struct transport *t, const struct iovec *iov, int cnt);
    /* Ends lb's sending direction (the peer reads end of stream). Returns 0 or -errno. */
    int (*shutdown)(struct transport *t);
    /* Closes the connection; abort: make the peer see a reset, not an orderly end. */
    void (*close)(struct transport *t, bool abort);
    /* Drives the transport's own opening (a TLS handshake) one step: 0 once it is complete,
     * -EAGAIN while it waits for the peer, another -errno when it failed. NULL: nothing to open
     * (reads and writes also drive it, so only a side that must know when it is done, such as
     * a backend connection before its request, calls it). */
    int (*handshake)(struct transport *t);
    /* A read may wait for room to write and a write for bytes to read (TLS): after -EAGAIN, the
     * next event of either kind retries both directions. False for plain sockets. */
    bool retry_both;
    /* A read that returns fewer bytes than asked took all the socket had, and a write that takes
     * fewer bytes than offered filled the socket's buffer: the side waits for the next epoll
     * event instead of calling again only to hear -EAGAIN (one system call saved per request
     * and direction). True for plain sockets; false for TLS, whose library may hold decrypted
     * bytes back or write less than it could. */
    bool short_io_drains;
    /* For a transport without short_io_drains (TLS): after a read that returned fewer bytes
     * than asked, says whether nothing more can be read before the next epoll event (the
     * library holds nothing and the socket came up short). NULL: read on until -EAGAIN. */
    bool (*drained)(struct transport *t);
};

struct transport {
    const struct transport_ops *ops;
    int fd;    /* the socket, -1 once closed */
    void *ctx; /* the implementation's own state (none for plain sockets) */
};

/* Plain TCP: recv(), sendmsg() with MSG_NOSIGNAL, shutdown(SHUT_WR), close(). */
extern const struct transport_ops transport_plain;

/* Sets t up over the connected socket fd with ops. */
static inline void transport_init(struct transport *t, const struct transport_ops *ops, int fd)
{
    t->ops = ops;
    t->fd = fd;
    t->ctx = NULL;
}

static inline ssize_t transport_read(struct transport *t, char *buf, size_t len)
{
    return t->ops->read(t, buf, len);
}

static inline ssize_t transport_writev(struct transport *t, const struct iovec *iov, int cnt)
{
    return t->ops->writev(t, iov, cnt);
}

static inline int transport_handshake(struct transport *t)
{
    return t->ops->handshake != NULL ? t->ops->handshake(t) : 0;
}

static inline int transport_shutdown(struct transport *t)
{
    return t->ops->shutdown(t);
}

/* Closes t (a no-op when already closed). */
static inline void transport_close(struct transport *t, bool abort)
{
    if (t->fd >= 0)
        t->ops->close(t, abort);
    t->fd = -1;
}

#endif
