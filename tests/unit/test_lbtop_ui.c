/* test_lbtop_ui.c - unit tests of lbtop's keys (lbtop/ui.c): views, selection in displayed order,
 * detail and help pages, sort column, pause, reset and quit. No terminal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lbtop/ui.h"

static struct lbtop_model *model_with(unsigned nbackends, size_t nrecent)
{
    static struct lbtop_model m;
    struct stats_snapshot *s;

    assert_int_equal(lbtop_model_init(&m), 0);
    s = m.cur;
    s->nbackends = nbackends;
    s->nrecent = nrecent;
    for (unsigned b = 0; b < nbackends; b++) {
        snprintf(s->backends[b].name, sizeof(s->backends[b].name), "backend-%u", b);
        s->backends[b].requests = b == 2 ? 100 : b; /* backend 2 is the busiest */
    }
    m.have_cur = true;
    return &m;
}

static void test_number_keys_and_tab_switch_views(void **state)
{
    struct lbtop_model *m = model_with(3, 0);
    struct lbtop_ui ui;
    (void)state;

    lbtop_ui_init(&ui);
    assert_int_equal(ui.view, LBTOP_VIEW_STATUS);
    for (int k = '1'; k <= '6'; k++) {
        assert_int_equal(lbtop_ui_key(&ui, k, m), LBTOP_ACT_REDRAW);
        assert_int_equal(ui.view, (unsigned)(k - '0'));
    }
    assert_int_equal(ui.view, LBTOP_VIEW_WORKERS);
    assert_int_equal(lbtop_ui_key(&ui, '7', m), LBTOP_ACT_NONE);
    assert_int_equal(lbtop_ui_key(&ui, LBTOP_KEY_TAB, m), LBTOP_ACT_REDRAW);
    assert_int_equal(ui.view, LBTOP_VIEW_STATUS); /* wraps after WORKERS */
    lbtop_ui_key(&ui, LBTOP_KEY_TAB, m);
    assert_int_equal(ui.view, LBTOP_VIEW_TRAFFIC);
    lbtop_ui_key(&ui, LBTOP_KEY_BTAB, m);
    lbtop_ui_key(&ui, LBTOP_KEY_BTAB, m);
    assert_int_equal(ui.view, LBTOP_VIEW_WORKERS);
    lbtop_ui_key(&ui, LBTOP_KEY_BTAB, m);
    assert_int_equal(ui.view, LBTOP_VIEW_REQUESTS);
    lbtop_model_free(m);
}

static void test_the_workers_view_selects_nothing(void **state)
{
    struct lbtop_model *m = model_with(3, 2);
    struct lbtop_ui ui;
    (void)state;

    lbtop_ui_init(&ui);
    lbtop_ui_key(&ui, LBTOP_KEY_DOWN, m); /* backend 0 selected in STATUS */
    assert_int_equal(ui.sel_backend, 0);
    lbtop_ui_key(&ui, '6', m);
    assert_int_equal(lbtop_ui_selected_row(&ui), -1); /* its rows are workers */
    assert_int_equal(lbtop_ui_selected_backend(&ui, m), -1); /* D and E act on none */
    lbtop_ui_key(&ui, LBTOP_KEY_DOWN, m);
    lbtop_ui_key(&ui, LBTOP_KEY_ENTER, m);
    assert_false(ui.detail);
    assert_int_equal(ui.sel_backend, 0); /* kept for the other views */
    lbtop_ui_key(&ui, '1', m);
    assert_int_equal(lbtop_ui_selected_row(&ui), 0);
    lbtop_model_free(m);
}

static void test_arrows_select_in_displayed_order_and_enter_opens_detail(void **state)
{
    struct lbtop_model *m = model_with(3, 0);
    struct lbtop_ui ui;
    (void)state;

    lbtop_ui_init(&ui);
    assert_int_equal(lbtop_ui_selected_row(&ui), -1);
    lbtop_ui_key(&ui, LBTOP_KEY_DOWN, m);
    assert_int_equal(ui.sel_backend, 0);
    lbtop_ui_key(&ui, LBTOP_KEY_DOWN, m);
    lbtop_ui_key(&ui, LBTOP_KEY_DOWN, m);
    lbtop_ui_key(&ui, LBTOP_KEY_DOWN, m);
    assert_int_equal(ui.sel_backend, 2); /* stops at the last row */
    /* Sorted by requests, backend 2 is the first row: Up from it stays there. */
    ui.sort = LBTOP_SORT_REQUESTS;
    lbtop_ui_key(&ui, LBTOP_KEY_UP, m);
    assert_int_equal(ui.sel_backend, 2);
    lbtop_ui_key(&ui, LBTOP_KEY_DOWN, m);
    assert_int_equal(ui.sel_backend, 1);

    assert_int_equal(lbtop_ui_key(&ui, LBTOP_KEY_ENTER, m), LBTOP_ACT_REDRAW);
    assert_true(ui.detail);
    lbtop_ui_key(&ui, LBTOP_KEY_ESC, m);
    assert_false(ui.detail);
    lbtop_ui_key(&ui, LBTOP_KEY_ENTER, m);
    lbtop_ui_key(&ui, LBTOP_KEY_ENTER, m);
    assert_false(ui.detail);
    lbtop_ui_key(&ui, LBTOP_KEY_ENTER, m);
    lbtop_ui_key(&ui, '3', m); /* another view closes the detail page */
    assert_false(ui.detail);
    lbtop_model_free(m);
}

