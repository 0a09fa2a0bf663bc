/* test_checker.c - unit tests of lb's active health checks (lb/checker.c) against real loopback
 * listeners: tiny in-test servers that answer 200, 503, garbage, or nothing, and a port that
 * refuses. The test drives the checker's sockets and timers with its own epoll loop, as a worker
 * would. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../lb/checker.h"
#include "../../lb/worker.h"
#include "clock.h"

enum answer {
    ANSWER_200,
    ANSWER_503,
    ANSWER_GARBAGE,
    ANSWER_NOTHING, /* accepts, reads, never answers */
    ANSWER_REFUSE,  /* no listener on the port */
};

struct server {
    int fd;
    uint16_t port;
    atomic_int answer;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;
    char last_request[512]; /* lock held */
    int held[64];           /* ANSWER_NOTHING's connections, closed at the end */
    int nheld;
};

static void *serve(void *arg)
{
    struct server *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            return NULL; /* shut down */
        char buf[512];
        size_t len = 0;
        struct timeval tv = {.tv_sec = 2};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        while (len < sizeof(buf) - 1) {
            ssize_t r = recv(c, buf + len, sizeof(buf) - 1 - len, 0);
            if (r <= 0)
                break;
            len += (size_t)r;
            buf[len] = '\0';
            if (strstr(buf, "\r\n\r\n") != NULL)
                break;
        }
        buf[len] = '\0';
        pthread_mutex_lock(&s->lock);
        snprintf(s->last_request, sizeof(s->last_request), "%s", buf);
        pthread_mutex_unlock(&s->lock);
        const char *out = NULL;
        switch (atomic_load(&s->answer)) {
        case ANSWER_200:
            out = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
            break;
        case ANSWER_503:
            out = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
            break;
        case ANSWER_GARBAGE:
            out = "hello, this is not HTTP\r\n\r\n";
            break;
        default:
            break;
        }
        if (out == NULL && s->nheld < 64) {
            s->held[s->nheld++] = c;
            continue;
        }
        if (out != NULL)
            (void)!send(c, out, strlen(out), MSG_NOSIGNAL);
        close(c);
    }
}

static void server_start(struct server *s, enum answer a)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->answer, a);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t sl = sizeof(sin);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sin, &sl), 0);
    s->port = ntohs(sin.sin_port);
    if (a == ANSWER_REFUSE)
        return; /* bound, so the port stays ours, but not listening: connects are refused */
    assert_int_equal(listen(s->fd, 16), 0);
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
    s->running = true;
}

static void server_stop(struct server *s)
{
    shutdown(s->fd, SHUT_RDWR);
    if (s->running)
        pthread_join(s->thread, NULL);
    close(s->fd);
    for (int i = 0; i < s->nheld; i++)
        close(s->held[i]);
    pthread_mutex_destroy(&s->lock);
}

#define NB 5

struct fixture {
    struct server srv[NB];
    struct backend_table *table;
    struct health *h;
    struct routing rt; /* only its table is looked at */
    struct worker w;
};

static struct fixture *fixture_open(const enum answer *answers, size_t n, unsigned rise,
                                    unsigned fall)
{
    static struct fixture f;
    const char *hosts[NB];
    uint16_t ports[NB];

    memset(&f, 0, sizeof(f));
    for (size_t i = 0; i < n; i++) {
        server_start(&f.srv[i], answers[i]);
        hosts[i] = "127.0.0.1";
        ports[i] = f.srv[i].port;
    }
    f.table = backend_table_create(hosts, ports, n);
    assert_non_null(f.table);
    struct health_config hc;
    health_config_defaults(&hc);
    hc.rise = rise;
    hc.fall = fall;
    f.h = health_create(n, &hc);
    assert_non_null(f.h);
    f.w.epfd = epoll_create1(EPOLL_CLOEXEC);
    assert_true(f.w.epfd >= 0);
    f.rt.table = f.table;
    f.w.routing = &f.rt;
    f.w.now_ms = clock_mono_ms();
    return &f;
}

