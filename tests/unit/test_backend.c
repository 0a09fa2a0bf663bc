/* test_backend.c - unit tests of the backend table and its lock-free address publication
 * (lb/backend.c): a reader thread never sees a torn mix of two published address sets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "../../lb/backend.h"

static void test_numeric_hosts_have_an_address_at_once(void **state)
{
    const char *hosts[] = {"127.0.0.1", "::1", "example.invalid"};
    uint16_t ports[] = {80, 81, 82};
    struct backend_addr a[BACKEND_MAX_ADDRS];
    (void)state;
    struct backend_table *t = backend_table_create(hosts, ports, 3);
    assert_non_null(t);
    assert_true(t->backends[0].numeric);
    assert_int_equal(backend_get_addrs(&t->backends[0], a, BACKEND_MAX_ADDRS), 1);
    assert_int_equal(a[0].family, AF_INET);
    assert_int_equal(a[0].port, 80);
    assert_string_equal(t->backends[1].name, "[::1]:81");
    assert_int_equal(backend_get_addrs(&t->backends[1], a, BACKEND_MAX_ADDRS), 1);
    assert_int_equal(a[0].family, AF_INET6);
    assert_false(t->backends[2].numeric);
    assert_false(backend_has_addrs(&t->backends[2]));
    assert_string_equal(t->backends[2].name, "example.invalid:82");
    backend_table_destroy(t);
}

static void test_send_proxy_is_off_by_default_and_set_to_1_or_2(void **state)
{
    const char *hosts[] = {"127.0.0.1"};
    uint16_t ports[] = {80};
    (void)state;
    struct backend_table *t = backend_table_create(hosts, ports, 1);
    assert_non_null(t);
    assert_int_equal(t->backends[0].send_proxy, 0);
    backend_set_send_proxy(&t->backends[0], 2);
    assert_int_equal(t->backends[0].send_proxy, 2);
    backend_set_send_proxy(&t->backends[0], 1);
    assert_int_equal(t->backends[0].send_proxy, 1);
    backend_set_send_proxy(&t->backends[0], 7);
    assert_int_equal(t->backends[0].send_proxy, 0);
    backend_table_destroy(t);
}

static void test_addr_converts_to_sockaddr_and_back(void **state)
{
    struct backend_addr a, b;
    struct sockaddr_storage ss;
    (void)state;
    assert_true(backend_addr_parse_numeric("10.1.2.3", 8080, &a));
    socklen_t sl = backend_addr_to_sockaddr(&a, &ss);
    assert_int_equal(sl, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8080);
    assert_int_equal(backend_addr_from_sockaddr((struct sockaddr *)&ss, &b), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_false(backend_addr_parse_numeric("not-an-ip", 1, &a));
}

struct race {
    struct backend *b;
    atomic_int stop;
    atomic_int torn;
    atomic_long reads;
};

static void *reader(void *arg)
{
    struct race *r = arg;
    struct backend_addr a[BACKEND_MAX_ADDRS];
    while (!atomic_load(&r->stop)) {
        size_t n = backend_get_addrs(r->b, a, BACKEND_MAX_ADDRS);
        /* every published set is n copies of one address whose ip bytes all equal n */
        for (size_t i = 0; i < n; i++)
            for (int k = 0; k < 4; k++)
                if (a[i].ip[k] != (uint8_t)n || a[i].port != (uint16_t)n)
                    atomic_fetch_add(&r->torn, 1);
        atomic_fetch_add(&r->reads, 1);
    }
    return NULL;
}

static void test_readers_never_see_a_torn_publication(void **state)
{
    const char *hosts[] = {"name.invalid"};
    uint16_t ports[] = {1};
    pthread_t th;
    (void)state;
    struct backend_table *t = backend_table_create(hosts, ports, 1);
    struct race r = {.b = &t->backends[0]};
    assert_int_equal(pthread_create(&th, NULL, reader, &r), 0);
    /* publish until the reader has overlapped many times (it may start late on a busy box) */
    for (long round = 0;
         round < 200000 || (atomic_load(&r.reads) < 10000 && round < 200000000); round++) {
        struct backend_addr set[BACKEND_MAX_ADDRS];
        size_t n = (size_t)(round % BACKEND_MAX_ADDRS) + 1;
        for (size_t i = 0; i < n; i++) {
            memset(&set[i], 0, sizeof(set[i]));
            set[i].family = AF_INET;
            set[i].port = (uint16_t)n;
            memset(set[i].ip, (int)n, 4);
        }
        backend_publish_addrs(&t->backends[0], set, n);
    }
    atomic_store(&r.stop, 1);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&r.torn), 0);
    assert_true(atomic_load(&r.reads) > 0);
    backend_table_destroy(t);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numeric_hosts_have_an_address_at_once),
        cmocka_unit_test(test_send_proxy_is_off_by_default_and_set_to_1_or_2),
        cmocka_unit_test(test_addr_converts_to_sockaddr_and_back),
        cmocka_unit_test(test_readers_never_see_a_torn_publication),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
