/*
 * transport_plain.c - the transport for plain TCP sockets (see transport.h): each op is one
 * system call, retried on EINTR, with EWOULDBLOCK reported as -EAGAIN.
 */
#include "transport.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t plain_read(struct transport *t, char *buf, size_t len)
{
    for (;;) {
        ssize_t n = recv(t->fd, buf, len, 0);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

static ssize_t plain_writev(struct transport *t, const struct iovec *iov, int cnt)
{
    /* sendmsg, not writev: MSG_NOSIGNAL turns a write to a closed peer into EPIPE, not SIGPIPE */
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt};
    for (;;) {
        ssize_t n = sendmsg(t->fd, &m, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

static int plain_shutdown(struct transport *t)
{
    return shutdown(t->fd, SHUT_WR) == 0 ? 0 : -errno;
}

static void plain_close(struct transport *t, bool abort)
{
    if (abort) {
        /* SO_LINGER with a zero time: close() sends RST instead of FIN */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        (void)setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(t->fd);
}

const struct transport_ops transport_plain = {
    .name = "plain",
    .read = plain_read,
    .writev = plain_writev,
    .shutdown = plain_shutdown,
    .close = plain_close,
    .short_io_drains = true,
};