static void fixture_close(struct fixture *f)
{
    for (size_t i = 0; i < f->table->count; i++)
        server_stop(&f->srv[i]);
    health_destroy(f->h);
    backend_table_destroy(f->table);
    close(f->w.epfd);
}

static struct checker *make_checker(struct fixture *f, uint32_t interval, uint32_t timeout,
                                    unsigned nworkers)
{
    struct checker_config cc = {.path = "/health", .interval_ms = interval, .timeout_ms = timeout,
                                .nworkers = nworkers};
    struct checker *c = checker_create(&f->w, f->h, &cc);
    assert_non_null(c);
    return c;
}

/* Runs the worker's part of the loop for ms milliseconds of real time. */
static void drive(struct fixture *f, struct checker *c, uint64_t ms)
{
    uint64_t end = clock_mono_ms() + ms;
    for (;;) {
        f->w.now_ms = clock_mono_ms();
        checker_run_due(c, f->w.now_ms);
        if (f->w.now_ms >= end)
            break;
        struct epoll_event ev[16];
        int wait = checker_wait_ms(c, f->w.now_ms, (int)(end - f->w.now_ms));
        int n = epoll_wait(f->w.epfd, ev, 16, wait);
        assert_true(n >= 0);
        f->w.now_ms = clock_mono_ms();
        for (int i = 0; i < n; i++) {
            struct endpoint *ep = ev[i].data.ptr;
            assert_int_equal(ep->kind, ENDPOINT_CHECK);
            checker_event(c, ep, ev[i].events);
        }
    }
}

/* Drives the loop until backend i has had n checks (at most 5 s). */
static void drive_checks(struct fixture *f, struct checker *c, size_t i, uint64_t n)
{
    struct health_snapshot s;
    for (int k = 0; k < 500; k++) {
        health_snapshot(f->h, i, &s);
        if (s.checks_total >= n)
            return;
        drive(f, c, 10);
    }
    fail_msg("backend %zu: %llu checks, expected %llu", i, (unsigned long long)s.checks_total,
             (unsigned long long)n);
}

static void assert_backend(struct fixture *f, size_t i, enum health_state st, const char *reason)
{
    struct health_snapshot s;
    health_snapshot(f->h, i, &s);
    if (s.state != st || strcmp(s.reason, reason) != 0)
        fail_msg("backend %zu: %s (%s), expected %s (%s)", i, health_state_name(s.state),
                 s.reason, health_state_name(st), reason);
}

static void test_each_answer_gives_its_verdict_and_reason(void **state)
{
    (void)state;
    static const enum answer a[] = {ANSWER_200, ANSWER_503, ANSWER_GARBAGE, ANSWER_NOTHING,
                                    ANSWER_REFUSE};
    struct fixture *f = fixture_open(a, NB, 1, 1);
    struct checker *c = make_checker(f, 10000, 1000, 1);
    assert_int_equal(checker_backends(c), NB);
    for (size_t i = 0; i < NB; i++)
        drive_checks(f, c, i, 1); /* one round: the next is 10 s away */
    assert_int_equal(checker_started(c), NB);
    assert_backend(f, 0, HEALTH_UP, "");
    assert_backend(f, 1, HEALTH_DOWN, "1 check failed: status 503");
    assert_backend(f, 2, HEALTH_DOWN, "1 check failed: malformed answer");
    assert_backend(f, 3, HEALTH_DOWN, "1 check failed: timeout");
    assert_backend(f, 4, HEALTH_DOWN, "1 check failed: connect refused");
    struct health_snapshot s;
    for (size_t i = 0; i < NB; i++) {
        health_snapshot(f->h, i, &s);
        assert_int_equal(s.checks_total, 1);
        assert_int_equal(s.checks_failed, i == 0 ? 0 : 1);
    }
    char want[256];
    snprintf(want, sizeof(want),
             "GET /health HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUser-Agent: lblab-health\r\n"
             "Connection: close\r\n\r\n",
             (unsigned)f->srv[0].port);
    pthread_mutex_lock(&f->srv[0].lock);
    assert_string_equal(f->srv[0].last_request, want);
    pthread_mutex_unlock(&f->srv[0].lock);
    checker_destroy(c);
    fixture_close(f);
}

