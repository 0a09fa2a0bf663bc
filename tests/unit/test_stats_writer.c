/* test_stats_writer.c - unit tests of lb's statistics writer (lb/stats_writer.c), read back
 * through the reader side (common/stats_shm.c and lbtop's snapshot): what lb records is what
 * lbtop shows. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lb/conffile.h"
#include "../../lb/routing.h"
#include "../../lb/stats_writer.h"
#include "stats_snapshot.h"
#include "clock.h"

static const char *const names[] = {"localhost:3001", "localhost:3002", "localhost:3003"};
static const uint16_t ports[] = {3001, 3002, 3003};
static const char *const pools[] = {"default", "default", "static"};
static char name[64];

static struct stats *open_writer(unsigned workers)
{
    struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons(3000)};
    struct sockaddr_in admin = {.sin_family = AF_INET, .sin_port = htons(9100),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct stats_config c = {
        .shm_name = name,
        .listen_port = 3000,
        .listen_addr = (struct sockaddr *)&la,
        .listen_text = "0.0.0.0:3000",
        .mode = STATS_MODE_HTTP,
        .policy = "rr",
        .nworkers = workers,
        .nbackends = 3,
        .backend_names = names,
        .backend_ports = ports,
        .backend_pools = pools,
        .admin_addr = (struct sockaddr *)&admin,
    };
    char err[256];
    struct stats *s;

    snprintf(name, sizeof(name), "/lblab-unit-writer-%ld", (long)getpid());
    s = stats_open(&c, err, sizeof(err));
    if (s == NULL)
        fail_msg("stats_open: %s", err);
    return s;
}

static struct stats_snapshot *read_back(void)
{
    struct stats_shm r;
    char err[256];
    struct stats_snapshot *snap = calloc(1, sizeof(*snap));

    assert_non_null(snap);
    if (stats_shm_attach(&r, name, NULL, err, sizeof(err)) < 0)
        fail_msg("attach: %s", err);
    stats_snapshot_take(&r, snap, clock_mono_ns(), clock_wall_ns());
    stats_shm_detach(&r);
    return snap;
}

static void one_request(struct stats_thread *t, int b, int status, uint64_t total_ms)
{
    struct request_record r = {
        .backend = b,
        .status = status,
        .sent = true,
        .bytes_in = 100,
        .bytes_out = 1000,
        .connect_ns = 200000,
        .ttfb_ns = total_ms * 500000,
        .total_ns = total_ms * 1000000,
        .method = "GET",
        .method_len = 3,
        .path = "/",
        .path_len = 1,
    };
    stats_request_received(t);
    stats_request_sent(t, b);
    stats_request_done(t, &r);
}

static void test_counts_from_every_worker_add_up(void **state)
{
    struct stats *s = open_writer(2);
    struct stats_thread *w0 = stats_for_worker(s, 0), *w1 = stats_for_worker(s, 1);
    (void)state;

    assert_non_null(w0);
    assert_non_null(w1);
    assert_null(stats_for_worker(s, 2));
    assert_string_equal(stats_name(s), name);
    for (int i = 0; i < 3; i++)
        one_request(w0, 0, 200, 2);
    one_request(w1, 0, 200, 2);
    one_request(w1, 0, 404, 2);
    one_request(w1, 2, 502, 40);
    stats_connect_error(w1, 1);
    stats_retry(w1, 1, false);
    stats_request_sent(w1, 2);
    stats_retry(w1, 2, true); /* sent, broke, sent again and answered */
    stats_timeout(w1, 2);
    stats_client_timeout(w0);
    stats_loop_wakeup(w0, 3);
    stats_loop_wakeup(w0, 1);
    stats_held_writes(w0, 9, 2, 1);
    stats_held_writes(w0, 12, 3, 1); /* totals: the last one given stands */
    stats_loop_wakeup(w1, 5);
    stats_held_writes(w1, 4, 0, 4);
    stats_splices(w0, 1000, 2, 2);
    stats_splices(w0, 300000, 5, 2); /* totals too */
    stats_splices(w1, 70000, 1, 1);

    struct stats_snapshot *snap = read_back();
    /* each worker on its own, and the totals their sums */
    assert_int_equal(snap->workers[0].requests, 3);
    assert_int_equal(snap->workers[1].requests, 3);
    assert_int_equal(snap->workers[0].loop.wakeups, 2);
    assert_int_equal(snap->workers[0].loop.events, 4);
    assert_int_equal(snap->workers[0].loop.held_writes, 12);
    assert_int_equal(snap->workers[0].loop.uring_calls, 3);
    assert_int_equal(snap->workers[1].loop.sendmsg_calls, 4);
    assert_int_equal(snap->loop.wakeups, 3);
    assert_int_equal(snap->loop.events, 9);
    assert_int_equal(snap->loop.held_writes, 16);
    assert_int_equal(snap->loop.uring_calls, 3);
    assert_int_equal(snap->loop.sendmsg_calls, 5);
    assert_int_equal(snap->splice.bytes, 370000);
    assert_int_equal(snap->splice.transfers, 6);
    assert_int_equal(snap->splice.pipes_made, 3);
    assert_int_equal(snap->workers[0].bytes_out + snap->workers[1].bytes_out, snap->bytes_out);
    assert_int_equal(snap->nworkers, 2);
    assert_int_equal(snap->nbackends, 3);
    assert_string_equal(snap->backends[1].name, "localhost:3002");
    assert_int_equal(snap->backends[1].port, 3002);
    assert_string_equal(snap->listen_text, "0.0.0.0:3000");
    assert_string_equal(snap->policy, "rr");
    assert_int_equal(snap->pid, getpid());
    assert_int_equal(snap->requests, 6);
    assert_int_equal(snap->responses[2], 4);
    assert_int_equal(snap->responses[4], 1);
    assert_int_equal(snap->responses[5], 1);
    assert_int_equal(snap->bytes_in, 600);
    assert_int_equal(snap->bytes_out, 6000);
    assert_int_equal(snap->client_timeouts, 1);
    assert_int_equal(snap->backends[0].requests, 5);
    assert_int_equal(snap->backends[0].requests_done, 5);
    assert_int_equal(snap->backends[0].inflight, 0);
    assert_int_equal(snap->backends[0].responses[2], 4);
    assert_int_equal(snap->backends[0].responses[4], 1);
    assert_int_equal(snap->backends[1].requests, 0);
    assert_int_equal(snap->backends[1].connect_errors, 1);
    assert_int_equal(snap->backends[2].resp_502, 1);
    assert_int_equal(snap->backends[1].retries, 1);
    assert_int_equal(snap->backends[1].inflight, 0);
    assert_int_equal(snap->backends[2].retries, 1);
    assert_int_equal(snap->backends[2].requests, 2);
    assert_int_equal(snap->backends[2].inflight, 0);
    assert_int_equal(snap->backends[2].timeouts, 1);
    assert_int_equal(snap->backends[0].total.count, 5);
    assert_int_equal(snap->backends[2].total.max_ns, 40000000);
    assert_int_equal(snap->backends[0].ttfb.count, 5);
    assert_int_equal(snap->backends[0].bytes_in, 500);
    assert_int_equal(snap->backends[0].state, STATS_BACKEND_UP);
    free(snap);
    stats_close(s);
}

