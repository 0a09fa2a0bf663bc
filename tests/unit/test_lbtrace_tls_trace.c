/* test_lbtrace_tls_trace.c - lbtrace's pipeline where a leg carries TLS: the fixtures
 * tls-legs.pcap (lb terminating TLS from clients, and speaking TLS to a backend) and
 * tls-passthrough.pcap (lb -m tcp relaying TLS), read with and without lb's ring; TLS told from
 * HTTP by the first bytes however they are cut; lb's HTTPS port as a client-leg port. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lbtrace_pcapgen.h"
#include "lbtrace_scenarios.h"
#include "lbtrace_testrun.h"

#define LEGS "tests/fixtures/pcap/tls-legs.pcap"
#define PASSTHROUGH "tests/fixtures/pcap/tls-passthrough.pcap"

static struct flow_addr v4(const char *ip, uint16_t port)
{
    struct flow_addr a = {.family = AF_INET, .port = port};
    inet_pton(AF_INET, ip, a.addr);
    return a;
}

/* --- a stand-in for lb's ring: what lb would have written for tls-legs.pcap ------------------ */

struct fake_ring {
    const char *first_id; /* what the ring says the first request on client 41000 was */
    unsigned asked;
};

static bool fake_by_conn_request(void *ctx, const struct flow_addr *client, unsigned n, char *id,
                                 size_t id_len, struct flow_addr *backend_local)
{
    struct fake_ring *fr = ctx;
    struct flow_addr a = v4("127.0.0.1", 41000);
    fr->asked++;
    if (!flow_addr_equal(client, &a) || n < 1 || n > 2)
        return false;
    snprintf(id, id_len, "%s", n == 1 ? fr->first_id : "tls-2");
    *backend_local = v4("127.0.0.1", 51000);
    return true;
}

static bool fake_by_id(void *ctx, const char *id, struct flow_addr *client,
                       struct flow_addr *backend_local)
{
    (void)ctx;
    if (strcmp(id, "plain-1") != 0)
        return false;
    *client = v4("127.0.0.1", 41001);
    *backend_local = v4("127.0.0.1", 51001);
    return true;
}

static enum pair_lb_mode fake_mode(void *ctx)
{
    (void)ctx;
    return PAIR_LB_HTTP;
}

static struct pair_ring_ops fake_ops(struct fake_ring *fr)
{
    struct pair_ring_ops ops = {.ctx = fr, .by_conn_request = fake_by_conn_request,
                                .by_id = fake_by_id, .mode = fake_mode};
    return ops;
}

/* --- tls-legs.pcap ---------------------------------------------------------------------------- */

static void test_tls_legs_paired_by_timing_without_a_ring(void **state)
{
    struct run_result r;
    char line[16384];
    (void)state;
    assert_int_equal(run_pcap(LEGS, true, &r), 0);
    assert_int_equal(r.st.tls_connections, 3);
    assert_int_equal(r.st.requests, 3); /* the readable ones: two backend legs, one client leg */
    assert_int_equal(count_of(r.out, "\n"), 4);
    assert_int_equal(count_of(r.out, "\"paired_by\":\"timing\""), 3);
    assert_int_equal(r.st.paired, 3);

    assert_non_null(line_with(r.out, "\"request_id\":\"tls-1\",\"paired_by\"", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"sni\":\"shop.example\""));
    assert_non_null(strstr(line, "\"alpn_offered\":[\"h2\",\"http/1.1\"],\"alpn\":null,\"alpn_hidden\":true"));
    assert_non_null(strstr(line, "\"version\":\"TLS 1.3\""));
    assert_non_null(strstr(line, "\"cipher_name\":\"TLS_AES_128_GCM_SHA256\""));
    assert_non_null(strstr(line, "\"readable\":false"));
    assert_non_null(strstr(line, "\"l7\":{\"index\":1,\"encrypted\":true,\"request_records\":1,"
                                 "\"request_bytes\":120,\"response_records\":1,\"response_bytes\":600"));
    assert_non_null(strstr(line, "\"path\":\"/cart\""));
    assert_non_null(line_with(r.out, "\"request_id\":\"tls-2\",\"paired_by\"", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"index\":2,\"encrypted\":true"));
    assert_non_null(strstr(line, "\"path\":\"/pay\""));

    /* plain client leg, TLS 1.2 backend leg */
    assert_non_null(line_with(r.out, "\"request_id\":\"plain-1\"", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"path\":\"/plain\""));
    assert_non_null(strstr(line, "\"version\":\"TLS 1.2\""));
    assert_non_null(strstr(line, "\"sni\":\"backend.internal\""));
    assert_non_null(strstr(line, "\"alpn\":\"http/1.1\",\"alpn_hidden\":false"));
    assert_non_null(strstr(line, "\"request_bytes\":180"));

    /* the refused handshake */
    assert_non_null(line_with(r.out, "protocol_version", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"paired_by\":null"));
    assert_non_null(strstr(line, "\"alert\":{\"from\":\"server\",\"level\":\"fatal\",\"description\":70"));
    assert_non_null(strstr(line, "\"offered_max\":\"TLS 1.1\""));
    assert_non_null(strstr(line, "\"problem\":\"no request: a fatal TLS alert in clear\""));
    assert_non_null(strstr(line, "\"backend\":null"));
    free(r.out);
}

