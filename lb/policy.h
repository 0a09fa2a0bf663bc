/*
 * policy.h - scheduling policies: which backend serves the next request.
 *
 * Every policy is one file (policy_rr.c, ...) exporting a struct policy_ops, and is listed in
 * the one registry array in policy.c. A policy is shared by all workers, so its ops must be
 * thread-safe without blocking: round robin is one atomic counter. The ops are shaped for the
 * policies to come: pick() gets the request's key (for hashing) and the backends already tried
 * (for retries); acquired()/released() bracket each request on a backend (for least-connections
 * and power-of-two-choices); weights can live in the policy's own state.
 */
#ifndef LB_POLICY_H
#define LB_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

/* What a policy may look at when picking. */
struct policy_request {
    const char *key; /* e.g. the client address or path, for hashing policies; may be NULL */
    size_t key_len;
    const uint64_t *tried; /* bitmap of backend indexes not to pick again; may be NULL */
};

struct policy {
    const struct policy_ops *ops;
    struct backend_table *table;
    void *state; /* the policy's own, from ops->create */
};

struct policy_ops {
    const char *name;
    const char *summary;
    /* Allocates the policy's state for table (NULL: no state needed). Returns 0 or -errno. */
    int (*create)(struct policy *p);
    void (*destroy)(struct policy *p);
    /* Returns the index of a usable backend not in req->tried, or -1 when there is none.
     * Called from any worker thread at the same time: must not block. */
    int (*pick)(struct policy *p, const struct policy_request *req);
    /* A request starts / ends on backend index (optional). */
    void (*acquired)(struct policy *p, size_t index);
    void (*released)(struct policy *p, size_t index);
};

/* The registry: every policy known, NULL-terminated. */
extern const struct policy_ops *const policy_registry[];

/* The policy named name, or NULL. */
const struct policy_ops *policy_find(const char *name);

/* "rr, ..." for messages, in a static buffer. */
const char *policy_names(void);

/* Sets up p with ops over table. Returns 0 or -errno. */
int policy_init(struct policy *p, const struct policy_ops *ops, struct backend_table *table);
void policy_fini(struct policy *p);

/* The wrappers the rest of lb calls. */
int policy_pick(struct policy *p, const struct policy_request *req);
void policy_acquired(struct policy *p, size_t index);
void policy_released(struct policy *p, size_t index);

/* True when backend index i can take requests now (it has addresses, or can be resolved). */
bool policy_backend_usable(const struct policy *p, size_t i);

/* True when backend index i is resting after a failed connect (see BACKEND_DOWN_MS) at now_ms.
 * Policies pick a resting backend only when no other can be picked. */
bool policy_backend_down(const struct policy *p, size_t i, uint64_t now_ms);

/* Bitmap helpers for policy_request.tried. */
#define POLICY_MAX_BACKENDS 256
#define POLICY_TRIED_WORDS ((POLICY_MAX_BACKENDS + 63) / 64)
static inline bool policy_tried(const uint64_t *tried, size_t i)
{
    return tried != NULL && (tried[i / 64] >> (i % 64)) & 1u;
}
static inline void policy_mark_tried(uint64_t *tried, size_t i)
{
    tried[i / 64] |= (uint64_t)1 << (i % 64);
}

/* The policies (one file each). */
extern const struct policy_ops policy_rr_ops;

#endif
