/* test_lbtrace_fixtures.c - lbtrace on the small captures committed in tests/fixtures/pcap/:
 * they still match the generator that wrote them (lbtrace_scenarios.h), they decode to the
 * requests they hold on every link type, hostile frames do not disturb the good ones, and
 * lbtrace counts the same TCP connections and HTTP requests as tshark on each of them.
 *
 * To rewrite the fixtures after changing a scenario:
 *     LBTRACE_WRITE_FIXTURES=tests/fixtures/pcap build/tests/unit/test_lbtrace_fixtures
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbtrace_pcapgen.h"
#include "lbtrace_scenarios.h"
#include "lbtrace_testrun.h"

#define FIXTURES "tests/fixtures/pcap"

enum kind { LB_AT_WORK, TCP_MODE, MESSY, GARBAGE, TLS_LEGS, TLS_PASSTHROUGH };

struct fixture {
    const char *name;
    enum kind kind;
    int link;
    bool vlan;
    bool clean; /* no hostile frames: tshark must agree on the counts */
};

static const struct fixture fixtures[] = {
    {"lb-at-work-en10mb.pcap", LB_AT_WORK, PG_LINK_EN10MB, false, true},
    {"lb-at-work-vlan.pcap", LB_AT_WORK, PG_LINK_EN10MB, true, true},
    {"lb-at-work-sll.pcap", LB_AT_WORK, PG_LINK_SLL, false, true},
    {"lb-at-work-sll2.pcap", LB_AT_WORK, PG_LINK_SLL2, false, true},
    {"lb-at-work-null.pcap", LB_AT_WORK, PG_LINK_NULL, false, true},
    {"tcp-mode.pcap", TCP_MODE, PG_LINK_EN10MB, false, true},
    {"messy-tcp-ipv6.pcap", MESSY, PG_LINK_RAW, false, true},
    {"garbage.pcap", GARBAGE, PG_LINK_EN10MB, false, false},
    {"tls-legs.pcap", TLS_LEGS, PG_LINK_EN10MB, false, true},
    {"tls-passthrough.pcap", TLS_PASSTHROUGH, PG_LINK_EN10MB, false, true},
};
#define NFIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))

static void generate(const struct fixture *fx, const char *path)
{
    switch (fx->kind) {
    case LB_AT_WORK:
        scenario_lb_at_work_vlan(path, fx->link, fx->vlan ? 7 : -1);
        break;
    case TCP_MODE:
        scenario_tcp_mode(path, fx->link);
        break;
    case MESSY:
        scenario_messy_tcp(path, fx->link);
        break;
    case GARBAGE:
        scenario_garbage(path);
        break;
    case TLS_LEGS:
        scenario_tls_legs(path, fx->link);
        break;
    case TLS_PASSTHROUGH:
        scenario_tls_passthrough(path, fx->link);
        break;
    }
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, r;
    if (f == NULL)
        return NULL;
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    fclose(f);
    *len = n;
    return buf;
}

static int setup(void **state)
{
    const char *dir = getenv("LBTRACE_WRITE_FIXTURES");
    (void)state;
    if (dir != NULL && *dir) {
        char path[512];
        mkdir(dir, 0755);
        for (size_t i = 0; i < NFIXTURES; i++) {
            int n = snprintf(path, sizeof(path), "%s/%s", dir, fixtures[i].name);
            if (n < 0 || (size_t)n >= sizeof(path)) {
                fprintf(stderr, "LBTRACE_WRITE_FIXTURES: the directory name is too long\n");
                return -1;
            }
            generate(&fixtures[i], path);
            printf("wrote %s\n", path);
        }
    }
    return 0;
}

static void fixture_path(const struct fixture *fx, char *buf, size_t len)
{
    int n = snprintf(buf, len, FIXTURES "/%s", fx->name);
    assert_true(n >= 0 && (size_t)n < len);
}

static void test_committed_fixtures_match_their_generator(void **state)
{
    (void)state;
    for (size_t i = 0; i < NFIXTURES; i++) {
        char path[512];
        size_t a_len = 0, b_len = 0;
        char *tmp = temp_pcap();
        fixture_path(&fixtures[i], path, sizeof(path));
        generate(&fixtures[i], tmp);
        char *a = read_file(path, &a_len);
        char *b = read_file(tmp, &b_len);
        if (a == NULL)
            fail_msg("fixture %s is missing (run from the top of the tree)", path);
        assert_non_null(b);
        if (a_len != b_len || memcmp(a, b, a_len) != 0)
            fail_msg("%s differs from what lbtrace_scenarios.h writes; regenerate it", path);
        assert_true(a_len < 16384); /* fixtures stay small */
        free(a);
        free(b);
        unlink(tmp);
        free(tmp);
    }
}