static void test_gauges_track_active_and_peak(void **state)
{
    struct stats *s = open_writer(2);
    struct stats_thread *w0 = stats_for_worker(s, 0), *w1 = stats_for_worker(s, 1);
    (void)state;

    stats_client_accepted(w0);
    stats_client_accepted(w1);
    stats_client_accepted(w1);
    stats_client_closed(w0, 4);
    stats_client_closed(w1, 2);
    stats_backend_conn_opened(w0, 1, 150000);
    stats_backend_conn_opened(w1, 1, 250000);
    stats_backend_conn_closed(w0, 1);
    stats_backend_conn_reused(w1, 1);
    stats_request_sent(w1, 1); /* still in flight */
    /* Another request gave up on backend 1 without reaching it (connect refused): it is not one
     * of the requests in flight there. */
    struct request_record refused = {.backend = 1, .status = 502, .generated = true};
    stats_request_done(w1, &refused);
    stats_backend_conn_closed(w1, 2); /* unmatched: must not wrap around */

    struct stats_snapshot *snap = read_back();
    assert_int_equal(snap->clients_accepted, 3);
    assert_int_equal(snap->clients_active, 1);
    assert_int_equal(snap->clients_peak, 3);
    assert_int_equal(snap->clients_closed, 2);
    assert_int_equal(snap->clients_closed_requests, 6);
    assert_int_equal(snap->backends[1].active, 1);
    assert_int_equal(snap->backends[1].peak, 2);
    assert_int_equal(snap->backends[1].conns_opened, 2);
    assert_int_equal(snap->backends[1].conns_reused, 1);
    assert_int_equal(snap->backends[1].inflight, 1);
    assert_int_equal(snap->backends[1].resp_502, 1);
    assert_int_equal(snap->backends[1].connect.count, 2);
    assert_int_equal(snap->backends[2].active, 0);
    free(snap);
    stats_close(s);
}

