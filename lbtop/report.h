/*
 * report.h - lbtop's batch output: a plain-text snapshot (--once, -n) made of the same lines as
 * the interactive views, and one JSON document per snapshot (--json) for scripts and graders.
 */
#ifndef LBTOP_REPORT_H
#define LBTOP_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "model.h"

/* Rows of the recent-requests table in a text report, and entries in a JSON document. */
#define LBTOP_REPORT_RECENT 20

/* Prints the header and all six views, width columns wide. Returns 0 or -EIO. */
int lbtop_report_text(FILE *out, const struct lbtop_model *m, int width, bool utf8,
                      uint64_t now_wall_ns);

/* Prints one JSON document describing the current snapshot. Returns 0 or -EIO. */
int lbtop_report_json(FILE *out, const struct lbtop_model *m, uint64_t now_wall_ns);

#endif
