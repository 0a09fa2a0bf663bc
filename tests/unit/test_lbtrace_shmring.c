/* test_lbtrace_shmring.c - unit tests of lbtrace's reader of lb's shared memory
 * (lbtrace/shmring.c): a real segment is created with the writer's API from common/stats_shm.h,
 * entries are written to its ring as lb does, and lbtrace's lookups must find them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shmring.h"
#include "stats.h"
#include "stats_shm.h"

static uint16_t test_port(void)
{
    return (uint16_t)(60000 + getpid() % 5000);
}

static void v4(struct stats_addr *a, const char *ip, uint16_t port)
{
    memset(a, 0, sizeof(*a));
    a->family = 4;
    a->port = port;
    inet_pton(AF_INET, ip, a->addr);
}

static void fa(struct flow_addr *a, const char *ip, uint16_t port)
{
    memset(a, 0, sizeof(*a));
    a->family = AF_INET;
    a->port = port;
    inet_pton(AF_INET, ip, a->addr);
}

static int make_segment(struct stats_shm *shm, uint16_t port)
{
    char name[STATS_SHM_NAME_MAX], err[256];
    stats_shm_name(port, name, sizeof(name));
    int rc = stats_shm_create(shm, name, 1, 2, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "create: %s\n", err);
        return rc;
    }
    shm->seg->header.writer_pid = getpid();
    shm->seg->header.listen_port = port;
    shm->seg->header.mode = STATS_MODE_HTTP;
    shm->seg->backends[0].port = 9101;
    shm->seg->backends[1].port = 9102;
    atomic_store(&shm->seg->header.heartbeat_mono_ns, 0);
    stats_shm_publish(shm);
    return 0;
}

static void write_entry(struct stats_shm *shm, const char *id, uint8_t kind, uint16_t client_port,
                        uint16_t back_port)
{
    struct stats_ring_entry e;
    memset(&e, 0, sizeof(e));
    e.kind = kind;
    v4(&e.client, "127.0.0.1", client_port);
    v4(&e.lb_back, "127.0.0.1", back_port);
    v4(&e.backend, "127.0.0.1", 9101);
    e.status = 200;
    snprintf(e.method, sizeof(e.method), "GET");
    snprintf(e.request_id, sizeof(e.request_id), "%s", id);
    snprintf(e.path, sizeof(e.path), "/");
    stats_ring_write(&shm->seg->ring, &e);
}

/* A request lb sent to the backend at index idx, listening on 127.0.0.1:port. */
static void write_entry_to(struct stats_shm *shm, const char *id, uint16_t port, int16_t idx)
{
    struct stats_ring_entry e;
    memset(&e, 0, sizeof(e));
    e.kind = STATS_ENTRY_HTTP;
    v4(&e.client, "127.0.0.1", 40100);
    v4(&e.lb_back, "127.0.0.1", 50100);
    v4(&e.backend, "127.0.0.1", port);
    e.backend_index = idx;
    e.status = 200;
    snprintf(e.request_id, sizeof(e.request_id), "%s", id);
    stats_ring_write(&shm->seg->ring, &e);
}

static void test_missing_segment_is_not_an_error(void **state)
{
    (void)state;
    struct shmring *r = shmring_new(1); /* nobody runs lb on port 1 */
    struct pair_ring_ops ops = shmring_ops(r);
    struct flow_addr c, b;
    uint16_t ports[8];
    char name[64];
    assert_false(shmring_attached(r));
    assert_int_equal(shmring_backend_ports(r, ports, 8), 0);
    assert_false(ops.by_id(ops.ctx, "x", &c, &b));
    fa(&b, "127.0.0.1", 9101);
    assert_false(ops.backend_name(ops.ctx, "x", &b, name, sizeof(name)));
    shmring_free(r);
}

