/*
 * report.c - --once/-n text snapshots and --json documents (see report.h). The text report is the
 * interactive screens printed one after the other; the JSON document carries every number the
 * screens show, unrounded, under stable keys (listed in docs/man/lbtop.1).
 */
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "stats_json.h"

int lbtop_report_text(FILE *out, const struct lbtop_model *m, int width, bool utf8,
                      uint64_t now_wall_ns)
{
    struct lbtop_render_opts o = {
        .width = width,
        .utf8 = utf8,
        .view = LBTOP_VIEW_STATUS,
        .sort = LBTOP_SORT_INDEX,
        .selected = -1,
        .now_wall_ns = now_wall_ns,
        .max_requests = LBTOP_REPORT_RECENT,
    };
    struct lbtop_lines l;

    /* The header without its tab line (it only makes sense on a screen), then every view. */
    lbtop_lines_init(&l);
    lbtop_render_header(&l, m, &o, m->have_cur ? m->cur->shm_name : "");
    for (size_t i = 0; i + 1 < l.n; i++)
        fprintf(out, "%s\n", l.v[i].text);
    for (unsigned v = 1; v <= LBTOP_VIEWS; v++) {
        struct lbtop_render_opts vo = o;
        vo.view = v;
        lbtop_lines_clear(&l);
        lbtop_render_view(&l, m, &vo);
        fprintf(out, "\n== %u %s ==\n", v, lbtop_view_title(v, lbtop_model_tcp(m)));
        for (size_t i = 0; i < l.n; i++)
            fprintf(out, "%s\n", l.v[i].text);
    }
    lbtop_lines_free(&l);
    fflush(out);
    return ferror(out) ? -EIO : 0;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static struct stats_json_rates rates_of(const struct lbtop_rates *r)
{
    return (struct stats_json_rates){
        .req_s = r->req_s, .conn_s = r->conn_s, .in_s = r->in_s, .out_s = r->out_s};
}

int lbtop_report_json(FILE *out, const struct lbtop_model *m, uint64_t now_wall_ns)
{
    struct stats_json_doc *d;
    int rc;

    if (!m->have_cur)
        return -EINVAL;
    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return -ENOMEM;
    d->producer = "lbtop";
    d->cur = m->cur;
    d->base = m->have_base ? m->base : NULL;
    d->with_rates = true;
    d->rate_window_s = m->rate_span_s;
    d->rates_since_start = m->rates_since_start;
    d->rate = rates_of(&m->rate);
    for (unsigned b = 0; b < STATS_MAX_BACKENDS; b++)
        d->backend_rate[b] = rates_of(&m->backend_rate[b]);
    d->recent = LBTOP_REPORT_RECENT;
    d->now_wall_ns = now_wall_ns;
    rc = stats_json_write(out, d);
    free(d);
    return rc;
}
