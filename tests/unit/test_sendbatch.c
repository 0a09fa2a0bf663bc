/* test_sendbatch.c - unit tests of the batch of writes a worker makes at the end of its batch of
 * events (lb/sendbatch.c), over real socket pairs: each test runs through io_uring (where the
 * kernel grants one) and through one sendmsg() per write, and both must give the same results. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../../lb/sendbatch.h"

static bool with_uring = true;
static bool without_uring = false;

/* A connected nonblocking pair: the writer's end in *w, the reader's returned. */
static int pair(int *w)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    *w = sv[0];
    return sv[1];
}

static void expect_bytes(int fd, const char *want)
{
    char got[256];
    size_t len = strlen(want);
    assert_true(len <= sizeof(got));
    assert_int_equal(read(fd, got, sizeof(got)), (ssize_t)len);
    assert_memory_equal(got, want, len);
}

static void test_writes_to_many_sockets_in_one_run(void **state)
{
    struct send_batch b;
    send_batch_init(&b, *(bool *)*state);
    enum { N = 8 };
    int w[N], r[N];
    char head[N][32], body[N][32];
    for (int i = 0; i < N; i++) {
        r[i] = pair(&w[i]);
        snprintf(head[i], sizeof(head[i]), "HTTP/1.1 200 OK %d\r\n\r\n", i);
        snprintf(body[i], sizeof(body[i]), "body %d", i * 11);
        struct iovec iov[2] = {{head[i], strlen(head[i])}, {body[i], strlen(body[i])}};
        assert_int_equal(send_batch_add(&b, w[i], iov, 1 + i % 2), i); /* slots in order */
    }
    send_batch_run(&b);
    for (int i = 0; i < N; i++) {
        char want[sizeof(head[0]) + sizeof(body[0])];
        int len = snprintf(want, sizeof(want), "%s%s", head[i], i % 2 ? body[i] : "");
        assert_true(len > 0 && (size_t)len < sizeof(want));
        assert_int_equal(send_batch_result(&b, i), (ssize_t)strlen(want));
        expect_bytes(r[i], want); /* the head, then the body: gathered in order */
        close(w[i]);
        close(r[i]);
    }
    send_batch_clear(&b);
    send_batch_fini(&b);
}

static void test_the_counts_say_how_many_writes_each_system_call_made(void **state)
{
    struct send_batch b;
    send_batch_init(&b, *(bool *)*state);
    const struct send_batch_counts *c = send_batch_counts(&b);
    /* the start-up check's write is not counted */
    assert_true(c->writes == 0 && c->uring_calls == 0 && c->sendmsg_calls == 0);
    enum { N = 5 };
    int w[N], r[N];
    for (int i = 0; i < N; i++)
        r[i] = pair(&w[i]);
    for (int round = 1; round <= 2; round++) {
        for (int i = 0; i < N; i++) {
            struct iovec iov = {"x", 1};
            assert_int_equal(send_batch_add(&b, w[i], &iov, 1), i);
        }
        send_batch_run(&b);
        send_batch_clear(&b);
        assert_int_equal(c->writes, (unsigned long long)(round * N));
        if (send_batch_uses_uring(&b)) {
            /* one io_uring_enter() a run (two if the kernel had to be asked for the results) */
            assert_true(c->uring_calls >= (unsigned long long)round &&
                        c->uring_calls <= 2ull * round);
            assert_int_equal(c->sendmsg_calls, 0);
        } else {
            assert_int_equal(c->uring_calls, 0);
            assert_int_equal(c->sendmsg_calls, (unsigned long long)(round * N));
        }
    }
    send_batch_run(&b); /* an empty run makes no call */
    assert_int_equal(c->writes, 2 * N);
    for (int i = 0; i < N; i++) {
        expect_bytes(r[i], "xx");
        close(w[i]);
        close(r[i]);
    }
    send_batch_fini(&b);
}

static void test_a_full_socket_answers_eagain_at_once_and_a_big_write_is_cut_short(void **state)
{
    struct send_batch b;
    send_batch_init(&b, *(bool *)*state);
    int full, roomy;
    int full_peer = pair(&full), roomy_peer = pair(&roomy);
    static char big[1 << 20];
    while (send(full, big, sizeof(big), MSG_DONTWAIT) > 0)
        ; /* until the socket's buffer is full */
    assert_int_equal(errno, EAGAIN);

    struct iovec one = {big, 1}, all = {big, sizeof(big)};
    assert_int_equal(send_batch_add(&b, full, &one, 1), 0);
    assert_int_equal(send_batch_add(&b, roomy, &all, 1), 1);
    send_batch_run(&b); /* must not wait for room */
    assert_int_equal(send_batch_result(&b, 0), -EAGAIN);
    ssize_t took = send_batch_result(&b, 1);
    assert_true(took > 0 && took < (ssize_t)sizeof(big)); /* what the buffer had room for */
    close(full);
    close(full_peer);
    close(roomy);
    close(roomy_peer);
    send_batch_fini(&b);
}