static void test_tls_legs_text_says_what_cannot_be_read(void **state)
{
    struct run_result r;
    (void)state;
    assert_int_equal(run_pcap(LEGS, false, &r), 0);
    assert_int_equal(count_of(r.out, "paired by timing (one leg is encrypted, no lb ring to ask)"), 3);
    assert_int_equal(count_of(r.out, "encrypted, lbtrace cannot read it (lb decrypts it: the backend "
                                     "leg shows the request in clear)"), 2);
    assert_int_equal(count_of(r.out, "encrypted, lbtrace cannot read it (lb decrypts it: the client "
                                     "leg shows the request in clear)"), 1);
    assert_int_equal(count_of(r.out, "TLS 1.3 TLS_AES_128_GCM_SHA256  SNI shop.example  ALPN h2,http/1.1 "
                                     "-> (chosen inside the encryption)  handshake: ClientHello, "
                                     "ServerHello +0.100 ms, finished +0.200 ms"), 2);
    assert_non_null(strstr(r.out, "ALPN http/1.1 -> http/1.1"));
    assert_non_null(strstr(r.out, "alert from the server in clear: fatal protocol_version"));
    assert_non_null(strstr(r.out, "no backend leg: the TLS connection carried no request"));
    assert_non_null(strstr(r.out, "GET /cart"));
    free(r.out);

    assert_int_equal(run_pcap_ex(LEGS, 8000, 9001, 3, OUTPUT_L7, false, 0, &r), 0);
    assert_int_equal(count_of(r.out, "(encrypted)  SNI shop.example  TLS"), 2);
    assert_non_null(strstr(r.out, "GET /cart"));
    assert_non_null(strstr(r.out, "by timing"));
    free(r.out);

    /* --view l4: the connection summaries carry the TLS facts */
    assert_int_equal(run_pcap_ex(LEGS, 8000, 9001, 3, OUTPUT_L4, true, 0, &r), 0);
    assert_int_equal(count_of(r.out, "\"type\":\"connection\""), 5);
    assert_int_equal(count_of(r.out, "\"tls\":{"), 3);
    free(r.out);
}

