/* test_upstream.c - unit tests of backend connections and the per-worker idle pool
 * (lb/upstream.c), against a real listening socket on loopback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../lb/upstream.h"

struct fixture {
    struct worker w;
    struct config cfg;
    struct backend_table *table;
    struct upstreams *ups;
    int listen_fd;
    struct sockaddr_in addr;
};

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    f.w.epfd = epoll_create1(EPOLL_CLOEXEC);
    assert_true(f.w.epfd >= 0);
    f.w.now_ms = 1000;
    config_defaults(&f.cfg);
    f.w.cfg = &f.cfg;
    f.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f.listen_fd >= 0);
    f.addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(f.listen_fd, (struct sockaddr *)&f.addr, sizeof(f.addr)), 0);
    socklen_t sl = sizeof(f.addr);
    assert_int_equal(getsockname(f.listen_fd, (struct sockaddr *)&f.addr, &sl), 0);
    assert_int_equal(listen(f.listen_fd, 16), 0);
    const char *hosts[] = {"127.0.0.1"};
    uint16_t ports[] = {ntohs(f.addr.sin_port)};
    f.table = backend_table_create(hosts, ports, 1);
    assert_non_null(f.table);
    f.ups = upstreams_create(&f.w, 1);
    assert_non_null(f.ups);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    upstreams_destroy(f->ups);
    backend_table_destroy(f->table);
    close(f->listen_fd);
    close(f->w.epfd);
    return 0;
}

/* Connects to the fixture's listener and waits until the connection is READY. */
static struct upstream *connect_ready(struct fixture *f, void *owner)
{
    struct upstream *u = NULL;
    assert_int_equal(upstream_connect(f->ups, &f->table->backends[0], (struct sockaddr *)&f->addr,
                                      sizeof(f->addr), owner, &u),
                     0);
    assert_non_null(u);
    if (u->state == UPSTREAM_CONNECTING) {
        struct epoll_event ev;
        assert_int_equal(epoll_wait(f->w.epfd, &ev, 1, 5000), 1);
        assert_ptr_equal(ev.data.ptr, &u->ep);
        assert_ptr_equal(upstream_event(f->ups, u, ev.events), owner);
        assert_int_equal(upstream_finish_connect(u), 0);
    }
    assert_int_equal(u->state, UPSTREAM_READY);
    assert_int_equal(u->local.ss_family, AF_INET);
    assert_memory_equal(u->addr, "127.0.0.1:", 10);
    return u;
}

static void test_connect_reaches_ready_with_both_addresses(void **state)
{
    struct fixture *f = *state;
    int owner;
    struct upstream *u = connect_ready(f, &owner);
    assert_ptr_equal(u->owner, &owner);
    assert_false(u->reused);
    assert_int_equal(((struct sockaddr_in *)&u->server)->sin_port, f->addr.sin_port);
    upstream_close(f->ups, u, false);
    assert_int_equal(u->state, UPSTREAM_CLOSED);
    upstreams_reap(f->ups);
}

static void test_refused_connect_reports_the_error(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_in dead = f->addr;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    dead.sin_port = 0;
    assert_int_equal(bind(s, (struct sockaddr *)&dead, sizeof(dead)), 0); /* a port, not listening */
    socklen_t sl = sizeof(dead);
    assert_int_equal(getsockname(s, (struct sockaddr *)&dead, &sl), 0);
    struct upstream *u = NULL;
    int rc = upstream_connect(f->ups, &f->table->backends[0], (struct sockaddr *)&dead,
                              sizeof(dead), f, &u);
    if (rc == 0) {
        struct epoll_event ev;
        assert_int_equal(epoll_wait(f->w.epfd, &ev, 1, 5000), 1);
        upstream_event(f->ups, u, ev.events);
        rc = upstream_finish_connect(u);
        upstream_close(f->ups, u, false);
    }
    assert_int_equal(rc, -ECONNREFUSED);
    close(s);
}

static void test_released_connection_is_reused_most_recent_first(void **state)
{
    struct fixture *f = *state;
    int a, b;
    struct upstream *u1 = connect_ready(f, &a), *u2 = connect_ready(f, &b);
    upstream_release(f->ups, u1, true);
    f->w.now_ms += 10;
    upstream_release(f->ups, u2, true);
    assert_int_equal(u1->state, UPSTREAM_IDLE);
    assert_null(u1->owner);
    struct upstream *t = upstream_take_idle(f->ups, &f->table->backends[0], &b);
    assert_ptr_equal(t, u2);
    assert_true(t->reused);
    assert_int_equal(t->state, UPSTREAM_READY);
    assert_ptr_equal(t->owner, &b);
    assert_ptr_equal(upstream_take_idle(f->ups, &f->table->backends[0], &a), u1);
    assert_null(upstream_take_idle(f->ups, &f->table->backends[0], &a));
    upstream_release(f->ups, u1, false); /* not kept: closed */
    assert_int_equal(u1->state, UPSTREAM_CLOSED);
    upstream_close(f->ups, u2, false);
    upstreams_reap(f->ups);
}

