/* test_worker.c - unit tests of the worker services sessions use (lb/worker.c): request ids and
 * the start-up of a worker's event loop objects. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <string.h>
#include <unistd.h>

#include "../../lb/worker.h"

static void test_request_ids_are_32_hex_digits_and_differ(void **state)
{
    static struct worker w;
    char ids[1000][33];
    (void)state;
    w.rng[0] = 0x1234567;
    w.rng[1] = 0x89abcdef;
    for (int i = 0; i < 1000; i++) {
        worker_request_id(&w, ids[i]);
        assert_int_equal(strlen(ids[i]), 32);
        for (int k = 0; k < 32; k++)
            assert_true(isxdigit((unsigned char)ids[i][k]) && !isupper((unsigned char)ids[i][k]));
    }
    for (int i = 0; i < 1000; i++)
        for (int j = i + 1; j < 1000; j++)
            assert_string_not_equal(ids[i], ids[j]);
}

static void test_init_sets_up_epoll_and_eventfds_and_fini_releases_them(void **state)
{
    static struct worker w;
    static struct config cfg;
    char err[256];
    (void)state;
    config_defaults(&cfg);
    struct routing_slots slots = {0};
    struct routing *rt = routing_create(&cfg, NULL, &slots, NULL, 1, err, sizeof(err));
    assert_non_null(rt);
    int lfd = net_listen_tcp("127.0.0.1", 0, 16, true, err, sizeof(err)); /* any free port */
    assert_true(lfd >= 0);
    memset(&w, 0, sizeof(w));
    w.cfg = &cfg;
    w.routing = rt; /* worker_fini() lets go of it */
    w.listen_fd = lfd;
    w.admin_fd = -1;
    assert_int_equal(worker_init(&w, err, sizeof(err)), 0);
    assert_true(w.epfd >= 0);
    assert_true(w.ctl_efd >= 0);
    assert_true(w.replies.efd >= 0);
    assert_true(w.listening);
    assert_true(w.rng[0] != 0 || w.rng[1] != 0);
    worker_fini(&w);
    assert_int_equal(w.epfd, -1);
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_ids_are_32_hex_digits_and_differ),
        cmocka_unit_test(test_init_sets_up_epoll_and_eventfds_and_fini_releases_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
