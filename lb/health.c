/*
 * health.c - the backends' health state machine (lb/health.h says what it decides and when).
 *
 * Each backend has two copies of its state. The full one (counters, the window of recent
 * failures, the ejection count, the reason) is guarded by the backend's mutex and changed only
 * by reports, which are rare. The request path reads only a 64-bit atomic word that summarises
 * it: the state, whether the backend is ejected (so its cool-down end applies), whether a trial
 * holds it, and a time (the cool-down's end, or the trial lease's end). The word is rewritten,
 * sequentially consistent, by whoever holds the mutex and changes the state, and by the one
 * compare-and-swap that claims a half-open backend's trial (health_take). A claim lost to a
 * concurrent change is harmless: the state has moved on, and the claimant's outcome is judged
 * against the new state.
 */
#include "health.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The atomic word: bits 0-1 the state, bit 2 ejected, bit 3 trial, bits 4-63 a time in ms. */
#define W_STATE 3u
#define W_EJECTED 4u
#define W_TRIAL 8u
#define W_TIME_SHIFT 4

struct health_backend {
    _Atomic uint64_t word; /* atomic: the request path's summary */
    pthread_mutex_t lock;

    /* lock held */
    enum health_state state;
    enum health_cause cause;
    bool ejected;       /* DOWN by passive ejection: half-open once until_ms has passed */
    bool checks_down;   /* DOWN by checks: only rise good checks bring it back */
    bool admin;         /* DOWN or DRAINING by health_admin(): only health_admin() ends it */
    unsigned good, bad; /* consecutive good / failed checks */
    uint64_t *fails;    /* ring of the times of recent passive failures (max_fails slots) */
    unsigned nfails, first;
    unsigned ejections;     /* consecutive ejections: the next cool-down is base << ejections */
    uint64_t last_cooldown; /* the last ejection's length */
    uint64_t up_since;      /* when it last came UP (0: start-up) */
    uint64_t changed_ms, until_ms, changes;
    uint64_t checks_total, checks_failed;
    char reason[HEALTH_REASON_LEN];
};

struct health {
    struct health_config cfg; /* immutable after health_create() */
    size_t count;
    struct health_backend *b;
    uint64_t *fail_slots;
};

void health_config_defaults(struct health_config *cfg)
{
    *cfg = (struct health_config){
        .rise = HEALTH_DEFAULT_RISE,
        .fall = HEALTH_DEFAULT_FALL,
        .max_fails = HEALTH_DEFAULT_MAX_FAILS,
        .fail_window_ms = HEALTH_DEFAULT_FAIL_WINDOW_MS,
        .cooldown_ms = HEALTH_DEFAULT_COOLDOWN_MS,
        .cooldown_max_ms = HEALTH_DEFAULT_COOLDOWN_MAX_MS,
        .trial_lease_ms = HEALTH_DEFAULT_TRIAL_LEASE_MS,
    };
}

static unsigned clamp(unsigned v, unsigned lo, unsigned hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

struct health *health_create(size_t nbackends, const struct health_config *cfg)
{
    struct health *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->cfg = *cfg;
    h->cfg.rise = clamp(cfg->rise, 1, HEALTH_MAX_FAILS_LIMIT);
    h->cfg.fall = clamp(cfg->fall, 1, HEALTH_MAX_FAILS_LIMIT);
    if (cfg->max_fails > 0)
        h->cfg.max_fails = clamp(cfg->max_fails, 1, HEALTH_MAX_FAILS_LIMIT);
    if (h->cfg.cooldown_max_ms < h->cfg.cooldown_ms)
        h->cfg.cooldown_max_ms = h->cfg.cooldown_ms;
    h->count = nbackends;
    h->b = calloc(nbackends ? nbackends : 1, sizeof(*h->b));
    size_t slots = (nbackends ? nbackends : 1) * (h->cfg.max_fails ? h->cfg.max_fails : 1);
    h->fail_slots = calloc(slots, sizeof(*h->fail_slots));
    if (h->b == NULL || h->fail_slots == NULL) {
        free(h->b);
        free(h->fail_slots);
        free(h);
        return NULL;
    }
    for (size_t i = 0; i < nbackends; i++) {
        struct health_backend *hb = &h->b[i];
        atomic_init(&hb->word, HEALTH_UP);
        pthread_mutex_init(&hb->lock, NULL);
        hb->state = HEALTH_UP;
        hb->cause = HEALTH_CAUSE_START;
        hb->fails = &h->fail_slots[i * (h->cfg.max_fails ? h->cfg.max_fails : 1)];
    }
    return h;
}

void health_destroy(struct health *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->count; i++)
        pthread_mutex_destroy(&h->b[i].lock);
    free(h->fail_slots);
    free(h->b);
    free(h);
}

