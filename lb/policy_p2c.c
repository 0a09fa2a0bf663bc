/*
 * policy_p2c.c - the power of two random choices: pick two backends at random and send the
 * request to the one with fewer requests in flight (for its weight, as leastconn compares).
 *
 * Why not always the least loaded? Looking at two is almost as good (Mitzenmacher: the maximum
 * load drops exponentially compared with one random choice), needs no scan of every backend,
 * and does not send every thread's next request to the same momentarily idle backend, which a
 * least-loaded rule does when many pickers read the same stale counts (herding).
 *
 * The random numbers come from a xorshift64* generator per thread, seeded once from getrandom():
 * no lock, no shared cache line. The two draws are uniform over all backends; when either one
 * cannot be picked as UP (tried, unusable, resting, a backup) the two are drawn again from the
 * backends of the best tier of policy.h, so the choice stays uniform over what can be picked.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/random.h>

#include "clock.h"
#include "policy.h"

struct p2c_state {
    size_t count;                 /* immutable: entries in in_flight */
    _Atomic uint32_t in_flight[]; /* atomic: requests on each backend now */
};

static _Thread_local uint64_t p2c_rng; /* this thread's xorshift64* state; 0: not seeded yet */

static uint64_t p2c_random(void)
{
    uint64_t x = p2c_rng;
    if (x == 0) {
        if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != (ssize_t)sizeof(x))
            x = clock_mono_ms() ^ (uint64_t)(uintptr_t)&p2c_rng;
        x = policy_mix64(x) | 1u; /* xorshift must never hold 0 */
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    p2c_rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* A uniform number in [0, n) for n <= 2^32 (Lemire's multiply-shift). */
static size_t p2c_below(size_t n)
{
    return (size_t)(((p2c_random() >> 32) * (uint64_t)n) >> 32);
}

static int p2c_create(struct policy *p)
{
    size_t n = p->table->count;
    struct p2c_state *st = malloc(sizeof(*st) + (n ? n : 1) * sizeof(st->in_flight[0]));
    if (st == NULL)
        return -ENOMEM;
    st->count = n;
    for (size_t i = 0; i < n; i++)
        atomic_init(&st->in_flight[i], 0);
    p->state = st;
    return 0;
}

/* Of a and b, the one with the smaller (in flight + 1) / weight; a on ties. */
static size_t p2c_lighter(struct policy *p, size_t a, size_t b)
{
    struct p2c_state *st = p->state;
    uint64_t la = atomic_load_explicit(&st->in_flight[a], memory_order_relaxed) + 1u;
    uint64_t lb = atomic_load_explicit(&st->in_flight[b], memory_order_relaxed) + 1u;
    return lb * p->table->backends[a].weight < la * p->table->backends[b].weight ? b : a;
}

static int p2c_pick(struct policy *p, const struct policy_request *req)
{
    size_t n = p->table->count;
    const uint64_t *tried = req ? req->tried : NULL;
    uint64_t now = clock_mono_ms();
    if (n >= 2) {
        size_t a = p2c_below(n), b = p2c_below(n - 1);
        b += b >= a;
        if (policy_tier(p, a, tried, now) == POLICY_TIER_UP &&
            policy_tier(p, b, tried, now) == POLICY_TIER_UP)
            return (int)p2c_lighter(p, a, b);
    }
    uint8_t tiers[POLICY_MAX_BACKENDS];
    uint8_t cand[POLICY_MAX_BACKENDS];
    size_t count = 0;
    enum policy_tier best = policy_tiers(p, tried, now, tiers);
    if (best == POLICY_TIER_NONE)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (tiers[i] == best)
            cand[count++] = (uint8_t)i;
    if (count == 1)
        return cand[0];
    size_t a = p2c_below(count), b = p2c_below(count - 1);
    b += b >= a;
    return (int)p2c_lighter(p, cand[a], cand[b]);
}

static void p2c_acquired(struct policy *p, size_t index)
{
    struct p2c_state *st = p->state;
    atomic_fetch_add_explicit(&st->in_flight[index], 1, memory_order_relaxed);
}

static void p2c_released(struct policy *p, size_t index)
{
    struct p2c_state *st = p->state;
    atomic_fetch_sub_explicit(&st->in_flight[index], 1, memory_order_relaxed);
}

const struct policy_ops policy_p2c_ops = {
    .name = "p2c",
    .summary = "power of two random choices: the less loaded of two random backends",
    .create = p2c_create,
    .pick = p2c_pick,
    .acquired = p2c_acquired,
    .released = p2c_released,
};