static void test_tls_legs_paired_by_lbs_ring(void **state)
{
    struct run_result r;
    char line[16384];
    struct fake_ring fr = {.first_id = "tls-1"};
    struct pair_ring_ops ops = fake_ops(&fr);
    (void)state;
    assert_int_equal(run_pcap_full(LEGS, 8000, 9001, 3, OUTPUT_BOTH, true, 0, TRACE_MODE_HTTP, &ops, &r), 0);
    assert_true(fr.asked > 0);
    assert_int_equal(count_of(r.out, "\"paired_by\":\"lb_ring\",\"confirmed\":true"), 3);
    assert_non_null(line_with(r.out, "\"path\":\"/cart\"", 0, line, sizeof(line)));
    /* the encrypted leg learns its request id from the ring */
    if (strstr(line, "\"response_bytes\":600,\"ttfb_ms\":0.300,\"time_ms\":0.300,"
                     "\"request_id\":\"tls-1\"") == NULL)
        fail_msg("the encrypted leg has no request id from the ring: %s", line);
    free(r.out);

    /* where the ring names another request, it wins over timing: no pair */
    fr = (struct fake_ring){.first_id = "something-else"};
    ops = fake_ops(&fr);
    assert_int_equal(run_pcap_full(LEGS, 8000, 9001, 3, OUTPUT_BOTH, true, 0, TRACE_MODE_HTTP, &ops, &r), 0);
    assert_int_equal(count_of(r.out, "\"paired_by\":\"lb_ring\""), 2);
    assert_int_equal(count_of(r.out, "\"paired_by\":\"timing\""), 0);
    assert_non_null(line_with(r.out, "\"path\":\"/cart\"", 0, line, sizeof(line)));
    assert_non_null(strstr(line, "\"client\":null"));
    free(r.out);
}

/* --- tls-passthrough.pcap ----------------------------------------------------------------------- */

static void test_tls_passed_through_in_tcp_mode(void **state)
{
    struct run_result r;
    (void)state;
    assert_int_equal(run_pcap_full(PASSTHROUGH, 8000, 9001, 3, OUTPUT_BOTH, true, 0, TRACE_MODE_TCP,
                                   NULL, &r), 0);
    assert_int_equal(count_of(r.out, "\"type\":\"tcp_connection\""), 1);
    assert_non_null(strstr(r.out, "\"bytes_identical\":true"));
    assert_int_equal(count_of(r.out, "\"sni\":\"direct.example\""), 2);
    assert_int_equal(count_of(r.out, "\"version\":\"TLS 1.3\""), 2);
    assert_non_null(strstr(r.out, "\"requests\":[]"));
    free(r.out);
    assert_int_equal(run_pcap_full(PASSTHROUGH, 8000, 9001, 3, OUTPUT_BOTH, false, 0, TRACE_MODE_TCP,
                                   NULL, &r), 0);
    assert_non_null(strstr(r.out, "bytes carried unchanged both ways"));
    assert_int_equal(count_of(r.out, "lb relays it without decrypting it (tcp mode)"), 2);
    assert_non_null(strstr(r.out, "none readable: the connection carries TLS, passed through unread"));
    free(r.out);
}

/* --- telling TLS from HTTP ---------------------------------------------------------------------- */

/* The first bytes of a TLS client and of an HTTP client, cut at every place: each is still
 * read for what it is. */
