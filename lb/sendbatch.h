/*
 * sendbatch.h - the writes a worker holds until the end of its batch of events, made together.
 *
 * A worker that read many requests in one batch holds their answers to the clients until the
 * batch has been read (worker_hold_client_write), then writes them all. Made one sendmsg() each,
 * that is one system call per answer; a send batch makes them all with one io_uring_enter()
 * where the kernel has io_uring, each as a non-blocking IORING_OP_SENDMSG. Where io_uring is
 * missing or refused (an old kernel, a seccomp filter, kernel.io_uring_disabled), or when the
 * operator turned it off (lb --no-io-uring), the batch makes one sendmsg() per write instead:
 * the same results, one system call each.
 *
 * Every write is non-blocking (MSG_DONTWAIT) and never raises SIGPIPE (MSG_NOSIGNAL), and its
 * result follows transport.h's convention: the bytes taken (perhaps fewer than offered: the
 * socket's buffer filled), -EAGAIN (no room at all), or another -errno. The iovecs are copied
 * when a write is added, but the bytes they point to must stay put until send_batch_run().
 *
 * A batch belongs to one worker thread.
 */
#ifndef LB_SENDBATCH_H
#define LB_SENDBATCH_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#define SEND_BATCH_MAX 64 /* writes one batch holds */
#define SEND_BATCH_IOV 2  /* buffers one write gathers (a head and body bytes) */

struct send_batch_write {
    struct msghdr msg;
    struct iovec iov[SEND_BATCH_IOV];
    int fd;
    ssize_t result;
};

/* What a batch has done since send_batch_init(), for lb's statistics (how many writes each
 * system call made). */
struct send_batch_counts {
    unsigned long long writes;        /* writes send_batch_run() made */
    unsigned long long uring_calls;   /* io_uring_enter() calls that made them */
    unsigned long long sendmsg_calls; /* sendmsg() calls that made them */
};

struct send_batch {
    int ring_fd; /* the io_uring, or -1: one sendmsg() per write */
    const char *why_not; /* with ring_fd -1 although io_uring was asked for: why, else NULL */
    /* the ring's shared memory (mapped from ring_fd) */
    void *rings;
    size_t rings_len;
    struct io_uring_sqe *sqes;
    size_t sqes_len;
    unsigned *sq_tail, *sq_mask, *sq_array;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_cqe *cqes;

    struct send_batch_counts counts;
    unsigned count; /* writes added since the last send_batch_clear() */
    struct send_batch_write writes[SEND_BATCH_MAX];
};

/* Sets b up, with an io_uring when use_uring and the kernel grants one (else one sendmsg() per
 * write). Never fails. */
void send_batch_init(struct send_batch *b, bool use_uring);

/* Frees what b holds. */
void send_batch_fini(struct send_batch *b);

/* Whether b makes its writes through io_uring. */
bool send_batch_uses_uring(const struct send_batch *b);

/* Why b has no io_uring although send_batch_init() asked for one (for lb's start-up line), or
 * NULL: it has one, or none was asked for. */
const char *send_batch_why_not(const struct send_batch *b);

/* What b has done since send_batch_init(). */
const struct send_batch_counts *send_batch_counts(const struct send_batch *b);

/* Adds a write of iov[0..cnt) (1 <= cnt <= SEND_BATCH_IOV) to fd. Returns its slot, or -1 when
 * the batch is full. */
int send_batch_add(struct send_batch *b, int fd, const struct iovec *iov, int cnt);

/* Makes every write added since the last send_batch_clear(); send_batch_result() then tells
 * how each went. */
void send_batch_run(struct send_batch *b);

/* The result of the write in slot, after send_batch_run(). */
ssize_t send_batch_result(const struct send_batch *b, int slot);

/* Forgets the writes added, to start the next batch. */
void send_batch_clear(struct send_batch *b);

#endif
