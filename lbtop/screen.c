/*
 * screen.c - the ncurses front end of lbtop (see screen.h).
 */
#include "screen.h"

#include <curses.h>
#include <errno.h>
#include <langinfo.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ui.h"

enum { PAIR_TITLE = 1, PAIR_HEAD, PAIR_SELECTED, PAIR_GOOD, PAIR_BAD, PAIR_WARN, PAIR_TAB };

int lbtop_screen_open(struct lbtop_screen *s)
{
    const char *cs;

    memset(s, 0, sizeof(*s));
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return -ENOTTY;
    cs = nl_langinfo(CODESET);
    s->utf8 = cs != NULL && strcmp(cs, "UTF-8") == 0;
    if (newterm(NULL, stdout, stdin) == NULL)
        return -ENOTTY;
    s->open = true;
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    if (has_colors() && getenv("NO_COLOR") == NULL && start_color() == OK) {
        int bg = COLOR_BLACK;
        if (use_default_colors() == OK)
            bg = -1;
        init_pair(PAIR_TITLE, COLOR_CYAN, bg);
        init_pair(PAIR_HEAD, COLOR_BLACK, COLOR_CYAN);
        init_pair(PAIR_SELECTED, COLOR_BLACK, COLOR_YELLOW);
        init_pair(PAIR_GOOD, COLOR_GREEN, bg);
        init_pair(PAIR_BAD, COLOR_RED, bg);
        init_pair(PAIR_WARN, COLOR_YELLOW, bg);
        init_pair(PAIR_TAB, COLOR_BLACK, COLOR_WHITE);
        s->colour = true;
    }
    getmaxyx(stdscr, s->rows, s->cols);
    return 0;
}

void lbtop_screen_close(struct lbtop_screen *s)
{
    if (!s->open)
        return;
    endwin();
    s->open = false;
}

void lbtop_screen_update_size(struct lbtop_screen *s)
{
    if (s->open)
        getmaxyx(stdscr, s->rows, s->cols);
}

static attr_t attr_of(const struct lbtop_screen *s, unsigned a)
{
    if (s->colour) {
        switch (a) {
        case LBTOP_ATTR_TITLE:
            return COLOR_PAIR(PAIR_TITLE) | A_BOLD;
        case LBTOP_ATTR_HEAD:
            return COLOR_PAIR(PAIR_HEAD);
        case LBTOP_ATTR_SELECTED:
            return COLOR_PAIR(PAIR_SELECTED);
        case LBTOP_ATTR_GOOD:
            return COLOR_PAIR(PAIR_GOOD) | A_BOLD;
        case LBTOP_ATTR_BAD:
            return COLOR_PAIR(PAIR_BAD) | A_BOLD;
        case LBTOP_ATTR_WARN:
            return COLOR_PAIR(PAIR_WARN) | A_BOLD;
        case LBTOP_ATTR_DIM:
            return A_DIM;
        case LBTOP_ATTR_TAB:
            return COLOR_PAIR(PAIR_TAB) | A_BOLD;
        default:
            return A_NORMAL;
        }
    }
    switch (a) {
    case LBTOP_ATTR_TITLE:
        return A_BOLD;
    case LBTOP_ATTR_HEAD:
        return A_UNDERLINE;
    case LBTOP_ATTR_SELECTED:
    case LBTOP_ATTR_TAB:
        return A_REVERSE;
    case LBTOP_ATTR_GOOD:
        return A_BOLD;
    case LBTOP_ATTR_BAD:
    case LBTOP_ATTR_WARN:
        return A_BOLD | A_UNDERLINE;
    case LBTOP_ATTR_DIM:
        return A_DIM;
    default:
        return A_NORMAL;
    }
}

