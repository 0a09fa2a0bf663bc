/*
 * render.h - lbtop's screens as lines of text: the header, the six views, the detail pages and
 * the help page. Pure functions of the model and a few display options. When lb relays whole
 * connections (-m tcp) every screen has its tcp form: connections, bytes each way and connection
 * durations per backend, no requests and no status codes.
 *
 * Design: the ncurses front end (screen.c) only copies these lines onto the terminal with their
 * attributes, and --once prints the same lines, so what a test reads from --once, from the model
 * tests and from a tmux pane is one piece of code, and the layout is unit-tested without a
 * terminal. Every line is cut to the display width given in the options.
 */
#ifndef LBTOP_RENDER_H
#define LBTOP_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define LBTOP_LINE_MAX 768

/* How a line (or a span of it) should look; the screen maps these to colours or to bold and
 * reverse video on a monochrome terminal. */
enum lbtop_attr {
    LBTOP_ATTR_NORMAL,
    LBTOP_ATTR_TITLE,    /* the first header line */
    LBTOP_ATTR_HEAD,     /* column headings */
    LBTOP_ATTR_SELECTED, /* the selected row */
    LBTOP_ATTR_GOOD,     /* UP, 2xx */
    LBTOP_ATTR_BAD,      /* DOWN, 5xx, errors */
    LBTOP_ATTR_WARN,     /* DRAIN, 4xx, paused */
    LBTOP_ATTR_DIM,      /* hints */
    LBTOP_ATTR_TAB,      /* the current view's tab */
};

struct lbtop_line {
    char text[LBTOP_LINE_MAX]; /* UTF-8 only in sparklines; at most width columns */
    uint8_t attr;              /* enum lbtop_attr for the whole line */
    uint8_t span_attr;         /* enum lbtop_attr for columns [span_col, span_col + span_len) */
    uint16_t span_col, span_len;
    int row;                   /* backend index (views 1-4), recent-request index (view 5), -1
                                  (view 6 and headings) */
};

struct lbtop_lines {
    struct lbtop_line *v;
    size_t n, cap;
};

enum lbtop_view {
    LBTOP_VIEW_STATUS = 1,
    LBTOP_VIEW_TRAFFIC,
    LBTOP_VIEW_HTTP,
    LBTOP_VIEW_TIMING,
    LBTOP_VIEW_REQUESTS,
    LBTOP_VIEW_WORKERS,
};
#define LBTOP_VIEWS 6

struct lbtop_render_opts {
    int width;             /* display columns */
    bool utf8;             /* block characters for sparklines; else ASCII */
    unsigned view;         /* enum lbtop_view */
    enum lbtop_sort sort;
    int selected;          /* row highlighted, -1 for none */
    bool paused;
    const char *message;   /* shown on the last header line, or NULL */
    uint64_t now_wall_ns;  /* for "changed 3m ago" */
    size_t max_requests;   /* rows of the REQUESTS view, 0 for all */
};

void lbtop_lines_init(struct lbtop_lines *l);
void lbtop_lines_free(struct lbtop_lines *l);
void lbtop_lines_clear(struct lbtop_lines *l);

/* "STATUS", "TRAFFIC", "HTTP", "TIMING", "REQUESTS", "WORKERS". */
const char *lbtop_view_name(unsigned view);

/* The view's name for lb's mode: with tcp, view 3 is "CONNS" (connection counts and errors) and
 * view 5 "RECENT" (the connections lb relayed last); the others keep their names. */
const char *lbtop_view_title(unsigned view, bool tcp);

/* The header: lb, uptime, rates, totals, view tabs and sort column. Returns lines added. */
size_t lbtop_render_header(struct lbtop_lines *l, const struct lbtop_model *m,
                           const struct lbtop_render_opts *o, const char *shm_name);

/* One view: its column headings, then one line per backend (or recent request). */
size_t lbtop_render_view(struct lbtop_lines *l, const struct lbtop_model *m,
                         const struct lbtop_render_opts *o);

/* The detail page of backend b (every figure, its sparklines and its recent requests). */
size_t lbtop_render_backend_detail(struct lbtop_lines *l, const struct lbtop_model *m,
                                   unsigned b, const struct lbtop_render_opts *o);

/* The detail page of recent request i (both legs, in full). */
size_t lbtop_render_request_detail(struct lbtop_lines *l, const struct lbtop_model *m,
                                   unsigned i, const struct lbtop_render_opts *o);

/* One line of free text (cut to the width), e.g. the page shown while waiting for lb. */
void lbtop_render_text(struct lbtop_lines *l, const struct lbtop_render_opts *o, unsigned attr,
                       const char *text);

/* The help page. */
size_t lbtop_render_help(struct lbtop_lines *l, const struct lbtop_render_opts *o);

/* Formatting shared with the JSON and text reports. */
char *lbtop_fmt_bytes(uint64_t n, char *buf, size_t len);         /* "512", "1.5K", "20.0M" */
char *lbtop_fmt_rate(double per_s, char *buf, size_t len);        /* "0", "12.5", "1.2K" */
char *lbtop_fmt_ms(double ms, char *buf, size_t len);             /* "0.004", "0.12", "12.3" */
char *lbtop_fmt_age(uint64_t secs, char *buf, size_t len);        /* "42s", "3m05s", "2h01m" */
char *lbtop_fmt_clock(uint64_t wall_ns, bool ms, char *buf, size_t len); /* "12:00:01.123" */
/* width characters, one per sample, the newest on the right; scaled to the largest sample. */
char *lbtop_sparkline(const struct lbtop_history *h, int width, bool utf8, char *buf, size_t len);

#endif
