/*
 * ui.c - the keys of lbtop (see ui.h). Selection follows the displayed order: Down moves to the
 * next row as sorted on screen, not to the next backend index.
 */
#include "ui.h"

void lbtop_ui_init(struct lbtop_ui *ui)
{
    ui->view = LBTOP_VIEW_STATUS;
    ui->sort = LBTOP_SORT_INDEX;
    ui->sel_backend = -1;
    ui->sel_request = -1;
    ui->detail = false;
    ui->help = false;
    ui->paused = false;
    ui->page = 10;
}

int lbtop_ui_selected_row(const struct lbtop_ui *ui)
{
    if (ui->view == LBTOP_VIEW_WORKERS)
        return -1; /* its rows are workers: nothing to select */
    return ui->view == LBTOP_VIEW_REQUESTS ? ui->sel_request : ui->sel_backend;
}

/* Moves the selection by delta rows (clamped at both ends). */
static void move(struct lbtop_ui *ui, const struct lbtop_model *m, int delta)
{
    if (!m->have_cur || ui->view == LBTOP_VIEW_WORKERS)
        return;
    if (ui->view == LBTOP_VIEW_REQUESTS) {
        int n = (int)m->cur->nrecent;
        if (n == 0) {
            ui->sel_request = -1;
            return;
        }
        int at = ui->sel_request < 0 ? (delta > 0 ? -1 : n) : ui->sel_request;
        at += delta;
        ui->sel_request = at < 0 ? 0 : at >= n ? n - 1 : at;
        return;
    }
    unsigned order[STATS_MAX_BACKENDS];
    int n = (int)lbtop_model_order(m, ui->sort, order), pos = -1;
    if (n == 0) {
        ui->sel_backend = -1;
        return;
    }
    for (int i = 0; i < n; i++)
        if ((int)order[i] == ui->sel_backend)
            pos = i;
    if (pos < 0)
        pos = delta > 0 ? -1 : n;
    pos += delta;
    pos = pos < 0 ? 0 : pos >= n ? n - 1 : pos;
    ui->sel_backend = (int)order[pos];
}

static void set_view(struct lbtop_ui *ui, unsigned view)
{
    ui->view = view;
    ui->detail = false;
}

enum lbtop_action lbtop_ui_key(struct lbtop_ui *ui, int key, const struct lbtop_model *m)
{
    if (key == 'q' || key == 'Q')
        return LBTOP_ACT_QUIT;
    if (key == LBTOP_KEY_RESIZE)
        return LBTOP_ACT_REDRAW;
    if (ui->help) {
        ui->help = false; /* any key closes the help page */
        return LBTOP_ACT_REDRAW;
    }
    switch (key) {
    case '1': case '2': case '3': case '4': case '5': case '6':
        set_view(ui, (unsigned)(key - '0'));
        return LBTOP_ACT_REDRAW;
    case LBTOP_KEY_TAB:
        set_view(ui, ui->view % LBTOP_VIEWS + 1);
        return LBTOP_ACT_REDRAW;
    case LBTOP_KEY_BTAB:
        set_view(ui, (ui->view + LBTOP_VIEWS - 2) % LBTOP_VIEWS + 1);
        return LBTOP_ACT_REDRAW;
    case LBTOP_KEY_UP:
    case 'k':
        move(ui, m, -1);
        return LBTOP_ACT_REDRAW;
    case LBTOP_KEY_DOWN:
    case 'j':
        move(ui, m, 1);
        return LBTOP_ACT_REDRAW;
    case LBTOP_KEY_PGUP:
        move(ui, m, -ui->page);
        return LBTOP_ACT_REDRAW;
    case LBTOP_KEY_PGDN:
        move(ui, m, ui->page);
        return LBTOP_ACT_REDRAW;
    case LBTOP_KEY_HOME:
        move(ui, m, -1000000);
        return LBTOP_ACT_REDRAW;
    case LBTOP_KEY_END:
        move(ui, m, 1000000);
        return LBTOP_ACT_REDRAW;
    case LBTOP_KEY_ENTER:
    case '\n':
    case '\r':
        if (ui->detail)
            ui->detail = false;
        else if (lbtop_ui_selected_row(ui) >= 0)
            ui->detail = true;
        else
            move(ui, m, 1); /* nothing selected yet: select the first row */
        return LBTOP_ACT_REDRAW;
    case LBTOP_KEY_ESC:
    case LBTOP_KEY_BACKSPACE:
        ui->detail = false;
        return LBTOP_ACT_REDRAW;
    case 's':
    case '>':
        do /* over the columns the mode has (lb -m tcp has no requests) */
            ui->sort = (enum lbtop_sort)((ui->sort + 1) % LBTOP_SORT_COUNT);
        while (!lbtop_sort_applies(ui->sort, lbtop_model_tcp(m)));
        return LBTOP_ACT_REDRAW;
    case '<':
        do
            ui->sort = (enum lbtop_sort)((ui->sort + LBTOP_SORT_COUNT - 1) % LBTOP_SORT_COUNT);
        while (!lbtop_sort_applies(ui->sort, lbtop_model_tcp(m)));
        return LBTOP_ACT_REDRAW;
    case 'p':
    case 'P':
    case ' ':
        ui->paused = !ui->paused;
        return LBTOP_ACT_PAUSE;
    case 'r':
    case 'R':
        return LBTOP_ACT_RESET;
    case 'D': /* capitals only: a change to lb, not to the screen, wants a deliberate key */
        return LBTOP_ACT_DRAIN;
    case 'E':
        return LBTOP_ACT_ENABLE;
    case '?':
    case 'h':
        ui->help = true;
        return LBTOP_ACT_REDRAW;
    default:
        return LBTOP_ACT_NONE;
    }
}

int lbtop_ui_selected_backend(const struct lbtop_ui *ui, const struct lbtop_model *m)
{
    if (!m->have_cur || ui->view == LBTOP_VIEW_WORKERS)
        return -1;
    if (ui->view != LBTOP_VIEW_REQUESTS)
        return ui->sel_backend >= 0 && (uint32_t)ui->sel_backend < m->cur->nbackends
                   ? ui->sel_backend
                   : -1;
    if (ui->sel_request < 0 || (size_t)ui->sel_request >= m->cur->nrecent)
        return -1;
    int b = m->cur->recent[ui->sel_request].backend_index;
    return b >= 0 && (uint32_t)b < m->cur->nbackends ? b : -1;
}

void lbtop_ui_clamp(struct lbtop_ui *ui, const struct lbtop_model *m)
{
    uint32_t nb = m->have_cur ? m->cur->nbackends : 0;
    size_t nr = m->have_cur ? m->cur->nrecent : 0;

    if (ui->sel_backend >= (int)nb)
        ui->sel_backend = nb > 0 ? (int)nb - 1 : -1;
    if (ui->sel_request >= (int)nr)
        ui->sel_request = nr > 0 ? (int)nr - 1 : -1;
    if (ui->detail && lbtop_ui_selected_row(ui) < 0)
        ui->detail = false;
    if (!lbtop_sort_applies(ui->sort, lbtop_model_tcp(m))) /* lb came back in tcp mode */
        ui->sort = LBTOP_SORT_INDEX;
}
