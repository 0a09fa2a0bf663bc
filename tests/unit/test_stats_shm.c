/* test_stats_shm.c - unit tests of the shared-memory layout (common/stats.h) and of creating,
 * validating and reading the segment (common/stats_shm.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stats.h"
#include "stats_shm.h"

static char *test_name(char *buf, size_t len, const char *tag)
{
    snprintf(buf, len, "/lblab-unit-%ld-%s", (long)getpid(), tag);
    return buf;
}

static void test_layout_sizes_and_offsets_are_fixed(void **state)
{
    (void)state;
    assert_int_equal(sizeof(struct stats_header), 1024);
    assert_int_equal(sizeof(struct stats_backend), 512);
    assert_int_equal(sizeof(struct stats_ring_entry), 504);
    assert_int_equal(sizeof(struct stats_ring_slot), 512);
    assert_int_equal(sizeof(struct stats_hist), 8 * (4 + STATS_HIST_BUCKETS));
    assert_int_equal(offsetof(struct stats_segment, backends), 1024);
    assert_int_equal(offsetof(struct stats_segment, ring), 1024 + 64 * 512);
    assert_int_equal(offsetof(struct stats_segment, workers) % 64, 0);
    assert_int_equal(sizeof(struct stats_worker) % 64, 0);
    assert_int_equal(stats_segment_size(2),
                     offsetof(struct stats_segment, workers) + 2 * sizeof(struct stats_worker));
    assert_int_equal(offsetof(struct stats_header, magic), 0);
    assert_int_equal(offsetof(struct stats_header, version), 8);
    assert_int_equal(offsetof(struct stats_header, writer_pid), 88);
    assert_int_equal(offsetof(struct stats_header, features), 116);
    assert_int_equal(offsetof(struct stats_header, tls_listen_text), 320);
    assert_int_equal(offsetof(struct stats_global_counters, tls_handshakes), 120);
    assert_int_equal(offsetof(struct stats_global_counters, tls_v13), 144);
    assert_int_equal(offsetof(struct stats_global_counters, tls_resumed), 152);
    assert_int_equal(offsetof(struct stats_global_counters, loop_wakeups), 160);
    assert_int_equal(offsetof(struct stats_global_counters, held_sendmsg_calls), 192);
    assert_int_equal(offsetof(struct stats_backend, checks_total), 232);
    assert_int_equal(offsetof(struct stats_backend, reason_seq), 280);
    assert_int_equal(offsetof(struct stats_backend, reason_words), 288);
    assert_int_equal(offsetof(struct stats_backend, pool), 384);
    assert_int_equal(offsetof(struct stats_header, admin_addr), 296);
    assert_int_equal(STATS_VERSION, 4);
}

static void test_hist_buckets_cover_values_in_order(void **state)
{
    unsigned prev = 0;
    (void)state;
    /* Every value lands in a bucket whose bounds contain it, and buckets never go backwards. */
    for (uint64_t us = 0; us < (UINT64_C(1) << 27); us = us < 64 ? us + 1 : us + us / 7) {
        unsigned b = stats_hist_bucket(us);
        assert_true(b < STATS_HIST_BUCKETS);
        assert_true(b >= prev);
        prev = b;
        if (b < STATS_HIST_BUCKETS - 1) {
            assert_true(stats_hist_bucket_low(b) <= us);
            assert_true(us < stats_hist_bucket_high(b));
        }
    }
    for (unsigned b = 0; b + 1 < STATS_HIST_BUCKETS; b++) {
        assert_int_equal(stats_hist_bucket(stats_hist_bucket_low(b)), b);
        assert_int_equal(stats_hist_bucket(stats_hist_bucket_high(b) - 1), b);
        assert_int_equal(stats_hist_bucket_high(b), stats_hist_bucket_low(b + 1));
    }
    assert_int_equal(stats_hist_bucket(UINT64_MAX), STATS_HIST_BUCKETS - 1);
    /* Relative width at most 1/8 from 8 us up. */
    for (unsigned b = STATS_HIST_SUB; b < STATS_HIST_BUCKETS; b++) {
        uint64_t lo = stats_hist_bucket_low(b), w = stats_hist_bucket_high(b) - lo;
        assert_true(w * 8 <= lo);
    }
}