static void test_names_a_backend_as_lb_does(void **state)
{
    struct stats_shm shm;
    uint16_t port = (uint16_t)(test_port() + 1);
    struct stats_addr resolved;
    struct flow_addr srv;
    char name[64];
    (void)state;
    memset(&shm, 0, sizeof(shm));
    assert_int_equal(make_segment(&shm, port), 0);
    snprintf(shm.seg->backends[0].name, sizeof(shm.seg->backends[0].name), "alpha");
    snprintf(shm.seg->backends[1].name, sizeof(shm.seg->backends[1].name), "beta\033[31m");
    v4(&resolved, "127.0.0.1", 9102);
    stats_backend_store_resolved(&shm.seg->backends[1], &resolved);

    struct shmring *r = shmring_new(port);
    struct pair_ring_ops ops = shmring_ops(r);
    /* no entry yet: by the address lb resolved; the segment's text is sanitised */
    fa(&srv, "127.0.0.1", 9102);
    assert_true(ops.backend_name(ops.ctx, "nope", &srv, name, sizeof(name)));
    assert_string_equal(name, "beta?[31m");
    fa(&srv, "127.0.0.1", 9101); /* not resolved (yet), nor in the ring */
    assert_false(ops.backend_name(ops.ctx, "", &srv, name, sizeof(name)));

    write_entry_to(&shm, "req-1", 9101, 0);
    write_entry_to(&shm, "req-2", 9102, 1); /* tried on 9101 first, served by 9102 */
    /* by the request's entry, the index it carries */
    assert_true(ops.backend_name(ops.ctx, "req-1", &srv, name, sizeof(name)));
    assert_string_equal(name, "alpha");
    /* the attempt on 9101 is named after 9101, not after the backend that served the request */
    assert_true(ops.backend_name(ops.ctx, "req-2", &srv, name, sizeof(name)));
    assert_string_equal(name, "alpha");
    /* no id: by any entry that went there */
    assert_true(ops.backend_name(ops.ctx, "", &srv, name, sizeof(name)));
    assert_string_equal(name, "alpha");
    fa(&srv, "127.0.0.1", 9999);
    assert_false(ops.backend_name(ops.ctx, "req-1", &srv, name, sizeof(name)));

    shmring_free(r);
    stats_shm_destroy(&shm);
}

/* The same host:port given twice: the second is "NAME#2", as lbtop and lb's /metrics say. */
static void test_a_name_given_twice_is_told_apart(void **state)
{
    struct stats_shm shm;
    uint16_t port = (uint16_t)(test_port() + 3);
    struct flow_addr srv;
    char name[64];
    (void)state;
    memset(&shm, 0, sizeof(shm));
    assert_int_equal(make_segment(&shm, port), 0);
    snprintf(shm.seg->backends[0].name, sizeof(shm.seg->backends[0].name), "127.0.0.1:9101");
    snprintf(shm.seg->backends[1].name, sizeof(shm.seg->backends[1].name), "127.0.0.1:9101");
    write_entry_to(&shm, "first", 9101, 0);
    write_entry_to(&shm, "second", 9101, 1);

    struct shmring *r = shmring_new(port);
    struct pair_ring_ops ops = shmring_ops(r);
    fa(&srv, "127.0.0.1", 9101);
    assert_true(ops.backend_name(ops.ctx, "first", &srv, name, sizeof(name)));
    assert_string_equal(name, "127.0.0.1:9101");
    assert_true(ops.backend_name(ops.ctx, "second", &srv, name, sizeof(name)));
    assert_string_equal(name, "127.0.0.1:9101#2");
    shmring_free(r);
    stats_shm_destroy(&shm);
}