static void test_checks_repeat_every_interval_one_at_a_time(void **state)
{
    (void)state;
    static const enum answer a[] = {ANSWER_200, ANSWER_NOTHING};
    struct fixture *f = fixture_open(a, 2, 2, 3);
    /* the silent backend's checks last their whole timeout, longer than the interval: they
     * still never overlap, and the next one starts when the last one ends */
    struct checker *c = make_checker(f, 50, 120, 1);
    drive(f, c, 530);
    struct health_snapshot s0, s1;
    health_snapshot(f->h, 0, &s0);
    health_snapshot(f->h, 1, &s1);
    /* 50 ms apart in 530 ms: 10 or 11 (starts at 0, 50, ..., 500; fewer on a loaded machine) */
    assert_in_range(s0.checks_total, 7, 11);
    assert_int_equal(s0.checks_failed, 0);
    /* 120 ms each in 530 ms: 4 finished (a fifth in flight) */
    assert_in_range(s1.checks_total, 3, 5);
    assert_int_equal(s1.checks_failed, s1.checks_total);
    assert_backend(f, 1, HEALTH_DOWN, "3 checks failed: timeout");
    assert_in_range(checker_started(c) - s0.checks_total - s1.checks_total, 0, 2);
    checker_destroy(c);
    fixture_close(f);
}

static void test_a_backend_that_recovers_needs_rise_good_checks(void **state)
{
    (void)state;
    static const enum answer a[] = {ANSWER_503};
    struct fixture *f = fixture_open(a, 1, 2, 3);
    struct checker *c = make_checker(f, 30, 200, 1);
    drive_checks(f, c, 0, 2);
    assert_int_equal(health_state(f->h, 0), HEALTH_UP);
    drive_checks(f, c, 0, 3); /* the third failed check takes it down */
    assert_backend(f, 0, HEALTH_DOWN, "3 checks failed: status 503");
    atomic_store(&f->srv[0].answer, ANSWER_200);
    drive_checks(f, c, 0, 4); /* one good check: not enough */
    assert_int_equal(health_state(f->h, 0), HEALTH_DOWN);
    drive_checks(f, c, 0, 5); /* the second good one */
    assert_backend(f, 0, HEALTH_UP, "2 checks passed");
    checker_destroy(c);
    fixture_close(f);
}

static void test_a_worker_checks_only_its_share_of_the_backends(void **state)
{
    (void)state;
    static const enum answer a[] = {ANSWER_503, ANSWER_503, ANSWER_503, ANSWER_503};
    struct fixture *f = fixture_open(a, 4, 1, 1);
    f->w.id = 1;
    struct checker *c = make_checker(f, 10000, 200, 2);
    assert_int_equal(checker_backends(c), 2);
    drive_checks(f, c, 1, 1);
    drive_checks(f, c, 3, 1);
    assert_int_equal(health_state(f->h, 0), HEALTH_UP);
    assert_int_equal(health_state(f->h, 1), HEALTH_DOWN);
    assert_int_equal(health_state(f->h, 2), HEALTH_UP);
    assert_int_equal(health_state(f->h, 3), HEALTH_DOWN);
    checker_destroy(c);
    fixture_close(f);
}

static void test_no_checker_means_no_deadline_and_no_work(void **state)
{
    (void)state;
    assert_int_equal(checker_next_deadline(NULL), TIMER_NONE);
    assert_int_equal(checker_wait_ms(NULL, 1000, -1), -1);
    assert_int_equal(checker_wait_ms(NULL, 1000, 250), 250);
    checker_run_due(NULL, 1000);
    checker_destroy(NULL);
}

