/* test_lbtrace_decode.c - unit tests of lbtrace's frame decoder (lbtrace/decode.c): every link
 * type lbtrace accepts, IPv4 and IPv6, TCP options, and frames that lie about their lengths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "decode.h"
#include "lbtrace_pcapgen.h"
#include "lbtrace_testrun.h"

/* Builds an Ethernet + IPv4 + TCP frame into buf, returns its length. */
static size_t ipv4_frame(uint8_t *buf, const char *payload, uint8_t flags)
{
    size_t plen = strlen(payload);
    memset(buf, 0, 14 + 20 + 20);
    buf[12] = 0x08;
    uint8_t *ip = buf + 14;
    ip[0] = 0x45;
    pg_put16(ip + 2, (uint16_t)(40 + plen));
    ip[9] = 6;
    ip[12] = 10, ip[15] = 1;
    ip[16] = 10, ip[19] = 2;
    uint8_t *tcp = ip + 20;
    pg_put16(tcp, 40000);
    pg_put16(tcp + 2, 80);
    pg_put32(tcp + 4, 1000);
    pg_put32(tcp + 8, 2000);
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    pg_put16(tcp + 14, 512);
    memcpy(tcp + 20, payload, plen);
    return 54 + plen;
}

static void test_decodes_ethernet_ipv4_tcp(void **state)
{
    uint8_t f[256];
    struct decode_packet p;
    char err[128];
    (void)state;
    size_t n = ipv4_frame(f, "GET / HTTP/1.1\r\n", PG_PSH | PG_ACK);
    assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, f, n, &p, err, sizeof(err)), DECODE_OK);
    assert_int_equal(p.family, AF_INET);
    assert_int_equal(p.sport, 40000);
    assert_int_equal(p.dport, 80);
    assert_int_equal(p.seq, 1000);
    assert_int_equal(p.ack, 2000);
    assert_int_equal(p.flags, PG_PSH | PG_ACK);
    assert_int_equal(p.window, 512);
    assert_int_equal(p.payload_len, 16);
    assert_int_equal(p.wire_payload_len, 16);
    assert_memory_equal(p.payload, "GET / HTTP/1.1\r\n", 16);
    assert_int_equal(p.src[0], 10);
    assert_int_equal(p.dst[3], 2);
    assert_int_equal(p.vlan, -1);
}

static void test_ethernet_padding_is_not_payload(void **state)
{
    uint8_t f[256];
    struct decode_packet p;
    (void)state;
    size_t n = ipv4_frame(f, "", PG_ACK); /* 54 bytes: Ethernet pads to 60 */
    memset(f + n, 0xee, 6);
    assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, f, n + 6, &p, NULL, 0), DECODE_OK);
    assert_int_equal(p.payload_len, 0);
}

static void test_every_truncation_of_a_frame_is_refused_or_short(void **state)
{
    uint8_t f[256];
    struct decode_packet p;
    char err[128];
    (void)state;
    size_t n = ipv4_frame(f, "hello", PG_PSH | PG_ACK);
    for (size_t cut = 0; cut < n; cut++) {
        enum decode_status st = decode_frame(DECODE_LINK_ETHERNET, f, cut, &p, err, sizeof(err));
        if (cut < 54) {
            assert_int_equal(st, DECODE_MALFORMED);
            assert_true(err[0] != '\0');
        } else { /* cut inside the payload: decoded, with the payload marked short */
            assert_int_equal(st, DECODE_OK);
            assert_int_equal(p.payload_len, cut - 54);
            assert_int_equal(p.wire_payload_len, 5);
        }
    }
}

static void test_lying_lengths_are_malformed(void **state)
{
    uint8_t f[256];
    struct decode_packet p;
    (void)state;
    size_t n = ipv4_frame(f, "x", PG_ACK);
    f[14] = 0x4f; /* IHL 60 bytes: more than captured */
    assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, f, n, &p, NULL, 0), DECODE_MALFORMED);
    n = ipv4_frame(f, "x", PG_ACK);
    f[14] = 0x44; /* IHL 16 < 20 */
    assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, f, n, &p, NULL, 0), DECODE_MALFORMED);
    n = ipv4_frame(f, "x", PG_ACK);
    f[14 + 20 + 12] = 0xf0; /* TCP data offset 60 > segment */
    assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, f, n, &p, NULL, 0), DECODE_MALFORMED);
    n = ipv4_frame(f, "x", PG_ACK);
    f[14 + 20 + 12] = 0x10; /* TCP data offset 4 < 20 */
    assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, f, n, &p, NULL, 0), DECODE_MALFORMED);
    n = ipv4_frame(f, "x", PG_ACK);
    pg_put16(f + 16, 10); /* IP total length smaller than its header */
    assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, f, n, &p, NULL, 0), DECODE_MALFORMED);
    n = ipv4_frame(f, "x", PG_ACK);
    f[14] = 0x65; /* version 6 in an IPv4 ethertype */
    assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, f, n, &p, NULL, 0), DECODE_MALFORMED);
}