static void test_name_is_derived_from_the_listen_port(void **state)
{
    char buf[STATS_SHM_NAME_MAX];
    (void)state;
    assert_string_equal(stats_shm_name(3000, buf, sizeof(buf)), "/lblab-3000");
    assert_string_equal(stats_shm_name(65535, buf, sizeof(buf)), "/lblab-65535");
    assert_true(stats_shm_name_valid("/lblab-3000"));
    assert_false(stats_shm_name_valid("lblab-3000"));
    assert_false(stats_shm_name_valid("/a/b"));
    assert_false(stats_shm_name_valid("/"));
    assert_false(stats_shm_name_valid(NULL));
}

static void test_create_then_attach_sees_the_published_header(void **state)
{
    char name[64], err[256];
    struct stats_shm w, r;
    struct stat st;
    uint32_t version = 0;
    (void)state;

    test_name(name, sizeof(name), "attach");
    assert_int_equal(stats_shm_create(&w, name, 3, 2, err, sizeof(err)), 0);
    /* Not yet published: a reader is told to wait. */
    assert_int_equal(stats_shm_attach(&r, name, &version, err, sizeof(err)), -EAGAIN);
    w.seg->header.listen_port = 4242;
    stats_shm_publish(&w);

    assert_int_equal(stats_shm_attach(&r, name, &version, err, sizeof(err)), 0);
    assert_int_equal(version, STATS_VERSION);
    assert_int_equal(r.nworkers, 3);
    assert_int_equal(r.nbackends, 2);
    assert_int_equal(r.seg->header.listen_port, 4242);
    assert_int_equal(r.seg->header.writer_pid, getpid());
    assert_false(stats_shm_replaced(&r));
    assert_true(stats_shm_writer_alive(&r, r.seg->header.start_mono_ns));

    /* Mode 0644 whatever the umask, so other users may watch. */
    int fd = shm_open(name, O_RDONLY, 0);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    close(fd);

    stats_shm_destroy(&w);
    assert_true(stats_shm_replaced(&r));
    assert_false(stats_shm_writer_alive(&r, r.seg->header.start_mono_ns));
    stats_shm_detach(&r);
    assert_int_equal(stats_shm_attach(&r, name, NULL, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "not running"));
}

static void test_attach_refuses_another_version_naming_both(void **state)
{
    char name[64], err[256], want[32];
    struct stats_shm w, r;
    uint32_t version = 0;
    (void)state;

    test_name(name, sizeof(name), "version");
    assert_int_equal(stats_shm_create(&w, name, 1, 1, err, sizeof(err)), 0);
    w.seg->header.version = 7;
    stats_shm_publish(&w);
    assert_int_equal(stats_shm_attach(&r, name, &version, err, sizeof(err)), -EPROTONOSUPPORT);
    assert_int_equal(version, 7);
    assert_non_null(strstr(err, "version 7"));
    snprintf(want, sizeof(want), "version %u", STATS_VERSION);
    assert_non_null(strstr(err, want));
    assert_null(r.seg);
    stats_shm_destroy(&w);
}

static void test_attach_refuses_corrupt_geometry(void **state)
{
    char name[64], err[256];
    struct stats_shm w, r;
    (void)state;

    test_name(name, sizeof(name), "corrupt");
    assert_int_equal(stats_shm_create(&w, name, 2, 1, err, sizeof(err)), 0);
    stats_shm_publish(&w);
    w.seg->header.nworkers = 500; /* the mapping holds 2 blocks */
    assert_int_equal(stats_shm_attach(&r, name, NULL, err, sizeof(err)), -EBADMSG);
    w.seg->header.nworkers = 2;
    w.seg->header.nbackends = 65;
    assert_int_equal(stats_shm_attach(&r, name, NULL, err, sizeof(err)), -EBADMSG);
    w.seg->header.nbackends = 1;
    w.seg->header.ring_capacity = 1 << 30;
    assert_int_equal(stats_shm_attach(&r, name, NULL, err, sizeof(err)), -EBADMSG);
    w.seg->header.ring_capacity = STATS_RING_CAPACITY;
    atomic_store(&w.seg->header.magic, 0x1234);
    assert_int_equal(stats_shm_attach(&r, name, NULL, err, sizeof(err)), -EPROTO);
    stats_shm_destroy(&w);
}

