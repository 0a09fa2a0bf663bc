/*
 * sendbatch.c - a batch of writes made with one io_uring_enter(), or one sendmsg() each (see
 * sendbatch.h).
 *
 * lb talks to io_uring through its three system calls, without a library: the kernel and lb
 * share two rings of memory. lb writes a submission queue entry (SQE) per write, moves the
 * submission ring's tail past them and calls io_uring_enter() once; the kernel makes each write
 * and puts its result in the completion ring (a CQE), whose head lb moves on once it has read
 * them. A write on a socket with no room does not wait: MSG_DONTWAIT makes the kernel answer
 * -EAGAIN at once, as sendmsg() would, so every result is there when io_uring_enter() returns.
 * send_batch_init() checks exactly that on a full socket before it trusts the kernel with it.
 */
#include "sendbatch.h"

#include <errno.h>
#include <linux/io_uring.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RING_ENTRIES SEND_BATCH_MAX
#define NO_RESULT (-EINPROGRESS) /* a slot's result before its write was made */

static int uring_setup(unsigned entries, struct io_uring_params *p)
{
    return (int)syscall(SYS_io_uring_setup, entries, p);
}

static int uring_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags)
{
    return (int)syscall(SYS_io_uring_enter, fd, to_submit, min_complete, flags, NULL, 0);
}

/* The ring's indexes are shared with the kernel: read what it wrote with acquire, publish what
 * lb wrote with release. */
static unsigned load_acquire(const unsigned *p)
{
    return atomic_load_explicit((const _Atomic unsigned *)p, memory_order_acquire);
}

static void store_release(unsigned *p, unsigned v)
{
    atomic_store_explicit((_Atomic unsigned *)p, v, memory_order_release);
}

static void ring_close(struct send_batch *b)
{
    if (b->sqes != NULL)
        munmap(b->sqes, b->sqes_len);
    if (b->rings != NULL)
        munmap(b->rings, b->rings_len);
    if (b->ring_fd >= 0)
        close(b->ring_fd);
    b->sqes = NULL;
    b->rings = NULL;
    b->ring_fd = -1;
}

/* Creates the ring and maps its memory. Returns 0, or -1 with b->why_not set. */
static int ring_open(struct send_batch *b)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    int fd = uring_setup(RING_ENTRIES, &p);
    if (fd < 0) {
        /* ENOSYS: no io_uring in this kernel; EPERM: kernel.io_uring_disabled, or a seccomp
         * filter (a container's) */
        b->why_not = errno == ENOSYS ? "the kernel has no io_uring"
                     : errno == EPERM ? "io_uring_setup() is not permitted here"
                                      : "io_uring_setup() failed";
        return -1;
    }
    b->ring_fd = fd;
    if (!(p.features & IORING_FEAT_SINGLE_MMAP) || p.sq_entries < SEND_BATCH_MAX ||
        p.cq_entries < SEND_BATCH_MAX) {
        b->why_not = "the kernel's io_uring is older than Linux 5.4";
        return -1;
    }

    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    b->rings_len = sq_len > cq_len ? sq_len : cq_len;
    void *rings = mmap(NULL, b->rings_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                       IORING_OFF_SQ_RING);
    if (rings == MAP_FAILED) {
        b->why_not = "its rings could not be mapped";
        return -1;
    }
    b->rings = rings;
    b->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
    void *sqes = mmap(NULL, b->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                      IORING_OFF_SQES);
    if (sqes == MAP_FAILED) {
        b->why_not = "its rings could not be mapped";
        return -1;
    }
    b->sqes = sqes;

    char *r = rings;
    b->sq_tail = (unsigned *)(r + p.sq_off.tail);
    b->sq_mask = (unsigned *)(r + p.sq_off.ring_mask);
    b->sq_array = (unsigned *)(r + p.sq_off.array);
    b->cq_head = (unsigned *)(r + p.cq_off.head);
    b->cq_tail = (unsigned *)(r + p.cq_off.tail);
    b->cq_mask = (unsigned *)(r + p.cq_off.ring_mask);
    b->cqes = (struct io_uring_cqe *)(r + p.cq_off.cqes);
    return 0;
}

/* Puts the writes into the submission ring and submits them with one system call. Returns how
 * many the kernel took; the rest are taken back out of the ring. */
