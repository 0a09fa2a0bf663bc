/* test_lbtrace_flow.c - unit tests of lbtrace's TCP connection tracking (lbtrace/flow.c),
 * driven with hand-built segments: handshake and its round-trip time, who is the client, FIN and
 * RST, counts each way, retransmissions, port reuse, mid-stream starts, expiry and the bound on
 * the number of connections. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "flow.h"

#define MS 1000000ull

struct events {
    int opened, closed, destroyed, ends, gaps;
    bool end_rst[2];
    char data[2][256];
    size_t len[2];
    struct flow *last;
};

static void ev_opened(void *ctx, struct flow *f)
{
    struct events *e = ctx;
    e->opened++;
    e->last = f;
}

static void ev_data(void *ctx, struct flow *f, int dir, const uint8_t *data, size_t len,
                    uint64_t ts)
{
    struct events *e = ctx;
    (void)f, (void)ts;
    if (data == NULL) {
        e->gaps++;
        return;
    }
    for (size_t i = 0; i < len && e->len[dir] < 255; i++)
        e->data[dir][e->len[dir]++] = (char)data[i];
}

static void ev_end(void *ctx, struct flow *f, int dir, bool rst, uint64_t ts)
{
    struct events *e = ctx;
    (void)f, (void)ts;
    e->ends++;
    e->end_rst[dir] = rst;
}

static void ev_closed(void *ctx, struct flow *f, uint64_t ts)
{
    struct events *e = ctx;
    (void)f, (void)ts;
    e->closed++;
}

static void ev_destroy(void *ctx, struct flow *f)
{
    struct events *e = ctx;
    (void)f;
    e->destroyed++;
}

static struct flow_table *table(struct events *e, size_t max_flows)
{
    struct flow_config cfg = {.lb_port = 8000, .num_backend_ports = 1, .backend_ports = {9001},
                              .max_flows = max_flows};
    struct flow_hooks hooks = {.ctx = e, .opened = ev_opened, .data = ev_data, .end = ev_end,
                               .closed = ev_closed, .destroy = ev_destroy};
    memset(e, 0, sizeof(*e));
    return flow_table_new(&cfg, &hooks);
}

/* A segment from 10.0.0.sa:sp to 10.0.0.da:dp. */
static struct decode_packet seg(int sa, uint16_t sp, int da, uint16_t dp, uint32_t seq, uint32_t ack,
                                uint8_t flags, const char *payload)
{
    struct decode_packet p;
    memset(&p, 0, sizeof(p));
    p.family = AF_INET;
    p.src[0] = 10, p.src[3] = (uint8_t)sa;
    p.dst[0] = 10, p.dst[3] = (uint8_t)da;
    p.sport = sp;
    p.dport = dp;
    p.seq = seq;
    p.ack = ack;
    p.flags = flags;
    p.vlan = -1;
    if (payload) {
        p.payload = (const uint8_t *)payload;
        p.payload_len = p.wire_payload_len = strlen(payload);
    }
    return p;
}

#define S DECODE_TCP_SYN
#define A DECODE_TCP_ACK
#define F DECODE_TCP_FIN
#define R DECODE_TCP_RST
#define P DECODE_TCP_PSH

static void pkt(struct flow_table *t, struct decode_packet p, uint64_t ts)
{
    flow_table_packet(t, &p, ts);
}

