/* test_lbtrace_connpair.c - unit tests of lbtrace in lb's tcp mode (lbtrace/connpair.c and the
 * views of lbtrace/output.c that print whole connections), on hand-made captures: lb on port
 * 8000, backends on 9001-9003, lb at 127.0.0.1 talking from port 5xxxx. */
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

static const char *req_one = "GET /one HTTP/1.1\r\nHost: lb\r\n\r\n";
static const char *req_two = "GET /two HTTP/1.1\r\nHost: lb\r\n\r\n";
static const char *res_ok = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndata";

static char *capture_of(void (*scenario)(const char *, int))
{
    char *path = temp_pcap();
    scenario(path, PG_LINK_EN10MB);
    return path;
}

static int run_tcp(const char *path, enum output_view view, bool json, struct run_result *r)
{
    return run_pcap_full(path, 8000, 9001, 3, view, json, 0, TRACE_MODE_TCP, NULL, r);
}

static void done(char *path, struct run_result *r)
{
    free(r->out);
    unlink(path);
    free(path);
}

/* Two client connections open at once; lb happens to dial the second one's backend first (two
 * workers), so the first backend connection (to 9001) carries /two and the second (to 9002)
 * carries /one. */
static void scenario_crossed(const char *path, int link)
{
    struct pg *pg = pg_open(path, link);
    struct pg_conn c1 = pg_connect(pg, pg_v4("127.0.0.1", 40001), pg_v4("127.0.0.1", 8000), 1, 2);
    struct pg_conn c2 = pg_connect(pg, pg_v4("127.0.0.1", 40002), pg_v4("127.0.0.1", 8000), 3, 4);
    struct pg_conn b2 = pg_connect(pg, pg_v4("127.0.0.1", 50002), pg_v4("127.0.0.1", 9001), 5, 6);
    struct pg_conn b1 = pg_connect(pg, pg_v4("127.0.0.1", 50001), pg_v4("127.0.0.1", 9002), 7, 8);
    pg_sends(&c1, true, req_one);
    pg_sends(&c2, true, req_two);
    pg_sends(&b1, true, req_one);
    pg_sends(&b2, true, req_two);
    pg_sends(&b1, false, res_ok);
    pg_sends(&b2, false, res_ok);
    pg_sends(&c1, false, res_ok);
    pg_sends(&c2, false, res_ok);
    pg_close_conn(&b1);
    pg_close_conn(&c1);
    pg_close_conn(&b2);
    pg_close_conn(&c2);
    pg_close(pg);
}

/* Bytes that are not HTTP, relayed both ways. */
static void scenario_not_http(const char *path, int link)
{
    struct pg *pg = pg_open(path, link);
    struct pg_conn c = pg_connect(pg, pg_v4("127.0.0.1", 40003), pg_v4("127.0.0.1", 8000), 1, 2);
    struct pg_conn b = pg_connect(pg, pg_v4("127.0.0.1", 50003), pg_v4("127.0.0.1", 9002), 3, 4);
    pg_sends(&c, true, "hello\n");
    pg_sends(&b, true, "hello\n");
    pg_sends(&b, false, "HELLO\n");
    pg_sends(&c, false, "HELLO\n");
    pg_close_conn(&b);
    pg_close_conn(&c);
    pg_close(pg);
}