static unsigned ring_submit(struct send_batch *b)
{
    unsigned tail = *b->sq_tail; /* only lb moves the tail */
    for (unsigned i = 0; i < b->count; i++) {
        struct send_batch_write *w = &b->writes[i];
        unsigned idx = (tail + i) & *b->sq_mask;
        struct io_uring_sqe *sqe = &b->sqes[idx];
        memset(sqe, 0, sizeof(*sqe));
        sqe->opcode = IORING_OP_SENDMSG;
        sqe->fd = w->fd;
        sqe->addr = (uint64_t)(uintptr_t)&w->msg;
        sqe->len = 1;
        sqe->msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
        sqe->user_data = i;
        b->sq_array[idx] = idx;
    }
    store_release(b->sq_tail, tail + b->count);
    unsigned taken = 0;
    while (taken < b->count) {
        int n = uring_enter(b->ring_fd, b->count - taken, 0, 0);
        b->counts.uring_calls++;
        if (n > 0) {
            taken += (unsigned)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        break; /* out of kernel memory (EAGAIN) or the ring is unusable: lb writes the rest */
    }
    /* Without SQPOLL the kernel reads the ring only inside io_uring_enter(): what it did not
     * take can be withdrawn by moving the tail back. */
    store_release(b->sq_tail, tail + taken);
    return taken;
}

/* Reads the results of taken writes off the completion ring (waiting only if the kernel has
 * not posted them all, which MSG_DONTWAIT makes it do before io_uring_enter() returns). */
static void ring_reap(struct send_batch *b, unsigned taken)
{
    unsigned seen = 0;
    while (seen < taken) {
        unsigned head = *b->cq_head; /* only lb moves the head */
        unsigned tail = load_acquire(b->cq_tail);
        if (head == tail) {
            int n = uring_enter(b->ring_fd, 0, taken - seen, IORING_ENTER_GETEVENTS);
            b->counts.uring_calls++;
            if (n < 0 && errno != EINTR)
                break; /* cannot happen with a working ring (see send_batch_run) */
            continue;
        }
        for (; head != tail; head++, seen++) {
            const struct io_uring_cqe *cqe = &b->cqes[head & *b->cq_mask];
            if (cqe->user_data < b->count)
                b->writes[cqe->user_data].result = cqe->res;
        }
        store_release(b->cq_head, head);
    }
}

/* One write with sendmsg(), for a batch without a ring (or what the ring did not take). */
static ssize_t plain_send(struct send_batch_write *w)
{
    for (;;) {
        ssize_t n = sendmsg(w->fd, &w->msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

/* Whether the ring answers a write to a full socket with -EAGAIN before io_uring_enter()
 * returns, as lb needs (a kernel that parked it to wait for room instead would leave the
 * batch waiting). Checked on a socket pair whose buffer lb fills. */
static bool ring_answers_at_once(struct send_batch *b)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return false;
    static const char fill[4096];
    bool full = false;
    for (int i = 0; i < 4096 && !full; i++) {
        ssize_t n = send(sv[0], fill, sizeof(fill), MSG_NOSIGNAL | MSG_DONTWAIT);
        full = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        if (n < 0 && !full)
            break;
    }
    bool ok = false;
    if (full) {
        struct iovec iov = {.iov_base = (void *)fill, .iov_len = 1};
        send_batch_clear(b);
        send_batch_add(b, sv[0], &iov, 1);
        if (ring_submit(b) == 1) {
            unsigned tail = load_acquire(b->cq_tail);
            if (tail != *b->cq_head) {
                ok = b->cqes[*b->cq_head & *b->cq_mask].res == -EAGAIN;
                store_release(b->cq_head, tail);
            }
        }
        send_batch_clear(b);
    }
    close(sv[0]); /* closing both ends ends a write the kernel parked, if it did */
    close(sv[1]);
    return ok;
}

void send_batch_init(struct send_batch *b, bool use_uring)
{
    memset(b, 0, sizeof(*b));
    b->ring_fd = -1;
    if (!use_uring)
        return;
    if (ring_open(b) != 0) {
        ring_close(b);
    } else if (!ring_answers_at_once(b)) {
        b->why_not = "the kernel's io_uring waits for room on a full socket";
        ring_close(b);
    }
    memset(&b->counts, 0, sizeof(b->counts)); /* the check's write is not lb's */
}

const char *send_batch_why_not(const struct send_batch *b)
{
    return b->why_not;
}

void send_batch_fini(struct send_batch *b)
{
    ring_close(b);
    b->count = 0;
}

const struct send_batch_counts *send_batch_counts(const struct send_batch *b)
{
    return &b->counts;
}

bool send_batch_uses_uring(const struct send_batch *b)
{
    return b->ring_fd >= 0;
}

int send_batch_add(struct send_batch *b, int fd, const struct iovec *iov, int cnt)
{
    if (b->count == SEND_BATCH_MAX || cnt < 1 || cnt > SEND_BATCH_IOV)
        return -1;
    struct send_batch_write *w = &b->writes[b->count];
    memcpy(w->iov, iov, (size_t)cnt * sizeof(*iov));
    memset(&w->msg, 0, sizeof(w->msg));
    w->msg.msg_iov = w->iov;
    w->msg.msg_iovlen = (size_t)cnt;
    w->fd = fd;
    w->result = NO_RESULT;
    return (int)b->count++;
}

void send_batch_run(struct send_batch *b)
{
    if (b->count == 0)
        return;
    unsigned taken = 0;
    if (b->ring_fd >= 0) {
        taken = ring_submit(b);
        ring_reap(b, taken);
    }
    for (unsigned i = 0; i < b->count; i++) {
        struct send_batch_write *w = &b->writes[i];
        if (w->result != NO_RESULT)
            continue;
        /* The kernel takes entries in order: one it took but never answered may have been sent
         * (only a broken ring does that), so it fails rather than go twice. */
        if (i < taken) {
            w->result = -EIO;
        } else {
            w->result = plain_send(w);
            b->counts.sendmsg_calls++;
        }
    }
    b->counts.writes += b->count;
}

ssize_t send_batch_result(const struct send_batch *b, int slot)
{
    return b->writes[slot].result;
}

void send_batch_clear(struct send_batch *b)
{
    b->count = 0;
}