static void test_handshake_data_and_fin_close_a_client_leg(void **state)
{
    struct events e;
    struct flow_table *t = table(&e, 0);
    (void)state;
    pkt(t, seg(1, 40000, 2, 8000, 100, 0, S, NULL), 1 * MS);
    pkt(t, seg(2, 8000, 1, 40000, 500, 101, S | A, NULL), 2 * MS);
    pkt(t, seg(1, 40000, 2, 8000, 101, 501, A, NULL), 4 * MS);
    struct flow *f = e.last;
    assert_int_equal(e.opened, 1);
    assert_int_equal(f->leg, FLOW_LEG_CLIENT);
    assert_int_equal(f->cli.port, 40000);
    assert_int_equal(f->srv.port, 8000);
    assert_int_equal(flow_handshake_ns(f), 3 * MS);
    assert_false(f->midstream);
    pkt(t, seg(1, 40000, 2, 8000, 101, 501, P | A, "ping"), 5 * MS);
    pkt(t, seg(2, 8000, 1, 40000, 501, 105, P | A, "pong!"), 6 * MS);
    pkt(t, seg(1, 40000, 2, 8000, 101, 501, P | A, "ping"), 7 * MS); /* retransmission */
    assert_string_equal(e.data[FLOW_C2S], "ping");
    assert_string_equal(e.data[FLOW_S2C], "pong!");
    assert_int_equal(f->dir[FLOW_C2S].retransmissions, 1);
    assert_int_equal(f->dir[FLOW_C2S].bytes, 8);
    pkt(t, seg(1, 40000, 2, 8000, 105, 506, F | A, NULL), 8 * MS);
    assert_int_equal(e.ends, 1);
    assert_int_equal(e.closed, 0);
    pkt(t, seg(2, 8000, 1, 40000, 506, 106, F | A, NULL), 9 * MS);
    assert_int_equal(e.closed, 1);
    assert_true(f->closed);
    assert_true(f->dir[0].fin && f->dir[1].fin);
    pkt(t, seg(1, 40000, 2, 8000, 106, 507, A, NULL), 10 * MS); /* the last ACK: same flow */
    assert_int_equal(e.opened, 1);
    assert_int_equal(f->dir[FLOW_C2S].segments, 6);
    assert_int_equal(f->dir[FLOW_S2C].segments, 3);
    assert_int_equal(flow_table_total(t), 1);
    flow_table_free(t);
    assert_int_equal(e.destroyed, 1);
}

static void test_fin_waits_for_missing_bytes(void **state)
{
    struct events e;
    struct flow_table *t = table(&e, 0);
    (void)state;
    pkt(t, seg(1, 40001, 2, 9001, 0, 0, S, NULL), 1);
    pkt(t, seg(2, 9001, 1, 40001, 0, 1, S | A, NULL), 2);
    assert_int_equal(e.last->leg, FLOW_LEG_BACKEND);
    pkt(t, seg(1, 40001, 2, 9001, 4, 1, F | P | A, "defg"), 3); /* FIN before "abc" */
    assert_int_equal(e.ends, 0);
    pkt(t, seg(1, 40001, 2, 9001, 1, 1, P | A, "abc"), 4);
    assert_int_equal(e.ends, 1);
    assert_string_equal(e.data[FLOW_C2S], "abcdefg");
    flow_table_free(t);
}

static void test_rst_ends_both_directions(void **state)
{
    struct events e;
    struct flow_table *t = table(&e, 0);
    (void)state;
    pkt(t, seg(1, 40002, 2, 8000, 0, 0, S, NULL), 1);
    pkt(t, seg(2, 8000, 1, 40002, 0, 1, S | A, NULL), 2);
    pkt(t, seg(2, 8000, 1, 40002, 1, 1, R, NULL), 3);
    assert_int_equal(e.closed, 1);
    assert_int_equal(e.ends, 2);
    assert_true(e.end_rst[0] && e.end_rst[1]);
    assert_true(e.last->reset);
    assert_true(e.last->dir[FLOW_S2C].rst);
    /* a RST for a connection never seen creates nothing */
    pkt(t, seg(3, 1234, 4, 5678, 0, 0, R, NULL), 4);
    assert_int_equal(e.opened, 1);
    flow_table_free(t);
}

static void test_midstream_direction_follows_the_known_ports(void **state)
{
    struct events e;
    struct flow_table *t = table(&e, 0);
    (void)state;
    /* first seen: the server's reply; lb's port decides who the client is */
    pkt(t, seg(2, 8000, 1, 40003, 77, 88, P | A, "HTTP/1.1"), 1);
    assert_true(e.last->midstream);
    assert_int_equal(e.last->cli.port, 40003);
    assert_int_equal(e.last->srv.port, 8000);
    assert_string_equal(e.data[FLOW_S2C], "HTTP/1.1");
    /* unknown ports: the lower one is the server */
    pkt(t, seg(1, 50000, 2, 443, 1, 1, A, NULL), 2);
    assert_int_equal(e.last->srv.port, 443);
    assert_int_equal(e.last->leg, FLOW_LEG_OTHER);
    flow_table_free(t);
}

