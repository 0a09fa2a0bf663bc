/* test_lbtrace_pair.c - unit tests of pairing the client leg and the backend leg of a request
 * (lbtrace/pair.c) and of the views that print them (lbtrace/output.c), on hand-made captures
 * of lb at work: lb on port 8000, backends on 9001-9003, lb at 127.0.0.1 talking from port 5xxxx. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lbtrace_pcapgen.h"
#include "lbtrace_scenarios.h"
#include "lbtrace_testrun.h"
#include "pair.h"

static char *write_proxied_capture(void)
{
    char *path = temp_pcap();
    scenario_lb_at_work(path, PG_LINK_EN10MB);
    return path;
}

static void test_every_request_appears_once_with_both_legs(void **state)
{
    char *path = write_proxied_capture();
    struct run_result r;
    char line[8192];
    (void)state;
    assert_int_equal(run_pcap(path, true, &r), 0);
    assert_int_equal(r.connections, 6);
    assert_int_equal(r.st.requests, 5 + 4 + 1); /* client legs + backend legs + health check */
    const char *ids[] = {"id-0001", "id-0002", "id-b", "id-c"};
    const char *paths[] = {"/one", "/two", "/b", "/c"};
    for (int i = 0; i < 4; i++) {
        char want[64];
        snprintf(want, sizeof(want), "\"request_id\":\"%s\",\"paired_by\"", ids[i]);
        assert_int_equal(count_of(r.out, want), 1);
        assert_non_null(line_with(r.out, want, 0, line, sizeof(line)));
        assert_non_null(strstr(line, "\"paired_by\":\"request_id\""));
        /* the client leg goes to lb's port, the backend leg to a backend port */
        assert_non_null(strstr(line, "\"client\":{\"conn\""));
        assert_non_null(strstr(line, "\"dst\":\"127.0.0.1:8000\""));
        assert_non_null(strstr(line, "\"dst\":\"127.0.0.1:900"));
        char p[64];
        snprintf(p, sizeof(p), "\"path\":\"%s\"", paths[i]);
        assert_int_equal(count_of(line, p), 2);
    }
    /* the 503 lb answered itself: a client leg and no backend leg */
    assert_non_null(line_with(r.out, "\"request_id\":\"id-503\"", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"paired_by\":null"));
    assert_non_null(strstr(line, "\"backend\":null"));
    assert_non_null(strstr(line, "\"status\":503"));
    /* the health check: a backend leg alone */
    assert_non_null(line_with(r.out, "/health", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"client\":null"));
    assert_int_equal(r.st.paired, 4);
    assert_int_equal(r.st.records, 6);
    free(r.out);
    unlink(path);
    free(path);
}

static void test_count_limits_client_requests(void **state)
{
    char *path = write_proxied_capture();
    struct run_result r;
    (void)state;
    assert_int_equal(run_pcap_ex(path, 8000, 9001, 3, OUTPUT_BOTH, true, 2, &r), 0);
    assert_int_equal(count_of(r.out, "\"client\":{"), 2);
    assert_int_equal(count_of(r.out, "\n"), 2);
    free(r.out);
    unlink(path);
    free(path);
}

/* The column where needle starts in the n-th line containing key. */
static long column_of(const char *out, const char *key, int n, const char *needle)
{
    char line[8192];
    if (line_with(out, key, n, line, sizeof(line)) == NULL)
        return -1;
    const char *p = strstr(line, needle);
    return p ? p - line : -1;
}

static void test_view_both_aligns_the_two_legs(void **state)
{
    char *path = write_proxied_capture();
    struct run_result r;
    (void)state;
    assert_int_equal(run_pcap_ex(path, 8000, 9001, 3, OUTPUT_BOTH, false, 0, &r), 0);
    assert_non_null(strstr(r.out, "paired by X-Request-ID"));
    assert_non_null(strstr(r.out, "id id-0001"));
    assert_non_null(strstr(r.out, "no backend leg (answered by lb)"));
    /* L4 lines: the handshake column is at the same place for both legs */
    long hc = column_of(r.out, "  client ", 0, " hs ");
    long hb = column_of(r.out, "  backend ", 0, " hs ");
    assert_true(hc > 0);
    assert_int_equal(hc, hb);
    assert_int_equal(column_of(r.out, "  client ", 0, "segs"), column_of(r.out, "  backend ", 0, "segs"));
    assert_non_null(strstr(r.out, "GET /one"));
    assert_non_null(strstr(r.out, "FIN both"));
    assert_null(strstr(r.out, "\033[")); /* no colour unless asked */
    free(r.out);
    unlink(path);
    free(path);
}