const struct health_config *health_config(const struct health *h)
{
    return &h->cfg;
}

const char *health_state_name(enum health_state s)
{
    switch (s) {
    case HEALTH_UP:
        return "UP";
    case HEALTH_DOWN:
        return "DOWN";
    case HEALTH_DRAINING:
        return "DRAINING";
    }
    return "?";
}

const char *health_connect_why(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return "connect refused";
    case ETIMEDOUT:
        return "connect timeout";
    case ECONNRESET:
        return "connection reset";
    case EHOSTUNREACH:
        return "host unreachable";
    case ENETUNREACH:
        return "network unreachable";
    case EPROTO:
        return "TLS handshake failed";
    }
    return "connect failed";
}

/* --- the request path ------------------------------------------------------------------------ */

static bool word_usable(uint64_t w, uint64_t now_ms)
{
    if ((w & W_STATE) == HEALTH_UP)
        return true;
    return (w & W_STATE) == HEALTH_DOWN && (w & W_EJECTED) && now_ms >= (w >> W_TIME_SHIFT);
}

bool health_usable(const struct health *h, size_t i, uint64_t now_ms)
{
    return word_usable(atomic_load_explicit(&h->b[i].word, memory_order_relaxed), now_ms);
}

bool health_take(struct health *h, size_t i, uint64_t now_ms)
{
    struct health_backend *hb = &h->b[i];
    uint64_t w = atomic_load_explicit(&hb->word, memory_order_relaxed);
    if ((w & W_STATE) == HEALTH_UP)
        return true;
    if (!word_usable(w, now_ms))
        return false;
    uint64_t lease = (now_ms + h->cfg.trial_lease_ms) << W_TIME_SHIFT;
    uint64_t claimed = HEALTH_DOWN | W_EJECTED | W_TRIAL | lease;
    return atomic_compare_exchange_strong(&hb->word, &w, claimed);
}

uint64_t health_next_usable_ms(const struct health *h, uint64_t now_ms)
{
    uint64_t soonest = 0;
    for (size_t i = 0; i < h->count; i++) {
        uint64_t w = atomic_load_explicit(&h->b[i].word, memory_order_relaxed);
        uint64_t until = w >> W_TIME_SHIFT;
        if ((w & W_STATE) == HEALTH_DOWN && (w & W_EJECTED) && until > now_ms &&
            (soonest == 0 || until - now_ms < soonest))
            soonest = until - now_ms;
    }
    return soonest;
}

enum health_state health_state(const struct health *h, size_t i)
{
    return (enum health_state)(atomic_load_explicit(&h->b[i].word, memory_order_relaxed) &
                               W_STATE);
}

/* --- changes (lock held) --------------------------------------------------------------------- */

/* "10 s" for whole seconds, else "1500 ms". */
static void fmt_ms(char *buf, size_t len, uint64_t ms)
{
    if (ms % 1000 == 0)
        snprintf(buf, len, "%llu s", (unsigned long long)(ms / 1000));
    else
        snprintf(buf, len, "%llu ms", (unsigned long long)ms);
}

/* Makes hb's state `to` for cause, publishes the word, and tells the caller in *out. */
__attribute__((format(printf, 7, 8))) static void change(struct health *h, size_t i,
                                                         enum health_state to,
                                                         enum health_cause cause,
                                                         uint64_t now_ms,
                                                         struct health_change *out,
                                                         const char *fmt, ...)
{
    struct health_backend *hb = &h->b[i];
    enum health_state from = hb->state;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(hb->reason, sizeof(hb->reason), fmt, ap);
    va_end(ap);
    hb->state = to;
    hb->cause = cause;
    hb->changed_ms = now_ms;
    hb->changes++;
    if (!hb->ejected)
        hb->until_ms = 0;
    if (to == HEALTH_UP) {
        hb->up_since = now_ms;
        hb->nfails = 0;
    }
    uint64_t w = (uint64_t)to;
    if (hb->ejected)
        w |= W_EJECTED | (hb->until_ms << W_TIME_SHIFT);
    atomic_store(&hb->word, w);
    if (out != NULL) {
        *out = (struct health_change){.backend = i, .from = from, .to = to, .cause = cause,
                                      .at_ms = now_ms,
                                      .cooldown_ms = hb->ejected ? hb->last_cooldown : 0};
        memcpy(out->reason, hb->reason, sizeof(out->reason));
    }
}

