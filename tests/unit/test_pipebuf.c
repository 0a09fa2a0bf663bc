/*
 * test_pipebuf.c - unit tests for lb/pipebuf.c: splicing through a pipe between two loopback TCP
 * connections moves every byte and never more than asked, and the worker's cache lends empty
 * pipes out again, closes the ones that still hold bytes, keeps at most PIPEBUF_CACHE_MAX, and
 * gives back to the system those nobody took for a whole second.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../lb/pipebuf.h"

/* A connected pair of loopback TCP sockets: fds[0] writes, fds[1] reads (nonblocking). */
static void tcp_pair(int fds[2])
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fds[0] >= 0);
    assert_int_equal(connect(fds[0], (struct sockaddr *)&a, sizeof(a)), 0);
    fds[1] = accept(l, NULL, NULL);
    assert_true(fds[1] >= 0);
    assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
    close(l);
}

static bool is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

/* Bytes go from one connection through the pipe into another, no more than max per fill. */
static void test_fill_and_drain_move_exactly_what_was_asked(void **state)
{
    int in[2], out[2];
    struct pipebuf_cache cache = {0};
    struct pipebuf p;
    char sent[5000], got[6000];
    (void)state;
    tcp_pair(in);
    tcp_pair(out);
    for (size_t i = 0; i < sizeof(sent); i++)
        sent[i] = (char)(i * 7);
    assert_int_equal(send(in[0], sent, sizeof(sent), 0), (ssize_t)sizeof(sent));

    pipebuf_init(&p, &cache);
    assert_int_equal(p.fd[0], -1);
    assert_int_equal(pipebuf_drain(&p, out[0]), 0); /* nothing held: no pipe needed */
    ssize_t n;
    for (int i = 0; i < 1000 && (n = pipebuf_fill(&p, in[1], 3000)) == -EAGAIN; i++)
        usleep(1000);
    assert_int_equal(n, 3000);
    assert_int_equal(p.held, 3000);
    assert_int_equal(pipebuf_fill(&p, in[1], 3000), 2000); /* what the socket has left */
    assert_int_equal(pipebuf_fill(&p, in[1], 3000), -EAGAIN);
    assert_int_equal(pipebuf_drain(&p, out[0]), 5000);
    assert_int_equal(p.held, 0);
    assert_int_equal(p.moved, 5000);
    /* the cache counts what its pipes moved out: one transfer, one pipe made */
    assert_int_equal(cache.counts.bytes, 5000);
    assert_int_equal(cache.counts.transfers, 1);
    assert_int_equal(cache.counts.made, 1);
    size_t have = 0;
    for (int i = 0; i < 1000 && have < sizeof(sent); i++) {
        ssize_t r = recv(out[1], got + have, sizeof(got) - have, 0);
        if (r > 0)
            have += (size_t)r;
        else
            usleep(1000);
    }
    assert_int_equal(have, sizeof(sent));
    assert_memory_equal(got, sent, sizeof(sent));
    /* the end of the stream reads as 0 */
    close(in[0]);
    for (int i = 0; i < 1000 && (n = pipebuf_fill(&p, in[1], 3000)) == -EAGAIN; i++)
        usleep(1000);
    assert_int_equal(n, 0);
    pipebuf_close(&p);
    assert_int_equal(p.moved, 5000); /* kept for the request's record */
    pipebuf_init(&p, &cache);
    assert_int_equal(p.moved, 0);
    pipebuf_cache_fini(&cache);
    close(in[1]);
    close(out[0]);
    close(out[1]);
}

/* A transfer's empty pipe goes back to the cache and is the next transfer's; one that still
 * holds bytes is closed. */
