/* test_lbtop_tcp.c - end-to-end tests of lbtop against lb -m tcp: real backend-sim backends and a
 * real lb in tcp mode on free loopback ports. lb balances connections there, so lbtop must count
 * connections, bytes each way and connection durations per backend, say "mode tcp", and show no
 * requests and no status codes (bin/lbtop --json and --once). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define NB 2

struct rig {
    uint16_t lb_port, ports[NB];
    pid_t sim, lb;
    char log[128];
};

static struct rig *active; /* stopped by teardown() even when an assertion ends the test */

static void rig_up(struct rig *r)
{
    char p[NB][32], b[NB][48], listen[32];
    memset(r, 0, sizeof(*r));
    active = r;
    snprintf(r->log, sizeof(r->log), "/tmp/lblab-e2e-lbtop-tcp-%ld.log", (long)getpid());
    assert_int_equal(harness_free_ports(r->ports, NB), 0);
    for (unsigned i = 0; i < NB; i++) {
        snprintf(p[i], sizeof(p[i]), "127.0.0.1:%u", (unsigned)r->ports[i]);
        snprintf(b[i], sizeof(b[i]), "127.0.0.1:%u,name=b%u", (unsigned)r->ports[i], i + 1);
    }
    char *sim_argv[] = {(char *)harness_bin("backend-sim"), "-p", p[0], "-p", p[1], NULL};
    r->sim = harness_spawn_listening_ports(sim_argv, r->ports, NB, r->log);
    assert_true(r->sim > 0);
    r->lb_port = harness_free_port(); /* never theirs: they listen now */
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", (unsigned)r->lb_port);
    char *lb_argv[] = {(char *)harness_bin("lb"), "-m", "tcp", "-l", listen, "-w", "2",
                       "-b", b[0], "-b", b[1], NULL};
    r->lb = harness_spawn_listening(lb_argv, r->lb_port, r->log);
    assert_true(r->lb > 0);
}

static void rig_down(struct rig *r)
{
    if (r->lb > 0)
        harness_stop(r->lb, 10000);
    if (r->sim > 0)
        harness_stop(r->sim, 10000);
    r->lb = r->sim = 0;
    if (getenv("LBTOP_E2E_KEEP_LOG") == NULL)
        unlink(r->log);
    active = NULL;
}

static int teardown(void **state)
{
    (void)state;
    if (active != NULL)
        rig_down(active);
    return 0;
}

/* One connection with per_conn keep-alive requests; adds the bytes sent and received. */
static void one_connection(const struct rig *r, int per_conn, unsigned long long *sent,
                           unsigned long long *received)
{
    const char *req = "GET /whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    struct harness_conn conn;
    assert_int_equal(harness_conn_open(&conn, r->lb_port, 10000), 0);
    for (int i = 0; i < per_conn; i++) {
        struct harness_response resp;
        assert_int_equal(harness_send_all(conn.fd, req, strlen(req)), 0);
        assert_int_equal(harness_read_response(&conn, false, false, &resp), 0);
        assert_int_equal(resp.status, 200);
        *sent += strlen(req);
        *received += resp.head_len + resp.body_len;
        harness_response_free(&resp);
    }
    harness_conn_close(&conn);
}

static char *lbtop_run(const struct rig *r, const char *flags, int *code)
{
    int status;
    char *out = harness_runf(&status, "%s -p %u %s 2>&1", harness_bin("lbtop"),
                             (unsigned)r->lb_port, flags);
    *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
}

/* The integer after "key": in the object that starts at the first "anchor" (-1 if absent). */
static long long field_after(const char *json, const char *anchor, const char *key)
{
    char k[64];
    const char *a = strstr(json, anchor);
    if (a == NULL)
        return -1;
    snprintf(k, sizeof(k), "\"%s\": ", key);
    const char *v = strstr(a, k);
    return v ? strtoll(v + strlen(k), NULL, 10) : -1;
}

/* lbtop --json once lb has counted closed connections (the ports probe lb once at start-up:
 * that connection is counted too, so the tests look at what changes). */
static char *json_when_closed(const struct rig *r, long long closed)
{
    char *json = NULL;
    int code;
    for (int tries = 0; tries < 100; tries++) {
        free(json);
        json = lbtop_run(r, "--json", &code);
        assert_int_equal(code, 0);
        if (field_after(json, "\"totals\"", "closed") >= closed &&
            field_after(json, "\"name\": \"b1\"", "closed") +
                    field_after(json, "\"name\": \"b2\"", "closed") >= closed)
            return json;
        usleep(100000);
    }
    fail_msg("lbtop never showed %lld closed connections:\n%s", closed, json);
    return json;
}