static void test_finds_requests_and_backend_ports_in_lbs_segment(void **state)
{
    struct stats_shm shm;
    uint16_t port = test_port();
    (void)state;
    memset(&shm, 0, sizeof(shm));
    assert_int_equal(make_segment(&shm, port), 0);
    write_entry(&shm, "req-1", STATS_ENTRY_HTTP, 40001, 50001);
    write_entry(&shm, "req-2", STATS_ENTRY_HTTP, 40002, 50002);

    struct shmring *r = shmring_new(port);
    assert_true(shmring_attached(r));
    uint16_t ports[8];
    assert_int_equal(shmring_backend_ports(r, ports, 8), 2);
    assert_int_equal(ports[0], 9101);
    assert_int_equal(ports[1], 9102);

    struct pair_ring_ops ops = shmring_ops(r);
    struct flow_addr c, b, want;
    assert_true(ops.by_id(ops.ctx, "req-2", &c, &b));
    fa(&want, "127.0.0.1", 40002);
    assert_true(flow_addr_equal(&c, &want));
    fa(&want, "127.0.0.1", 50002);
    assert_true(flow_addr_equal(&b, &want));
    assert_false(ops.by_id(ops.ctx, "req-3", &c, &b));

    /* entries written later are found too (the cache follows the ring) */
    write_entry(&shm, "req-3", STATS_ENTRY_HTTP, 40003, 50003);
    assert_true(ops.by_id(ops.ctx, "req-3", &c, &b));
    assert_int_equal(b.port, 50003);

    /* tcp mode: the backend connection of a client connection */
    write_entry(&shm, "", STATS_ENTRY_TCP, 40010, 50010);
    fa(&want, "127.0.0.1", 40010);
    assert_true(ops.by_client(ops.ctx, &want, &b));
    assert_int_equal(b.port, 50010);
    assert_int_equal(shmring_entries_seen(r), 4);

    /* more entries than the ring holds: the oldest are gone, the newest found */
    for (int i = 0; i < STATS_RING_CAPACITY + 10; i++) {
        char id[32];
        snprintf(id, sizeof(id), "bulk-%d", i);
        write_entry(&shm, id, STATS_ENTRY_HTTP, (uint16_t)(1000 + i), 2000);
    }
    assert_false(ops.by_id(ops.ctx, "req-1", &c, &b));
    assert_true(ops.by_id(ops.ctx, "bulk-1033", &c, &b));
    assert_int_equal(c.port, 1000 + 1033);

    shmring_free(r);
    stats_shm_destroy(&shm);
}

static void test_reads_lbs_mode_and_its_tcp_connection_records(void **state)
{
    struct stats_shm shm;
    uint16_t port = (uint16_t)(test_port() + 2);
    struct pair_ring_conn rc;
    struct flow_addr cli;
    (void)state;
    memset(&shm, 0, sizeof(shm));
    assert_int_equal(make_segment(&shm, port), 0);
    shm.seg->header.mode = STATS_MODE_TCP;

    struct shmring *r = shmring_new(port);
    struct pair_ring_ops ops = shmring_ops(r);
    assert_int_equal(ops.mode(ops.ctx), PAIR_LB_TCP);

    /* an HTTP entry from the same client address is not a connection record */
    write_entry(&shm, "req-1", STATS_ENTRY_HTTP, 40020, 50020);
    fa(&cli, "127.0.0.1", 40020);
    assert_false(ops.tcp_conn(ops.ctx, &cli, &rc));

    struct stats_ring_entry e;
    memset(&e, 0, sizeof(e));
    e.kind = STATS_ENTRY_TCP;
    v4(&e.client, "127.0.0.1", 40021);
    v4(&e.lb_front, "127.0.0.1", port);
    v4(&e.lb_back, "127.0.0.1", 50021);
    v4(&e.backend, "127.0.0.1", 9102);
    e.client_conn_id = 7;
    e.worker = 0; /* the segment has one worker */
    e.backend_index = 1;
    e.bytes_in = 170;
    e.bytes_out = 728;
    e.total_ns = 5000000;
    stats_ring_write(&shm.seg->ring, &e);
    fa(&cli, "127.0.0.1", 40021);
    assert_true(ops.tcp_conn(ops.ctx, &cli, &rc));
    assert_int_equal(rc.lb_back.port, 50021);
    assert_int_equal(rc.lb_front.port, port);
    assert_int_equal(rc.server.port, 9102);
    assert_int_equal(rc.conn_id, 7);
    assert_int_equal(rc.worker, 0);
    assert_int_equal(rc.backend_index, 1);
    assert_int_equal(rc.bytes_in, 170);
    assert_int_equal(rc.bytes_out, 728);
    assert_int_equal(rc.total_ns, 5000000);

    shmring_free(r);
    stats_shm_destroy(&shm);

    /* no segment: the mode is unknown */
    r = shmring_new(1);
    ops = shmring_ops(r);
    assert_int_equal(ops.mode(ops.ctx), PAIR_LB_UNKNOWN);
    shmring_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_segment_is_not_an_error),
        cmocka_unit_test(test_finds_requests_and_backend_ports_in_lbs_segment),
        cmocka_unit_test(test_names_a_backend_as_lb_does),
        cmocka_unit_test(test_a_name_given_twice_is_told_apart),
        cmocka_unit_test(test_reads_lbs_mode_and_its_tcp_connection_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
