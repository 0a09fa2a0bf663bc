/*
 * test_lb_sticky.c - end-to-end: sticky sessions (--sticky-cookie) with three backend-sim
 * backends. A client that keeps lb's cookie stays on one backend whatever the policy would
 * pick, until that backend is gone; then it moves, and its cookie is rewritten.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_fixture.h"

/* One request with the cookie header (NULL: none) on a new connection. Returns the backend's
 * name (X-Backend) in name[8] and lb's new cookie, if any, in cookie[64] ("" when none). */
static void request(uint16_t port, const char *cookie, char name[8], char cookie_out[64])
{
    char req[256];
    struct harness_response resp;
    snprintf(req, sizeof(req), "GET /whoami HTTP/1.1\r\nHost: x\r\n%s%s%s\r\n",
             cookie ? "Cookie: theme=dark; " : "", cookie ? cookie : "", cookie ? "\r\n" : "");
    assert_int_equal(harness_exchange(port, req, strlen(req), 10000, &resp), 0);
    assert_int_equal(resp.status, 200);
    const char *b = harness_header(&resp, "X-Backend");
    assert_non_null(b);
    snprintf(name, 8, "%s", b);
    cookie_out[0] = '\0';
    const char *set = harness_header(&resp, "Set-Cookie");
    if (set != NULL) {
        assert_memory_equal(set, "lbsrv=", 6);
        assert_non_null(strstr(set, "; Path=/; HttpOnly; SameSite=Lax"));
        assert_null(strstr(set, "127.0.0.1")); /* the cookie reveals no address */
        snprintf(cookie_out, 64, "%.*s", (int)strcspn(set, ";"), set);
    }
    harness_response_free(&resp);
}

static void test_cookie_pins_a_client_until_its_backend_goes_down(void **state)
{
    static struct harness_lab lab;
    const char *extra[] = {"-w", "2", "--sticky-cookie", "lbsrv", NULL};
    char name[8], first[8], cookie[64], again[64];
    (void)state;
    assert_int_equal(harness_lab_start(&lab, 3, extra), 0);

    request(lab.lb_port, NULL, first, cookie);
    assert_true(cookie[0] != '\0'); /* a new client gets a cookie */
    /* round robin alone would visit every backend in six requests: the cookie keeps one */
    for (int i = 0; i < 6; i++) {
        request(lab.lb_port, cookie, name, again);
        assert_string_equal(name, first);
        assert_string_equal(again, ""); /* the right cookie is not sent again */
    }
    /* without the cookie the policy decides: three requests see three backends */
    int seen_other = 0;
    for (int i = 0; i < 3; i++) {
        request(lab.lb_port, NULL, name, again);
        seen_other += strcmp(name, first) != 0;
    }
    assert_int_equal(seen_other, 2);

    /* the pinned backend dies: the client moves and gets a new cookie, then stays put again */
    size_t k = (size_t)(first[1] - '1'); /* backend-sim names its ports b1, b2, b3 in order */
    assert_true(k < 3);
    assert_int_equal(harness_stop(lab.sim_pid[k], 5000), 0);
    lab.sim_pid[k] = 0;
    char moved[8];
    request(lab.lb_port, cookie, moved, again);
    assert_string_not_equal(moved, first);
    assert_true(again[0] != '\0');
    assert_string_not_equal(again, cookie);
    for (int i = 0; i < 3; i++) {
        request(lab.lb_port, again, name, cookie);
        assert_string_equal(name, moved);
        assert_string_equal(cookie, "");
    }
    assert_int_equal(harness_lab_stop(&lab), 0);
}

/* A cookie lb never issued (a guess, or one from an lb that has restarted since) names no
 * backend: the policy picks and the answer carries a real cookie. */
static void test_unknown_cookie_is_replaced(void **state)
{
    static struct harness_lab lab;
    const char *extra[] = {"--sticky-cookie", "lbsrv", NULL};
    char name[8], cookie[64];
    (void)state;
    assert_int_equal(harness_lab_start(&lab, 3, extra), 0);
    request(lab.lb_port, "lbsrv=0000000000000000", name, cookie);
    assert_true(cookie[0] != '\0');
    assert_string_not_equal(cookie, "lbsrv=0000000000000000");
    assert_int_equal(harness_lab_stop(&lab), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_cookie_pins_a_client_until_its_backend_goes_down),
        LB_TEST(test_unknown_cookie_is_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