static void test_attach_refuses_a_truncated_object(void **state)
{
    char name[64], err[256];
    struct stats_shm r;
    (void)state;

    test_name(name, sizeof(name), "small");
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 100), 0);
    close(fd);
    assert_int_equal(stats_shm_attach(&r, name, NULL, err, sizeof(err)), -EBADMSG);
    shm_unlink(name);
}

static void test_create_replaces_a_stale_segment_but_not_a_live_one(void **state)
{
    char name[64], err[256];
    struct stats_shm a, b;
    (void)state;

    test_name(name, sizeof(name), "stale");
    assert_int_equal(stats_shm_create(&a, name, 1, 1, err, sizeof(err)), 0);
    stats_shm_publish(&a);
    /* Pretend another live process (our parent) owns it. */
    a.seg->header.writer_pid = (int32_t)getppid();
    assert_int_equal(stats_shm_create(&b, name, 1, 1, err, sizeof(err)), -EADDRINUSE);
    assert_non_null(strstr(err, "in use"));
    /* A writer that died leaves a stale segment: replaced. */
    a.seg->header.writer_pid = 0x7ffffff0;
    assert_int_equal(stats_shm_create(&b, name, 1, 1, err, sizeof(err)), 0);
    assert_int_equal(b.seg->header.writer_pid, getpid());
    /* The old writer's exit must not remove the new segment. */
    stats_shm_destroy(&a);
    struct stats_shm r;
    stats_shm_publish(&b);
    assert_int_equal(stats_shm_attach(&r, name, NULL, err, sizeof(err)), 0);
    stats_shm_detach(&r);
    stats_shm_destroy(&b);
}

static void fill(struct stats_ring_entry *e, unsigned i)
{
    memset(e, 0, sizeof(*e));
    e->status = 200;
    e->kind = STATS_ENTRY_HTTP;
    e->total_ns = i;
    snprintf(e->path, sizeof(e->path), "/item/%u", i);
    snprintf(e->method, sizeof(e->method), "GET");
}

static void test_ring_keeps_the_newest_entries_newest_first(void **state)
{
    char name[64], err[256];
    struct stats_shm w, r;
    static struct stats_ring_entry out[STATS_RING_CAPACITY];
    struct stats_ring_entry e;
    (void)state;

    test_name(name, sizeof(name), "ring");
    assert_int_equal(stats_shm_create(&w, name, 1, 1, err, sizeof(err)), 0);
    stats_shm_publish(&w);
    assert_int_equal(stats_shm_attach(&r, name, NULL, err, sizeof(err)), 0);
    assert_int_equal(stats_ring_recent(&r, out, 10), 0);

    unsigned total = STATS_RING_CAPACITY + 100;
    for (unsigned i = 0; i < total; i++) {
        fill(&e, i);
        stats_ring_write(&w.seg->ring, &e);
    }
    assert_int_equal(stats_ring_head(&r), total);
    size_t n = stats_ring_recent(&r, out, STATS_RING_CAPACITY);
    assert_int_equal(n, STATS_RING_CAPACITY);
    assert_int_equal(out[0].total_ns, total - 1);
    assert_string_equal(out[0].path, "/item/1123");
    assert_int_equal(out[n - 1].total_ns, total - STATS_RING_CAPACITY);
    /* Overwritten positions are gone. */
    assert_int_equal(stats_ring_read(&r, 5, &e), -ENOENT);
    assert_int_equal(stats_ring_read(&r, total, &e), -ENOENT);

    /* A slot being written is reported as such, not returned half-done. */
    uint64_t pos = total - 1;
    struct stats_ring_slot *slot = &w.seg->ring.slots[pos % STATS_RING_CAPACITY];
    atomic_store(&slot->seq, 2 * pos + 1);
    assert_int_equal(stats_ring_read(&r, pos, &e), -EAGAIN);
    atomic_store(&slot->seq, 2 * pos + 2);
    assert_int_equal(stats_ring_read(&r, pos, &e), 0);

    stats_shm_detach(&r);
    stats_shm_destroy(&w);
}