static void test_lb_at_work_pairs_every_request_on_every_link_type(void **state)
{
    (void)state;
    for (size_t i = 0; i < NFIXTURES; i++) {
        if (fixtures[i].kind != LB_AT_WORK)
            continue;
        char path[512];
        struct run_result r;
        fixture_path(&fixtures[i], path, sizeof(path));
        assert_int_equal(run_pcap(path, true, &r), 0);
        assert_int_equal(r.link, fixtures[i].link == PG_LINK_RAW ? 12 : fixtures[i].link);
        assert_int_equal(r.st.malformed, 0);
        assert_int_equal(r.connections, 6);
        assert_int_equal(r.st.paired, 4);
        assert_int_equal(count_of(r.out, "\"paired_by\":\"request_id\""), 4);
        assert_int_equal(count_of(r.out, "\"request_id\":\"id-0001\",\"paired_by\""), 1);
        assert_int_equal(count_of(r.out, "\"status\":503"), 1);
        free(r.out);
    }
}

static void test_messy_tcp_is_reassembled_and_the_reset_reported(void **state)
{
    char path[512], line[8192];
    struct run_result r;
    (void)state;
    fixture_path(&fixtures[6], path, sizeof(path));
    assert_int_equal(run_pcap(path, true, &r), 0);
    assert_int_equal(r.connections, 1);
    assert_int_equal(r.st.requests, 2);
    assert_non_null(line_with(r.out, "/messy", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"response_body\":4"));
    assert_non_null(strstr(line, "\"complete\":true"));
    assert_non_null(strstr(line, "\"request_id\":\"m-1\""));
    assert_non_null(strstr(line, "\"src\":\"[::1]:40200\""));
    assert_non_null(line_with(r.out, "/cut", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "connection reset mid-response"));
    assert_non_null(strstr(line, "\"response_body\":9"));
    free(r.out);
}

static void test_tcp_mode_fixture_pairs_by_connection(void **state)
{
    char path[512];
    struct run_result r;
    (void)state;
    fixture_path(&fixtures[5], path, sizeof(path));
    assert_int_equal(run_pcap(path, true, &r), 0);
    assert_int_equal(count_of(r.out, "\"paired_by\":\"connection\""), 2);
    assert_int_equal(count_of(r.out, "\"bytes_identical\":true"), 2);
    free(r.out);
}

static void test_garbage_frames_are_counted_and_the_good_exchange_survives(void **state)
{
    char path[512], line[8192];
    struct run_result r;
    (void)state;
    fixture_path(&fixtures[7], path, sizeof(path));
    assert_int_equal(run_pcap(path, true, &r), 0);
    assert_true(r.st.malformed + r.st.not_tcp > 10);
    assert_non_null(line_with(r.out, "/survivor", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"complete\":true"));
    assert_true(r.st.gaps >= 1); /* the payloads cut by the snapshot length */
    free(r.out);
}

/* --- the cross-check with tshark ------------------------------------------------------------ */

static bool have_tshark(void)
{
    int st;
    char *out = harness_like_run("command -v tshark >/dev/null 2>&1 && echo yes", &st);
    bool yes = out && strncmp(out, "yes", 3) == 0;
    free(out);
    return yes;
}

static void test_tshark_counts_the_same_connections_and_requests(void **state)
{
    (void)state;
    if (!have_tshark()) {
        fprintf(stderr, "SKIP: tshark is not installed (scripts/deps.sh test installs it)\n");
        skip();
    }
    for (size_t i = 0; i < NFIXTURES; i++) {
        if (!fixtures[i].clean)
            continue;
        char path[512], cmd[2048];
        struct run_result r;
        int st;
        fixture_path(&fixtures[i], path, sizeof(path));
        assert_int_equal(run_pcap(path, false, &r), 0);
        int n = snprintf(cmd, sizeof(cmd), "tshark -n -r %s -q -z conv,tcp 2>/dev/null | grep -c '<->'",
                         path);
        assert_true(n >= 0 && (size_t)n < sizeof(cmd));
        char *conv = harness_like_run(cmd, &st);
        n = snprintf(cmd, sizeof(cmd),
                 "tshark -n -r %s -o tcp.reassemble_out_of_order:TRUE -d tcp.port==8000,http "
                 "-d tcp.port==9001,http -d tcp.port==9002,http -d tcp.port==9003,http "
                 "-Y http.request -T fields -e frame.number 2>/dev/null | wc -l", path);
        assert_true(n >= 0 && (size_t)n < sizeof(cmd));
        char *reqs = harness_like_run(cmd, &st);
        assert_non_null(conv);
        assert_non_null(reqs);
        if ((uint64_t)atoll(conv) != r.connections || (uint64_t)atoll(reqs) != r.st.requests)
            fail_msg("%s: tshark sees %lld connections and %lld requests, lbtrace %llu and %llu",
                     path, atoll(conv), atoll(reqs), (unsigned long long)r.connections,
                     (unsigned long long)r.st.requests);
        free(conv);
        free(reqs);
        free(r.out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_committed_fixtures_match_their_generator),
        cmocka_unit_test(test_lb_at_work_pairs_every_request_on_every_link_type),
        cmocka_unit_test(test_messy_tcp_is_reassembled_and_the_reset_reported),
        cmocka_unit_test(test_tcp_mode_fixture_pairs_by_connection),
        cmocka_unit_test(test_garbage_frames_are_counted_and_the_good_exchange_survives),
        cmocka_unit_test(test_tshark_counts_the_same_connections_and_requests),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