/* Half-open: ejected, and the cool-down is over (a trial may be in progress). */
static bool half_open(const struct health_backend *hb, uint64_t now_ms)
{
    return hb->state == HEALTH_DOWN && hb->ejected && now_ms >= hb->until_ms;
}

/* Ejects i (passive) for the next cool-down. trial: a half-open trial failed, so the ejection
 * follows the last one whatever the time. */
static void eject(struct health *h, size_t i, bool trial, const char *why, uint64_t now_ms,
                  struct health_change *out)
{
    struct health_backend *hb = &h->b[i];
    char len[32], win[32];

    if (!trial && hb->ejections > 0 && now_ms - hb->up_since >= hb->last_cooldown)
        hb->ejections = 0; /* it served well for as long as it was last ejected */
    uint64_t cd = h->cfg.cooldown_ms;
    for (unsigned k = 0; k < hb->ejections && cd < h->cfg.cooldown_max_ms; k++)
        cd *= 2;
    if (cd > h->cfg.cooldown_max_ms)
        cd = h->cfg.cooldown_max_ms;
    hb->ejections++;
    hb->last_cooldown = cd;
    hb->ejected = true;
    hb->checks_down = false;
    hb->good = 0; /* good checks from now on may end the ejection early */
    hb->until_ms = now_ms + cd;
    unsigned n = hb->nfails;
    hb->nfails = 0;
    fmt_ms(len, sizeof(len), cd);
    fmt_ms(win, sizeof(win), h->cfg.fail_window_ms);
    if (trial)
        change(h, i, HEALTH_DOWN, HEALTH_CAUSE_EJECTED, now_ms, out,
               "ejected for %s: trial request failed: %s", len, why);
    else
        change(h, i, HEALTH_DOWN, HEALTH_CAUSE_EJECTED, now_ms, out,
               "ejected for %s after %u failure%s in %s: %s", len, n, n == 1 ? "" : "s", win, why);
}

/* --- reports --------------------------------------------------------------------------------- */

bool health_report_success(struct health *h, size_t i, uint64_t now_ms,
                           struct health_change *out)
{
    struct health_backend *hb = &h->b[i];
    uint64_t w = atomic_load_explicit(&hb->word, memory_order_relaxed);
    if ((w & W_STATE) != HEALTH_DOWN || !(w & W_EJECTED))
        return false; /* the request path's common case: UP, nothing to do */
    bool changed = false;
    pthread_mutex_lock(&hb->lock);
    if (half_open(hb, now_ms) && !hb->admin) {
        hb->ejected = false;
        change(h, i, HEALTH_UP, HEALTH_CAUSE_TRIAL, now_ms, out, "trial request succeeded");
        changed = true;
    }
    pthread_mutex_unlock(&hb->lock);
    return changed;
}

static const char *failure_words(enum health_failure kind)
{
    switch (kind) {
    case HEALTH_FAIL_CONNECT:
        return "connect failed";
    case HEALTH_FAIL_TIMEOUT:
        return "timeout";
    case HEALTH_FAIL_5XX:
        return "5xx answer";
    }
    return "failure";
}

bool health_report_failure(struct health *h, size_t i, enum health_failure kind, const char *why,
                           uint64_t now_ms, struct health_change *out)
{
    struct health_backend *hb = &h->b[i];
    unsigned max = h->cfg.max_fails;
    bool changed = false;

    if (max == 0)
        return false;
    if (why == NULL || why[0] == '\0')
        why = failure_words(kind);
    pthread_mutex_lock(&hb->lock);
    if (hb->admin || hb->state == HEALTH_DRAINING) {
        /* admin decides */
    } else if (hb->state == HEALTH_DOWN) {
        if (half_open(hb, now_ms)) {
            eject(h, i, true, why, now_ms, out);
            changed = true;
        }
    } else {
        /* forget failures older than the window (the ring is oldest first) */
        while (hb->nfails > 0 && now_ms - hb->fails[hb->first] >= h->cfg.fail_window_ms) {
            hb->first = (hb->first + 1) % max;
            hb->nfails--;
        }
        hb->fails[(hb->first + hb->nfails) % max] = now_ms;
        hb->nfails++;
        if (hb->nfails >= max) {
            hb->first = 0;
            eject(h, i, false, why, now_ms, out);
            changed = true;
        }
    }
    pthread_mutex_unlock(&hb->lock);
    return changed;
}

