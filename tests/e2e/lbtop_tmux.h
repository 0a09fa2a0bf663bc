/*
 * lbtop_tmux.h - driving bin/lbtop in a real terminal for the end-to-end tests: a tmux server on
 * a private socket (-L lbtop-e2e-<pid>), keys sent with send-keys, the screen read back with
 * capture-pane. Only that server is ever killed. Header-only, static: included by one test each.
 */
#ifndef LBTOP_TMUX_H
#define LBTOP_TMUX_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char tmux_socket[64];

/* Runs "tmux -L <socket> <args>"; returns its exit status (0 ok). */
static int tmux_cmd(const char *args)
{
    int status;

    if (tmux_socket[0] == '\0')
        snprintf(tmux_socket, sizeof(tmux_socket), "lbtop-e2e-%ld", (long)getpid());
    free(harness_runf(&status, "tmux -L %s %s 2>&1", tmux_socket, args));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Starts the command printf makes of fmt in a detached 120x40 session. */
static int tmux_start(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int tmux_start(const char *fmt, ...)
{
    char *command, *args;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vasprintf(&command, fmt, ap);
    va_end(ap);
    if (rc < 0)
        harness_oom();
    tmux_cmd("kill-server");
    args = harness_fmt("new-session -d -x 120 -y 40 -e LANG=C.UTF-8 -e TERM=xterm-256color '%s'",
                       command);
    rc = tmux_cmd(args);
    free(args);
    free(command);
    return rc;
}

/* The visible screen, malloc'd (caller frees). */
static char *tmux_capture(void)
{
    int status;

    return harness_runf(&status, "tmux -L %s capture-pane -p 2>/dev/null", tmux_socket);
}

/* Sends keys (tmux key names, e.g. "2", "Tab", "Down", "Enter", "q"). */
static void tmux_keys(const char *keys)
{
    char *args = harness_fmt("send-keys %s", keys);

    tmux_cmd(args);
    free(args);
}

/* Waits until the screen shows every string of the NULL-terminated list, up to timeout_ms.
 * Returns the last screen (caller frees); *ok says whether all showed up. */
static char *tmux_wait_for(int timeout_ms, bool *ok, ...)
{
    char *screen = NULL;

    *ok = false;
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        va_list ap;
        bool all = true;
        free(screen);
        screen = tmux_capture();
        va_start(ap, ok);
        for (const char *want; (want = va_arg(ap, const char *)) != NULL;)
            if (screen == NULL || strstr(screen, want) == NULL)
                all = false;
        va_end(ap);
        if (all) {
            *ok = true;
            return screen;
        }
        usleep(100000);
    }
    return screen;
}

static void tmux_stop(void)
{
    tmux_cmd("kill-server");
}

#endif