static void test_view_l7_prints_one_line_per_request(void **state)
{
    char *path = write_proxied_capture();
    struct run_result r;
    char line[8192];
    (void)state;
    assert_int_equal(run_pcap_ex(path, 8000, 9001, 3, OUTPUT_L7, false, 0, &r), 0);
    assert_int_equal(count_of(r.out, "\n"), 6);
    assert_non_null(line_with(r.out, "/one", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "127.0.0.1:40000"));
    assert_non_null(strstr(line, "> 127.0.0.1:9001"));
    assert_non_null(strstr(line, "id=id-0001"));
    assert_int_equal(count_of(line, "200"), 2);
    free(r.out);
    unlink(path);
    free(path);
}

static void test_view_l4_prints_segments_and_closes(void **state)
{
    char *path = write_proxied_capture();
    struct run_result r;
    (void)state;
    assert_int_equal(run_pcap_ex(path, 8000, 9001, 3, OUTPUT_L4, false, 0, &r), 0);
    assert_int_equal(count_of(r.out, "closed:"), 6);
    assert_int_equal(count_of(r.out, ": [S]"), 6);
    assert_int_equal(count_of(r.out, ": [S.]"), 6);
    /* every line of a connection to lb's port is tagged as a client leg */
    assert_int_equal(count_of(r.out, " C#"), count_of(r.out, "127.0.0.1:8000"));
    assert_non_null(strstr(r.out, "(handshake "));
    assert_true(count_of(r.out, " B#") > 0);
    free(r.out);
    /* -c counts segments in this view */
    assert_int_equal(run_pcap_ex(path, 8000, 9001, 3, OUTPUT_L4, false, 5, &r), 0);
    assert_int_equal(count_of(r.out, "\n"), 5);
    free(r.out);
    unlink(path);
    free(path);
}

/* lb's tcp mode: no request ids; one backend connection per client connection, same bytes. */
static void test_tcp_mode_pairs_by_connection_and_checks_the_bytes(void **state)
{
    char *path = temp_pcap();
    struct pg *pg = pg_open(path, PG_LINK_EN10MB);
    struct run_result r;
    char line[8192];
    const char *req = "GET /raw HTTP/1.1\r\nHost: lb\r\n\r\n";
    const char *res = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndata";
    (void)state;
    struct pg_conn c = pg_connect(pg, pg_v4("127.0.0.1", 40100), pg_v4("127.0.0.1", 8000), 1, 2);
    struct pg_conn b = pg_connect(pg, pg_v4("127.0.0.1", 50100), pg_v4("127.0.0.1", 9001), 3, 4);
    pg_sends(&c, true, req);
    pg_sends(&b, true, req);
    pg_sends(&b, false, res);
    pg_sends(&c, false, res);
    pg_sends(&c, true, req);
    pg_sends(&b, true, req);
    pg_sends(&b, false, res);
    pg_sends(&c, false, res);
    pg_close_conn(&b);
    pg_close_conn(&c);
    pg_close(pg);

    assert_int_equal(run_pcap(path, true, &r), 0);
    assert_int_equal(count_of(r.out, "\"paired_by\":\"connection\""), 2);
    assert_non_null(line_with(r.out, "\"index\":2", 0, line, sizeof(line)));
    assert_int_equal(count_of(line, "\"index\":2"), 2);
    assert_non_null(strstr(line, "\"bytes_identical\":true"));
    free(r.out);
    unlink(path);
    free(path);
}

/* A fake recent-requests ring: knows one id, with the right or the wrong backend connection;
 * with names, it names the backends on 9001 and 9002 as lb's backend table would. */
struct fake_ring {
    bool right;
    bool names;
    int name_lookups;
};

static bool fake_backend_name(void *ctx, const char *id, const struct flow_addr *server,
                              char *name, size_t len)
{
    struct fake_ring *fr = ctx;
    (void)id;
    fr->name_lookups++;
    if (!fr->names || server->family != AF_INET || (server->port != 9001 && server->port != 9002))
        return false;
    snprintf(name, len, "%s", server->port == 9001 ? "alpha" : "beta");
    return true;
}

