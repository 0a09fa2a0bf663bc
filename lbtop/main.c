/*
 * main.c - lbtop: watch the statistics lb publishes in shared memory.
 *
 * Two ways to run. Batch (--once, --json, -n): attach, print snapshots -d apart, exit; a missing
 * lb or an unreadable segment is an error (exit 1) that names the segment and the reason. Screen
 * (the default): a loop that attaches when lb appears, samples every -d seconds, notices when lb
 * stops or restarts (the segment's name then refers to a new object, or the writer's pid and
 * heartbeat die) and re-attaches, and handles keys in between. While no lb is readable it shows
 * why and keeps trying, twice a second.
 */
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "cli.h"
#include "cliopt.h"
#include "clock.h"
#include "model.h"
#include "render.h"
#include "report.h"
#include "screen.h"
#include "stats_snapshot.h"
#include "stats_shm.h"
#include "ui.h"

#define NS_PER_MS UINT64_C(1000000)
#define ATTACH_RETRY_NS (500 * NS_PER_MS)
#define MESSAGE_NS (4000 * NS_PER_MS)

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static void sleep_s(double secs)
{
    struct timespec ts = {.tv_sec = (time_t)secs,
                          .tv_nsec = (long)((secs - (double)(time_t)secs) * 1e9)};

    while (!stop_requested && nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Attaches, waiting up to ~2 s for a writer that is still initialising. */
static int attach_batch(struct stats_shm *shm, const char *name, char *err, size_t err_len)
{
    int rc;

    for (int i = 0; i < 20; i++) {
        rc = stats_shm_attach(shm, name, NULL, err, err_len);
        if (rc != -EAGAIN)
            return rc;
        sleep_s(0.1);
    }
    return rc;
}

static int text_width(void)
{
    struct winsize ws;

    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
    return 160;
}

static int run_batch(const struct lbtop_options *o, struct lbtop_model *m,
                     struct stats_snapshot *snap)
{
    struct stats_shm shm;
    char err[512];
    bool utf8 = isatty(STDOUT_FILENO) && strcmp(setlocale(LC_CTYPE, NULL), "C") != 0 &&
                MB_CUR_MAX > 1;
    int rc = attach_batch(&shm, o->shm_name, err, sizeof(err));

    if (rc < 0) {
        fprintf(stderr, "lbtop: %s\n", err);
        return 1;
    }
    if (!stats_shm_writer_alive(&shm, clock_mono_ns()))
        fprintf(stderr, "lbtop: warning: lb (pid %d) is not running; these are the statistics it "
                        "left behind\n", (int)shm.seg->header.writer_pid);
    for (long i = 0; i < o->iterations && !stop_requested; i++) {
        if (i > 0) {
            sleep_s(o->delay_s);
            if (stop_requested)
                break;
            if (stats_shm_replaced(&shm)) {
                /* lb restarted between two snapshots: follow the new one. */
                stats_shm_detach(&shm);
                rc = attach_batch(&shm, o->shm_name, err, sizeof(err));
                if (rc < 0) {
                    fprintf(stderr, "lbtop: %s\n", err);
                    return 1;
                }
                lbtop_model_clear(m);
            }
        }
        stats_snapshot_take(&shm, snap, clock_mono_ns(), clock_wall_ns());
        lbtop_model_push(m, snap);
        if (o->json)
            rc = lbtop_report_json(stdout, m, clock_wall_ns());
        else {
            if (i > 0)
                fputc('\n', stdout);
            rc = lbtop_report_text(stdout, m, text_width(), utf8, clock_wall_ns());
        }
        if (rc < 0) {
            stats_shm_detach(&shm);
            return 1;
        }
    }
    stats_shm_detach(&shm);
    return 0;
}

/* ---- the screen ------------------------------------------------------------------------------ */

struct session {
    const struct lbtop_options *opt;
    struct lbtop_model *model;
    struct stats_snapshot *snap;
    struct stats_shm shm;
    bool attached;
    int32_t last_pid;
    char waiting[768];      /* why nothing is shown */
    char gone[256];         /* how the last lb went away, if one did */
    uint64_t waiting_since;
    char message[256];      /* a passing remark in the header */
    uint64_t message_until;
};

static void say(struct session *s, uint64_t now, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(struct session *s, uint64_t now, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->message, sizeof(s->message), fmt, ap);
    va_end(ap);
    s->message_until = now + MESSAGE_NS;
}

/* One attempt to attach. Returns true when attached to a live lb. */
static bool try_attach(struct session *s, uint64_t now)
{
    char err[512];
    int rc = stats_shm_attach(&s->shm, s->opt->shm_name, NULL, err, sizeof(err));

    if (rc == 0 && !stats_shm_writer_alive(&s->shm, now)) {
        snprintf(err, sizeof(err),
                 "%s was left behind by lb pid %d, which is no longer running",
                 s->opt->shm_name, (int)s->shm.seg->header.writer_pid);
        stats_shm_detach(&s->shm);
        rc = -ESRCH;
    }
    if (rc < 0) {
        if (rc == -EPROTONOSUPPORT)
            snprintf(s->waiting, sizeof(s->waiting), "Refusing to read it: %s", err);
        else
            snprintf(s->waiting, sizeof(s->waiting), "%s", err);
        return false;
    }
    int32_t pid = s->shm.seg->header.writer_pid;
    if (s->last_pid != 0 && s->last_pid != pid)
        say(s, now, "lb restarted: now pid %d (was %d)", (int)pid, (int)s->last_pid);
    else
        say(s, now, "attached to lb pid %d", (int)pid);
    s->last_pid = pid;
    s->attached = true;
    s->waiting[0] = '\0';
    lbtop_model_clear(s->model);
    return true;
}

static void detach(struct session *s, uint64_t now, const char *why)
{
    char at[32];

    stats_shm_detach(&s->shm);
    s->attached = false;
    s->waiting_since = now;
    snprintf(s->gone, sizeof(s->gone), "%s at %s.", why,
             lbtop_fmt_clock(clock_wall_ns(), false, at, sizeof(at)));
    lbtop_model_clear(s->model);
}

static void draw(struct session *s, struct lbtop_screen *scr, const struct lbtop_ui *ui,
                 uint64_t now)
{
    struct lbtop_lines head, body;
    lbtop_screen_update_size(scr);
    struct lbtop_render_opts o = {
        .width = scr->cols,
        .utf8 = scr->utf8,
        .view = ui->view,
        .sort = ui->sort,
        .selected = lbtop_ui_selected_row(ui),
        .paused = ui->paused,
        .message = now < s->message_until ? s->message : NULL,
        .now_wall_ns = clock_wall_ns(),
    };
    static const char hint[] = "1-6 views  Tab next  Up/Down select  Enter detail  s < > sort  "
                               "p pause  r reset  D/E drain/enable  ? help  q quit";

    lbtop_lines_init(&head);
    lbtop_lines_init(&body);
    if (!s->attached || !s->model->have_cur) {
        char line[LBTOP_LINE_MAX], age[32];
        struct lbtop_render_opts w = o;
        w.message = NULL;
        lbtop_render_header(&head, s->model, &w, s->opt->shm_name);
        snprintf(line, sizeof(line), "Waiting for lb (statistics segment %s) ... %s",
                 s->opt->shm_name,
                 lbtop_fmt_age((now - s->waiting_since) / 1000000000u, age, sizeof(age)));
        lbtop_render_text(&body, &w, LBTOP_ATTR_WARN, line);
        if (s->gone[0] != '\0')
            lbtop_render_text(&body, &w, LBTOP_ATTR_NORMAL, s->gone);
        if (s->waiting[0] != '\0')
            lbtop_render_text(&body, &w, LBTOP_ATTR_NORMAL, s->waiting);
        if (s->opt->port != 0) {
            snprintf(line, sizeof(line),
                     "Start it with:  bin/lb -l %u    (lbtop attaches by itself)",
                     (unsigned)s->opt->port);
            lbtop_render_text(&body, &w, LBTOP_ATTR_NORMAL, line);
        }
        lbtop_render_text(&body, &w, LBTOP_ATTR_DIM, "q quits.");
        lbtop_screen_draw(scr, &head, &body, -1, hint);
    } else {
        lbtop_render_header(&head, s->model, &o, s->opt->shm_name);
        if (ui->help)
            lbtop_render_help(&body, &o);
        else if (ui->detail && ui->view == LBTOP_VIEW_REQUESTS)
            lbtop_render_request_detail(&body, s->model, (unsigned)ui->sel_request, &o);
        else if (ui->detail)
            lbtop_render_backend_detail(&body, s->model, (unsigned)ui->sel_backend, &o);
        else
            lbtop_render_view(&body, s->model, &o);
        lbtop_screen_draw(scr, &head, &body, ui->detail || ui->help ? -1 : o.selected, hint);
    }
    lbtop_lines_free(&head);
    lbtop_lines_free(&body);
}

/* D or E: asks lb's admin endpoint to drain or enable the selected backend; the outcome, or why
 * nothing was asked, is the header's message. */
static void admin_key(struct session *s, const struct lbtop_ui *ui, const struct lbtop_model *m,
                      uint64_t now, const char *action)
{
    char msg[256];
    int b = lbtop_ui_selected_backend(ui, m);

    if (!s->attached || !m->have_cur) {
        say(s, now, "%s: not attached to lb", action);
        return;
    }
    if (b < 0) {
        say(s, now, "%s: select a backend first (Up/Down)", action);
        return;
    }
    lbtop_admin_post(&m->cur->admin_addr, m->cur->backends[b].name, action,
                     LBTOP_ADMIN_TIMEOUT_MS, msg, sizeof(msg));
    say(s, now, "%s", msg);
}

static int run_screen(const struct lbtop_options *o, struct lbtop_model *m,
                      struct stats_snapshot *snap)
{
    struct lbtop_screen scr;
    struct lbtop_ui ui;
    struct session s;
    uint64_t delay_ns = (uint64_t)(o->delay_s * 1e9), next_sample = 0, next_attach = 0;
    bool dirty = true;

    if (lbtop_screen_open(&scr) < 0) {
        fprintf(stderr, "lbtop: not a terminal: use --once, --json or -n N for batch output\n");
        return 2;
    }
    memset(&s, 0, sizeof(s));
    s.opt = o;
    s.model = m;
    s.snap = snap;
    s.waiting_since = clock_mono_ns();
    lbtop_ui_init(&ui);

    while (!stop_requested) {
        uint64_t now = clock_mono_ns();

        if (!s.attached && now >= next_attach) {
            if (try_attach(&s, now))
                next_sample = now;
            else
                next_attach = now + ATTACH_RETRY_NS;
            dirty = true;
        }
        if (s.attached && now >= next_sample && !ui.paused) {
            if (stats_shm_replaced(&s.shm)) {
                detach(&s, now, "lb stopped (its statistics segment was removed or replaced)");
                next_attach = now;
                dirty = true;
                continue;
            }
            if (!stats_shm_writer_alive(&s.shm, now)) {
                char why[128];
                snprintf(why, sizeof(why), "lb pid %d stopped responding",
                         (int)s.shm.seg->header.writer_pid);
                detach(&s, now, why);
                next_attach = now + ATTACH_RETRY_NS;
                dirty = true;
                continue;
            }
            stats_snapshot_take(&s.shm, snap, now, clock_wall_ns());
            lbtop_model_push(m, snap);
            lbtop_ui_clamp(&ui, m);
            next_sample = now + delay_ns;
            dirty = true;
        }
        if (s.message_until != 0 && now >= s.message_until) {
            s.message_until = 0;
            dirty = true;
        }
        if (dirty) {
            draw(&s, &scr, &ui, now);
            dirty = false;
        }

        uint64_t wake = s.attached ? next_sample : next_attach;
        int wait_ms = wake > now ? (int)((wake - now) / NS_PER_MS) + 1 : 0;
        if (wait_ms > 250 || (s.attached && ui.paused))
            wait_ms = 250;
        int key = lbtop_screen_key(&scr, wait_ms);
        if (key == LBTOP_KEY_NONE)
            continue;
        ui.page = scr.rows > 12 ? scr.rows - 10 : 2;
        enum lbtop_action act = lbtop_ui_key(&ui, key, m);
        switch (act) {
        case LBTOP_ACT_QUIT:
            stop_requested = 1;
            break;
        case LBTOP_ACT_RESET:
            lbtop_model_reset(m);
            say(&s, clock_mono_ns(), "rate window reset");
            dirty = true;
            break;
        case LBTOP_ACT_PAUSE:
            if (!ui.paused)
                next_sample = 0;
            dirty = true;
            break;
        case LBTOP_ACT_DRAIN:
        case LBTOP_ACT_ENABLE:
            admin_key(&s, &ui, m, clock_mono_ns(), act == LBTOP_ACT_DRAIN ? "drain" : "enable");
            next_sample = 0; /* show the new state at once */
            dirty = true;
            break;
        case LBTOP_ACT_REDRAW:
            dirty = true;
            break;
        case LBTOP_ACT_NONE:
            break;
        }
    }
    lbtop_screen_close(&scr);
    stats_shm_detach(&s.shm);
    return 0;
}

int main(int argc, char *argv[])
{
    struct lbtop_options opt;
    struct lbtop_model model;
    struct stats_snapshot *snap;
    char err[512];
    int rc;

    setlocale(LC_ALL, "");
    if (lbtop_cli_parse(&opt, argc, argv, err, sizeof(err)) < 0) {
        cli_print_error("lbtop", err);
        return 2;
    }
    if (opt.help) {
        lbtop_cli_usage(stdout);
        return 0;
    }
    if (opt.version) {
        cli_print_version("lbtop");
        return 0;
    }
    snap = malloc(sizeof(*snap));
    if (snap == NULL || lbtop_model_init(&model) < 0) {
        fprintf(stderr, "lbtop: out of memory\n");
        free(snap);
        return 1;
    }
    install_signals();
    if (opt.batch)
        rc = run_batch(&opt, &model, snap);
    else
        rc = run_screen(&opt, &model, snap);
    lbtop_model_free(&model);
    free(snap);
    return rc;
}