static void test_port_reuse_starts_a_new_connection(void **state)
{
    struct events e;
    struct flow_table *t = table(&e, 0);
    (void)state;
    pkt(t, seg(1, 40004, 2, 8000, 10, 0, S, NULL), 1);
    struct flow *first = e.last;
    pkt(t, seg(1, 40004, 2, 8000, 10, 0, S, NULL), 2); /* retransmitted SYN: same connection */
    assert_int_equal(e.opened, 1);
    assert_int_equal(first->dir[FLOW_C2S].retransmissions, 1);
    pkt(t, seg(1, 40004, 2, 8000, 999, 0, S, NULL), 3); /* a new ISN: a new connection */
    assert_int_equal(e.opened, 2);
    assert_int_equal(e.closed, 1);
    assert_int_equal(e.destroyed, 1);
    assert_int_equal(e.last->id, 2);
    flow_table_free(t);
}

static void test_expiry_and_the_bound_on_connections(void **state)
{
    struct events e;
    struct flow_table *t = table(&e, 4);
    (void)state;
    for (int i = 0; i < 10; i++)
        pkt(t, seg(1, (uint16_t)(41000 + i), 2, 8000, 0, 0, S, NULL), (uint64_t)i * MS);
    assert_int_equal(flow_table_live(t), 4);
    assert_int_equal(flow_table_total(t), 10);
    assert_int_equal(e.closed, 6);
    /* an open connection silent for 300 s is finished and forgotten */
    flow_table_expire(t, 301000 * MS);
    assert_int_equal(flow_table_live(t), 0);
    assert_int_equal(e.destroyed, 10);
    flow_table_free(t);
}

static void test_held_flows_outlive_the_table_entry(void **state)
{
    struct events e;
    struct flow_table *t = table(&e, 0);
    (void)state;
    pkt(t, seg(1, 40005, 2, 8000, 0, 0, S, NULL), 1);
    struct flow *f = e.last;
    flow_hold(f);
    pkt(t, seg(1, 40005, 2, 8000, 1, 0, R, NULL), 2);
    flow_table_expire(t, 10000 * MS); /* past the linger time: unlinked, but held */
    assert_int_equal(flow_table_live(t), 0);
    assert_int_equal(e.destroyed, 0);
    assert_int_equal(f->id, 1);
    flow_release(t, f);
    assert_int_equal(e.destroyed, 1);
    flow_table_free(t);
}

static void test_addresses_print_like_lb(void **state)
{
    struct flow_addr a = {.family = AF_INET6, .port = 80};
    char buf[64];
    (void)state;
    a.addr[15] = 1;
    assert_string_equal(flow_addr_str(&a, buf, sizeof(buf)), "[::1]:80");
    a.family = AF_INET;
    memset(a.addr, 0, sizeof(a.addr));
    a.addr[0] = 127, a.addr[3] = 1;
    assert_string_equal(flow_addr_str(&a, buf, sizeof(buf)), "127.0.0.1:80");
    assert_string_equal(flow_ip_str(&a, buf, sizeof(buf)), "127.0.0.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_data_and_fin_close_a_client_leg),
        cmocka_unit_test(test_fin_waits_for_missing_bytes),
        cmocka_unit_test(test_rst_ends_both_directions),
        cmocka_unit_test(test_midstream_direction_follows_the_known_ports),
        cmocka_unit_test(test_port_reuse_starts_a_new_connection),
        cmocka_unit_test(test_expiry_and_the_bound_on_connections),
        cmocka_unit_test(test_held_flows_outlive_the_table_entry),
        cmocka_unit_test(test_addresses_print_like_lb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
