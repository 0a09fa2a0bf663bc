/*
 * side.c - reading and writing one socket of a proxied connection (see side.h).
 */
#include "side.h"

#include <errno.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

void side_init(struct side *s, const struct transport_ops *ops, int fd)
{
    *s = (struct side){0};
    transport_init(&s->tr, ops, fd);
}

void side_event(struct side *s, uint32_t events)
{
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        s->readable = true;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        s->hup = true;
    if (events & (EPOLLHUP | EPOLLERR))
        s->hup_hard = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        s->writable = true;
    if (s->tr.ops->retry_both && events != 0)
        s->readable = s->writable = true; /* what waited may wait for this event (transport.h) */
}

int side_unacked(const struct side *s)
{
    int queued;
    if (s->tr.fd < 0 || ioctl(s->tr.fd, SIOCOUTQ, &queued) != 0)
        return -1;
    return queued;
}

ssize_t side_read(struct side *s, struct buf *b)
{
    if (!s->readable || s->eof)
        return 0;
    uint32_t room = buf_room(b);
    if (room == 0)
        return 0;
    if (s->at_end) {
        s->eof = true;
        return -1;
    }
    ssize_t n = transport_read(&s->tr, b->data + b->end, room);
    if (n > 0) {
        buf_commit(b, (uint32_t)n, room);
        /* A short read took all the socket had: the next bytes bring another event. After a
         * hang-up no event comes, so then read on until end of stream; but when the hang-up was
         * the peer's FIN alone (a reset or an error is read out instead), it was already queued
         * behind what this read took, and the next read would only return 0: it is not made. */
        if ((uint32_t)n < room) {
            if (!s->hup && (s->tr.ops->short_io_drains ||
                            (s->tr.ops->drained != NULL && s->tr.ops->drained(&s->tr))))
                s->readable = false;
            else if (s->hup && !s->hup_hard && s->tr.ops->short_io_drains)
                s->at_end = true;
        }
        return n;
    }
    if (n == -EAGAIN) {
        s->readable = false;
        return 0;
    }
    s->eof = true;
    if (n < 0 && s->err == 0)
        s->err = (int)n;
    return -1;
}

ssize_t side_writev(struct side *s, const struct iovec *iov, int cnt)
{
    if (!side_can_write(s))
        return 0;
    size_t offered = 0;
    for (int i = 0; i < cnt; i++)
        offered += iov[i].iov_len;
    return side_wrote(s, transport_writev(&s->tr, iov, cnt), offered);
}

bool side_can_write(const struct side *s)
{
    return s->writable && !s->wfailed && !s->shut;
}

ssize_t side_wrote(struct side *s, ssize_t n, size_t offered)
{
    if (n == -EAGAIN) {
        s->writable = false;
        return 0;
    }
    if (n < 0) {
        s->wfailed = true;
        if (s->err == 0)
            s->err = (int)n;
        return -1;
    }
    /* A short write filled the socket's buffer: the room freed brings another event. */
    if (s->tr.ops->short_io_drains && (size_t)n < offered)
        s->writable = false;
    return n;
}

bool side_has_input(const struct side *s)
{
    char byte;
    ssize_t n;
    do
        n = recv(s->tr.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

void side_shutdown(struct side *s)
{
    if (s->shut)
        return;
    s->shut = true;
    /* a failed shutdown means the peer is gone: the next read or write says so */
    (void)transport_shutdown(&s->tr);
}

void side_close(struct side *s, bool abort)
{
    transport_close(&s->tr, abort);
}