static bool fake_by_id(void *ctx, const char *id, struct flow_addr *client,
                       struct flow_addr *backend_local)
{
    struct fake_ring *fr = ctx;
    struct pg_endpoint c = pg_v4("127.0.0.1", 40000), b = pg_v4("127.0.0.1", fr->right ? 50001 : 50002);
    if (strcmp(id, "id-0001") != 0)
        return false;
    memset(client, 0, sizeof(*client));
    memset(backend_local, 0, sizeof(*backend_local));
    client->family = backend_local->family = AF_INET;
    memcpy(client->addr, c.addr, 4);
    memcpy(backend_local->addr, b.addr, 4);
    client->port = c.port;
    backend_local->port = b.port;
    return true;
}

static void run_with_ring(const char *path, struct fake_ring *fr, enum output_view view,
                          bool json, struct run_result *r)
{
    struct trace_config cfg;
    struct capture_opts co = {.file = path};
    struct pair_ring_ops ops = {.ctx = fr, .by_id = fake_by_id, .backend_name = fake_backend_name};
    char err[256];
    bool perm;
    memset(&cfg, 0, sizeof(cfg));
    memset(r, 0, sizeof(*r));
    cfg.flows.lb_port = 8000;
    cfg.flows.num_backend_ports = 3;
    cfg.flows.backend_ports[0] = 9001;
    cfg.flows.backend_ports[1] = 9002;
    cfg.flows.backend_ports[2] = 9003;
    cfg.out.json = json;
    cfg.out.view = view;
    cfg.out.out = open_memstream(&r->out, &r->len);
    struct capture *cap = capture_open(&co, &perm, err, sizeof(err));
    assert_non_null(cap);
    struct trace *t = trace_new(&cfg, capture_link(cap));
    trace_set_ring(t, &ops);
    struct run_frame_ctx fc = {t};
    while (capture_next(cap, 64, run_on_frame, &fc, err, sizeof(err)) > 0)
        ;
    trace_finish(t);
    trace_free(t);
    capture_close(cap);
    fclose(cfg.out.out);
}

static void test_ring_confirms_or_contradicts_a_pair(void **state)
{
    char *path = write_proxied_capture();
    struct fake_ring fr = {.right = true};
    struct run_result r;
    char line[8192];
    (void)state;
    run_with_ring(path, &fr, OUTPUT_BOTH, true, &r);
    assert_non_null(line_with(r.out, "\"request_id\":\"id-0001\",", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"confirmed\":true"));
    assert_non_null(line_with(r.out, "\"request_id\":\"id-0002\",", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"confirmed\":null")); /* not in the ring */
    free(r.out);
    fr.right = false;
    run_with_ring(path, &fr, OUTPUT_BOTH, true, &r);
    assert_non_null(line_with(r.out, "\"request_id\":\"id-0001\",", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"confirmed\":false"));
    free(r.out);
    unlink(path);
    free(path);
}

