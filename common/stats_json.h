/*
 * stats_json.h - one statistics snapshot (stats_snapshot.h) as a JSON document: lb's identity,
 * the totals, every backend (state, connections, requests, responses, bytes, latency
 * percentiles) and the most recent requests. lbtop --json and lb's GET /stats (the admin
 * endpoint) both write it, so a script gets the same keys and the same numbers from either;
 * lbtop adds its rates (computed over its refreshes), lb has none to add. The keys are listed
 * in docs/man/lbtop.1.
 */
#ifndef LBLAB_STATS_JSON_H
#define LBLAB_STATS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "stats_snapshot.h"

/* Per-second rates (lbtop's, over its window). */
struct stats_json_rates {
    double req_s, conn_s, in_s, out_s;
};

/* What to write. */
struct stats_json_doc {
    const char *producer;               /* the first key ("lbtop", "lb_admin"), the version
                                           its value */
    const struct stats_snapshot *cur;
    const struct stats_snapshot *base;  /* percentiles since this one; NULL: since lb's start */
    bool with_rates;                    /* write "rates" from the fields below */
    double rate_window_s;
    bool rates_since_start;
    struct stats_json_rates rate;
    struct stats_json_rates backend_rate[STATS_MAX_BACKENDS];
    size_t recent;                      /* ring entries to write at most, newest first */
    uint64_t now_wall_ns;               /* "time" */
};

/* Writes the document to out. Returns 0 or -EIO. */
int stats_json_write(FILE *out, const struct stats_json_doc *d);

#endif
