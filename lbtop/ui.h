/*
 * ui.h - lbtop's interactive state (view, selection, sort column, detail and help pages, pause)
 * and what each key does to it. Pure: keys arrive as the codes below, so the key handling is
 * unit-tested without a terminal; screen.c translates ncurses' key codes.
 */
#ifndef LBTOP_UI_H
#define LBTOP_UI_H

#include <stdbool.h>

#include "model.h"
#include "render.h"

/* Keys other than printable characters (which arrive as themselves). */
enum lbtop_key {
    LBTOP_KEY_NONE = 0,
    LBTOP_KEY_UP = 0x1000,
    LBTOP_KEY_DOWN,
    LBTOP_KEY_PGUP,
    LBTOP_KEY_PGDN,
    LBTOP_KEY_HOME,
    LBTOP_KEY_END,
    LBTOP_KEY_ENTER,
    LBTOP_KEY_ESC,
    LBTOP_KEY_BACKSPACE,
    LBTOP_KEY_TAB,
    LBTOP_KEY_BTAB,
    LBTOP_KEY_RESIZE,
};

/* What the main loop must do after a key. */
enum lbtop_action {
    LBTOP_ACT_NONE,   /* nothing changed */
    LBTOP_ACT_REDRAW, /* the state changed: draw again */
    LBTOP_ACT_RESET,  /* reset the model's rate window, then draw */
    LBTOP_ACT_PAUSE,  /* paused toggled: sample again at once when resumed */
    LBTOP_ACT_DRAIN,  /* 'D': drain the selected backend through lb's admin endpoint */
    LBTOP_ACT_ENABLE, /* 'E': enable it again */
    LBTOP_ACT_QUIT,
};

struct lbtop_ui {
    unsigned view;        /* enum lbtop_view */
    enum lbtop_sort sort;
    int sel_backend;      /* selected backend index, -1 none */
    int sel_request;      /* selected row of the REQUESTS view, -1 none */
    bool detail;          /* the selection's detail page is open */
    bool help;
    bool paused;
    int page;             /* rows a PgUp/PgDn moves */
};

void lbtop_ui_init(struct lbtop_ui *ui);

/* Applies key to ui; m gives the rows there are to select. */
enum lbtop_action lbtop_ui_key(struct lbtop_ui *ui, int key, const struct lbtop_model *m);

/* Keeps the selection on rows that exist and the sort on a column lb's mode has (after a new
 * snapshot). */
void lbtop_ui_clamp(struct lbtop_ui *ui, const struct lbtop_model *m);

/* The row id highlighted in the current view (backend or request index), or -1. */
int lbtop_ui_selected_row(const struct lbtop_ui *ui);

/* The backend the selection names: the selected backend, or in the REQUESTS view the backend of
 * the selected request; -1 when none. */
int lbtop_ui_selected_backend(const struct lbtop_ui *ui, const struct lbtop_model *m);

#endif
