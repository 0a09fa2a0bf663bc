/* test_side.c - unit tests of one proxied socket seen through its transport (lb/side.c,
 * lb/transport_plain.c), over real socket pairs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../lb/side.h"

/* A connected nonblocking pair: lb's end in *s, the peer's fd returned. */
static int pair(struct side *s)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    side_init(s, &transport_plain, sv[0]);
    return sv[1];
}

static void test_read_needs_readiness_and_stops_at_eagain(void **state)
{
    static char block[BUF_SIZE];
    struct buf b = {.data = block, .size = BUF_SIZE};
    struct side s;
    (void)state;
    int peer = pair(&s);
    assert_int_equal(write(peer, "hello", 5), 5);
    assert_int_equal(side_read(&s, &b), 0); /* epoll has not said so yet */
    side_event(&s, EPOLLIN);
    assert_int_equal(side_read(&s, &b), 5);
    assert_memory_equal(b.data, "hello", 5);
    assert_int_equal(side_read(&s, &b), 0); /* -EAGAIN: not readable any more */
    assert_false(s.readable);
    assert_false(s.eof);
    side_close(&s, false);
    close(peer);
}

static void test_a_short_read_took_everything_so_no_second_call(void **state)
{
    static char block[BUF_SIZE];
    struct buf b = {.data = block, .size = BUF_SIZE};
    struct side s;
    (void)state;
    int peer = pair(&s);
    assert_int_equal(write(peer, "hello", 5), 5);
    side_event(&s, EPOLLIN);
    assert_int_equal(side_read(&s, &b), 5); /* less than the room: the socket is empty now */
    assert_false(s.readable);               /* the next bytes bring the next event */
    assert_int_equal(write(peer, "again", 5), 5);
    assert_int_equal(side_read(&s, &b), 0); /* not before that event */
    side_event(&s, EPOLLIN);
    assert_int_equal(side_read(&s, &b), 5);
    side_close(&s, false);
    close(peer);
}

static void test_a_read_that_fills_the_buffer_stays_readable(void **state)
{
    static char block[BUF_SIZE];
    struct buf b = {.data = block, .start = 0, .end = BUF_SIZE - 3, .size = BUF_SIZE};
    struct side s;
    (void)state;
    int peer = pair(&s);
    assert_int_equal(write(peer, "hello", 5), 5);
    side_event(&s, EPOLLIN);
    assert_int_equal(side_read(&s, &b), 3); /* as much as there was room for: more may wait */
    assert_true(s.readable);
    assert_true(b.bulk); /* the peer sends faster than the block drains: a large block next */
    b.start = b.end = 0;
    side_event(&s, EPOLLIN);
    assert_int_equal(side_read(&s, &b), 2);
    assert_false(b.bulk); /* a short read: back to small blocks */
    side_close(&s, false);
    close(peer);
}

static void test_after_a_hang_up_a_short_read_reads_on_to_the_end(void **state)
{
    static char block[BUF_SIZE];
    struct buf b = {.data = block, .size = BUF_SIZE};
    struct side s;
    (void)state;
    int peer = pair(&s);
    assert_int_equal(write(peer, "bye", 3), 3);
    close(peer);
    side_event(&s, EPOLLIN | EPOLLRDHUP); /* no event will follow this one */
    assert_int_equal(side_read(&s, &b), 3);
    assert_true(s.readable);
    assert_int_equal(side_read(&s, &b), -1); /* the end of stream, seen without another event */
    assert_true(s.eof);
    side_close(&s, false);
}

/* Puts a socket with one byte waiting under s's descriptor: a read that reaches the socket
 * takes that byte, one that does not leaves it. Returns the byte's writer, to close. */
static int swap_in_a_socket_with_a_byte(struct side *s)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_int_equal(dup2(sv[0], s->tr.fd), s->tr.fd);
    close(sv[0]);
    return sv[1];
}

static void test_after_the_peers_fin_alone_a_short_read_knows_the_end(void **state)
{
    static char block[BUF_SIZE];
    struct buf b = {.data = block, .size = BUF_SIZE};
    struct side s;
    (void)state;
    int peer = pair(&s);
    assert_int_equal(write(peer, "bye", 3), 3);
    assert_int_equal(shutdown(peer, SHUT_WR), 0); /* a FIN, nothing else */
    side_event(&s, EPOLLIN | EPOLLRDHUP);
    assert_int_equal(side_read(&s, &b), 3);
    assert_true(s.at_end); /* the FIN was queued behind these bytes */
    int writer = swap_in_a_socket_with_a_byte(&s);
    assert_int_equal(side_read(&s, &b), -1); /* the end, without reading the socket again */
    assert_true(s.eof);
    assert_int_equal(s.err, 0);
    assert_int_equal(b.end, 3);
    side_close(&s, false);
    close(writer);
    close(peer);
}

