/*
 * policy_leastconn.c - least connections, weighted: the backend with the fewest requests in
 * flight for its weight gets the next one, so a backend that answers slowly piles up requests
 * and is given fewer new ones (round robin would keep giving it its share).
 *
 * "Requests in flight" is counted per backend with acquired()/released(), which bracket each
 * request, in relaxed atomics: a pick reads a slightly stale count when other threads pick at
 * the same time, which costs a little balance and never a wait. Backend i is compared by
 * (in_flight_i + 1) / weight_i, the load it would have if it took this request (as HAProxy's
 * leastconn does), so that among idle backends the heaviest comes first and under steady load
 * the counts settle in proportion to the weights. Fractions are compared by cross-multiplying,
 * never divided. Ties are broken by a rotating counter over the backends that tie, so equally
 * loaded backends take equal turns instead of the first one always winning.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "clock.h"
#include "policy.h"

struct leastconn_state {
    _Atomic uint64_t next;        /* atomic: turns among backends that tie */
    _Atomic uint32_t in_flight[]; /* atomic: requests on each backend now */
};

static int leastconn_create(struct policy *p)
{
    size_t n = p->table->count;
    struct leastconn_state *st = malloc(sizeof(*st) + (n ? n : 1) * sizeof(st->in_flight[0]));
    if (st == NULL)
        return -ENOMEM;
    atomic_init(&st->next, 0);
    for (size_t i = 0; i < n; i++)
        atomic_init(&st->in_flight[i], 0);
    p->state = st;
    return 0;
}

static int leastconn_pick(struct policy *p, const struct policy_request *req)
{
    struct leastconn_state *st = p->state;
    size_t n = p->table->count, ties = 0;
    const uint64_t *tried = req ? req->tried : NULL;
    uint64_t now = clock_mono_ms();
    enum policy_tier best_tier = POLICY_TIER_NONE;
    uint64_t best_load = 0, best_weight = 1;
    uint8_t tied[POLICY_MAX_BACKENDS]; /* the least loaded of the best tier, in index order */
    for (size_t i = 0; i < n; i++) {
        enum policy_tier t = policy_tier(p, i, tried, now);
        if (t == POLICY_TIER_NONE || t > best_tier)
            continue;
        uint64_t load = atomic_load_explicit(&st->in_flight[i], memory_order_relaxed) + 1u;
        uint64_t weight = p->table->backends[i].weight;
        if (t < best_tier || load * best_weight < best_load * weight) {
            best_tier = t;
            best_load = load;
            best_weight = weight;
            ties = 0;
        } else if (load * best_weight > best_load * weight) {
            continue;
        }
        tied[ties++] = (uint8_t)i;
    }
    if (ties == 0)
        return -1;
    if (ties == 1)
        return tied[0];
    return tied[atomic_fetch_add_explicit(&st->next, 1, memory_order_relaxed) % ties];
}

static void leastconn_acquired(struct policy *p, size_t index)
{
    struct leastconn_state *st = p->state;
    atomic_fetch_add_explicit(&st->in_flight[index], 1, memory_order_relaxed);
}

static void leastconn_released(struct policy *p, size_t index)
{
    struct leastconn_state *st = p->state;
    atomic_fetch_sub_explicit(&st->in_flight[index], 1, memory_order_relaxed);
}

const struct policy_ops policy_leastconn_ops = {
    .name = "leastconn",
    .summary = "fewest requests in flight for the backend's weight; ties take turns",
    .create = leastconn_create,
    .pick = leastconn_pick,
    .acquired = leastconn_acquired,
    .released = leastconn_released,
};