static void test_an_empty_pipe_is_lent_again_a_full_one_closed(void **state)
{
    int in[2];
    struct pipebuf_cache cache = {0};
    struct pipebuf p, q;
    (void)state;
    tcp_pair(in);
    assert_int_equal(send(in[0], "abcdef", 6, 0), 6);

    pipebuf_init(&p, &cache);
    ssize_t n;
    for (int i = 0; i < 1000 && (n = pipebuf_fill(&p, in[1], 3)) == -EAGAIN; i++)
        usleep(1000);
    assert_int_equal(n, 3);
    int r0 = p.fd[0], w0 = p.fd[1];
    /* holding bytes: closed, not cached */
    pipebuf_close(&p);
    assert_int_equal(cache.count, 0);
    assert_false(is_open(r0));
    assert_false(is_open(w0));
    assert_int_equal(p.fd[0], -1);
    assert_ptr_equal(p.cache, &cache);

    /* empty: cached, then lent to the next transfer */
    assert_int_equal(pipebuf_fill(&p, in[1], 3), 3);
    int r1 = p.fd[0], w1 = p.fd[1];
    char buf[3];
    assert_int_equal(read(r1, buf, 3), 3); /* emptied by hand, as a drain would */
    p.held = 0;
    pipebuf_close(&p);
    assert_int_equal(cache.count, 1);
    assert_true(is_open(r1) && is_open(w1));
    pipebuf_init(&q, &cache);
    assert_int_equal(send(in[0], "gh", 2, 0), 2);
    for (int i = 0; i < 1000 && (n = pipebuf_fill(&q, in[1], 10)) == -EAGAIN; i++)
        usleep(1000);
    assert_int_equal(n, 2);
    assert_int_equal(q.fd[0], r1);
    assert_int_equal(q.fd[1], w1);
    assert_int_equal(cache.count, 0);
    /* three transfers, two pipes made: the third was lent; nothing was drained */
    assert_int_equal(cache.counts.transfers, 3);
    assert_int_equal(cache.counts.made, 2);
    assert_int_equal(cache.counts.bytes, 0);
    pipebuf_close(&q); /* holds 2 bytes: closed */
    assert_false(is_open(r1));
    close(in[0]);
    close(in[1]);
}

/* A cache keeps at most PIPEBUF_CACHE_MAX pipes; a trim closes those no transfer took since the
 * trim before, oldest first; fini closes the rest. */
static void test_cache_is_bounded_and_trimmed(void **state)
{
    int in[2];
    struct pipebuf_cache cache = {0};
    struct pipebuf p[PIPEBUF_CACHE_MAX + 1];
    (void)state;
    tcp_pair(in);
    /* PIPEBUF_CACHE_MAX + 1 transfers at once, each with a pipe of its own */
    for (int i = 0; i <= PIPEBUF_CACHE_MAX; i++) {
        pipebuf_init(&p[i], &cache);
        assert_int_equal(pipebuf_fill(&p[i], in[1], 10), -EAGAIN); /* made a pipe, no bytes */
        assert_true(p[i].fd[0] >= 0);
    }
    int last_r = p[PIPEBUF_CACHE_MAX].fd[0];
    for (int i = 0; i <= PIPEBUF_CACHE_MAX; i++)
        pipebuf_close(&p[i]);
    assert_int_equal(cache.count, PIPEBUF_CACHE_MAX);
    assert_false(is_open(last_r)); /* no room left for it */

    /* the first trim since they came back closes none: the low-water mark was 0 */
    assert_int_equal(pipebuf_cache_trim(&cache), 0);
    /* one is taken during the next second: the others were not needed */
    int kept_r = cache.fds[PIPEBUF_CACHE_MAX - 1][0];
    int oldest_r = cache.fds[0][0];
    struct pipebuf t;
    pipebuf_init(&t, &cache);
    assert_int_equal(pipebuf_fill(&t, in[1], 10), -EAGAIN);
    assert_int_equal(t.fd[0], kept_r); /* the most recently given back first */
    assert_int_equal(pipebuf_cache_trim(&cache), PIPEBUF_CACHE_MAX - 1);
    assert_int_equal(cache.count, 0);
    assert_false(is_open(oldest_r));
    pipebuf_close(&t);
    assert_int_equal(cache.count, 1);
    pipebuf_cache_fini(&cache);
    assert_int_equal(cache.count, 0);
    assert_false(is_open(kept_r));
    close(in[0]);
    close(in[1]);
}

/* Without a cache a pipe is made and closed each time. */
static void test_without_a_cache_pipes_are_closed(void **state)
{
    int in[2];
    struct pipebuf p;
    (void)state;
    tcp_pair(in);
    pipebuf_init(&p, NULL);
    assert_int_equal(pipebuf_fill(&p, in[1], 10), -EAGAIN);
    int r = p.fd[0];
    assert_true(is_open(r));
    pipebuf_close(&p);
    assert_false(is_open(r));
    close(in[0]);
    close(in[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill_and_drain_move_exactly_what_was_asked),
        cmocka_unit_test(test_an_empty_pipe_is_lent_again_a_full_one_closed),
        cmocka_unit_test(test_cache_is_bounded_and_trimmed),
        cmocka_unit_test(test_without_a_cache_pipes_are_closed),
    };
    return cmocka_run_group_tests_name("pipebuf", tests, NULL, NULL);
}
