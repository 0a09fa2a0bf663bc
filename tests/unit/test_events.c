/* test_events.c - unit tests of lb/events.c: what a backend event does to the backend's state
 * (lb/backend.c) and what the statistics publish about it (lb/stats_writer.c over a real
 * segment, read back through lbtop's snapshot as lbtop would). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lb/events.h"
#include "../../lb/stats_writer.h"
#include "../../lb/worker.h"
#include "stats_snapshot.h"
#include "clock.h"

static char name[64];

struct rig {
    struct backend_table *table;
    struct health *h;
    struct stats *stats;
    struct access_log log;
    struct worker w[2];
};

static struct rig *rig_open(void)
{
    static const char *const hosts[] = {"127.0.0.1", "127.0.0.1"};
    static const uint16_t ports[] = {1, 2};
    static const char *const names[] = {"127.0.0.1:1", "127.0.0.1:2"};
    struct rig *r = calloc(1, sizeof(*r));
    char err[256];

    assert_non_null(r);
    snprintf(name, sizeof(name), "/lblab-unit-events-%ld", (long)getpid());
    struct stats_config c = {
        .shm_name = name,
        .listen_text = "127.0.0.1:0",
        .mode = STATS_MODE_HTTP,
        .policy = "rr",
        .nworkers = 2,
        .nbackends = 2,
        .backend_names = names,
        .backend_ports = ports,
    };
    r->table = backend_table_create(hosts, ports, 2);
    assert_non_null(r->table);
    r->stats = stats_open(&c, err, sizeof(err));
    if (r->stats == NULL)
        fail_msg("stats_open: %s", err);
    r->log.fd = -1;
    struct health_config hc;
    health_config_defaults(&hc);
    r->h = health_create(2, &hc);
    assert_non_null(r->h);
    for (unsigned i = 0; i < 2; i++) {
        r->w[i].health = r->h;
        r->w[i].id = i;
        r->w[i].log = &r->log;
        r->w[i].stats = stats_for_worker(r->stats, i);
        r->w[i].now_ms = clock_mono_ms();
    }
    return r;
}

static void rig_close(struct rig *r)
{
    stats_close(r->stats);
    health_destroy(r->h);
    backend_table_destroy(r->table);
    free(r);
}

static struct stats_snapshot *read_back(void)
{
    struct stats_shm shm;
    char err[256];
    struct stats_snapshot *snap = calloc(1, sizeof(*snap));

    assert_non_null(snap);
    if (stats_shm_attach(&shm, name, NULL, err, sizeof(err)) < 0)
        fail_msg("attach: %s", err);
    stats_snapshot_take(&shm, snap, clock_mono_ns(), clock_wall_ns());
    stats_shm_detach(&shm);
    return snap;
}

static void test_refused_connect_ejects_the_backend_and_publishes_it(void **state)
{
    struct rig *r = rig_open();
    struct backend *b0 = &r->table->backends[0];
    (void)state;

    struct stats_snapshot *before = read_back();
    assert_int_equal(before->backends[0].state, STATS_BACKEND_UP);
    assert_int_equal(before->backends[0].weight, 1);
    usleep(3000);
    r->w[0].now_ms = r->w[1].now_ms = clock_mono_ms();

    events_backend_connect_failed(&r->w[0], b0, -ECONNREFUSED);
    events_backend_connect_failed(&r->w[1], b0, -ECONNREFUSED); /* ejected already */
    assert_int_equal(health_state(r->h, 0), HEALTH_DOWN);
    assert_false(health_usable(r->h, 0, r->w[0].now_ms));
    assert_true(health_usable(r->h, 0, r->w[0].now_ms + 5000)); /* its trial */
    struct stats_snapshot *down = read_back();
    assert_int_equal(down->backends[0].state, STATS_BACKEND_DOWN);
    assert_string_equal(down->backends[0].reason,
                        "ejected for 5 s after 1 failure in 10 s: connect refused");
    assert_true(down->backends[0].last_change_wall_ns > before->backends[0].last_change_wall_ns);
    assert_int_equal(down->backends[0].connect_errors, 2);
    assert_int_equal(down->backends[1].state, STATS_BACKEND_UP);

    /* a connection proves little: only a trial request's answer ends the ejection */
    events_backend_connected(&r->w[1], b0, 150000, false);
    assert_int_equal(health_state(r->h, 0), HEALTH_DOWN);

    free(before);
    free(down);
    rig_close(r);
}