static void test_json_counts_connections_and_bytes_per_backend(void **state)
{
    static struct rig r;
    unsigned long long sent = 0, received = 0;
    (void)state;
    rig_up(&r);
    char *before = json_when_closed(&r, 1); /* harness_spawn_listening's probe */
    long long accepted0 = field_after(before, "\"totals\"", "accepted");
    long long in0 = field_after(before, "\"totals\"", "bytes_in");
    long long out0 = field_after(before, "\"totals\"", "bytes_out");
    long long b1_0 = field_after(before, "\"name\": \"b1\"", "opened");
    long long b2_0 = field_after(before, "\"name\": \"b2\"", "opened");
    long long b1_in0 = field_after(before, "\"name\": \"b1\"", "bytes_in");
    long long b2_in0 = field_after(before, "\"name\": \"b2\"", "bytes_in");
    assert_non_null(strstr(before, "\"mode\": \"tcp\""));
    free(before);

    /* three connections, six requests: lb balances the connections, whatever is in them */
    one_connection(&r, 3, &sent, &received);
    one_connection(&r, 1, &sent, &received);
    one_connection(&r, 2, &sent, &received);
    char *json = json_when_closed(&r, accepted0 + 3);
    assert_int_equal(field_after(json, "\"totals\"", "accepted"), accepted0 + 3);
    assert_int_equal(field_after(json, "\"totals\"", "bytes_in"), in0 + (long long)sent);
    assert_int_equal(field_after(json, "\"totals\"", "bytes_out"), out0 + (long long)received);
    long long b1 = field_after(json, "\"name\": \"b1\"", "opened") - b1_0;
    long long b2 = field_after(json, "\"name\": \"b2\"", "opened") - b2_0;
    assert_int_equal(b1 + b2, 3);
    assert_true(b1 >= 1 && b2 >= 1); /* round robin over connections */
    long long b1_in = field_after(json, "\"name\": \"b1\"", "bytes_in") - b1_in0;
    long long b2_in = field_after(json, "\"name\": \"b2\"", "bytes_in") - b2_in0;
    assert_int_equal(b1_in + b2_in, (long long)sent);
    /* connection durations, per backend and in all */
    char want[64];
    snprintf(want, sizeof(want), "\"duration\": {\"count\": %lld,", accepted0 + 3);
    assert_non_null(strstr(json, want));
    assert_non_null(strstr(json, "\"connect\": {\"count\": "));
    /* nothing about requests or status codes */
    assert_null(strstr(json, "\"requests"));
    assert_null(strstr(json, "\"responses\""));
    assert_null(strstr(json, "2xx"));
    assert_null(strstr(json, "\"first_byte"));
    assert_null(strstr(json, "\"status\""));
    /* the recent connections */
    assert_non_null(strstr(json, "\"kind\": \"tcp\""));
    assert_non_null(strstr(json, "\"duration_ms\": "));
    free(json);
    rig_down(&r);
}

static void test_text_report_says_mode_tcp_and_shows_connection_views(void **state)
{
    static struct rig r;
    unsigned long long sent = 0, received = 0;
    int code;
    (void)state;
    rig_up(&r);
    one_connection(&r, 2, &sent, &received);
    free(json_when_closed(&r, 2)); /* the probe and this one */
    char *text = lbtop_run(&r, "--once", &code); /* 160 columns when not a terminal */
    assert_int_equal(code, 0);
    assert_non_null(strstr(text, "mode tcp"));
    assert_non_null(strstr(text, "lb relays whole connections"));
    assert_non_null(strstr(text, "closed 2"));
    assert_non_null(strstr(text, "== 3 CONNS =="));
    assert_non_null(strstr(text, "== 5 RECENT =="));
    assert_non_null(strstr(text, "DURATION"));
    assert_non_null(strstr(text, "RELAYED"));
    assert_null(strstr(text, "2xx"));
    assert_null(strstr(text, "REQS"));
    assert_null(strstr(text, "FIRST BYTE"));
    free(text);
    rig_down(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_json_counts_connections_and_bytes_per_backend, teardown),
        cmocka_unit_test_teardown(test_text_report_says_mode_tcp_and_shows_connection_views,
                                  teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