/* The backend leg does not carry what the client sent: a byte changed each way. */
static void scenario_changed(const char *path, int link)
{
    struct pg *pg = pg_open(path, link);
    struct pg_conn c = pg_connect(pg, pg_v4("127.0.0.1", 40004), pg_v4("127.0.0.1", 8000), 1, 2);
    struct pg_conn b = pg_connect(pg, pg_v4("127.0.0.1", 50004), pg_v4("127.0.0.1", 9001), 3, 4);
    pg_sends(&c, true, req_one);
    pg_sends(&b, true, "GET /One HTTP/1.1\r\nHost: lb\r\n\r\n");
    pg_sends(&b, false, res_ok);
    pg_sends(&c, false, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nDATA");
    pg_close_conn(&b);
    pg_close_conn(&c);
    pg_close(pg);
}

/* A client whose connection lb closes at once (no backend would take it), then lb's own
 * connection to a backend that carries nothing (a TCP health check). */
static void scenario_lonely(const char *path, int link)
{
    struct pg *pg = pg_open(path, link);
    struct pg_conn c = pg_connect(pg, pg_v4("127.0.0.1", 40005), pg_v4("127.0.0.1", 8000), 1, 2);
    pg_sends(&c, true, req_one);
    pg_close_conn(&c);
    struct pg_conn b = pg_connect(pg, pg_v4("127.0.0.1", 50005), pg_v4("127.0.0.1", 9003), 3, 4);
    pg_close_conn(&b);
    pg_close(pg);
}

static void test_one_record_per_connection_with_identical_bytes(void **state)
{
    char *path = capture_of(scenario_tcp_mode);
    struct run_result r;
    char line[8192];
    (void)state;
    assert_int_equal(run_tcp(path, OUTPUT_BOTH, true, &r), 0);
    assert_int_equal(count_of(r.out, "\n"), 1);
    assert_non_null(line_with(r.out, "\"type\":\"tcp_connection\"", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"lb_mode\":\"tcp\""));
    assert_non_null(strstr(line, "\"paired_by\":\"timing\""));
    assert_non_null(strstr(line, "\"confirmed\":null"));
    assert_non_null(strstr(line, "\"bytes_identical\":true"));
    assert_non_null(strstr(line, "\"up_identical\":true,\"down_identical\":true"));
    /* two requests of 31 bytes up, two responses of 42 bytes down, on both legs */
    assert_non_null(strstr(line, "\"client_to_lb\":62,\"lb_to_backend\":62,\"backend_to_lb\":84,"
                                 "\"lb_to_client\":84"));
    assert_non_null(strstr(line, "\"client\":{\"conn\":1,\"src\":\"127.0.0.1:40100\""));
    assert_non_null(strstr(line, "\"backend\":{\"conn\":2,\"src\":\"127.0.0.1:50100\""));
    assert_non_null(strstr(line, "\"backend_name\":\"127.0.0.1:9001\""));
    assert_non_null(strstr(line, "\"lb\":null"));
    assert_int_equal(count_of(line, "\"path\":\"/raw\""), 2);
    assert_int_equal(count_of(line, "\"on_backend\":true"), 2);
    assert_non_null(strstr(line, "\"backend_requests\":2,\"one_backend\":true"));
    assert_int_equal(r.st.tcp_connections, 1);
    assert_int_equal(r.st.paired, 1);
    assert_int_equal(r.st.requests, 4); /* parsed on both legs */
    done(path, &r);
}

static void test_text_views_say_lb_relays_whole_connections(void **state)
{
    char *path = capture_of(scenario_tcp_mode);
    struct run_result r;
    char line[8192];
    (void)state;
    assert_int_equal(run_tcp(path, OUTPUT_BOTH, false, &r), 0);
    assert_non_null(strstr(r.out, "lb relays whole connections here (-m tcp): one backend per "
                                  "connection; it did not read these requests\n"));
    assert_non_null(strstr(r.out, "connection 1  paired by timing, bytes carried unchanged both ways"));
    assert_non_null(strstr(r.out, "client>lb 62 B = lb>backend 62 B, backend>lb 84 B = lb>client 84 B"));
    assert_non_null(strstr(r.out, "2 on the client connection, all to 127.0.0.1:9001\n"));
    assert_int_equal(count_of(r.out, "-> 127.0.0.1:9001"), 2);
    /* the two legs' L4 lines line up */
    assert_non_null(line_with(r.out, "  client ", 0, line, sizeof(line)));
    long hc = strstr(line, " hs ") - line;
    assert_non_null(line_with(r.out, "  backend ", 0, line, sizeof(line)));
    assert_int_equal(hc, strstr(line, " hs ") - line);
    free(r.out);

    assert_int_equal(run_tcp(path, OUTPUT_L7, false, &r), 0);
    assert_non_null(strstr(r.out, "lb relays whole connections here (-m tcp)"));
    assert_int_equal(count_of(r.out, "\n"), 3); /* the note, then one line per request */
    assert_int_equal(count_of(r.out, "GET /raw"), 2);
    assert_int_equal(count_of(r.out, "> 127.0.0.1:9001  connection 1, relayed whole, same bytes"), 2);
    done(path, &r);
}

static void test_timing_pairs_in_order_of_opening(void **state)
{
    char *path = capture_of(scenario_crossed);
    struct run_result r;
    char line[8192];
    (void)state;
    /* without lb's ring the first backend connection goes to the first client connection: the
     * guess is wrong here, and the bytes say so */
    assert_int_equal(run_tcp(path, OUTPUT_BOTH, true, &r), 0);
    assert_non_null(line_with(r.out, "127.0.0.1:40001", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"paired_by\":\"timing\""));
    assert_non_null(strstr(line, "\"src\":\"127.0.0.1:50002\""));
    assert_non_null(strstr(line, "\"up_identical\":false"));
    assert_non_null(strstr(line, "\"one_backend\":false"));
    done(path, &r);
}

/* lb's ring, faked: lb is in tcp mode and relayed 40001 through 50001, 40002 through 50002 */
static enum pair_lb_mode fake_mode(void *ctx)
{
    (void)ctx;
    return PAIR_LB_TCP;
}

static bool fake_tcp_conn(void *ctx, const struct flow_addr *client, struct pair_ring_conn *out)
{
    (void)ctx;
    if (client->port != 40001 && client->port != 40002)
        return false;
    memset(out, 0, sizeof(*out));
    out->client = *client;
    out->lb_back = *client;
    out->lb_back.port = (uint16_t)(client->port + 10000);
    out->conn_id = client->port - 40000u;
    out->worker = 1;
    out->bytes_in = 31;
    out->bytes_out = 42;
    return true;
}

static bool fake_backend_name(void *ctx, const char *id, const struct flow_addr *server, char *name,
                              size_t len)
{
    (void)ctx;
    (void)id;
    snprintf(name, len, "b%u", server->port - 9000u);
    return true;
}

static void test_lbs_ring_corrects_the_timing_and_names_the_backend(void **state)
{
    char *path = capture_of(scenario_crossed);
    struct run_result r;
    char line[8192];
    struct pair_ring_ops ops = {.mode = fake_mode, .tcp_conn = fake_tcp_conn,
                                .backend_name = fake_backend_name};
    (void)state;
    /* mode auto: the ring says tcp */
    assert_int_equal(run_pcap_full(path, 8000, 9001, 3, OUTPUT_BOTH, true, 0, TRACE_MODE_AUTO, &ops, &r), 0);
    assert_int_equal(r.st.tcp_connections, 2);
    assert_int_equal(r.st.confirmed, 2);
    for (int i = 0; i < 2; i++) {
        char want[64];
        snprintf(want, sizeof(want), "\"src\":\"127.0.0.1:4000%d\"", i + 1);
        assert_non_null(line_with(r.out, want, 0, line, sizeof(line)));
        assert_non_null(strstr(line, "\"paired_by\":\"lb_ring\",\"confirmed\":true,\"bytes_identical\":true"));
        snprintf(want, sizeof(want), "\"src\":\"127.0.0.1:5000%d\"", i + 1);
        assert_non_null(strstr(line, want));
        assert_non_null(strstr(line, i == 0 ? "\"backend_name\":\"b2\"" : "\"backend_name\":\"b1\""));
        assert_non_null(strstr(line, i == 0 ? "\"path\":\"/one\"" : "\"path\":\"/two\""));
        snprintf(want, sizeof(want), "\"lb\":{\"conn_id\":%d,\"worker\":1,", i + 1);
        assert_non_null(strstr(line, want));
        assert_non_null(strstr(line, "\"one_backend\":true"));
    }
    free(r.out);

    assert_int_equal(run_pcap_full(path, 8000, 9001, 3, OUTPUT_BOTH, false, 0, TRACE_MODE_AUTO, &ops, &r), 0);
    assert_non_null(strstr(r.out, "paired by lb's ring (lb's connection 1 on worker 1), bytes carried unchanged"));
    assert_non_null(strstr(r.out, "counted 31 B in, 42 B out (as on the wire)"));
    assert_non_null(strstr(r.out, "1 on the client connection, all to 127.0.0.1:9002 (b2)"));
    free(r.out);

    /* -m http wins over the ring: requests, not connections */
    assert_int_equal(run_pcap_full(path, 8000, 9001, 3, OUTPUT_BOTH, true, 0, TRACE_MODE_HTTP, &ops, &r), 0);
    assert_int_equal(r.st.tcp_connections, 0);
    assert_null(strstr(r.out, "tcp_connection"));
    done(path, &r);
}

static void test_bytes_that_are_not_http_are_still_compared(void **state)
{
    char *path = capture_of(scenario_not_http);
    struct run_result r;
    (void)state;
    assert_int_equal(run_tcp(path, OUTPUT_BOTH, true, &r), 0);
    assert_non_null(strstr(r.out, "\"bytes_identical\":true"));
    assert_non_null(strstr(r.out, "\"client_to_lb\":6,\"lb_to_backend\":6,\"backend_to_lb\":6,\"lb_to_client\":6"));
    assert_non_null(strstr(r.out, "\"requests\":[]"));
    free(r.out);
    assert_int_equal(run_tcp(path, OUTPUT_BOTH, false, &r), 0);
    assert_non_null(strstr(r.out, "requests none parsed (the bytes are not HTTP"));
    free(r.out);
    assert_int_equal(run_tcp(path, OUTPUT_L7, false, &r), 0);
    assert_non_null(strstr(r.out, "127.0.0.1:40003       (no HTTP request) 6 B > 6 B <  | "));
    done(path, &r);
}

static void test_changed_bytes_are_shown_per_direction(void **state)
{
    char *path = capture_of(scenario_changed);
    struct run_result r;
    (void)state;
    assert_int_equal(run_tcp(path, OUTPUT_BOTH, true, &r), 0);
    assert_non_null(strstr(r.out, "\"bytes_identical\":false"));
    assert_non_null(strstr(r.out, "\"up_identical\":false,\"down_identical\":false"));
    assert_non_null(strstr(r.out, "\"client_to_lb\":31,\"lb_to_backend\":31"));
    assert_non_null(strstr(r.out, "\"on_backend\":false")); /* GET /one became GET /One */
    free(r.out);
    assert_int_equal(run_tcp(path, OUTPUT_BOTH, false, &r), 0);
    assert_non_null(strstr(r.out, "bytes differ between legs"));
    assert_non_null(strstr(r.out, "client>lb 31 B != lb>backend 31 B, backend>lb 42 B != lb>client 42 B"));
    assert_non_null(strstr(r.out, "-> (not seen on a backend leg)"));
    done(path, &r);
}

/* lb -m tcp -b ...,send-proxy (v1) and send-proxy-v2: the header goes first, then the client's
 * bytes unchanged. */
static void scenario_proxy(const char *path, int link)
{
    static const uint8_t v2[16 + 12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
                                        0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c, 127, 0, 0, 1, 127, 0, 0,
                                        1, 0x9c, 0x46, 0x1f, 0x40};
    struct pg *pg = pg_open(path, link);
    for (int i = 0; i < 2; i++) {
        struct pg_conn c = pg_connect(pg, pg_v4("127.0.0.1", (uint16_t)(40006 + i)),
                                      pg_v4("127.0.0.1", 8000), 1, 2);
        struct pg_conn b = pg_connect(pg, pg_v4("127.0.0.1", (uint16_t)(50006 + i)),
                                      pg_v4("127.0.0.1", 9001), 3, 4);
        pg_sends(&c, true, req_one);
        uint8_t first[256];
        size_t n = 0;
        if (i == 0) {
            const char *v1 = "PROXY TCP4 127.0.0.1 127.0.0.1 40006 8000\r\n";
            memcpy(first, v1, strlen(v1));
            n = strlen(v1);
        } else {
            memcpy(first, v2, sizeof(v2));
            n = sizeof(v2);
        }
        memcpy(first + n, req_one, strlen(req_one));
        pg_send(&b, true, first, n + strlen(req_one));
        pg_sends(&b, false, res_ok);
        pg_sends(&c, false, res_ok);
        pg_close_conn(&b);
        pg_close_conn(&c);
    }
    pg_close(pg);
}

static void test_a_proxy_header_in_front_is_not_a_change(void **state)
{
    char *path = capture_of(scenario_proxy);
    struct run_result r;
    char line[8192];
    (void)state;
    assert_int_equal(run_tcp(path, OUTPUT_BOTH, true, &r), 0);
    assert_int_equal(count_of(r.out, "\"bytes_identical\":true"), 2);
    assert_non_null(line_with(r.out, "127.0.0.1:40006", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"client_to_lb\":31,\"lb_to_backend\":31,"));
    assert_non_null(strstr(line, "\"proxy_header\":43,"));
    assert_non_null(strstr(line, "\"on_backend\":true")); /* parsed after the header */
    assert_non_null(line_with(r.out, "127.0.0.1:40007", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"proxy_header\":28,"));
    assert_non_null(strstr(line, "\"one_backend\":true"));
    free(r.out);
    assert_int_equal(run_tcp(path, OUTPUT_BOTH, false, &r), 0);
    assert_non_null(strstr(r.out, "client>lb 31 B = lb>backend 31 B (after a 43 B PROXY header)"));
    done(path, &r);
}

static void test_a_leg_alone_is_reported_alone(void **state)
{
    char *path = capture_of(scenario_lonely);
    struct run_result r;
    (void)state;
    assert_int_equal(run_tcp(path, OUTPUT_BOTH, false, &r), 0);
    assert_non_null(strstr(r.out, "no backend leg (lb reached no backend and closed the connection)"));
    assert_non_null(strstr(r.out, "no client leg: lb's own connection"));
    assert_int_equal(r.st.tcp_connections, 2);
    assert_int_equal(r.st.paired, 0);
    free(r.out);
    assert_int_equal(run_tcp(path, OUTPUT_BOTH, true, &r), 0);
    assert_non_null(strstr(r.out, "\"paired_by\":null"));
    assert_non_null(strstr(r.out, "\"backend\":null,\"backend_name\":null"));
    assert_non_null(strstr(r.out, "\"client\":null"));
    free(r.out);
    /* -c counts connections with a client leg */
    assert_int_equal(run_pcap_full(path, 8000, 9001, 3, OUTPUT_BOTH, true, 1, TRACE_MODE_TCP, NULL, &r), 0);
    assert_int_equal(count_of(r.out, "\n"), 1);
    done(path, &r);
}

/* Captures of lb at work with bytes flipped at random (past the pcap file header), read in tcp
 * mode: nothing may crash or leak, whatever the pairing makes of them. */
static void test_damaged_captures_never_crash(void **state)
{
    void (*scenarios[])(const char *, int) = {scenario_tcp_mode, scenario_crossed, scenario_proxy,
                                              scenario_lonely, scenario_lb_at_work};
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    (void)state;
    for (size_t k = 0; k < sizeof(scenarios) / sizeof(scenarios[0]); k++) {
        char *path = capture_of(scenarios[k]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static uint8_t orig[1 << 16], buf[1 << 16];
        size_t n = fread(orig, 1, sizeof(orig), f);
        fclose(f);
        assert_true(n > 24);
        for (int round = 0; round < 100; round++) {
            memcpy(buf, orig, n);
            for (int flips = 0; flips < 1 + round % 8; flips++) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                buf[24 + (rng >> 11) % (n - 24)] ^= (uint8_t)(1u << (rng % 8));
            }
            f = fopen(path, "wb");
            assert_non_null(f);
            assert_int_equal(fwrite(buf, 1, n, f), n);
            fclose(f);
            struct run_result r;
            if (run_pcap_full(path, 8000, 9001, 3, (enum output_view)(round % 3), round % 2, 0,
                              TRACE_MODE_TCP, NULL, &r) == 0)
                free(r.out);
        }
        unlink(path);
        free(path);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_record_per_connection_with_identical_bytes),
        cmocka_unit_test(test_text_views_say_lb_relays_whole_connections),
        cmocka_unit_test(test_timing_pairs_in_order_of_opening),
        cmocka_unit_test(test_lbs_ring_corrects_the_timing_and_names_the_backend),
        cmocka_unit_test(test_bytes_that_are_not_http_are_still_compared),
        cmocka_unit_test(test_changed_bytes_are_shown_per_direction),
        cmocka_unit_test(test_a_proxy_header_in_front_is_not_a_change),
        cmocka_unit_test(test_a_leg_alone_is_reported_alone),
        cmocka_unit_test(test_damaged_captures_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