static void test_lbs_own_errors_leave_the_backend_up(void **state)
{
    struct rig *r = rig_open();
    struct backend *b1 = &r->table->backends[1];
    static const int own[] = {-EMFILE, -ENFILE, -ENOMEM, -ENOBUFS};
    (void)state;

    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        events_backend_connect_failed(&r->w[0], b1, own[i]);
    assert_int_equal(health_state(r->h, 1), HEALTH_UP);
    struct stats_snapshot *snap = read_back();
    assert_int_equal(snap->backends[1].state, STATS_BACKEND_UP);
    assert_int_equal(snap->backends[1].connect_errors, 4);
    free(snap);
    rig_close(r);
}

static void test_health_changes_publish_state_time_reason_and_check_counters(void **state)
{
    struct rig *r = rig_open();
    struct backend *b1 = &r->table->backends[1];
    struct health_config hc;
    struct health_change chg;
    (void)state;

    health_config_defaults(&hc);
    struct health *h = health_create(2, &hc);
    assert_non_null(h);
    struct stats_snapshot *before = read_back();
    assert_string_equal(before->backends[1].reason, "");
    usleep(3000);
    uint64_t now = clock_mono_ms(); /* the changes' time: after the start, by milliseconds */

    /* a passed check changes nothing but the counters */
    assert_false(health_report_check(h, 1, true, NULL, now, &chg));
    events_health_check(&r->w[0], h, b1, true, NULL);
    for (int i = 0; i < 3; i++) {
        bool changed = health_report_check(h, 1, false, "connect refused", now, &chg);
        events_health_check(&r->w[0], h, b1, false, changed ? &chg : NULL);
    }
    struct stats_snapshot *down = read_back();
    assert_int_equal(down->backends[1].state, STATS_BACKEND_DOWN);
    assert_string_equal(down->backends[1].reason, "3 checks failed: connect refused");
    assert_int_equal(down->backends[1].checks_total, 4);
    assert_int_equal(down->backends[1].checks_failed, 3);
    assert_true(down->backends[1].last_change_wall_ns > before->backends[1].last_change_wall_ns);
    assert_int_equal(down->backends[0].state, STATS_BACKEND_UP);

    assert_true(health_admin(h, 1, HEALTH_DRAINING, now + 1, &chg));
    events_backend_health(&r->w[1], h, b1, &chg);
    struct stats_snapshot *drain = read_back();
    assert_int_equal(drain->backends[1].state, STATS_BACKEND_DRAINING);
    assert_string_equal(drain->backends[1].reason, "admin");

    free(before);
    free(down);
    free(drain);
    health_destroy(h);
    rig_close(r);
}

static void test_one_record_feeds_the_log_and_the_ring(void **state)
{
    struct rig *r = rig_open();
    char path[] = "/tmp/lblab-test-events-XXXXXX", err[256], line[1024];
    struct request_record rec = {
        .method = "GET",
        .method_len = 3,
        .path = "/x",
        .path_len = 2,
        .id = "cafe",
        .id_len = 4,
        .status = 204,
        .bytes_out = 99,
        .backend = 1,
        .wall_ns = 1795756321123456789ull,
        .total_ns = 2000000,
        .client_text = "127.0.0.1:40000",
    };
    (void)state;

    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(access_log_open(&r->log, path, err, sizeof(err)), 0);
    events_request_done(&r->w[0], &rec);
    assert_int_equal(access_log_flush(&r->log, &r->w[0].log_buf), 0);
    access_log_close(&r->log);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, line, sizeof(line) - 1);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    line[n] = '\0';
    assert_string_equal(line, "time=2026-11-27T05:12:01.123Z client=127.0.0.1:40000 backend=- "
                              "backend_addr=- id=cafe method=GET path=\"/x\" status=204 "
                              "req_bytes=0 bytes=99 connect_ms=- first_byte_ms=- total_ms=2.000\n");
    struct stats_snapshot *snap = read_back();
    const struct stats_ring_entry *e = &snap->recent[0];
    assert_int_equal(snap->nrecent, 1);
    assert_string_equal(e->request_id, "cafe");
    assert_string_equal(e->path, "/x");
    assert_int_equal(e->status, 204);
    assert_int_equal(e->bytes_out, 99);
    assert_int_equal(e->backend_index, 1);
    assert_int_equal(e->start_wall_ns, 1795756321123456789ull - 2000000);
    assert_int_equal(snap->backends[1].responses[2], 1);
    free(snap);
    rig_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_connect_ejects_the_backend_and_publishes_it),
        cmocka_unit_test(test_lbs_own_errors_leave_the_backend_up),
        cmocka_unit_test(test_health_changes_publish_state_time_reason_and_check_counters),
        cmocka_unit_test(test_one_record_feeds_the_log_and_the_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
