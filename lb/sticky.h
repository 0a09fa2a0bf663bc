/*
 * sticky.h - sticky sessions: a cookie that names the backend which served a client, so that
 * its later requests go to the same one (--sticky-cookie NAME).
 *
 * The cookie's value is an opaque id per backend: 16 hex digits of a keyed hash of the
 * backend's name, with a key drawn at random when lb starts. It says nothing about the backend's
 * address, and a client cannot forge an id for a backend it was never sent to (it can only
 * replay ids it saw). A restart draws a new key: old cookies then name no backend, the policy
 * picks as for a new client, and the response carries a fresh cookie.
 *
 * Built once by main() before the workers start; read-only afterwards, so any thread may use it.
 */
#ifndef LB_STICKY_H
#define LB_STICKY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

#define STICKY_ID_LEN 16
#define STICKY_MAX_NAME 64

struct sticky {
    char cookie[STICKY_MAX_NAME + 1]; /* the cookie's name; "" when sticky sessions are off */
    size_t count;
    char (*ids)[STICKY_ID_LEN + 1]; /* ids[i]: backend i's cookie value */
};

/* Sets st up for the backends of t under cookie name (NULL or "": off), drawing the key from
 * getrandom(). Returns 0 or -errno (-ENOMEM, or a getrandom() failure). */
int sticky_init(struct sticky *st, const struct backend_table *t, const char *cookie);
void sticky_fini(struct sticky *st);

/* True when lb runs with sticky sessions. */
bool sticky_enabled(const struct sticky *st);

/* The backend whose id is value[0..len), or -1. */
int sticky_lookup(const struct sticky *st, const char *value, size_t len);

/* Backend index's id, NUL-terminated. */
const char *sticky_id(const struct sticky *st, size_t index);

/* For tests: the same as sticky_init() with a given key instead of a random one. */
int sticky_init_with_key(struct sticky *st, const struct backend_table *t, const char *cookie,
                         uint64_t key);

#endif