static void test_first_bytes_cut_anywhere(void **state)
{
    uint8_t hello[1024];
    (void)state;
    size_t n = tg_client_hello(hello, sizeof(hello), "cut.example", "", true);
    const char *get = "GET /cut HTTP/1.1\r\nHost: lb\r\n\r\n";
    for (size_t cut = 1; cut <= 6; cut++) {
        char *path = temp_pcap();
        struct pg *pg = pg_open(path, PG_LINK_EN10MB);
        struct pg_conn t = pg_connect(pg, pg_v4("127.0.0.1", 43000), pg_v4("127.0.0.1", 8000), 1, 2);
        struct pg_conn h = pg_connect(pg, pg_v4("127.0.0.1", 43001), pg_v4("127.0.0.1", 8000), 3, 4);
        for (size_t off = 0; off < cut; off++) /* one byte a segment, then the rest */
            pg_send(&t, true, hello + off, 1);
        pg_send(&t, true, hello + cut, n - cut);
        for (size_t off = 0; off < cut; off++)
            pg_send(&h, true, get + off, 1);
        pg_send(&h, true, get + cut, strlen(get) - cut);
        pg_sends(&h, false, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        pg_close_conn(&t);
        pg_close_conn(&h);
        pg_close(pg);
        struct run_result r;
        assert_int_equal(run_pcap(path, true, &r), 0);
        assert_int_equal(r.st.tls_connections, 1);
        assert_int_equal(r.st.requests, 1);
        assert_non_null(strstr(r.out, "\"sni\":\"cut.example\""));
        assert_non_null(strstr(r.out, "\"path\":\"/cut\""));
        free(r.out);
        unlink(path);
        free(path);
    }
}

static void test_more_lb_ports_are_client_legs(void **state)
{
    struct flow_config cfg = {.lb_port = 3000, .more_lb_ports = {3443}, .num_more_lb_ports = 1,
                              .backend_ports = {3001}, .num_backend_ports = 1};
    (void)state;
    assert_int_equal(flow_classify_port(&cfg, 3000), FLOW_LEG_CLIENT);
    assert_int_equal(flow_classify_port(&cfg, 3443), FLOW_LEG_CLIENT);
    assert_int_equal(flow_classify_port(&cfg, 3001), FLOW_LEG_BACKEND);
    assert_int_equal(flow_classify_port(&cfg, 4443), FLOW_LEG_OTHER);
}

/* A plain request whose client leg finishes before its backend leg (captured out of the usual
 * order), with lb's health check over TLS to another backend in between: the plain legs still
 * meet by their request id, and the encrypted check is shown alone. */
static void test_an_encrypted_check_does_not_take_a_plain_request(void **state)
{
    uint8_t c[4096], s[4096], r[4096];
    size_t cl, sl;
    (void)state;
    char *path = temp_pcap();
    struct pg *pg = pg_open(path, PG_LINK_EN10MB);
    struct pg_conn k = pg_connect(pg, pg_v4("127.0.0.1", 44000), pg_v4("127.0.0.1", 8000), 1, 2);
    struct pg_conn b = pg_connect(pg, pg_v4("127.0.0.1", 54000), pg_v4("127.0.0.1", 9001), 3, 4);
    pg_sends(&k, true, "GET /x HTTP/1.1\r\nHost: lb\r\n\r\n");
    pg_sends(&b, true, "GET /x HTTP/1.1\r\nHost: lb\r\nX-Request-ID: id-x\r\n\r\n");
    struct pg_conn hc = pg_connect(pg, pg_v4("127.0.0.1", 54001), pg_v4("127.0.0.1", 9003), 5, 6);
    tg_tls13_handshake(c, sizeof(c), &cl, s, sizeof(s), &sl, "", "http/1.1");
    pg_send(&hc, true, c, cl);
    pg_send(&hc, false, s, sl);
    size_t n = tg_ccs(r, sizeof(r));
    n += tg_opaque(r + n, sizeof(r) - n, 23, 53);
    n += tg_opaque(r + n, sizeof(r) - n, 23, 80);
    pg_send(&hc, true, r, n);
    pg_send(&hc, false, r, tg_opaque(r, sizeof(r), 23, 60));
    pg_close_conn(&hc);
    pg_sends(&k, false, "HTTP/1.1 200 OK\r\nX-Request-ID: id-x\r\nContent-Length: 2\r\n\r\nok");
    pg_sends(&b, false, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    pg_close_conn(&k);
    pg_close_conn(&b);
    pg_close(pg);
    struct run_result res;
    assert_int_equal(run_pcap(path, true, &res), 0);
    assert_int_equal(count_of(res.out, "\"request_id\":\"id-x\",\"paired_by\":\"request_id\""), 1);
    assert_int_equal(count_of(res.out, "\"paired_by\":\"timing\""), 0);
    assert_int_equal(count_of(res.out, "\"client\":null"), 1); /* the check, alone */
    free(res.out);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_legs_paired_by_timing_without_a_ring),
        cmocka_unit_test(test_tls_legs_text_says_what_cannot_be_read),
        cmocka_unit_test(test_tls_legs_paired_by_lbs_ring),
        cmocka_unit_test(test_tls_passed_through_in_tcp_mode),
        cmocka_unit_test(test_first_bytes_cut_anywhere),
        cmocka_unit_test(test_more_lb_ports_are_client_legs),
        cmocka_unit_test(test_an_encrypted_check_does_not_take_a_plain_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