static void test_after_a_hang_up_with_an_error_the_socket_is_read_to_the_end(void **state)
{
    static char block[BUF_SIZE];
    struct buf b = {.data = block, .size = BUF_SIZE};
    struct side s;
    (void)state;
    int peer = pair(&s);
    assert_int_equal(write(peer, "bye", 3), 3);
    side_event(&s, EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR); /* the error must be read */
    assert_int_equal(side_read(&s, &b), 3);
    assert_false(s.at_end);
    int writer = swap_in_a_socket_with_a_byte(&s);
    assert_int_equal(side_read(&s, &b), 1); /* this read reached the socket */
    side_close(&s, false);
    close(writer);
    close(peer);
}

static void test_a_short_write_filled_the_socket_so_no_second_call(void **state)
{
    static char big[4 << 20]; /* more than a socket pair's buffers hold */
    struct side s;
    (void)state;
    int peer = pair(&s);
    side_event(&s, EPOLLOUT);
    struct iovec iov = {.iov_base = big, .iov_len = sizeof(big)};
    ssize_t n = side_writev(&s, &iov, 1);
    assert_true(n > 0 && (size_t)n < sizeof(big));
    assert_false(s.writable); /* the room the peer frees brings the next event */
    assert_int_equal(side_writev(&s, &iov, 1), 0);
    side_close(&s, false);
    close(peer);
}

static void test_end_of_stream_is_eof_without_error(void **state)
{
    static char block[BUF_SIZE];
    struct buf b = {.data = block, .size = BUF_SIZE};
    struct side s;
    (void)state;
    int peer = pair(&s);
    close(peer);
    side_event(&s, EPOLLIN | EPOLLRDHUP);
    assert_int_equal(side_read(&s, &b), -1);
    assert_true(s.eof);
    assert_int_equal(s.err, 0);
    assert_int_equal(side_read(&s, &b), 0); /* nothing more happens */
    side_close(&s, false);
}

static void test_writev_sends_in_order_and_a_dead_peer_is_an_error_not_a_signal(void **state)
{
    struct side s;
    char got[16];
    (void)state;
    int peer = pair(&s);
    struct iovec iov[2] = {{.iov_base = "head|", .iov_len = 5}, {.iov_base = "body", .iov_len = 4}};
    assert_int_equal(side_writev(&s, iov, 2), 0); /* not writable yet */
    side_event(&s, EPOLLOUT);
    assert_int_equal(side_writev(&s, iov, 2), 9);
    assert_int_equal(read(peer, got, sizeof(got)), 9);
    assert_memory_equal(got, "head|body", 9);
    close(peer);
    assert_int_equal(side_writev(&s, iov, 2), -1); /* EPIPE with MSG_NOSIGNAL, no SIGPIPE */
    assert_true(s.wfailed);
    assert_int_equal(s.err, -EPIPE);
    side_close(&s, false);
}

static void test_shutdown_sends_eof_once_and_stops_writes(void **state)
{
    struct side s;
    char got[4];
    (void)state;
    int peer = pair(&s);
    side_event(&s, EPOLLOUT);
    side_shutdown(&s);
    side_shutdown(&s);
    assert_true(s.shut);
    assert_int_equal(read(peer, got, sizeof(got)), 0);
    struct iovec iov = {.iov_base = "x", .iov_len = 1};
    assert_int_equal(side_writev(&s, &iov, 1), 0);
    side_close(&s, false);
    assert_int_equal(s.tr.fd, -1);
    side_close(&s, false); /* closing twice is harmless */
    close(peer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_needs_readiness_and_stops_at_eagain),
        cmocka_unit_test(test_a_short_read_took_everything_so_no_second_call),
        cmocka_unit_test(test_a_read_that_fills_the_buffer_stays_readable),
        cmocka_unit_test(test_after_a_hang_up_a_short_read_reads_on_to_the_end),
        cmocka_unit_test(test_after_the_peers_fin_alone_a_short_read_knows_the_end),
        cmocka_unit_test(test_after_a_hang_up_with_an_error_the_socket_is_read_to_the_end),
        cmocka_unit_test(test_a_short_write_filled_the_socket_so_no_second_call),
        cmocka_unit_test(test_end_of_stream_is_eof_without_error),
        cmocka_unit_test(test_writev_sends_in_order_and_a_dead_peer_is_an_error_not_a_signal),
        cmocka_unit_test(test_shutdown_sends_eof_once_and_stops_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