static void test_non_tcp_and_fragments_are_told_apart(void **state)
{
    uint8_t f[256];
    struct decode_packet p;
    (void)state;
    size_t n = ipv4_frame(f, "x", PG_ACK);
    f[14 + 9] = 17; /* UDP */
    assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, f, n, &p, NULL, 0), DECODE_NOT_TCP);
    n = ipv4_frame(f, "x", PG_ACK);
    pg_put16(f + 14 + 6, 0x2000); /* more fragments */
    assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, f, n, &p, NULL, 0), DECODE_FRAGMENT);
    n = ipv4_frame(f, "x", PG_ACK);
    f[12] = 0x08, f[13] = 0x06; /* ARP */
    assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, f, n, &p, NULL, 0), DECODE_NOT_TCP);
    assert_int_equal(decode_frame(147, f, n, &p, NULL, 0), DECODE_UNSUPPORTED);
    assert_false(decode_link_supported(147));
}

static void test_vlan_tags_are_skipped_and_reported(void **state)
{
    uint8_t f[256], g[256];
    struct decode_packet p;
    (void)state;
    size_t n = ipv4_frame(f, "abc", PG_PSH | PG_ACK);
    /* insert 802.1ad + 802.1Q tags after the MAC addresses */
    memcpy(g, f, 12);
    pg_put16(g + 12, 0x88a8);
    pg_put16(g + 14, 100);
    pg_put16(g + 16, 0x8100);
    pg_put16(g + 18, 42);
    memcpy(g + 20, f + 12, n - 12);
    assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, g, n + 8, &p, NULL, 0), DECODE_OK);
    assert_int_equal(p.vlan, 100);
    assert_int_equal(p.payload_len, 3);
    /* a tag cut in half */
    assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, g, 16, &p, NULL, 0), DECODE_MALFORMED);
}

static void test_tcp_options_are_parsed_and_bad_ones_ignored(void **state)
{
    uint8_t f[256];
    struct decode_packet p;
    (void)state;
    memset(f, 0, sizeof(f));
    f[0] = 0x45;
    pg_put16(f + 2, 20 + 40);
    f[9] = 6;
    uint8_t *tcp = f + 20;
    tcp[12] = 10 << 4; /* 40-byte header: 20 bytes of options */
    tcp[13] = PG_SYN;
    uint8_t opts[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 1, 3, 3, 7};
    memcpy(tcp + 20, opts, sizeof(opts));
    assert_int_equal(decode_frame(DECODE_LINK_RAW, f, 60, &p, NULL, 0), DECODE_OK);
    assert_true(p.has_mss);
    assert_int_equal(p.mss, 1460);
    assert_true(p.has_sack_perm);
    assert_true(p.has_timestamp);
    assert_int_equal(p.tsval, 7);
    assert_int_equal(p.tsecr, 9);
    assert_true(p.has_wscale);
    assert_int_equal(p.wscale, 7);
    /* an option whose length runs past the header ends option parsing, not the decoding */
    uint8_t bad[20] = {2, 40, 0, 0};
    memcpy(tcp + 20, bad, sizeof(bad));
    assert_int_equal(decode_frame(DECODE_LINK_RAW, f, 60, &p, NULL, 0), DECODE_OK);
    assert_false(p.has_mss);
    uint8_t zero_len[20] = {8, 0};
    memcpy(tcp + 20, zero_len, sizeof(zero_len));
    assert_int_equal(decode_frame(DECODE_LINK_RAW, f, 60, &p, NULL, 0), DECODE_OK);
}

static void test_ipv6_with_extension_headers(void **state)
{
    uint8_t f[256];
    struct decode_packet p;
    (void)state;
    memset(f, 0, sizeof(f));
    f[0] = 0x60;
    pg_put16(f + 4, 8 + 20 + 2);
    f[6] = 0; /* hop-by-hop first */
    f[8 + 15] = 1;  /* src ::1 */
    f[24 + 15] = 1; /* dst ::1 */
    f[40] = 6;      /* hop-by-hop: next TCP, length 8 */
    uint8_t *tcp = f + 48;
    pg_put16(tcp, 5555);
    pg_put16(tcp + 2, 8000);
    tcp[12] = 5 << 4;
    tcp[13] = PG_ACK;
    memcpy(tcp + 20, "hi", 2);
    assert_int_equal(decode_frame(DECODE_LINK_RAW, f, 70, &p, NULL, 0), DECODE_OK);
    assert_int_equal(p.family, AF_INET6);
    assert_int_equal(p.dport, 8000);
    assert_int_equal(p.payload_len, 2);
    f[41] = 200; /* extension header longer than the packet */
    assert_int_equal(decode_frame(DECODE_LINK_RAW, f, 70, &p, NULL, 0), DECODE_MALFORMED);
    f[41] = 0;
    f[40] = 44; /* then a fragment header */
    assert_int_equal(decode_frame(DECODE_LINK_RAW, f, 70, &p, NULL, 0), DECODE_FRAGMENT);
}

