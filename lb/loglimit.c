/*
 * loglimit.c - rate-limited warnings (loglimit.h): a small table of keys, each with when its
 * last line was printed and how many were left out since, under one mutex.
 *
 * The table is searched linearly: it holds a few dozen keys at most, and it is only consulted
 * when something goes wrong.
 */
#include "loglimit.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct loglimit_slot {
    char key[LOGLIMIT_KEY_MAX + 1]; /* "" : free */
    uint64_t printed_ms;            /* when its last line was printed */
    uint64_t suppressed;            /* lines left out since */
};

struct loglimit {
    FILE *out;
    uint32_t interval_ms;
    pthread_mutex_t lock; /* guards slots */
    struct loglimit_slot slots[LOGLIMIT_KEYS];
};

struct loglimit *loglimit_create(FILE *out, uint32_t interval_ms)
{
    struct loglimit *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    if (pthread_mutex_init(&l->lock, NULL) != 0) {
        free(l);
        return NULL;
    }
    l->out = out;
    l->interval_ms = interval_ms;
    return l;
}

void loglimit_destroy(struct loglimit *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/* The slot for key: its own, else a free one, else the one printed longest ago (reset).
 * l->lock held. */
static struct loglimit_slot *slot_for(struct loglimit *l, const char *key, bool *fresh)
{
    struct loglimit_slot *free_slot = NULL, *oldest = &l->slots[0];
    for (size_t i = 0; i < LOGLIMIT_KEYS; i++) {
        struct loglimit_slot *s = &l->slots[i];
        if (s->key[0] == '\0') {
            if (free_slot == NULL)
                free_slot = s;
            continue;
        }
        if (strncmp(s->key, key, LOGLIMIT_KEY_MAX) == 0) {
            *fresh = false;
            return s;
        }
        if (s->printed_ms < oldest->printed_ms)
            oldest = s;
    }
    struct loglimit_slot *s = free_slot != NULL ? free_slot : oldest;
    snprintf(s->key, sizeof(s->key), "%s", key[0] != '\0' ? key : "-");
    s->printed_ms = 0;
    s->suppressed = 0;
    *fresh = true;
    return s;
}

bool loglimit_printf(struct loglimit *l, const char *key, uint64_t now_ms, const char *fmt, ...)
{
    char line[512];
    uint64_t suppressed = 0;
    va_list ap;

    if (l != NULL) {
        bool fresh;
        pthread_mutex_lock(&l->lock);
        struct loglimit_slot *s = slot_for(l, key, &fresh);
        /* a clock that went backwards (it should not) counts as time passed */
        bool due = fresh || now_ms < s->printed_ms || now_ms - s->printed_ms >= l->interval_ms;
        if (due) {
            suppressed = s->suppressed;
            s->suppressed = 0;
            s->printed_ms = now_ms;
        } else {
            s->suppressed++;
        }
        pthread_mutex_unlock(&l->lock);
        if (!due)
            return false;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    FILE *out = l != NULL ? l->out : stderr;
    if (suppressed > 0)
        fprintf(out, "%s (%llu similar suppressed)\n", line, (unsigned long long)suppressed);
    else
        fprintf(out, "%s\n", line);
    fflush(out);
    return true;
}