static void test_short_path_over_a_long_one_reads_back_exactly(void **state)
{
    char name[64], err[256];
    struct stats_shm w, r;
    struct stats_ring_entry e;
    (void)state;

    test_name(name, sizeof(name), "reuse");
    assert_int_equal(stats_shm_create(&w, name, 1, 1, err, sizeof(err)), 0);
    stats_shm_publish(&w);
    assert_int_equal(stats_shm_attach(&r, name, NULL, err, sizeof(err)), 0);
    fill(&e, 0);
    memset(e.path, 'L', sizeof(e.path) - 1);
    stats_ring_write(&w.seg->ring, &e);
    for (unsigned i = 1; i <= STATS_RING_CAPACITY; i++) {
        fill(&e, i);
        stats_ring_write(&w.seg->ring, &e); /* the last one reuses slot 0 */
    }
    assert_int_equal(stats_ring_read(&r, STATS_RING_CAPACITY, &e), 0);
    assert_string_equal(e.path, "/item/1024");
    for (size_t i = strlen(e.path); i < sizeof(e.path); i++)
        assert_int_equal(e.path[i], 0); /* the old bytes behind the NUL never reach the reader */
    stats_shm_detach(&r);
    stats_shm_destroy(&w);
}

static void test_ring_read_sanitises_hostile_entries(void **state)
{
    char name[64], err[256];
    struct stats_shm w, r;
    struct stats_ring_entry e;
    (void)state;

    test_name(name, sizeof(name), "hostile");
    assert_int_equal(stats_shm_create(&w, name, 2, 3, err, sizeof(err)), 0);
    stats_shm_publish(&w);
    assert_int_equal(stats_shm_attach(&r, name, NULL, err, sizeof(err)), 0);
    memset(&e, 'A', sizeof(e)); /* no terminators anywhere */
    e.method[3] = '\033';
    e.backend_index = 40;
    e.worker = 9999;
    e.client.family = 9;
    e.status = 60000;
    stats_ring_write(&w.seg->ring, &e);
    memset(&e, 0, sizeof(e));
    assert_int_equal(stats_ring_read(&r, 0, &e), 0);
    assert_int_equal(strlen(e.path), STATS_PATH_LEN - 1);
    assert_int_equal(strlen(e.method), STATS_METHOD_LEN - 1);
    assert_int_equal(e.method[3], '?');
    assert_int_equal(e.backend_index, -1);
    assert_true(e.worker < 2);
    assert_int_equal(e.client.family, 0);
    assert_int_equal(e.status, 0);
    stats_shm_detach(&r);
    stats_shm_destroy(&w);
}

static void test_addresses_format_both_families(void **state)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(3001)};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(8080)};
    struct stats_addr a;
    char buf[64];
    (void)state;

    inet_pton(AF_INET, "10.1.2.3", &in.sin_addr);
    stats_addr_from_sockaddr(&a, (struct sockaddr *)&in);
    assert_int_equal(a.family, 4);
    assert_int_equal(a.port, 3001);
    assert_string_equal(stats_addr_format(&a, buf, sizeof(buf)), "10.1.2.3:3001");
    in6.sin6_addr = in6addr_loopback;
    stats_addr_from_sockaddr(&a, (struct sockaddr *)&in6);
    assert_string_equal(stats_addr_format(&a, buf, sizeof(buf)), "[::1]:8080");
    assert_string_equal(stats_addr_format_ip(&a, buf, sizeof(buf)), "::1");
    stats_addr_from_sockaddr(&a, NULL);
    assert_string_equal(stats_addr_format(&a, buf, sizeof(buf)), "-");
}