static void draw_line(struct lbtop_screen *s, int y, const struct lbtop_line *line)
{
    attr_t a = attr_of(s, line->attr);
    bool fill = line->attr == LBTOP_ATTR_HEAD || line->attr == LBTOP_ATTR_SELECTED;

    attrset(a);
    if (fill) {
        move(y, 0);
        hline(' ', s->cols);
    }
    mvaddstr(y, 0, line->text);
    if (line->span_len > 0 && line->span_col + line->span_len <= strlen(line->text)) {
        attrset(attr_of(s, line->span_attr));
        mvaddnstr(y, line->span_col, line->text + line->span_col, line->span_len);
    }
    attrset(A_NORMAL);
}

void lbtop_screen_draw(struct lbtop_screen *s, const struct lbtop_lines *head,
                       const struct lbtop_lines *body, int selected, const char *hint)
{
    int y = 0, avail, sel_at = -1;

    getmaxyx(stdscr, s->rows, s->cols);
    erase();
    for (size_t i = 0; i < head->n && y < s->rows - 1; i++)
        draw_line(s, y++, &head->v[i]);
    if (head->n > 0 && y < s->rows - 1)
        y++; /* a blank line between the header and the body */

    /* The body's first line is its column heading: keep it, scroll the rest. */
    size_t fixed = 0;
    while (fixed < body->n && body->v[fixed].row < 0 && body->v[fixed].attr == LBTOP_ATTR_HEAD)
        fixed++;
    for (size_t i = 0; i < fixed && y < s->rows - 1; i++)
        draw_line(s, y++, &body->v[i]);
    avail = s->rows - 1 - y;
    for (size_t i = fixed; i < body->n; i++)
        if (selected >= 0 && body->v[i].row == selected && body->v[i].attr == LBTOP_ATTR_SELECTED)
            sel_at = (int)(i - fixed);
    int scrollable = (int)(body->n - fixed);
    if (sel_at >= 0) {
        if (sel_at < s->scroll)
            s->scroll = sel_at;
        if (avail > 0 && sel_at >= s->scroll + avail)
            s->scroll = sel_at - avail + 1;
    }
    if (s->scroll > scrollable - avail)
        s->scroll = scrollable - avail;
    if (s->scroll < 0)
        s->scroll = 0;
    for (int i = s->scroll; i < scrollable && y < s->rows - 1; i++)
        draw_line(s, y++, &body->v[fixed + (size_t)i]);

    if (hint != NULL && s->rows > 1) {
        attrset(A_DIM);
        mvaddnstr(s->rows - 1, 0, hint, s->cols > 1 ? s->cols - 1 : 0);
        attrset(A_NORMAL);
    }
    refresh();
}

int lbtop_screen_key(struct lbtop_screen *s, int timeout_ms)
{
    int ch;

    (void)s;
    timeout(timeout_ms < 0 ? 0 : timeout_ms);
    ch = getch();
    switch (ch) {
    case ERR:
        return LBTOP_KEY_NONE;
    case KEY_UP:
        return LBTOP_KEY_UP;
    case KEY_DOWN:
        return LBTOP_KEY_DOWN;
    case KEY_PPAGE:
        return LBTOP_KEY_PGUP;
    case KEY_NPAGE:
        return LBTOP_KEY_PGDN;
    case KEY_HOME:
        return LBTOP_KEY_HOME;
    case KEY_END:
        return LBTOP_KEY_END;
    case KEY_ENTER:
    case '\n':
    case '\r':
        return LBTOP_KEY_ENTER;
    case 27:
        return LBTOP_KEY_ESC;
    case KEY_BACKSPACE:
    case 127:
    case 8:
        return LBTOP_KEY_BACKSPACE;
    case '\t':
        return LBTOP_KEY_TAB;
    case KEY_BTAB:
        return LBTOP_KEY_BTAB;
    case KEY_RESIZE:
        return LBTOP_KEY_RESIZE;
    default:
        return ch >= 0x20 && ch < 0x7f ? ch : LBTOP_KEY_NONE;
    }
}
