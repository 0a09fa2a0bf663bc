/*
 * reloads.c - reload requests from the admin endpoint and their outcomes (see reloads.h).
 */
#include "reloads.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int reloads_init(struct reloads *r)
{
    memset(r, 0, sizeof(*r));
    r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->efd < 0)
        return -errno;
    pthread_mutex_init(&r->lock, NULL);
    return 0;
}

void reloads_fini(struct reloads *r)
{
    if (r->efd >= 0) {
        close(r->efd);
        pthread_mutex_destroy(&r->lock);
    }
    r->efd = -1;
}

uint64_t reloads_ask(struct reloads *r)
{
    pthread_mutex_lock(&r->lock);
    uint64_t ticket = ++r->asked;
    pthread_mutex_unlock(&r->lock);
    uint64_t one = 1;
    while (write(r->efd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    return ticket;
}

uint64_t reloads_pending(struct reloads *r)
{
    uint64_t v;
    while (read(r->efd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&r->lock);
    uint64_t upto = r->asked > r->answered ? r->asked : 0;
    pthread_mutex_unlock(&r->lock);
    return upto;
}

void reloads_answer(struct reloads *r, uint64_t upto, bool ok, uint64_t generation,
                    const char *report)
{
    pthread_mutex_lock(&r->lock);
    if (upto > r->answered) {
        r->answered = upto;
        r->ok = ok;
        r->generation = generation;
        snprintf(r->report, sizeof(r->report), "%s", report);
    }
    pthread_mutex_unlock(&r->lock);
}

bool reloads_outcome(struct reloads *r, uint64_t ticket, bool *ok, uint64_t *generation,
                     char *report, size_t report_len)
{
    pthread_mutex_lock(&r->lock);
    bool done = ticket <= r->answered;
    if (done) {
        *ok = r->ok;
        *generation = r->generation;
        snprintf(report, report_len, "%s", r->report);
    }
    pthread_mutex_unlock(&r->lock);
    return done;
}