static void test_ring_records_both_legs(void **state)
{
    struct stats *s = open_writer(1);
    struct stats_thread *w = stats_for_worker(s, 0);
    struct sockaddr_in client = {.sin_family = AF_INET, .sin_port = htons(51000)};
    struct sockaddr_in front = {.sin_family = AF_INET, .sin_port = htons(3000)};
    struct sockaddr_in back = {.sin_family = AF_INET, .sin_port = htons(40001)};
    struct sockaddr_in6 server = {.sin6_family = AF_INET6, .sin6_port = htons(3002)};
    char longpath[400], buf[64];
    (void)state;

    inet_pton(AF_INET, "10.0.0.7", &client.sin_addr);
    inet_pton(AF_INET, "10.0.0.1", &front.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &back.sin_addr);
    server.sin6_addr = in6addr_loopback;
    memset(longpath, 'x', sizeof(longpath));
    longpath[0] = '/';
    struct request_record r = {
        .backend = 1,
        .status = 200,
        .reused = true,
        .retries = 1,
        .total_ns = 3000000,
        .client = (struct sockaddr *)&client,
        .lb_front = (struct sockaddr *)&front,
        .lb_back = (struct sockaddr *)&back,
        .server = (struct sockaddr *)&server,
        .client_conn_id = 77,
        .conn_request = 2,
        .method = "POST /ignored",
        .method_len = 4,
        .path = longpath,
        .path_len = sizeof(longpath),
        .id = "0123456789abcdef",
        .id_len = 16,
    };
    stats_request_sent(w, 1);
    r.sent = true;
    stats_request_done(w, &r);
    r.sent = false;
    r.backend = -1;
    r.status = 503;
    r.generated = true;
    r.spliced = 70000; /* (not what a 503 does; the flag follows the count) */
    r.path = "/none";
    r.path_len = 5;
    stats_request_done(w, &r);

    struct stats_snapshot *snap = read_back();
    assert_int_equal(snap->ring_head, 2);
    assert_int_equal(snap->nrecent, 2);
    const struct stats_ring_entry *e = &snap->recent[1]; /* the older one */
    assert_string_equal(stats_addr_format(&e->client, buf, sizeof(buf)), "10.0.0.7:51000");
    assert_string_equal(stats_addr_format(&e->lb_front, buf, sizeof(buf)), "10.0.0.1:3000");
    assert_string_equal(stats_addr_format(&e->lb_back, buf, sizeof(buf)), "127.0.0.1:40001");
    assert_string_equal(stats_addr_format(&e->backend, buf, sizeof(buf)), "[::1]:3002");
    assert_string_equal(e->method, "POST");
    assert_string_equal(e->request_id, "0123456789abcdef");
    assert_int_equal(strlen(e->path), STATS_PATH_LEN - 1);
    assert_true(e->flags & STATS_ENTRY_TRUNCATED);
    assert_true(e->flags & STATS_ENTRY_REUSED);
    assert_true(e->flags & STATS_ENTRY_RETRIED);
    assert_false(e->flags & STATS_ENTRY_SPLICED);
    assert_int_equal(e->client_conn_id, 77);
    assert_int_equal(e->conn_request, 2);
    assert_int_equal(e->backend_index, 1);
    assert_int_equal(e->kind, STATS_ENTRY_HTTP);
    assert_true(e->start_wall_ns > 0);
    assert_int_equal(e->total_ns, 3000000);
    e = &snap->recent[0];
    assert_int_equal(e->backend_index, -1);
    assert_int_equal(e->status, 503);
    assert_true(e->flags & STATS_ENTRY_GENERATED);
    assert_true(e->flags & STATS_ENTRY_SPLICED);
    assert_int_equal(snap->no_backend, 1);
    free(snap);
    stats_close(s);
}

