/*
 * health.h - what lb believes about each backend: UP, DOWN or DRAINING, since when and why.
 *
 * A pure state machine with an explicit clock: every input carries now_ms (clock_mono_ms() in
 * lb, a fake clock in the tests), and nothing here reads a clock, sleeps or does I/O. Inputs:
 *
 * - Active checks (lb/checker.c): --health-fall consecutive failed checks take an UP backend
 *   DOWN; a backend DOWN by checks comes back only after --health-rise consecutive good checks
 *   (HAProxy's "check inter rise fall"). The same number of good checks after a passive ejection
 *   ends it before its cool-down does.
 * - Passive observation of real requests (lb/session.c): a connect failure, a timeout, or a 5xx
 *   answer (with --observe 5xx) is a failure. --max-fails failures within --fail-window ms eject
 *   the backend (nginx's max_fails/fail_timeout): DOWN for a cool-down of 5 s that doubles on
 *   each consecutive ejection up to 60 s (Envoy's outlier detection). When the cool-down ends the
 *   backend is half-open: it may take a trial request; the trial's success brings it UP, its
 *   failure ejects it again for the doubled time. Successes do not clear failures counted in the
 *   window; failures older than the window are forgotten.
 * - When the doubling resets: an ejection is "consecutive" when it comes less than its previous
 *   cool-down after the backend came back UP. A backend that stays UP for at least as long as it
 *   was last ejected starts again at 5 s on its next ejection (ejected 20 s, back UP at t: a new
 *   ejection before t + 20 s lasts 40 s, one at or after t + 20 s lasts 5 s).
 * - Admin (a later issue's admin endpoint): DRAINING takes no new requests while the ones in
 *   flight finish; DOWN holds a backend down until admin sets it UP again.
 *
 * Threads: every worker reports to the same struct health. Transitions are rare, so each backend
 * has a mutex for its updates, and each change is made by exactly one caller, who gets true and
 * a struct health_change to print and publish. The request path (health_usable, health_take,
 * health_report_success while UP) reads one atomic word per backend, takes no lock and
 * allocates nothing.
 */
#ifndef LB_HEALTH_H
#define LB_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEALTH_DEFAULT_RISE 2
#define HEALTH_DEFAULT_FALL 3
#define HEALTH_DEFAULT_MAX_FAILS 1
#define HEALTH_DEFAULT_FAIL_WINDOW_MS 10000
#define HEALTH_DEFAULT_COOLDOWN_MS 5000
#define HEALTH_DEFAULT_COOLDOWN_MAX_MS 60000
#define HEALTH_DEFAULT_TRIAL_LEASE_MS 10000
#define HEALTH_MAX_FAILS_LIMIT 1000 /* --max-fails above this is refused by the config */

#define HEALTH_REASON_LEN 96 /* a reason as text, NUL included (common/stats.h keeps as much) */

enum health_state {
    HEALTH_UP,
    HEALTH_DOWN,
    HEALTH_DRAINING,
};

/* What made the last change. */
enum health_cause {
    HEALTH_CAUSE_START,   /* no change yet: UP since start-up */
    HEALTH_CAUSE_CHECKS,  /* --health-fall failed or --health-rise good active checks */
    HEALTH_CAUSE_EJECTED, /* passive: --max-fails failures in --fail-window, or a failed trial */
    HEALTH_CAUSE_TRIAL,   /* passive: a trial request after a cool-down succeeded */
    HEALTH_CAUSE_ADMIN,   /* health_admin() */
};

/* A passive failure seen on a real request. */
enum health_failure {
    HEALTH_FAIL_CONNECT, /* the connect failed (refused, unreachable, reset) */
    HEALTH_FAIL_TIMEOUT, /* connect timeout, or no answer within --server-timeout */
    HEALTH_FAIL_5XX,     /* a 5xx answer (count it only with --observe 5xx) */
};

struct health_config {
    unsigned rise;           /* consecutive good checks that bring a DOWN backend UP (>= 1) */
    unsigned fall;           /* consecutive failed checks that take an UP backend DOWN (>= 1) */
    unsigned max_fails;      /* passive failures in the window that eject; 0: passive off */
    uint32_t fail_window_ms; /* how long a passive failure counts */
    uint32_t cooldown_ms;    /* the first ejection's length */
    uint32_t cooldown_max_ms;
    uint32_t trial_lease_ms; /* a trial taken with health_take() whose outcome never comes is
                              * given up after this long, and another request may try */
};

