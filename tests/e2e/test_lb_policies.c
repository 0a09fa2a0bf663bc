/*
 * test_lb_policies.c - end-to-end: what the scheduling policies do with a slow backend.
 *
 * Three scripted backends, one of which waits 200 ms before every answer, and twelve clients
 * sending requests back to back on keep-alive connections. Round robin gives the slow backend
 * exactly every third request, however long its answers take; least connections and power of
 * two choices look at the requests in flight, see the slow backend's pile up, and send it well
 * under a fifth. The checks use counts, not times: a busy machine slows everyone alike.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "lb_fixture.h"

#define CLIENTS 12
#define REQUESTS 240
#define SLOW_MS 200

struct load {
    uint16_t lb_port;
    atomic_int left;     /* requests still to send */
    atomic_int count[3]; /* answers per backend: a, b, slow */
    atomic_int failed;
};

/* Which backend answered: 0 a, 1 b, 2 slow, -1 unknown. (Not harness_header(): its static
 * buffer would be shared by the client threads.) */
static int backend_of(const char *head)
{
    static const char *const names[] = {"a", "b", "slow"};
    const char *v = strstr(head, "\r\nX-Backend: ");
    if (v == NULL)
        return -1;
    v += strlen("\r\nX-Backend: ");
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(names[k]);
        if (strncmp(v, names[k], n) == 0 && v[n] == '\r')
            return k;
    }
    return -1;
}

static void *client(void *arg)
{
    struct load *l = arg;
    struct harness_conn c;
    if (harness_conn_open(&c, l->lb_port, 10000) != 0) {
        atomic_fetch_add(&l->failed, 1);
        return NULL;
    }
    while (atomic_fetch_sub(&l->left, 1) > 0) {
        struct harness_response resp;
        if (harness_conn_request(&c, "GET /x HTTP/1.1\r\nHost: t\r\n\r\n", &resp) != 0) {
            atomic_fetch_add(&l->failed, 1);
            break;
        }
        int k = backend_of(resp.head);
        if (resp.status != 200 || k < 0)
            atomic_fetch_add(&l->failed, 1);
        else
            atomic_fetch_add(&l->count[k], 1);
        harness_response_free(&resp);
    }
    harness_conn_close(&c);
    return NULL;
}

/* Runs the load through lb --policy policy; returns how many answers came from the slow one. */
static int slow_share(const char *policy)
{
    static const struct harness_sb_step slow_step = {.mode = HARNESS_SB_REPLY, .delay_ms = SLOW_MS};
    struct harness_sb *a = harness_sb_start("a", NULL, 0), *b = harness_sb_start("b", NULL, 0);
    struct harness_sb *slow = harness_sb_start("slow", &slow_step, 1);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(slow);
    uint16_t ports[3] = {harness_sb_port(a), harness_sb_port(b), harness_sb_port(slow)};
    struct lb_fixture f;
    const char *extra[] = {"-w", "2", "--policy", policy, NULL};
    lb_fixture_start_ports(&f, ports, 3, extra);

    static struct load l;
    memset(&l, 0, sizeof(l));
    l.lb_port = f.lb_port;
    atomic_store(&l.left, REQUESTS);
    pthread_t t[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, client, &l), 0);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(t[i], NULL);

    int got[3] = {atomic_load(&l.count[0]), atomic_load(&l.count[1]), atomic_load(&l.count[2])};
    printf("--policy %-9s a %3d  b %3d  slow %3d\n", policy, got[0], got[1], got[2]);
    assert_int_equal(atomic_load(&l.failed), 0);
    assert_int_equal(got[0] + got[1] + got[2], REQUESTS);
    lb_fixture_stop(&f);
    harness_sb_stop(a);
    harness_sb_stop(b);
    harness_sb_stop(slow);
    return got[2];
}

static void test_round_robin_gives_the_slow_backend_every_third_request(void **state)
{
    (void)state;
    assert_int_equal(slow_share("rr"), REQUESTS / 3);
}

static void test_least_connections_sends_the_slow_backend_under_a_fifth(void **state)
{
    (void)state;
    assert_true(slow_share("leastconn") < REQUESTS / 5);
}

static void test_power_of_two_choices_sends_the_slow_backend_under_a_fifth(void **state)
{
    (void)state;
    assert_true(slow_share("p2c") < REQUESTS / 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_round_robin_gives_the_slow_backend_every_third_request),
        LB_TEST(test_least_connections_sends_the_slow_backend_under_a_fifth),
        LB_TEST(test_power_of_two_choices_sends_the_slow_backend_under_a_fifth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
