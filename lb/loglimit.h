/*
 * loglimit.h - rate-limited warnings on standard error: a trouble that repeats (out of
 * descriptors, a backend failing every request, clients that stop reading) prints one line per
 * key and interval, not one per occurrence.
 *
 * A line is printed at once the first time its key is seen; further lines with the same key
 * within the interval (one second in lb) are counted, not printed, and the next line printed for
 * that key ends with "(N similar suppressed)". Keys are short strings naming the kind of
 * trouble ("accept", "lb-fd", "client-stalled"); at most LOGLIMIT_KEYS are remembered, the one
 * printed longest ago making room for a new one (its count is then lost, never its next line).
 *
 * One limiter is shared by all of lb's workers: the calls lock its mutex, which matters only
 * when warnings are being printed (they are rare, or rate-limited by this very module).
 */
#ifndef LB_LOGLIMIT_H
#define LB_LOGLIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define LOGLIMIT_KEYS 32
#define LOGLIMIT_KEY_MAX 48 /* bytes of a key that count; longer keys are cut */

struct loglimit;

/* A limiter printing to out at most one line per key every interval_ms. Returns NULL when out of
 * memory. */
struct loglimit *loglimit_create(FILE *out, uint32_t interval_ms);
void loglimit_destroy(struct loglimit *l);

/* Prints the line fmt describes (without its newline) when key's interval has passed, with
 * " (N similar suppressed)" added when lines were left out since the last one. now_ms is a
 * monotonic time in milliseconds. With l NULL every line is printed, to standard error.
 * Returns true when the line was printed. Any thread. */
bool loglimit_printf(struct loglimit *l, const char *key, uint64_t now_ms, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
