/*
 * side.h - one socket of a proxied connection, as a session sees it: the client's, or a
 * backend's. Both are the same struct, so the code that moves bytes from one side to the other
 * is the same in both directions.
 *
 * Sockets are edge-triggered: epoll only tells when a side may have become readable or writable
 * (side_event), and the flags stay set until a read or write returns -EAGAIN, or (plain sockets,
 * transport.h short_io_drains) until a read returns less than it asked for or a write takes less
 * than it was offered: the socket is empty (or full) then, and its next change brings an event. What a side has
 * seen of its peer is kept as facts, independent of each other (the peer may stop sending and
 * still read, and the other way round): eof (no more bytes will come), shut (lb sent its FIN),
 * wfailed (nothing more can be sent), err (the first failure).
 *
 * Bytes move through the side's transport (transport.h), never through a system call here.
 */
#ifndef LB_SIDE_H
#define LB_SIDE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "buffer.h"
#include "transport.h"

struct side {
    struct transport tr;
    bool readable, writable; /* epoll said so; cleared when an op returns -EAGAIN (or short) */
    bool hup;                /* epoll said the peer hung up: no further event will say more */
    bool hup_hard;           /* ... with EPOLLHUP or EPOLLERR, not only its FIN (EPOLLRDHUP) */
    bool at_end;             /* a short read after the FIN took the last bytes before it */
    bool eof;                /* the read direction ended: end of stream, or a read error */
    bool shut;               /* lb ended its write direction */
    bool wfailed;            /* a write failed: nothing more can be sent */
    int err;                 /* the first read or write error (-errno), 0 if none */
};

/* Sets s up over the connected (or connecting) socket fd. */
void side_init(struct side *s, const struct transport_ops *ops, int fd);

/* Notes the readiness epoll reported (EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR, EPOLLRDHUP). */
void side_event(struct side *s, uint32_t epoll_events);

/* Appends what the socket has to b (which has a block: buf_reserve), if s is readable and b has
 * room. Returns the bytes that arrived, 0 when none could be read (not readable, b full, or
 * -EAGAIN), or -1 when the read direction ended now (s->eof set; s->err too on an error). */
ssize_t side_read(struct side *s, struct buf *b);

/* Writes iov[0..cnt) if s is writable. Returns the bytes written, 0 when none could be (not
 * writable, or -EAGAIN), or -1 when the write failed (s->wfailed, s->err). */
ssize_t side_writev(struct side *s, const struct iovec *iov, int cnt);

/* Whether side_writev() would try to write now: s is writable and its write direction open. */
bool side_can_write(const struct side *s);

/* Takes in the result n of a write of offered bytes that was made on s's socket elsewhere (a
 * send batch: sendbatch.h), as side_writev() does with its own: same flags, same return. */
ssize_t side_wrote(struct side *s, ssize_t n, size_t offered);

/* Bytes sent on s that its peer has not acknowledged yet (SIOCOUTQ), or -1 when unknown. A
 * full socket whose count shrinks has a peer that reads, even while lb may not write yet. */
int side_unacked(const struct side *s);

/* Whether a plain socket holds something lb has not read: bytes, or the peer's end of stream
 * (or an error). Peeks without taking anything. For a connection that should have nothing more
 * to say, such as a backend's after the response lb read to the exact end of its body. */
bool side_has_input(const struct side *s);

/* Ends lb's write direction once (the peer reads end of stream). */
void side_shutdown(struct side *s);

/* Closes the socket; abort sends a reset instead of an orderly end. */
void side_close(struct side *s, bool abort);

#endif
