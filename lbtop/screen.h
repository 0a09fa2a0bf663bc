/*
 * screen.h - lbtop's terminal: ncurses set-up, colours (or bold/reverse on a monochrome terminal,
 * or with NO_COLOR set), drawing prepared lines without flicker, and reading keys.
 *
 * Design: the screen knows nothing about lb. It draws struct lbtop_lines made by render.c:
 * header lines at the top, body lines scrolled so the selected row stays visible, a key hint at
 * the bottom. Each frame is erase() + draw + refresh(): ncurses sends only the cells that changed,
 * so nothing flickers (clear() would repaint the whole terminal).
 */
#ifndef LBTOP_SCREEN_H
#define LBTOP_SCREEN_H

#include <stdbool.h>

#include "render.h"

struct lbtop_screen {
    bool open;
    bool colour; /* colours in use (else attributes only) */
    bool utf8;   /* the locale's charset is UTF-8: block characters allowed */
    int rows, cols;
    int scroll;  /* first body line shown */
};

/* Takes over the terminal. Returns 0, or -ENOTTY when there is no usable terminal. */
int lbtop_screen_open(struct lbtop_screen *s);
void lbtop_screen_close(struct lbtop_screen *s);

/* Reads the terminal's current size into rows and cols (after a resize). */
void lbtop_screen_update_size(struct lbtop_screen *s);

/* Draws one frame: head at the top, then body with the line whose row is selected kept in view,
 * then hint on the last line. */
void lbtop_screen_draw(struct lbtop_screen *s, const struct lbtop_lines *head,
                       const struct lbtop_lines *body, int selected, const char *hint);

/* Waits up to timeout_ms for a key. Returns a printable character, an enum lbtop_key value, or
 * LBTOP_KEY_NONE on timeout. */
int lbtop_screen_key(struct lbtop_screen *s, int timeout_ms);

#endif