static void test_flags_print_like_tcpdump(void **state)
{
    char b[16];
    (void)state;
    assert_string_equal(decode_flags_str(PG_SYN, b, sizeof(b)), "S");
    assert_string_equal(decode_flags_str(PG_SYN | PG_ACK, b, sizeof(b)), "S.");
    assert_string_equal(decode_flags_str(PG_PSH | PG_ACK, b, sizeof(b)), "P.");
    assert_string_equal(decode_flags_str(PG_FIN | PG_ACK, b, sizeof(b)), "F.");
    assert_string_equal(decode_flags_str(PG_RST, b, sizeof(b)), "R");
    assert_string_equal(decode_flags_str(0, b, sizeof(b)), "none");
}

/* The same small HTTP exchange written with each link type decodes to the same request. */
static void check_link_type(int link, int vlan, bool v6)
{
    char *path = temp_pcap();
    struct pg *pg = pg_open(path, link);
    struct run_result r;
    assert_non_null(pg);
    pg->vlan = vlan;
    struct pg_endpoint c = v6 ? pg_v6("::1", 40001) : pg_v4("127.0.0.1", 40001);
    struct pg_endpoint s = v6 ? pg_v6("::1", 8000) : pg_v4("127.0.0.1", 8000);
    struct pg_conn k = pg_connect(pg, c, s, 100, 5000);
    pg_sends(&k, true, "GET /link HTTP/1.1\r\nHost: x\r\n\r\n");
    pg_sends(&k, false, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    pg_close_conn(&k);
    pg_close(pg);

    assert_int_equal(run_pcap(path, true, &r), 0);
    assert_int_equal(r.st.malformed, 0);
    assert_int_equal(r.st.tcp_segments, 8);
    assert_int_equal(r.connections, 1);
    assert_int_equal(r.st.requests, 1);
    assert_non_null(strstr(r.out, "\"path\":\"/link\""));
    assert_non_null(strstr(r.out, "\"status\":200"));
    assert_non_null(strstr(r.out, v6 ? "\"src\":\"[::1]:40001\"" : "\"src\":\"127.0.0.1:40001\""));
    free(r.out);
    unlink(path);
    free(path);
}

static void test_link_type_ethernet(void **state)
{
    (void)state;
    check_link_type(PG_LINK_EN10MB, -1, false);
}

static void test_link_type_ethernet_vlan(void **state)
{
    (void)state;
    check_link_type(PG_LINK_EN10MB, 7, false);
}

static void test_link_type_linux_cooked(void **state)
{
    (void)state;
    check_link_type(PG_LINK_SLL, -1, false);
}

static void test_link_type_linux_cooked_v2(void **state)
{
    (void)state;
    check_link_type(PG_LINK_SLL2, -1, true);
}

static void test_link_type_bsd_loopback(void **state)
{
    (void)state;
    check_link_type(PG_LINK_NULL, -1, false);
    check_link_type(PG_LINK_NULL, -1, true);
}

static void test_link_type_raw_ip(void **state)
{
    (void)state;
    check_link_type(PG_LINK_RAW, -1, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decodes_ethernet_ipv4_tcp),
        cmocka_unit_test(test_ethernet_padding_is_not_payload),
        cmocka_unit_test(test_every_truncation_of_a_frame_is_refused_or_short),
        cmocka_unit_test(test_lying_lengths_are_malformed),
        cmocka_unit_test(test_non_tcp_and_fragments_are_told_apart),
        cmocka_unit_test(test_vlan_tags_are_skipped_and_reported),
        cmocka_unit_test(test_tcp_options_are_parsed_and_bad_ones_ignored),
        cmocka_unit_test(test_ipv6_with_extension_headers),
        cmocka_unit_test(test_flags_print_like_tcpdump),
        cmocka_unit_test(test_link_type_ethernet),
        cmocka_unit_test(test_link_type_ethernet_vlan),
        cmocka_unit_test(test_link_type_linux_cooked),
        cmocka_unit_test(test_link_type_linux_cooked_v2),
        cmocka_unit_test(test_link_type_bsd_loopback),
        cmocka_unit_test(test_link_type_raw_ip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