/* One change of a backend's state, as the caller that made it learns of it. */
struct health_change {
    size_t backend;
    enum health_state from, to;
    enum health_cause cause;
    uint64_t at_ms;       /* the now_ms of the input that made it */
    uint64_t cooldown_ms; /* with HEALTH_CAUSE_EJECTED: how long the ejection lasts */
    char reason[HEALTH_REASON_LEN]; /* e.g. "3 checks failed: connect refused", "2 checks
                                     * passed", "ejected for 10 s after 1 failure in 10 s:
                                     * timeout", "trial request succeeded", "admin" */
};

/* A backend's state as published: health_snapshot() copies it under the backend's lock. */
struct health_snapshot {
    enum health_state state;
    enum health_cause cause;
    uint64_t changed_ms;  /* when it last changed (0: never) */
    uint64_t until_ms;    /* an ejection's end (0 when not ejected) */
    uint64_t changes;     /* how many changes so far: a snapshot with more is newer */
    uint64_t checks_total, checks_failed;
    char reason[HEALTH_REASON_LEN]; /* "" until the first change */
};

struct health;

/* Fills cfg with the defaults above. */
void health_config_defaults(struct health_config *cfg);

/* A health table for nbackends backends, all UP. cfg is copied; rise, fall and max_fails are
 * clamped to [1, HEALTH_MAX_FAILS_LIMIT] (max_fails 0 stays 0). Returns NULL on ENOMEM. */
struct health *health_create(size_t nbackends, const struct health_config *cfg);
void health_destroy(struct health *h);

/* The configuration in use. */
const struct health_config *health_config(const struct health *h);

/* --- the request path: lock-free, any thread ------------------------------------------------ */

/* True when backend i may take a new request at now_ms: UP, or ejected with its cool-down over
 * (half-open) and no trial in progress. One relaxed atomic load. */
bool health_usable(const struct health *h, size_t i, uint64_t now_ms);

/* A policy picked i: true when the request may go there. Always true while i is UP (one load);
 * for a half-open backend, true for exactly one caller (the trial; one compare-and-swap), false
 * for the others until the trial's outcome is reported or health_config.trial_lease_ms passes.
 * False when i is not usable. */
bool health_take(struct health *h, size_t i, uint64_t now_ms);

/* Milliseconds from now_ms until the first ejected backend's cool-down (or trial lease) ends, 0
 * when no backend is waiting for one: what a 503's Retry-After can tell the client. Backends
 * DOWN by checks or admin have no known end and are not counted. Lock-free. */
uint64_t health_next_usable_ms(const struct health *h, uint64_t now_ms);

/* --- reports: any thread; each returns true for the one caller whose report changed i's state,
 * with the change in *out (out may be NULL). -------------------------------------------------- */

/* A request at i went well (a response that is not a counted failure). Ends a half-open trial
 * (UP). While i is UP: one relaxed load, no lock. */
bool health_report_success(struct health *h, size_t i, uint64_t now_ms,
                           struct health_change *out);

/* A request at i failed passively. why is a few words for the reason ("connect refused",
 * "timeout", "status 503"), or NULL for the kind's own wording. Ignored while i is DOWN and not
 * half-open, or DRAINING, or with max_fails 0. */
bool health_report_failure(struct health *h, size_t i, enum health_failure kind, const char *why,
                           uint64_t now_ms, struct health_change *out);

/* An active check of i finished: ok, or failed because of why ("connect refused", "timeout",
 * "status 503", ...). Counted in the snapshot's checks_total and checks_failed. */
bool health_report_check(struct health *h, size_t i, bool ok, const char *why, uint64_t now_ms,
                         struct health_change *out);

/* Admin: state HEALTH_DRAINING (no new requests), HEALTH_DOWN (held down until admin sets it
 * UP) or HEALTH_UP (back in service; DOWN again at once if its checks say so). */
bool health_admin(struct health *h, size_t i, enum health_state state, uint64_t now_ms,
                  struct health_change *out);

/* --- reading --------------------------------------------------------------------------------- */

/* The state of i right now, from the atomic word (lock-free). */
enum health_state health_state(const struct health *h, size_t i);

/* Copies i's state, times, reason and check counters under its lock. */
void health_snapshot(struct health *h, size_t i, struct health_snapshot *out);

/* Runs fn(snapshot of i, arg) with i's lock held, so that publications of i's state are ordered
 * like its changes: whoever publishes last publishes the newest state. fn must be short and
 * must not call back into health. */
void health_publish(struct health *h, size_t i,
                    void (*fn)(const struct health_snapshot *snap, void *arg), void *arg);

/* A failed connect's errno (positive) in a few words for a reason: "connect refused", "connect
 * timeout", "connection reset", "host unreachable", "network unreachable", else "connect
 * failed". A static string. */
const char *health_connect_why(int err);

/* "UP", "DOWN", "DRAINING". */
const char *health_state_name(enum health_state s);

#endif