/* lb's ring names the backends: every backend leg shows the name lb gives it, in each view. */
static void test_backend_legs_carry_the_name_lb_gives_the_backend(void **state)
{
    char *path = write_proxied_capture();
    struct fake_ring fr = {.right = true, .names = true};
    struct run_result r;
    char line[8192];
    (void)state;

    run_with_ring(path, &fr, OUTPUT_BOTH, true, &r);
    assert_non_null(line_with(r.out, "\"request_id\":\"id-0001\",", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"backend_name\":\"alpha\""));
    assert_non_null(line_with(r.out, "\"request_id\":\"id-0002\",", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"backend_name\":\"beta\""));
    /* lb answered it itself: no backend, no name */
    assert_non_null(line_with(r.out, "\"request_id\":\"id-503\"", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"backend_name\":null"));
    free(r.out);

    run_with_ring(path, &fr, OUTPUT_BOTH, false, &r);
    assert_non_null(strstr(r.out, "127.0.0.1:50001 > 127.0.0.1:9001 (alpha)"));
    assert_non_null(strstr(r.out, "127.0.0.1:50002 > 127.0.0.1:9002 (beta)"));
    free(r.out);
    run_with_ring(path, &fr, OUTPUT_L7, false, &r);
    assert_non_null(line_with(r.out, "id=id-0001", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "127.0.0.1:50001 > 127.0.0.1:9001 (alpha)"));
    free(r.out);

    /* --view l4 looks a backend connection's name up once, not for every segment */
    fr.name_lookups = 0;
    run_with_ring(path, &fr, OUTPUT_L4, false, &r);
    assert_non_null(strstr(r.out, "127.0.0.1:50001 > 127.0.0.1:9001 (alpha): [S]"));
    assert_non_null(strstr(r.out, "127.0.0.1:9002 (beta) > 127.0.0.1:50002: [S.]"));
    assert_true(fr.name_lookups <= 2 * 3); /* three backend connections: first segment, close */
    free(r.out);
    run_with_ring(path, &fr, OUTPUT_L4, true, &r);
    assert_non_null(line_with(r.out, "\"type\":\"connection\",\"conn\":", 0, line, sizeof(line)));
    assert_non_null(strstr(r.out, "\"leg\":\"backend\",\"client\":\"127.0.0.1:50001\""));
    assert_non_null(strstr(r.out, "\"backend_name\":\"alpha\"}"));
    free(r.out);

    /* no ring (a saved capture): the address stands for the name */
    assert_int_equal(run_pcap(path, true, &r), 0);
    assert_non_null(line_with(r.out, "\"request_id\":\"id-0001\",", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"backend_name\":\"127.0.0.1:9001\""));
    assert_null(strstr(r.out, "alpha"));
    free(r.out);
    unlink(path);
    free(path);
}

/* lb retries a request on a second backend after the first reset its connection. */
static void test_a_retried_request_pairs_with_the_attempt_that_answered(void **state)
{
    char *path = temp_pcap();
    struct pg *pg = pg_open(path, PG_LINK_EN10MB);
    struct run_result r;
    char line[8192];
    (void)state;
    struct pg_conn c = pg_connect(pg, pg_v4("127.0.0.1", 40500), pg_v4("127.0.0.1", 8000), 1, 2);
    struct pg_conn b1 = pg_connect(pg, pg_v4("127.0.0.1", 50501), pg_v4("127.0.0.1", 9001), 3, 4);
    struct pg_conn b2 = pg_connect(pg, pg_v4("127.0.0.1", 50502), pg_v4("127.0.0.1", 9002), 5, 6);
    pg_sends(&c, true, "GET /retry HTTP/1.1\r\nHost: lb\r\n\r\n");
    pg_sends(&b1, true, "GET /retry HTTP/1.1\r\nHost: lb\r\nX-Request-ID: id-r\r\n\r\n");
    pg_reset(&b1, false);
    pg_sends(&b2, true, "GET /retry HTTP/1.1\r\nHost: lb\r\nX-Request-ID: id-r\r\n\r\n");
    pg_sends(&b2, false, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    pg_sends(&c, false, "HTTP/1.1 200 OK\r\nX-Request-ID: id-r\r\nContent-Length: 0\r\n\r\n");
    pg_close_conn(&c);
    pg_close_conn(&b2);
    pg_close(pg);

    assert_int_equal(run_pcap(path, true, &r), 0);
    assert_int_equal(r.st.paired, 1);
    assert_non_null(line_with(r.out, "\"paired_by\":\"request_id\"", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"dst\":\"127.0.0.1:9002\""));
    assert_null(strstr(line, "127.0.0.1:9001"));
    assert_non_null(line_with(r.out, "\"client\":null", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"dst\":\"127.0.0.1:9001\""));
    assert_non_null(strstr(line, "connection reset before the response"));
    free(r.out);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_request_appears_once_with_both_legs),
        cmocka_unit_test(test_count_limits_client_requests),
        cmocka_unit_test(test_view_both_aligns_the_two_legs),
        cmocka_unit_test(test_view_l7_prints_one_line_per_request),
        cmocka_unit_test(test_view_l4_prints_segments_and_closes),
        cmocka_unit_test(test_tcp_mode_pairs_by_connection_and_checks_the_bytes),
        cmocka_unit_test(test_ring_confirms_or_contradicts_a_pair),
        cmocka_unit_test(test_backend_legs_carry_the_name_lb_gives_the_backend),
        cmocka_unit_test(test_a_retried_request_pairs_with_the_attempt_that_answered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
