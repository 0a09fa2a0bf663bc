/* test_resolver.c - unit tests of the resolver (lb/resolver.c). getaddrinfo is replaced (linked
 * with -Wl,--wrap=getaddrinfo, see lb/module.mk) by a fake whose answer each test sets, so a
 * backend name can "move" from one address to another while the resolver thread runs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lb/resolver.h"

/* The fake DNS: "moving.test" answers fake_v4 (and ::1 when fake_with_v6), "fail.test" fails. */
static _Atomic uint32_t fake_v4;
static atomic_bool fake_with_v6;
static atomic_int lookups;

int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res);
void __wrap_freeaddrinfo(struct addrinfo *ai);

int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res)
{
    (void)service;
    (void)hints;
    atomic_fetch_add(&lookups, 1);
    if (strcmp(node, "moving.test") != 0)
        return EAI_NONAME;
    struct addrinfo *head = NULL;
    if (atomic_load(&fake_with_v6)) {
        /* listed first, as getaddrinfo does for localhost; the resolver puts IPv4 first */
        struct addrinfo *ai = calloc(1, sizeof(*ai));
        struct sockaddr_in6 *sa = calloc(1, sizeof(*sa));
        sa->sin6_family = AF_INET6;
        sa->sin6_addr = in6addr_loopback;
        ai->ai_family = AF_INET6;
        ai->ai_addr = (struct sockaddr *)sa;
        ai->ai_addrlen = sizeof(*sa);
        head = ai;
    }
    struct addrinfo *ai = calloc(1, sizeof(*ai));
    struct sockaddr_in *sa = calloc(1, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(atomic_load(&fake_v4));
    ai->ai_family = AF_INET;
    ai->ai_addr = (struct sockaddr *)sa;
    ai->ai_addrlen = sizeof(*sa);
    if (head != NULL)
        head->ai_next = ai;
    else
        head = ai;
    *res = head;
    return 0;
}

void __wrap_freeaddrinfo(struct addrinfo *ai)
{
    while (ai != NULL) {
        struct addrinfo *next = ai->ai_next;
        free(ai->ai_addr);
        free(ai);
        ai = next;
    }
}

static int warnings;
static void count_warning(const char *msg)
{
    (void)msg;
    warnings++;
}

static struct backend_table *table_of(const char *host)
{
    const char *hosts[] = {host, "127.0.0.9"};
    uint16_t ports[] = {8080, 9};
    return backend_table_create(hosts, ports, 2);
}

static uint32_t first_v4(struct backend *b)
{
    struct backend_addr a[BACKEND_MAX_ADDRS];
    size_t n = backend_get_addrs(b, a, BACKEND_MAX_ADDRS);
    if (n == 0 || a[0].family != AF_INET)
        return 0;
    uint32_t v;
    memcpy(&v, a[0].ip, 4);
    return ntohl(v);
}

static void test_resolve_all_publishes_ipv4_first(void **state)
{
    char err[256];
    struct backend_addr a[BACKEND_MAX_ADDRS];
    (void)state;
    atomic_store(&fake_v4, 0x0a000001); /* 10.0.0.1 */
    atomic_store(&fake_with_v6, true);
    struct backend_table *t = table_of("moving.test");
    struct resolver *r = resolver_create(t, 30, err, sizeof(err));
    assert_non_null(r);
    warnings = 0;
    assert_int_equal(resolver_resolve_all(r, count_warning), 0);
    assert_int_equal(warnings, 0);
    size_t n = backend_get_addrs(&t->backends[0], a, BACKEND_MAX_ADDRS);
    assert_int_equal(n, 2);
    assert_int_equal(a[0].family, AF_INET);
    assert_int_equal(a[0].port, 8080);
    assert_int_equal(a[1].family, AF_INET6);
    assert_int_equal(first_v4(&t->backends[0]), 0x0a000001);
    resolver_destroy(r);
    backend_table_destroy(t);
}

static void test_unresolvable_name_is_reported_and_has_no_address(void **state)
{
    char err[256];
    (void)state;
    struct backend_table *t = table_of("fail.test");
    struct resolver *r = resolver_create(t, 30, err, sizeof(err));
    warnings = 0;
    assert_int_equal(resolver_resolve_all(r, count_warning), 1);
    assert_int_equal(warnings, 1);
    assert_false(backend_has_addrs(&t->backends[0]));
    assert_true(backend_has_addrs(&t->backends[1])); /* numeric: untouched */
    resolver_destroy(r);
    backend_table_destroy(t);
}

static void test_moved_backend_is_followed_after_ttl(void **state)
{
    char err[256];
    (void)state;
    atomic_store(&fake_v4, 0x0a000001);
    atomic_store(&fake_with_v6, false);
    struct backend_table *t = table_of("moving.test");
    struct resolver *r = resolver_create(t, 1, err, sizeof(err));
    resolver_resolve_all(r, NULL);
    assert_int_equal(first_v4(&t->backends[0]), 0x0a000001);
    assert_int_equal(resolver_start(r), 0);
    atomic_store(&fake_v4, 0x0a000002); /* the name now points elsewhere */
    uint32_t seen = 0;
    for (int i = 0; i < 100 && seen != 0x0a000002; i++) { /* up to 10 s */
        usleep(100 * 1000);
        seen = first_v4(&t->backends[0]);
    }
    assert_int_equal(seen, 0x0a000002);
    resolver_destroy(r);
    backend_table_destroy(t);
}

static void test_on_demand_answer_comes_back_through_the_reply_queue(void **state)
{
    char err[256];
    struct resolve_reply q;
    (void)state;
    atomic_store(&fake_v4, 0x0a000003);
    struct backend_table *t = table_of("moving.test");
    struct resolver *r = resolver_create(t, 0, err, sizeof(err));
    assert_true(t->backends[0].on_demand);
    assert_false(t->backends[1].on_demand);
    assert_int_equal(resolve_reply_init(&q), 0);
    assert_int_equal(resolver_start(r), 0);

    struct resolve_req *req = calloc(1, sizeof(*req));
    req->backend = &t->backends[0];
    req->reply = &q;
    req->owner = &q;
    resolver_submit(r, req);
    struct pollfd pfd = {.fd = q.efd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    struct resolve_req *got = resolve_reply_take(&q);
    assert_ptr_equal(got, req);
    assert_int_equal(got->err, 0);
    assert_int_equal(got->num_addrs, 1);
    assert_int_equal(got->addrs[0].port, 8080);
    assert_int_equal(first_v4(&t->backends[0]), 0x0a000003); /* also published */
    free(got);

    /* a failing name answers with an error */
    struct backend_table *t2 = table_of("fail.test");
    req = calloc(1, sizeof(*req));
    req->backend = &t2->backends[0];
    req->reply = &q;
    resolver_submit(r, req);
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    got = resolve_reply_take(&q);
    assert_ptr_equal(got, req);
    assert_int_equal(got->err, -EHOSTUNREACH);
    free(got);

    resolver_destroy(r);
    resolve_reply_fini(&q);
    backend_table_destroy(t);
    backend_table_destroy(t2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve_all_publishes_ipv4_first),
        cmocka_unit_test(test_unresolvable_name_is_reported_and_has_no_address),
        cmocka_unit_test(test_moved_backend_is_followed_after_ttl),
        cmocka_unit_test(test_on_demand_answer_comes_back_through_the_reply_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