static void test_a_request_started_its_total_before_it_finished(void **state)
{
    struct stats *s = open_writer(1);
    struct request_record r = {.backend = 0, .status = 200, .wall_ns = 5000000000,
                               .total_ns = 7000};
    (void)state;

    stats_request_done(stats_for_worker(s, 0), &r);
    struct stats_snapshot *snap = read_back();
    assert_int_equal(snap->recent[0].start_wall_ns, 5000000000 - 7000);
    assert_int_equal(snap->recent[0].kind, STATS_ENTRY_HTTP);
    free(snap);
    stats_close(s);
}

static void test_backend_state_weight_and_resolution(void **state)
{
    struct stats *s = open_writer(2);
    struct stats_thread *w1 = stats_for_worker(s, 1);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(3003)};
    char buf[64];
    (void)state;

    struct stats_snapshot *before = read_back();
    usleep(2000);
    /* any worker's handle: the state is shared; a change carries its time */
    stats_backend_health(w1, 2, STATS_BACKEND_DOWN, clock_wall_ns(), "connect refused", 0, 0);
    stats_backend_health(w1, 1, STATS_BACKEND_UP, 0, NULL, 0, 0); /* no change: its time stays */
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    stats_backend_resolved(s, 2, (struct sockaddr *)&a);
    stats_backend_health(w1, 99, STATS_BACKEND_DOWN, clock_wall_ns(), "x", 0, 0); /* ignored */

    struct stats_snapshot *snap = read_back();
    assert_int_equal(snap->backends[2].state, STATS_BACKEND_DOWN);
    assert_int_equal(snap->backends[1].state, STATS_BACKEND_UP);
    assert_true(snap->backends[2].last_change_wall_ns > before->backends[2].last_change_wall_ns);
    assert_int_equal(snap->backends[1].last_change_wall_ns,
                     before->backends[1].last_change_wall_ns);
    assert_int_equal(snap->backends[0].weight, 1); /* no weight= given */
    assert_string_equal(stats_addr_format(&snap->backends[2].resolved, buf, sizeof(buf)),
                        "127.0.0.1:3003");
    free(before);
    free(snap);
    stats_close(s);
}

/* The pool of each backend and the admin endpoint's address are what lb gave. */
static void test_pools_and_admin_address_are_published(void **state)
{
    (void)state;
    struct stats *s = open_writer(1);
    struct stats_snapshot *snap = read_back();
    char buf[64];

    assert_string_equal(snap->backends[0].pool, "default");
    assert_string_equal(snap->backends[2].pool, "static");
    assert_string_equal(stats_addr_format(&snap->admin_addr, buf, sizeof(buf)), "127.0.0.1:9100");
    free(snap);
    stats_close(s);
}

/* A snapshot of the configuration text (its backends grouped by pool), following prev. */
static struct routing *snapshot_of(const char *text, struct routing *prev,
                                   struct routing_slots *slots)
{
    static struct config cfg;
    static struct conffile_errors errs;
    char err[256];
    config_defaults(&cfg);
    if (conffile_parse(&cfg, "t.conf", text, strlen(text), &errs) != 0)
        fail_msg("%s", errs.text);
    config_group_backends(&cfg);
    struct routing *rt = routing_create(&cfg, prev, slots, NULL, 1, err, sizeof(err));
    if (rt == NULL)
        fail_msg("%s", err);
    return rt;
}

