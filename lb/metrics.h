/*
 * metrics.h - lb's statistics in the Prometheus text exposition format, version 0.0.4: the
 * answer to GET /metrics on the admin endpoint (lb/admin.h).
 *
 * The numbers are one reading of the statistics lbtop reads (common/stats_snapshot.h), so
 * /metrics, /stats and lbtop agree. Every name starts with "lblab_"; counters end in "_total",
 * times are in seconds and sizes in bytes (Prometheus's base units); every family has its HELP
 * and TYPE lines before its samples. Backends are labelled pool="...",backend="...", the pool
 * taken from the statistics (each backend's pool), the backend by the name lbtop shows (unique:
 * stats_unique_name()). docs/metrics.md lists every metric.
 *
 * Latency histograms keep the statistics' own buckets (8 per power of two of microseconds) but
 * are exported at every power of two, le = 2^k us for k = 0..25 (1 us to 33.55 s) and +Inf: each
 * such bound is the end of a bucket, so the cumulative counts are exact, not interpolated. A
 * value counts under le when it is below it (a value of exactly le counts in the next one).
 */
#ifndef LB_METRICS_H
#define LB_METRICS_H

#include <stdio.h>

#include "stats_snapshot.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Writes every metric of s to out. Returns 0, or -EIO when out failed. */
int metrics_write(FILE *out, const struct stats_snapshot *s);

#endif
