/*
 * test_lbtop_admin.c - end-to-end, in a real terminal (tmux, lbtop_tmux.h): lbtop's keys D and E
 * drain and enable the selected backend through lb's admin endpoint, which lbtop finds in the
 * statistics header. The change shows on lbtop's screen and in lb's own GET /stats; with no
 * backend selected, or with an lb started without --admin, lbtop says why nothing was done.
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
#include "lbtop_tmux.h"

#define TIMEOUT_MS 10000

/* The "state" lb's GET /stats gives backend name. */
static void stats_state(uint16_t admin_port, const char *name, char *out, size_t len)
{
    static const char req[] = "GET /stats HTTP/1.1\r\nHost: admin\r\n\r\n";
    struct harness_response r;
    char key[96];
    assert_int_equal(harness_exchange(admin_port, req, sizeof(req) - 1, TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 200);
    snprintf(key, sizeof(key), "\"name\": \"%s\"", name);
    const char *b = strstr(r.body, key);
    assert_non_null(b);
    const char *st = strstr(b, "\"state\": \"");
    assert_non_null(st);
    st += strlen("\"state\": \"");
    snprintf(out, len, "%.*s", (int)strcspn(st, "\""), st);
    harness_response_free(&r);
}

/* Waits for every string (NULL-terminated) on lbtop's screen, failing with the screen. */
#define SCREEN_SHOWS(what, ...)                                                                  \
    do {                                                                                         \
        bool ok_;                                                                                \
        char *screen_ = tmux_wait_for(TIMEOUT_MS, &ok_, __VA_ARGS__, (char *)NULL);              \
        if (!ok_)                                                                                \
            fail_msg("%s:\n%s", what, screen_);                                                  \
        free(screen_);                                                                           \
    } while (0)

static void test_d_drains_and_e_enables_the_selected_backend(void **state)
{
    static struct harness_lab lab;
    uint16_t admin_port = harness_free_port();
    char admin_arg[32], name[32], msg[96], st[16];
    (void)state;
    snprintf(admin_arg, sizeof(admin_arg), "127.0.0.1:%u", (unsigned)admin_port);
    const char *extra[] = {"-w", "2", "--admin", admin_arg, NULL};
    assert_int_equal(harness_lab_start(&lab, 2, extra), 0);
    assert_true(harness_wait_port(admin_port, TIMEOUT_MS));
    snprintf(name, sizeof(name), "127.0.0.1:%u", (unsigned)lab.sim_port[0]);

    assert_int_equal(tmux_start("%s -p %u -d 0.2", harness_bin("lbtop"), (unsigned)lab.lb_port),
                     0);
    char where[48];
    snprintf(where, sizeof(where), "admin %s", admin_arg); /* the title names the endpoint */
    SCREEN_SHOWS("STATUS", "[1 STATUS]", name, where);
    tmux_keys("D"); /* nothing selected yet */
    SCREEN_SHOWS("D without a selection", "drain: select a backend first");

    tmux_keys("Down"); /* the first backend */
    tmux_keys("D");
    snprintf(msg, sizeof(msg), "drain %s: DRAINING", name);
    SCREEN_SHOWS("after D", msg, "DRAIN");
    stats_state(admin_port, name, st, sizeof(st));
    assert_string_equal(st, "DRAIN");

    tmux_keys("E");
    snprintf(msg, sizeof(msg), "enable %s: UP", name);
    SCREEN_SHOWS("after E", msg);
    stats_state(admin_port, name, st, sizeof(st));
    assert_string_equal(st, "UP");

    tmux_keys("q");
    tmux_stop();
    assert_int_equal(harness_lab_stop(&lab), 0);
}

static void test_without_admin_lbtop_says_so(void **state)
{
    static struct harness_lab lab;
    (void)state;
    const char *extra[] = {"-w", "1", NULL};
    assert_int_equal(harness_lab_start(&lab, 1, extra), 0);
    assert_int_equal(tmux_start("%s -p %u -d 0.2", harness_bin("lbtop"), (unsigned)lab.lb_port),
                     0);
    SCREEN_SHOWS("STATUS", "[1 STATUS]");
    tmux_keys("Down");
    tmux_keys("E");
    SCREEN_SHOWS("E without --admin", "lb runs without --admin");
    tmux_keys("q");
    tmux_stop();
    assert_int_equal(harness_lab_stop(&lab), 0);
}

static int teardown(void **state)
{
    tmux_stop();
    return harness_test_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_d_drains_and_e_enables_the_selected_backend,
                                        harness_test_setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_admin_lbtop_says_so, harness_test_setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