static void test_wait_is_bounded_by_the_next_check(void **state)
{
    (void)state;
    static const enum answer a[] = {ANSWER_200};
    struct fixture *f = fixture_open(a, 1, 1, 1);
    /* an interval far longer than a check can take on a loaded machine */
    struct checker *c = make_checker(f, 10000, 1000, 1);
    uint64_t now = f->w.now_ms;
    assert_int_equal(checker_next_deadline(c), now); /* the first check is due at once */
    assert_int_equal(checker_wait_ms(c, now, -1), 0);
    drive_checks(f, c, 0, 1);
    /* the next check is one interval after this one started, which was at now or later (the
     * clock may tick between reading now and the first round of drive_checks()) and at the
     * latest at the round that finished it */
    uint64_t next = checker_next_deadline(c);
    assert_true(next >= now + 10000 && next <= f->w.now_ms + 10000);
    assert_int_equal(checker_wait_ms(c, next - 40, -1), 40);
    assert_int_equal(checker_wait_ms(c, next - 40, 10), 10);
    checker_destroy(c);
    fixture_close(f);
}

static void test_a_backend_without_an_address_yet_is_not_checked(void **state)
{
    (void)state;
    static const enum answer a[] = {ANSWER_200};
    struct fixture *f = fixture_open(a, 1, 1, 1);
    /* a second table whose one backend is a name nobody resolved: no address to check */
    const char *hosts[] = {"backend.invalid"};
    uint16_t ports[] = {80};
    struct backend_table *named = backend_table_create(hosts, ports, 1), *saved = f->rt.table;
    assert_non_null(named);
    f->rt.table = named;
    struct checker *c = make_checker(f, 50, 50, 1);
    drive(f, c, 120);
    assert_int_equal(checker_started(c), 0);
    struct health_snapshot s;
    health_snapshot(f->h, 0, &s);
    assert_int_equal(s.checks_total, 0);
    assert_int_equal(s.state, HEALTH_UP);
    assert_true(checker_next_deadline(c) <= f->w.now_ms + 50);
    checker_destroy(c);
    f->rt.table = saved;
    backend_table_destroy(named);
    fixture_close(f);
}

static void test_destroy_with_checks_in_flight_closes_them(void **state)
{
    (void)state;
    static const enum answer a[] = {ANSWER_NOTHING};
    struct fixture *f = fixture_open(a, 1, 1, 1);
    struct checker *c = make_checker(f, 1000, 1000, 1);
    drive(f, c, 30);
    assert_int_equal(checker_started(c), 1);
    checker_destroy(c); /* ASan and the descriptor count would tell */
    struct health_snapshot s;
    health_snapshot(f->h, 0, &s);
    assert_int_equal(s.checks_total, 0);
    fixture_close(f);
}

/* Pools with their own health paths: each backend is checked with its pool's path, and a
 * backend whose pool has none is not checked at all. */
static void test_each_backend_is_checked_with_its_pools_path(void **state)
{
    (void)state;
    static const enum answer a[] = {ANSWER_200, ANSWER_200, ANSWER_503};
    struct fixture *f = fixture_open(a, 3, 1, 1);
    const char *paths[] = {"/ready", "", "/health"};
    struct checker_config cc = {.paths = paths, .interval_ms = 10000, .timeout_ms = 200,
                                .nworkers = 1};
    struct checker *c = checker_create(&f->w, f->h, &cc);
    assert_non_null(c);
    assert_int_equal(checker_backends(c), 2); /* backend 1's pool has no health path */
    drive_checks(f, c, 0, 1);
    drive_checks(f, c, 2, 1);
    drive(f, c, 50);
    struct health_snapshot s;
    health_snapshot(f->h, 1, &s);
    assert_int_equal(s.checks_total, 0);
    assert_backend(f, 0, HEALTH_UP, "");
    assert_backend(f, 2, HEALTH_DOWN, "1 check failed: status 503");
    checker_destroy(c);
    fixture_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_answer_gives_its_verdict_and_reason),
        cmocka_unit_test(test_checks_repeat_every_interval_one_at_a_time),
        cmocka_unit_test(test_a_backend_that_recovers_needs_rise_good_checks),
        cmocka_unit_test(test_a_worker_checks_only_its_share_of_the_backends),
        cmocka_unit_test(test_no_checker_means_no_deadline_and_no_work),
        cmocka_unit_test(test_wait_is_bounded_by_the_next_check),
        cmocka_unit_test(test_a_backend_without_an_address_yet_is_not_checked),
        cmocka_unit_test(test_destroy_with_checks_in_flight_closes_them),
        cmocka_unit_test(test_each_backend_is_checked_with_its_pools_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