static void test_idle_connection_too_old_is_closed_not_reused(void **state)
{
    struct fixture *f = *state;
    int a;
    struct upstream *u = connect_ready(f, &a);
    upstream_release(f->ups, u, true);
    f->w.now_ms += f->cfg.pool_idle_timeout_ms + 1;
    assert_null(upstream_take_idle(f->ups, &f->table->backends[0], &a));
    assert_int_equal(u->state, UPSTREAM_CLOSED);
    upstreams_reap(f->ups);
}

static void test_expire_closes_the_idle_connections_that_waited_too_long(void **state)
{
    struct fixture *f = *state;
    int a, b;
    struct upstream *old = connect_ready(f, &a), *young = connect_ready(f, &b);
    upstream_release(f->ups, old, true);
    f->w.now_ms += f->cfg.pool_idle_timeout_ms / 2;
    upstream_release(f->ups, young, true);
    assert_int_equal(upstreams_idle_count(f->ups), 2);
    assert_int_equal(upstreams_expire(f->ups), 0);
    f->w.now_ms += f->cfg.pool_idle_timeout_ms / 2 + 1;
    assert_int_equal(upstreams_expire(f->ups), 1); /* the older one only */
    assert_int_equal(old->state, UPSTREAM_CLOSED);
    assert_int_equal(young->state, UPSTREAM_IDLE);
    assert_int_equal(upstreams_idle_count(f->ups), 1);
    f->w.now_ms += f->cfg.pool_idle_timeout_ms;
    assert_int_equal(upstreams_expire(f->ups), 1);
    assert_int_equal(upstreams_idle_count(f->ups), 0);
    assert_null(upstream_take_idle(f->ups, &f->table->backends[0], &a));
    upstreams_reap(f->ups);
}

static void test_pool_max_caps_the_idle_connections_per_backend(void **state)
{
    struct fixture *f = *state;
    int a, b, c;
    struct upstream *u1 = connect_ready(f, &a), *u2 = connect_ready(f, &b),
                    *u3 = connect_ready(f, &c);
    f->cfg.pool_max = 2;
    upstream_release(f->ups, u1, true);
    upstream_release(f->ups, u2, true);
    upstream_release(f->ups, u3, true); /* the pool is full: closed */
    assert_int_equal(u3->state, UPSTREAM_CLOSED);
    assert_int_equal(upstreams_idle_count(f->ups), 2);
    f->cfg.pool_max = 0; /* no pooling: every release closes */
    struct upstream *t = upstream_take_idle(f->ups, &f->table->backends[0], &a);
    assert_ptr_equal(t, u2);
    upstream_release(f->ups, t, true);
    assert_int_equal(t->state, UPSTREAM_CLOSED);
    upstreams_close_idle(f->ups);
    assert_int_equal(upstreams_idle_count(f->ups), 0);
    upstreams_reap(f->ups);
}

static void test_idle_connection_the_backend_closes_leaves_the_pool(void **state)
{
    struct fixture *f = *state;
    int a;
    struct upstream *u = connect_ready(f, &a);
    int peer = accept(f->listen_fd, NULL, NULL);
    assert_true(peer >= 0);
    upstream_release(f->ups, u, true);
    close(peer);
    assert_null(upstream_event(f->ups, u, EPOLLIN | EPOLLRDHUP)); /* nobody to run */
    assert_int_equal(u->state, UPSTREAM_CLOSED);
    assert_null(upstream_take_idle(f->ups, &f->table->backends[0], &a));
    upstreams_reap(f->ups);
}

static void test_draining_worker_keeps_nothing_idle(void **state)
{
    struct fixture *f = *state;
    int a;
    struct upstream *u = connect_ready(f, &a);
    f->w.draining = true;
    upstream_release(f->ups, u, true);
    assert_int_equal(u->state, UPSTREAM_CLOSED);
    f->w.draining = false;
    upstreams_reap(f->ups);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connect_reaches_ready_with_both_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_connect_reports_the_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_released_connection_is_reused_most_recent_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_idle_connection_too_old_is_closed_not_reused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_idle_connection_the_backend_closes_leaves_the_pool,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_draining_worker_keeps_nothing_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expire_closes_the_idle_connections_that_waited_too_long,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_max_caps_the_idle_connections_per_backend, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