static void test_a_closed_peer_is_an_error_not_a_signal(void **state)
{
    struct send_batch b;
    send_batch_init(&b, *(bool *)*state);
    int w, ok_w;
    close(pair(&w)); /* SIGPIPE would end this test */
    int ok_r = pair(&ok_w);
    struct iovec iov = {"hello", 5};
    assert_int_equal(send_batch_add(&b, w, &iov, 1), 0);
    assert_int_equal(send_batch_add(&b, ok_w, &iov, 1), 1);
    assert_int_equal(send_batch_add(&b, -1, &iov, 1), 2); /* a bad descriptor fails alone */
    send_batch_run(&b);
    assert_int_equal(send_batch_result(&b, 0), -EPIPE);
    assert_int_equal(send_batch_result(&b, 1), 5);
    assert_int_equal(send_batch_result(&b, 2), -EBADF);
    expect_bytes(ok_r, "hello");
    close(w);
    close(ok_w);
    close(ok_r);
    send_batch_fini(&b);
}

static void test_a_batch_is_bounded_and_starts_empty_again(void **state)
{
    struct send_batch b;
    send_batch_init(&b, *(bool *)*state);
    int w, r = pair(&w);
    struct iovec iov[3] = {{"a", 1}, {"b", 1}, {"c", 1}};
    assert_int_equal(send_batch_add(&b, w, iov, 0), -1);                  /* nothing to write */
    assert_int_equal(send_batch_add(&b, w, iov, SEND_BATCH_IOV + 1), -1); /* too many parts */
    for (int i = 0; i < SEND_BATCH_MAX; i++)
        assert_int_equal(send_batch_add(&b, w, &iov[i % 3], 1), i);
    assert_int_equal(send_batch_add(&b, w, iov, 1), -1); /* full */
    send_batch_run(&b);
    char got[SEND_BATCH_MAX];
    assert_int_equal(read(r, got, sizeof(got)), SEND_BATCH_MAX); /* made in the order added */
    for (int i = 0; i < SEND_BATCH_MAX; i++)
        assert_int_equal(got[i], "abc"[i % 3]);

    send_batch_clear(&b);
    send_batch_run(&b); /* nothing added: nothing written */
    assert_int_equal(send_batch_add(&b, w, &iov[2], 1), 0);
    send_batch_run(&b);
    assert_int_equal(send_batch_result(&b, 0), 1);
    expect_bytes(r, "c");
    close(w);
    close(r);
    send_batch_fini(&b);
}

/* Whether this kernel lets this process have an io_uring at all. */
static bool kernel_grants_uring(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    int fd = (int)syscall(SYS_io_uring_setup, 4, &p);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* Whether the kernel is 6.1 (Debian 12's) or later, whose io_uring answers a non-blocking write
 * to a full socket at once. */
static bool kernel_at_least_6_1(void)
{
    struct utsname u;
    int major = 0, minor = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2)
        return false;
    return major > 6 || (major == 6 && minor >= 1);
}

static void test_io_uring_is_used_where_granted_and_never_when_turned_off(void **state)
{
    (void)state;
    struct send_batch b;
    send_batch_init(&b, false);
    assert_false(send_batch_uses_uring(&b));
    assert_null(send_batch_why_not(&b)); /* none was asked for */
    send_batch_fini(&b);

    send_batch_init(&b, true);
    bool granted = kernel_grants_uring();
    if (!granted) {
        fprintf(stderr, "# this kernel grants no io_uring: batches use sendmsg()\n");
        assert_false(send_batch_uses_uring(&b));
        assert_non_null(send_batch_why_not(&b)); /* lb's start-up line says why */
    } else if (kernel_at_least_6_1()) {
        assert_true(send_batch_uses_uring(&b)); /* its start-up check passed */
        assert_null(send_batch_why_not(&b));
    }
    assert_int_equal(send_batch_uses_uring(&b), send_batch_why_not(&b) == NULL);
    send_batch_fini(&b);
    assert_false(send_batch_uses_uring(&b));
}

/* each test twice: through io_uring, and with one sendmsg() per write */
#define BOTH(f)                                                                                   \
    {#f " (io_uring)", f, NULL, NULL, &with_uring}, {#f " (sendmsg)", f, NULL, NULL, &without_uring}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_writes_to_many_sockets_in_one_run),
        BOTH(test_the_counts_say_how_many_writes_each_system_call_made),
        BOTH(test_a_full_socket_answers_eagain_at_once_and_a_big_write_is_cut_short),
        BOTH(test_a_closed_peer_is_an_error_not_a_signal),
        BOTH(test_a_batch_is_bounded_and_starts_empty_again),
        cmocka_unit_test(test_io_uring_is_used_where_granted_and_never_when_turned_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
