/*
 * clock.h - monotonic and wall-clock time in the units lblab uses everywhere (nanoseconds for
 * measuring, milliseconds for timeouts).
 */
#ifndef LBLAB_CLOCK_H
#define LBLAB_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds on the monotonic clock: for durations and deadlines, never for printing. */
static inline uint64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clock_mono_ms(void)
{
    return clock_mono_ns() / 1000000u;
}

/* Nanoseconds since the Unix epoch: for timestamps people read. */
static inline uint64_t clock_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
