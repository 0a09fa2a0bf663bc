/*
 * sendcost.c - what a system call and a small write to a socket cost on this machine, and what
 * lb's send batch (lb/sendbatch.h) saves by making many writes with one io_uring_enter().
 *
 * Usage: sendcost [SOCKETS [ROUNDS]]   (defaults 32 and 20000)
 *
 * It measures the CPU time of the writing thread (CLOCK_THREAD_CPUTIME_ID), so what else the
 * machine runs moves it little:
 *   1. getppid() in a loop: the price of entering and leaving the kernel, nothing more;
 *   2. SOCKETS loopback TCP connections, a reader thread draining their far ends with epoll (as a
 *      client such as wrk does), and ROUNDS rounds of one 300-byte write to each: first with one
 *      sendmsg() per write, then with lb's send batch (io_uring where the kernel grants one).
 * Each of the two ways runs three times, alternating; the medians are printed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../lb/sendbatch.h"

#define MAX_SOCKETS SEND_BATCH_MAX
#define WRITE_BYTES 300
#define TRIES 3

struct rig {
    int n;
    int writers[MAX_SOCKETS], readers[MAX_SOCKETS];
    atomic_bool stop;
};

static void die(const char *what)
{
    fprintf(stderr, "sendcost: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double thread_cpu_ns(void)
{
    struct timespec t;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0)
        die("clock_gettime");
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* The far ends' reader: drains whatever arrives, as a load generator would. */
static void *drain(void *arg)
{
    struct rig *rig = arg;
    int ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
    for (int i = 0; i < rig->n; i++) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = rig->readers[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, rig->readers[i], &ev) != 0)
            die("epoll_ctl");
    }
    static char sink[1 << 16];
    struct epoll_event evs[MAX_SOCKETS];
    while (!atomic_load(&rig->stop)) {
        int n = epoll_wait(ep, evs, MAX_SOCKETS, 100);
        for (int i = 0; i < n; i++)
            while (recv(evs[i].data.fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
                ;
    }
    close(ep);
    return NULL;
}

static void connect_pairs(struct rig *rig)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, MAX_SOCKETS) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0)
        die("listen on 127.0.0.1");
    for (int i = 0; i < rig->n; i++) {
        int one = 1;
        rig->writers[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (rig->writers[i] < 0 || connect(rig->writers[i], (struct sockaddr *)&a, sizeof(a)) != 0)
            die("connect");
        rig->readers[i] = accept(l, NULL, NULL);
        if (rig->readers[i] < 0)
            die("accept");
        if (setsockopt(rig->writers[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
            die("TCP_NODELAY");
    }
    close(l);
}

/* CPU nanoseconds per write over rounds rounds, batched or not. */
static double per_write(struct rig *rig, struct send_batch *batch, int rounds)
{
    static const char payload[WRITE_BYTES];
    struct iovec iov = {.iov_base = (void *)payload, .iov_len = sizeof(payload)};
    long failed = 0;
    double start = thread_cpu_ns();
    for (int r = 0; r < rounds; r++) {
        if (batch == NULL) {
            struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
            for (int i = 0; i < rig->n; i++)
                failed += sendmsg(rig->writers[i], &m, MSG_NOSIGNAL | MSG_DONTWAIT) < 0;
        } else {
            for (int i = 0; i < rig->n; i++)
                send_batch_add(batch, rig->writers[i], &iov, 1);
            send_batch_run(batch);
            for (int i = 0; i < rig->n; i++)
                failed += send_batch_result(batch, i) < 0;
            send_batch_clear(batch);
        }
        if (r % 64 == 63)
            usleep(100); /* lets the reader catch up: no socket fills */
    }
    double ns = (thread_cpu_ns() - start) / ((double)rounds * rig->n);
    if (failed > 0)
        fprintf(stderr, "sendcost: %ld writes found no room (the reader fell behind)\n", failed);
    return ns;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    struct rig rig = {.n = argc > 1 ? atoi(argv[1]) : 32};
    int rounds = argc > 2 ? atoi(argv[2]) : 20000;
    if (argc > 3 || rig.n < 1 || rig.n > MAX_SOCKETS || rounds < 1) {
        fprintf(stderr, "usage: sendcost [SOCKETS (1-%d) [ROUNDS]]\n", MAX_SOCKETS);
        return 2;
    }

    enum { CALLS = 1000000 };
    double start = thread_cpu_ns();
    for (int i = 0; i < CALLS; i++)
        syscall(SYS_getppid);
    printf("a system call (getppid): %.2f us\n", (thread_cpu_ns() - start) / CALLS / 1000);

    connect_pairs(&rig);
    pthread_t reader;
    if (pthread_create(&reader, NULL, drain, &rig) != 0)
        die("pthread_create");
    struct send_batch batch;
    send_batch_init(&batch, true);
    double one_each[TRIES], batched[TRIES];
    for (int t = 0; t < TRIES; t++) {
        one_each[t] = per_write(&rig, NULL, rounds);
        batched[t] = per_write(&rig, &batch, rounds);
    }
    qsort(one_each, TRIES, sizeof(double), cmp_double);
    qsort(batched, TRIES, sizeof(double), cmp_double);
    printf("%d-byte writes to %d loopback sockets, %d rounds, CPU of the writing thread "
           "(median of %d):\n",
           WRITE_BYTES, rig.n, rounds, TRIES);
    printf("  one sendmsg() each:          %.2f us per write\n", one_each[TRIES / 2] / 1000);
    printf("  lb's send batch (%s): %.2f us per write\n",
           send_batch_uses_uring(&batch) ? "io_uring" : "sendmsg ", batched[TRIES / 2] / 1000);

    atomic_store(&rig.stop, true);
    pthread_join(reader, NULL);
    send_batch_fini(&batch);
    for (int i = 0; i < rig.n; i++) {
        close(rig.writers[i]);
        close(rig.readers[i]);
    }
    return 0;
}
