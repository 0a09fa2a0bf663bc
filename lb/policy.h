/*
 * policy.h - scheduling policies: which backend serves the next request.
 *
 * Every policy is one file (policy_rr.c, ...) exporting a struct policy_ops, and is listed in
 * the one registry array in policy.c. A policy is shared by all workers, so its ops must be
 * thread-safe without blocking: round robin is one atomic counter. pick() gets the request's key
 * (for the hashing policies) and the backends already tried (for retries); acquired()/released()
 * bracket each request on a backend (for least-connections and power-of-two-choices). Weights
 * and the backup flag are read from the backend table, which is immutable after start-up.
 *
 * Every policy ranks the backends the same way (policy_tier below): a backend already tried or
 * unusable is never picked; among the others, a non-backup backend that is not resting comes
 * first, then a backup that is not resting, then resting ones. A policy applies its own rule
 * within the best tier that has any backend, so a backup serves only when no other backend can,
 * and a resting backend only when nothing else can be picked.
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
    struct backend_table *table; /* the backends it picks among: a pool's (lb/routing.h); the
                                    indexes it takes and returns are this table's */
    struct health *health; /* NULL: every backend with addresses is usable (unit tests) */
    void *state; /* the policy's own, from ops->create */
};

struct policy_ops {
    const char *name;
    const char *summary;
    /* Allocates the policy's state for table (NULL: no state needed). Returns 0 or -errno. */
    int (*create)(struct policy *p);
    void (*destroy)(struct policy *p); /* NULL: policy_fini() free()s p->state */
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

/* True when health (health.h) says backend index i cannot take a new request at now_ms: DOWN
 * (ejected, and its cool-down not over; or failed its checks). Policies pick such a backend
 * ("resting") only when no other can be picked. Never true without a health table. */
bool policy_backend_down(const struct policy *p, size_t i, uint64_t now_ms);

/* How eligible backend i is for one request: the lower the better. */
enum policy_tier {
    POLICY_TIER_UP,             /* not a backup, not resting */
    POLICY_TIER_BACKUP,         /* a backup, not resting: only when no backend is UP */
    POLICY_TIER_RESTING,        /* not a backup, resting after a failed connect */
    POLICY_TIER_BACKUP_RESTING, /* a backup, resting */
    POLICY_TIER_NONE,           /* in tried, or unusable: never picked */
};

/* The tier of backend i for a request that already tried tried (may be NULL) at now_ms. */
enum policy_tier policy_tier(const struct policy *p, size_t i, const uint64_t *tried,
                             uint64_t now_ms);

/* Fills tiers[0..count) with every backend's tier and returns the best of them
 * (POLICY_TIER_NONE: nothing can be picked). */
enum policy_tier policy_tiers(const struct policy *p, const uint64_t *tried, uint64_t now_ms,
                              uint8_t tiers[]);

/* Among the backends of the best tier (as policy_tiers() ranks them), the one that r falls on
 * when each is given a share of [0, sum of their weights) in proportion to its weight, in index
 * order: a weighted choice that a hash (r fixed per key) or a counter (r counting up) drives.
 * Returns -1 when no backend can be picked. */
int policy_weighted_pick(const struct policy *p, const uint64_t *tried, uint64_t now_ms,
                         uint64_t r);

/* A 64-bit hash of data[0..len) mixed with seed (FNV-1a, then a murmur3 finaliser so that
 * nearby inputs spread over all 64 bits). Stable across runs and machines: the hashing policies
 * depend on it to send a key to the same backend every time. */
uint64_t policy_hash(const void *data, size_t len, uint64_t seed);

/* The murmur3 64-bit finaliser: a cheap bijection that spreads every input bit. */
uint64_t policy_mix64(uint64_t x);

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
extern const struct policy_ops policy_wrr_ops;
extern const struct policy_ops policy_leastconn_ops;
extern const struct policy_ops policy_p2c_ops;
extern const struct policy_ops policy_iphash_ops;
extern const struct policy_ops policy_hash_ops;

#endif