static void test_requests_view_selects_ring_rows(void **state)
{
    struct lbtop_model *m = model_with(1, 4);
    struct lbtop_ui ui;
    (void)state;

    lbtop_ui_init(&ui);
    lbtop_ui_key(&ui, '5', m);
    lbtop_ui_key(&ui, LBTOP_KEY_END, m);
    assert_int_equal(ui.sel_request, 3);
    assert_int_equal(lbtop_ui_selected_row(&ui), 3);
    lbtop_ui_key(&ui, LBTOP_KEY_HOME, m);
    assert_int_equal(ui.sel_request, 0);
    /* The ring shrank (another lb): the selection follows. */
    m->cur->nrecent = 0;
    lbtop_ui_clamp(&ui, m);
    assert_int_equal(ui.sel_request, -1);
    lbtop_model_free(m);
}

static void test_sort_keys_cycle_through_columns(void **state)
{
    struct lbtop_model *m = model_with(2, 0);
    struct lbtop_ui ui;
    (void)state;

    lbtop_ui_init(&ui);
    assert_int_equal(ui.sort, LBTOP_SORT_INDEX);
    lbtop_ui_key(&ui, 's', m);
    assert_int_equal(ui.sort, LBTOP_SORT_NAME);
    lbtop_ui_key(&ui, '>', m);
    assert_int_equal(ui.sort, LBTOP_SORT_STATE);
    lbtop_ui_key(&ui, '<', m);
    lbtop_ui_key(&ui, '<', m);
    lbtop_ui_key(&ui, '<', m);
    assert_int_equal(ui.sort, LBTOP_SORT_COUNT - 1); /* wraps backwards */
    lbtop_model_free(m);
}

static void test_pause_reset_help_and_quit(void **state)
{
    struct lbtop_model *m = model_with(2, 0);
    struct lbtop_ui ui;
    (void)state;

    lbtop_ui_init(&ui);
    assert_int_equal(lbtop_ui_key(&ui, 'p', m), LBTOP_ACT_PAUSE);
    assert_true(ui.paused);
    assert_int_equal(lbtop_ui_key(&ui, 'p', m), LBTOP_ACT_PAUSE);
    assert_false(ui.paused);
    assert_int_equal(lbtop_ui_key(&ui, 'r', m), LBTOP_ACT_RESET);
    assert_int_equal(lbtop_ui_key(&ui, '?', m), LBTOP_ACT_REDRAW);
    assert_true(ui.help);
    assert_int_equal(lbtop_ui_key(&ui, '4', m), LBTOP_ACT_REDRAW);
    assert_false(ui.help); /* any key closes help, and does nothing else */
    assert_int_equal(ui.view, LBTOP_VIEW_STATUS);
    assert_int_equal(lbtop_ui_key(&ui, 'x', m), LBTOP_ACT_NONE);
    assert_int_equal(lbtop_ui_key(&ui, 'q', m), LBTOP_ACT_QUIT);
    lbtop_model_free(m);
}

static void test_d_and_e_name_the_selected_backend(void **state)
{
    struct lbtop_model *m = model_with(3, 2);
    struct lbtop_ui ui;
    (void)state;

    m->cur->recent[0].backend_index = 2;
    m->cur->recent[1].backend_index = -1; /* lb answered itself: no backend */
    lbtop_ui_init(&ui);
    assert_int_equal(lbtop_ui_selected_backend(&ui, m), -1); /* nothing selected */
    assert_int_equal(lbtop_ui_key(&ui, 'D', m), LBTOP_ACT_DRAIN);
    assert_int_equal(lbtop_ui_key(&ui, 'E', m), LBTOP_ACT_ENABLE);
    assert_int_equal(lbtop_ui_key(&ui, 'd', m), LBTOP_ACT_NONE); /* capitals only */
    ui.sel_backend = 1;
    assert_int_equal(lbtop_ui_selected_backend(&ui, m), 1);
    ui.view = LBTOP_VIEW_REQUESTS; /* there: the backend of the selected request */
    ui.sel_request = 0;
    assert_int_equal(lbtop_ui_selected_backend(&ui, m), 2);
    ui.sel_request = 1;
    assert_int_equal(lbtop_ui_selected_backend(&ui, m), -1);
    lbtop_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_number_keys_and_tab_switch_views),
        cmocka_unit_test(test_the_workers_view_selects_nothing),
        cmocka_unit_test(test_arrows_select_in_displayed_order_and_enter_opens_detail),
        cmocka_unit_test(test_requests_view_selects_ring_rows),
        cmocka_unit_test(test_sort_keys_cycle_through_columns),
        cmocka_unit_test(test_pause_reset_help_and_quit),
        cmocka_unit_test(test_d_and_e_name_the_selected_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
