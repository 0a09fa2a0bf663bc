/*
 * sticky.c - ids for sticky-session cookies (see sticky.h).
 *
 * The id is policy_hash() (FNV-1a finished with a 64-bit mixer, policy.h) of the backend's name
 * seeded with the key, so names differing in one character give unrelated ids. It is not a cryptographic MAC: it hides
 * the address and resists guessing by a casual client, which is what a teaching balancer needs;
 * a production one would use a real MAC (e.g. HMAC-SHA-256) for the same job.
 */
#include "sticky.h"

#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int sticky_init_with_key(struct sticky *st, const struct backend_table *t, const char *cookie,
                         uint64_t key)
{
    *st = (struct sticky){0};
    if (cookie == NULL || *cookie == '\0')
        return 0;
    if (strlen(cookie) > STICKY_MAX_NAME)
        return -ENAMETOOLONG;
    st->ids = calloc(t->count ? t->count : 1, sizeof(*st->ids));
    if (st->ids == NULL)
        return -ENOMEM;
    snprintf(st->cookie, sizeof(st->cookie), "%s", cookie);
    st->count = t->count;
    for (size_t i = 0; i < t->count; i++)
        snprintf(st->ids[i], sizeof(st->ids[i]), "%016llx",
                 (unsigned long long)policy_hash(t->backends[i].name,
                                                 strlen(t->backends[i].name), key));
    return 0;
}

int sticky_init(struct sticky *st, const struct backend_table *t, const char *cookie)
{
    uint64_t key;
    if (getrandom(&key, sizeof(key), 0) != (ssize_t)sizeof(key))
        return -errno;
    return sticky_init_with_key(st, t, cookie, key);
}

void sticky_fini(struct sticky *st)
{
    free(st->ids);
    *st = (struct sticky){0};
}

bool sticky_enabled(const struct sticky *st)
{
    return st->cookie[0] != '\0';
}

int sticky_lookup(const struct sticky *st, const char *value, size_t len)
{
    if (len != STICKY_ID_LEN)
        return -1;
    for (size_t i = 0; i < st->count; i++)
        if (memcmp(st->ids[i], value, STICKY_ID_LEN) == 0)
            return (int)i;
    return -1;
}

const char *sticky_id(const struct sticky *st, size_t index)
{
    return st->ids[index];
}
