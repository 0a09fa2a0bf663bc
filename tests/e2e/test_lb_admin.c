/*
 * test_lb_admin.c - end-to-end: the admin endpoint (--admin) takes a backend out and back.
 *
 * A drained backend gets no new requests while the others keep serving; enabled again it is back
 * in the rotation; disabled it stays DOWN; lbtop shows each state with the reason "admin"; a
 * wrong method, path or name gets 405 or 404 and changes nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_fixture.h"

#define TIMEOUT_MS 10000

/* Sends method path to the admin port; returns the status, and the body in body[256]. */
static int admin(uint16_t port, const char *method, const char *path, char body[256])
{
    char req[256];
    struct harness_response resp;
    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n",
             method, path);
    assert_int_equal(harness_exchange(port, req, strlen(req), TIMEOUT_MS, &resp), 0);
    int status = resp.status;
    snprintf(body, 256, "%s", resp.body ? resp.body : "");
    harness_response_free(&resp);
    return status;
}

/* Which backend answers each of n requests: counts[k] for backend-sim b(k+1). */
static void spread(uint16_t port, int n, int counts[3])
{
    for (int i = 0; i < n; i++) {
        struct harness_response resp;
        static const char req[] = "GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_int_equal(harness_exchange(port, req, sizeof(req) - 1, TIMEOUT_MS, &resp), 0);
        assert_int_equal(resp.status, 200);
        const char *b = harness_header(&resp, "X-Backend");
        assert_non_null(b);
        counts[b[1] - '1']++;
        harness_response_free(&resp);
    }
}

/* backend name's "state" and "reason" in lbtop --json. */
static void shown(uint16_t port, const char *name, char state[16], char reason[64])
{
    int status;
    char *out = harness_runf(&status, "%s --json -p %u", harness_bin("lbtop"), (unsigned)port);
    assert_non_null(out);
    char key[64];
    snprintf(key, sizeof(key), "\"name\": \"%s\"", name);
    const char *b = strstr(out, key);
    assert_non_null(b);
    const char *st = strstr(b, "\"state\": \""), *re = strstr(b, "\"reason\": \"");
    assert_non_null(st);
    assert_non_null(re);
    st += strlen("\"state\": \"");
    re += strlen("\"reason\": \"");
    snprintf(state, 16, "%.*s", (int)strcspn(st, "\""), st);
    snprintf(reason, 64, "%.*s", (int)strcspn(re, "\""), re);
    free(out);
}

static void test_drain_enable_and_disable_a_backend(void **state)
{
    static struct harness_lab lab;
    uint16_t admin_port = harness_free_port();
    char admin_arg[32], name[32], path[96], body[256], st[16], why[64];
    (void)state;
    snprintf(admin_arg, sizeof(admin_arg), "127.0.0.1:%u", (unsigned)admin_port);
    const char *extra[] = {"-w", "2", "--admin", admin_arg, NULL};
    assert_int_equal(harness_lab_start(&lab, 3, extra), 0);
    assert_true(harness_wait_port(admin_port, TIMEOUT_MS));
    snprintf(name, sizeof(name), "127.0.0.1:%u", (unsigned)lab.sim_port[1]); /* lb's name for b2 */

    snprintf(path, sizeof(path), "/backends/%s/drain", name);
    assert_int_equal(admin(admin_port, "POST", path, body), 200);
    assert_non_null(strstr(body, "\"state\": \"DRAINING\""));
    shown(lab.lb_port, name, st, why);
    assert_string_equal(st, "DRAIN"); /* lbtop's short name for DRAINING */
    assert_string_equal(why, "admin");
    int c[3] = {0};
    spread(lab.lb_port, 9, c);
    assert_int_equal(c[1], 0); /* drained: no new requests */
    assert_int_equal(c[0] + c[2], 9);

    snprintf(path, sizeof(path), "/backends/%s/enable", name);
    assert_int_equal(admin(admin_port, "POST", path, body), 200);
    assert_non_null(strstr(body, "\"state\": \"UP\""));
    int d[3] = {0};
    spread(lab.lb_port, 9, d);
    assert_int_equal(d[0], 3); /* round robin over all three again */
    assert_int_equal(d[1], 3);
    assert_int_equal(d[2], 3);

    snprintf(path, sizeof(path), "/backends/%s/disable", name);
    assert_int_equal(admin(admin_port, "POST", path, body), 200);
    shown(lab.lb_port, name, st, why);
    assert_string_equal(st, "DOWN");
    int e[3] = {0};
    spread(lab.lb_port, 6, e);
    assert_int_equal(e[1], 0);

    /* wrong method, unknown action, unknown backend, unknown path: refused, nothing changes */
    snprintf(path, sizeof(path), "/backends/%s/enable", name);
    assert_int_equal(admin(admin_port, "GET", path, body), 405);
    snprintf(path, sizeof(path), "/backends/%s/explode", name);
    assert_int_equal(admin(admin_port, "POST", path, body), 404);
    assert_int_equal(admin(admin_port, "POST", "/backends/nope/drain", body), 404);
    assert_int_equal(admin(admin_port, "POST", "/", body), 404);
    shown(lab.lb_port, name, st, why);
    assert_string_equal(st, "DOWN");
    assert_int_equal(harness_lab_stop(&lab), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_drain_enable_and_disable_a_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