static void test_a_reload_adds_and_removes_backends_by_name(void **state)
{
    (void)state;
    struct stats *s = open_writer(2);
    struct routing_slots slots = {0};
    /* the three backends the writer opened with, under their names */
    struct routing *rt1 = snapshot_of("pool default { backend localhost:3001; backend "
                                      "localhost:3002 }\npool static { backend localhost:3003 }\n",
                                      NULL, &slots);
    struct routing *rt2 = snapshot_of("pool default { backend localhost:3001 weight=4 }\n"
                                      "pool static { backend localhost:3003; backend "
                                      "127.0.0.1:9 name=new }\n",
                                      rt1, &slots);
    stats_follow_routing(s, NULL, rt1, rt2);
    one_request(stats_for_worker(s, 1), 3, 200, 1); /* the new backend counts as its own */
    struct stats_snapshot *snap = read_back();
    assert_int_equal(snap->nbackends, 4);
    assert_int_equal(snap->backends[0].weight, 4);
    assert_int_equal(snap->backends[1].state, STATS_BACKEND_DOWN);
    assert_string_equal(snap->backends[1].reason, "removed from the configuration by a reload");
    assert_string_equal(snap->backends[3].name, "new");
    assert_string_equal(snap->backends[3].pool, "static");
    assert_int_equal(snap->backends[3].port, 9);
    assert_int_equal(snap->backends[3].state, STATS_BACKEND_UP);
    assert_int_equal(snap->backends[3].requests, 1);
    free(snap);
    routing_release(rt1);
    routing_release(rt2);
    stats_close(s);
}

static void test_heartbeat_moves_and_close_removes_the_segment(void **state)
{
    struct stats *s = open_writer(1);
    struct stats_shm r;
    char err[256];
    (void)state;

    assert_int_equal(stats_shm_attach(&r, name, NULL, err, sizeof(err)), 0);
    uint64_t beat = atomic_load(&r.seg->header.heartbeat_mono_ns);
    usleep(600000);
    assert_true(atomic_load(&r.seg->header.heartbeat_mono_ns) > beat);
    assert_true(stats_shm_writer_alive(&r, clock_mono_ns()));
    stats_close(s);
    assert_false(stats_shm_writer_alive(&r, clock_mono_ns()));
    assert_true(stats_shm_replaced(&r));
    stats_shm_detach(&r);
    assert_int_equal(stats_shm_attach(&r, name, NULL, err, sizeof(err)), -ENOENT);
}

static void test_null_handles_do_nothing(void **state)
{
    struct request_record r = {.backend = 0, .status = 200};
    (void)state;

    stats_client_accepted(NULL);
    stats_client_closed(NULL, 1);
    stats_request_received(NULL);
    stats_request_sent(NULL, 0);
    stats_request_done(NULL, &r);
    stats_backend_conn_opened(NULL, 0, 1);
    stats_backend_health(NULL, 0, STATS_BACKEND_DOWN, 1, "x", 0, 0);
    stats_backend_resolved(NULL, 0, NULL);
    assert_null(stats_for_worker(NULL, 0));
    assert_string_equal(stats_name(NULL), "");
    stats_close(NULL);
}

static void test_backends_beyond_the_layout_count_globally(void **state)
{
    struct stats *s = open_writer(1);
    struct stats_thread *w = stats_for_worker(s, 0);
    (void)state;

    one_request(w, 7, 200, 1);   /* lb has 3 backends in this test */
    one_request(w, -1, 503, 1);
    struct stats_snapshot *snap = read_back();
    assert_int_equal(snap->requests, 2);
    assert_int_equal(snap->responses[2], 1);
    assert_int_equal(snap->backends[0].requests + snap->backends[1].requests +
                         snap->backends[2].requests,
                     0);
    assert_int_equal(snap->recent[1].backend_index, -1);
    free(snap);
    stats_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_from_every_worker_add_up),
        cmocka_unit_test(test_gauges_track_active_and_peak),
        cmocka_unit_test(test_ring_records_both_legs),
        cmocka_unit_test(test_a_request_started_its_total_before_it_finished),
        cmocka_unit_test(test_backend_state_weight_and_resolution),
        cmocka_unit_test(test_pools_and_admin_address_are_published),
        cmocka_unit_test(test_a_reload_adds_and_removes_backends_by_name),
        cmocka_unit_test(test_heartbeat_moves_and_close_removes_the_segment),
        cmocka_unit_test(test_null_handles_do_nothing),
        cmocka_unit_test(test_backends_beyond_the_layout_count_globally),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
