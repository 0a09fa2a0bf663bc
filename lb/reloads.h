/*
 * reloads.h - POST /reload on the admin endpoint, between the worker that serves it and main(),
 * which does the reload (the same as on SIGHUP).
 *
 * The admin endpoint must never block its worker, and a reload may take a while (names are
 * resolved): so the worker asks (reloads_ask(), which wakes main() through an eventfd) and gets
 * a ticket, main() answers every ticket asked so far with the outcome of one reload
 * (reloads_answer()) and wakes the worker, which then looks up its tickets' outcome
 * (reloads_outcome()) and answers its clients. A mutex guards the few fields both sides touch;
 * neither side holds it for longer than a copy.
 */
#ifndef LB_RELOADS_H
#define LB_RELOADS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RELOADS_REPORT_MAX 8192

struct reloads {
    int efd; /* readable when a reload was asked for: main() polls it */
    pthread_mutex_t lock;
    uint64_t asked;    /* tickets handed out so far (the last one's number) */
    uint64_t answered; /* tickets up to this one have their outcome */
    bool ok;           /* the outcome of the last reload: done, or refused */
    uint64_t generation;                /* the configuration's generation after it */
    char report[RELOADS_REPORT_MAX];    /* its errors, or what it did */
};

/* Returns 0 or -errno (the eventfd). */
int reloads_init(struct reloads *r);
void reloads_fini(struct reloads *r);

/* Any thread: asks main() for a reload. Returns the ticket to look its outcome up with. */
uint64_t reloads_ask(struct reloads *r);

/* main(): clears the eventfd and returns the last ticket asked so far (0: none). */
uint64_t reloads_pending(struct reloads *r);

/* main(): the tickets up to upto are answered by one reload's outcome. */
void reloads_answer(struct reloads *r, uint64_t upto, bool ok, uint64_t generation,
                    const char *report);

/* Any thread: true once ticket is answered, with the outcome copied out (report cut to
 * report_len). */
bool reloads_outcome(struct reloads *r, uint64_t ticket, bool *ok, uint64_t *generation,
                     char *report, size_t report_len);

#endif