bool health_report_check(struct health *h, size_t i, bool ok, const char *why, uint64_t now_ms,
                         struct health_change *out)
{
    struct health_backend *hb = &h->b[i];
    bool changed = false;

    if (why == NULL || why[0] == '\0')
        why = "failed";
    pthread_mutex_lock(&hb->lock);
    hb->checks_total++;
    if (ok) {
        hb->good++;
        hb->bad = 0;
    } else {
        hb->checks_failed++;
        hb->bad++;
        hb->good = 0;
    }
    if (hb->admin || hb->state == HEALTH_DRAINING) {
        /* admin decides; the counters keep going */
    } else if (!ok && hb->bad >= h->cfg.fall && !hb->checks_down) {
        /* UP, or ejected: from now on only good checks bring it back */
        hb->ejected = false;
        hb->checks_down = true;
        change(h, i, HEALTH_DOWN, HEALTH_CAUSE_CHECKS, now_ms, out, "%u check%s failed: %s",
               hb->bad, hb->bad == 1 ? "" : "s", why);
        changed = true;
    } else if (ok && (hb->checks_down || hb->ejected) && hb->good >= h->cfg.rise) {
        /* DOWN by checks, or ejected: rise good checks in a row show it serves again (a
         * restarted backend need not wait out its cool-down) */
        hb->checks_down = false;
        hb->ejected = false;
        change(h, i, HEALTH_UP, HEALTH_CAUSE_CHECKS, now_ms, out, "%u check%s passed", hb->good,
               hb->good == 1 ? "" : "s");
        changed = true;
    }
    pthread_mutex_unlock(&hb->lock);
    return changed;
}

bool health_admin(struct health *h, size_t i, enum health_state state, uint64_t now_ms,
                  struct health_change *out)
{
    struct health_backend *hb = &h->b[i];
    bool changed = false;

    pthread_mutex_lock(&hb->lock);
    if (state == HEALTH_UP) {
        if (hb->admin || hb->state != HEALTH_UP) {
            hb->admin = false;
            hb->ejected = false;
            hb->checks_down = false;
            hb->bad = hb->good = 0;
            change(h, i, HEALTH_UP, HEALTH_CAUSE_ADMIN, now_ms, out, "admin");
            changed = true;
        }
    } else if (!hb->admin || hb->state != state) {
        hb->admin = true;
        hb->ejected = false;
        hb->checks_down = false;
        change(h, i, state, HEALTH_CAUSE_ADMIN, now_ms, out, "admin");
        changed = true;
    }
    pthread_mutex_unlock(&hb->lock);
    return changed;
}

/* --- reading --------------------------------------------------------------------------------- */

static void snapshot_locked(const struct health_backend *hb, struct health_snapshot *out)
{
    *out = (struct health_snapshot){
        .state = hb->state,
        .cause = hb->cause,
        .changed_ms = hb->changed_ms,
        .until_ms = hb->ejected ? hb->until_ms : 0,
        .changes = hb->changes,
        .checks_total = hb->checks_total,
        .checks_failed = hb->checks_failed,
    };
    memcpy(out->reason, hb->reason, sizeof(out->reason));
}

void health_snapshot(struct health *h, size_t i, struct health_snapshot *out)
{
    pthread_mutex_lock(&h->b[i].lock);
    snapshot_locked(&h->b[i], out);
    pthread_mutex_unlock(&h->b[i].lock);
}

void health_publish(struct health *h, size_t i,
                    void (*fn)(const struct health_snapshot *snap, void *arg), void *arg)
{
    struct health_snapshot snap;

    pthread_mutex_lock(&h->b[i].lock);
    snapshot_locked(&h->b[i], &snap);
    fn(&snap, arg);
    pthread_mutex_unlock(&h->b[i].lock);
}