static void test_resolved_address_round_trips(void **state)
{
    char name[64], err[256], buf[64];
    struct stats_shm w, r;
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(3002)};
    struct stats_addr a, got;
    (void)state;

    test_name(name, sizeof(name), "resolved");
    assert_int_equal(stats_shm_create(&w, name, 1, 2, err, sizeof(err)), 0);
    stats_shm_publish(&w);
    assert_int_equal(stats_shm_attach(&r, name, NULL, err, sizeof(err)), 0);
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    stats_addr_from_sockaddr(&a, (struct sockaddr *)&in);
    stats_backend_store_resolved(&w.seg->backends[1], &a);
    assert_int_equal(stats_backend_load_resolved(&r, 1, &got), 0);
    assert_string_equal(stats_addr_format(&got, buf, sizeof(buf)), "127.0.0.1:3002");
    assert_int_equal(stats_backend_load_resolved(&r, 2, &got), -ENOENT);
    stats_shm_detach(&r);
    stats_shm_destroy(&w);
}

static void test_reason_round_trips_cut_and_cleaned(void **state)
{
    char name[64], err[256], got[STATS_REASON_LEN], long_reason[200];
    struct stats_shm w, r;
    (void)state;

    test_name(name, sizeof(name), "reason");
    assert_int_equal(stats_shm_create(&w, name, 1, 2, err, sizeof(err)), 0);
    stats_shm_publish(&w);
    assert_int_equal(stats_shm_attach(&r, name, NULL, err, sizeof(err)), 0);
    assert_int_equal(stats_backend_load_reason(&r, 0, got, sizeof(got)), 0);
    assert_string_equal(got, ""); /* no change yet */
    stats_backend_store_reason(&w.seg->backends[0], "3 checks failed: connect refused");
    assert_int_equal(stats_backend_load_reason(&r, 0, got, sizeof(got)), 0);
    assert_string_equal(got, "3 checks failed: connect refused");
    memset(long_reason, 'x', sizeof(long_reason) - 1);
    long_reason[sizeof(long_reason) - 1] = '\0';
    long_reason[0] = '\n';
    stats_backend_store_reason(&w.seg->backends[0], long_reason);
    assert_int_equal(stats_backend_load_reason(&r, 0, got, sizeof(got)), 0);
    assert_int_equal(strlen(got), STATS_REASON_LEN - 1); /* cut */
    assert_int_equal(got[0], '?');                       /* a control byte, cleaned */
    assert_int_equal(stats_backend_load_reason(&r, 2, got, sizeof(got)), -ENOENT);
    assert_string_equal(got, "");
    stats_shm_detach(&r);
    stats_shm_destroy(&w);
}

static void test_text_helpers_cut_and_clean(void **state)
{
    char small[4], out[8];
    const char field[5] = {'a', '\n', 'b', (char)0xff, 'c'};
    (void)state;
    assert_true(stats_text_put(small, sizeof(small), "abc", 3));
    assert_string_equal(small, "abc");
    assert_false(stats_text_put(small, sizeof(small), "abcdef", 6));
    assert_string_equal(small, "abc");
    assert_string_equal(stats_text_get(out, sizeof(out), field, sizeof(field)), "a?b?c");
    assert_string_equal(stats_text_get(out, 3, field, sizeof(field)), "a?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_sizes_and_offsets_are_fixed),
        cmocka_unit_test(test_hist_buckets_cover_values_in_order),
        cmocka_unit_test(test_name_is_derived_from_the_listen_port),
        cmocka_unit_test(test_create_then_attach_sees_the_published_header),
        cmocka_unit_test(test_attach_refuses_another_version_naming_both),
        cmocka_unit_test(test_attach_refuses_corrupt_geometry),
        cmocka_unit_test(test_attach_refuses_a_truncated_object),
        cmocka_unit_test(test_create_replaces_a_stale_segment_but_not_a_live_one),
        cmocka_unit_test(test_ring_keeps_the_newest_entries_newest_first),
        cmocka_unit_test(test_short_path_over_a_long_one_reads_back_exactly),
        cmocka_unit_test(test_ring_read_sanitises_hostile_entries),
        cmocka_unit_test(test_addresses_format_both_families),
        cmocka_unit_test(test_resolved_address_round_trips),
        cmocka_unit_test(test_reason_round_trips_cut_and_cleaned),
        cmocka_unit_test(test_text_helpers_cut_and_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
