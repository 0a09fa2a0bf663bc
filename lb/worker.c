/*
 * worker.c - a worker thread's event loop.
 *
 * Each round: wait in epoll_wait() until an event or the earliest timer, dispatch each event to
 * its object (listener, control eventfd, resolver answers, client or backend socket), fire
 * expired timers, make the writes sessions and relays held during the batch (all in one
 * io_uring_enter() where the kernel has io_uring: sendbatch.h) and give those, and the ones
 * that yielded, another turn, free what was closed this round (an event for it may have been
 * pending in the same batch), and flush the access-log buffer.
 *
 * Once a second the worker gives memory back (trim()): its pools free the blocks no request
 * needed during the last second (pool.h), its cache of pipes closes those nobody took
 * (pipebuf.h), the idle backend connections older than
 * --pool-idle-timeout are closed, and after a burst (many connections gone, or many blocks
 * freed, since the last trim) malloc_trim(0) hands the freed pages back to the system, so a
 * burst's memory does not stay. (Not every second: malloc_trim walks the whole heap.)
 *
 * Going to sleep costs more than it seems: a worker that sleeps in epoll_wait() must be woken by
 * the kernel (on a virtual machine, an interrupt between processors that the hypervisor relays)
 * and switched back in. A worker that is quick runs out of events often: with two workers and a
 * new client connection per request, about once per three requests, and since the held writes
 * go out together through io_uring, one worker with 50 keep-alive clients as often. So a worker
 * that has just handled a busy round (YIELD_AFTER_EVENTS events or more) and finds nothing more
 * first lets the other threads ready on its CPU run (sched_yield()) and looks again: those are
 * the load generator, the backends and the other workers, and on loopback the sender does the
 * receiver's TCP work, so they are often about to hand it its next events.
 * Only if there are still none does it sleep. With --no-yield it sleeps at once.
 *
 * --busy-poll USEC goes further, for light load: a worker out of events keeps asking
 * epoll_wait() with a zero timeout for up to USEC microseconds before it sleeps, so the answer
 * of a backend that is already working on a request finds the worker awake. Off by default: it
 * burns CPU that a loaded machine needs for other work (measured with one client and 50 us: 1.8
 * times the requests/s for 1.3 times the CPU per request; with 50 clients the same requests/s
 * for 11% more CPU per request).
 *
 * The listening socket is shared by all workers and registered level-triggered with
 * EPOLLEXCLUSIVE: one worker wakes per new connection instead of all of them. (SO_REUSEPORT with
 * one socket per worker spreads connections as well, but lets a second lb silently bind the
 * same port and share its traffic; a plain shared socket fails loudly instead.)
 */
#include "worker.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin.h"
#include "checker.h"
#include "clock.h"
#include "connlimit.h"
#include "events.h"
#include "handoff.h"
#include "loglimit.h"
#include "relay.h"
#include "session.h"
#include "upstream.h"

#define MAX_EVENTS 256
/* Accepts per wake-up: at most 256, then the worker serves the rest of its events before it
 * takes more. Too few starved the listen queue when thousands of clients connected together: the
 * kernel's accept queue overflowed, it dropped their handshakes and first requests, and the
 * clients resent them after 1 s, 3 s, ... Too many let a burst in all at once, and every request
 * in flight holds memory (wrk -c10000 against one worker, 9,900 clients sending at once for the
 * memory, two or three runs each):
 *   per round       p99 at 10,000 clients   listen-queue overflows   memory at the burst's peak
 *   16              3.6 - 4.0 s             11,000 - 23,000          430 - 453 B per connection
 *   256             0.9 - 1.3 s             0 - 3,000                570 - 760 B
 *   1024            0.53 s                  600 - 3,800              1,630 B
 *   until empty     0.57 - 0.68 s           1,800 - 3,900            2,140 B
 * (nginx at that burst: 880 B per connection.) Several workers share the load: what one worker
 * accepts beyond its share it hands to the others (handoff.h). */
#define ACCEPT_MAX 256
#define ACCEPT_PAUSE_MS 100
#define TRIM_INTERVAL_MS 1000 /* how often the worker gives unused memory back */
#define TRIM_BURST_CONNS 256  /* connections gone since the last trim that make it a burst */
#define TRIM_BURST_BLOCKS 64  /* or pooled blocks freed by one trim */
#define YIELD_AFTER_EVENTS 2  /* a round this busy may be followed by a yield before sleeping */
/* Client writes held per batch at most (and backend writes, counted apart): each may hold a
 * response block, and a big batch (a burst of thousands of clients) should not keep that many in
 * memory at once. Both together fit one send batch. */
#define HOLD_MAX 32
_Static_assert(2 * HOLD_MAX <= SEND_BATCH_MAX, "a batch's held writes fit one send batch");

int worker_watch(struct worker *w, int fd, struct endpoint *ep)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = ep};
    return epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int listen_on(struct worker *w)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &w->listener_ep};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->listen_fd, &ev) < 0)
        return -errno;
    if (w->tls_ctx != NULL) {
        ev.data.ptr = &w->tls_listener_ep;
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->tls_listen_fd, &ev) < 0) {
            int rc = -errno;
            epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listen_fd, NULL);
            return rc;
        }
    }
    w->listening = true;
    return 0;
}

static void listen_off(struct worker *w)
{
    if (!w->listening)
        return;
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listen_fd, NULL);
    if (w->tls_ctx != NULL)
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->tls_listen_fd, NULL);
    w->listening = false;
}

static uint64_t rng_next(struct worker *w)
{
    /* xorshift128+: fast, and plenty for unique-looking request ids */
    uint64_t s1 = w->rng[0];
    const uint64_t s0 = w->rng[1];
    w->rng[0] = s0;
    s1 ^= s1 << 23;
    w->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return w->rng[1] + s0;
}

/* The listener's address in w->listen_front[i] if it is bound to one address (not a wildcard). */
static void learn_listen_front(struct worker *w, int i, int listen_fd)
{
    struct sockaddr_storage *ss = &w->listen_front[i];
    socklen_t len = sizeof(*ss);
    if (listen_fd < 0 || getsockname(listen_fd, (struct sockaddr *)ss, &len) != 0) {
        ss->ss_family = AF_UNSPEC;
        return;
    }
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
    if ((ss->ss_family == AF_INET && v4->sin_addr.s_addr == htonl(INADDR_ANY)) ||
        (ss->ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr)) ||
        (ss->ss_family != AF_INET && ss->ss_family != AF_INET6))
        ss->ss_family = AF_UNSPEC; /* a wildcard: each connection's own address differs */
}

void worker_client_front(struct worker *w, int fd, bool tls, struct sockaddr *front,
                         socklen_t len)
{
    const struct sockaddr_storage *known = &w->listen_front[tls ? 1 : 0];
    socklen_t known_len = known->ss_family == AF_INET    ? sizeof(struct sockaddr_in)
                          : known->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                         : 0;
    if (known_len != 0 && known_len <= len) {
        memcpy(front, known, known_len);
        return;
    }
    if (getsockname(fd, front, &len) != 0)
        front->sa_family = AF_UNSPEC; /* only statistics miss it */
}

/* Whether a write that asks may wait for the end of the batch; *held counts those that did. */
static bool hold_write(struct worker *w, bool queued, unsigned *held)
{
    if (!w->hold_client_writes)
        return false;
    if (queued)
        return true; /* counted when it was queued, or queued for another reason: it runs anyway */
    if (*held == HOLD_MAX)
        return false;
    (*held)++;
    return true;
}

bool worker_hold_client_write(struct worker *w, bool queued)
{
    return hold_write(w, queued, &w->client_writes_held);
}

bool worker_hold_backend_write(struct worker *w, bool queued)
{
    return send_batch_uses_uring(&w->sends) && hold_write(w, queued, &w->backend_writes_held);
}

void worker_request_id(struct worker *w, char id[33])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = rng_next(w), b = rng_next(w);
    for (int i = 0; i < 16; i++) {
        id[i] = hex[(a >> (i * 4)) & 15];
        id[16 + i] = hex[(b >> (i * 4)) & 15];
    }
    id[32] = '\0';
}

/* This worker's share of the active health checks of w->routing's backends (none: no checker).
 * Returns 0 or -ENOMEM. */
static int start_checks(struct worker *w)
{
    checker_destroy(w->checker); /* checks in flight are not reported */
    w->checker = NULL;
    if (!w->routing->any_checks)
        return 0;
    struct checker_config cc = {.paths = w->routing->health_paths,
                                .interval_ms = w->cfg->health_interval_ms,
                                .timeout_ms = w->cfg->health_timeout_ms,
                                .nworkers = w->nworkers};
    w->checker = checker_create(w, w->health, &cc);
    return w->checker != NULL ? 0 : -ENOMEM;
}

/* New requests start on rt from now on: idle connections follow it, checks are made anew. */
static void switch_routing(struct worker *w, struct routing *rt)
{
    struct routing *old = w->routing;
    w->routing = rt;
    atomic_store(&w->routing_generation, rt->generation);
    upstreams_follow(w->upstreams, rt);
    if (start_checks(w) != 0)
        fprintf(stderr, "lb: worker %u: out of memory: no health checks until the next reload\n",
                w->id);
    routing_release(old); /* requests in flight hold it while they need it */
}

void worker_wake(struct worker *w)
{
    uint64_t one = 1;
    while (write(w->ctl_efd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

bool worker_routing_at(const struct worker *w, uint64_t gen)
{
    return atomic_load(&w->routing_generation) >= gen;
}

void worker_set_routing(struct worker *w, struct routing *rt)
{
    routing_release(atomic_exchange(&w->next_routing, routing_hold(rt)));
    uint64_t one = 1;
    while (write(w->ctl_efd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

int worker_init(struct worker *w, char *err, size_t err_len)
{
    w->epfd = -1;
    w->ctl_efd = -1;
    w->replies.efd = -1;
    atomic_init(&w->stop, 0);
    timer_heap_init(&w->timers);
    http_limits_default(&w->limits);
    w->limits.max_header_bytes = BUF_SIZE;
    w->listener_ep.kind = ENDPOINT_LISTENER;
    w->tls_listener_ep.kind = ENDPOINT_TLS_LISTENER;
    w->control_ep.kind = ENDPOINT_CONTROL;
    w->resolver_ep.kind = ENDPOINT_RESOLVER;
    w->sessions = NULL;
    w->relays = NULL;
    w->admin = NULL;
    w->upstreams = NULL;
    buf_blocks_init(&w->blocks);
    send_batch_init(&w->sends, !w->cfg->no_io_uring);
    w->log_buf.len = 0;
    w->draining = false;
    w->listening = false;
    w->accept_resume_ms = 0;
    w->now_ms = clock_mono_ms();
    w->trim_next_ms = w->now_ms + TRIM_INTERVAL_MS;
    w->trim_peak_conns = 0;

    if (getrandom(w->rng, sizeof(w->rng), GRND_NONBLOCK) != (ssize_t)sizeof(w->rng)) {
        w->rng[0] = clock_wall_ns() ^ ((uint64_t)w->id << 32);
        w->rng[1] = clock_mono_ns() | 1;
    }
    if (w->rng[0] == 0 && w->rng[1] == 0)
        w->rng[1] = 1;

    w->sessions = sessions_create();
    w->relays = relays_create();
    w->upstreams = upstreams_create(w, ROUTING_MAX_SLOTS);
    atomic_init(&w->next_routing, NULL);
    atomic_init(&w->routing_generation, w->routing->generation);
    if (start_checks(w) != 0) {
        snprintf(err, err_len, "worker %u: out of memory", w->id);
        return -ENOMEM;
    }
    if (w->sessions == NULL || w->relays == NULL || w->upstreams == NULL) {
        snprintf(err, err_len, "worker %u: out of memory", w->id);
        return -ENOMEM;
    }
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epfd < 0)
        goto out_errno;
    w->ctl_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->ctl_efd < 0)
        goto out_errno;
    int rc = resolve_reply_init(&w->replies);
    if (rc != 0) {
        errno = -rc;
        goto out_errno;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->control_ep};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->ctl_efd, &ev) < 0)
        goto out_errno;
    ev.data.ptr = &w->resolver_ep;
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->replies.efd, &ev) < 0)
        goto out_errno;
    learn_listen_front(w, 0, w->listen_fd);
    learn_listen_front(w, 1, w->tls_ctx != NULL ? w->tls_listen_fd : -1);
    if (listen_on(w) != 0)
        goto out_errno;
    if (w->admin_fd >= 0 && (w->admin = admin_create(w, w->admin_fd)) == NULL)
        goto out_errno;
    if (w->handoff != NULL)
        handoff_ready(w->handoff, w->id, w->ctl_efd);
    return 0;

out_errno:
    rc = -errno;
    snprintf(err, err_len, "worker %u: %s", w->id, strerror(errno));
    return rc;
}

/* Serves a connection this worker accepted or was handed. */
static void serve_client(struct worker *w, struct handoff_conn *c)
{
    int rc;
    if (w->cfg->mode == CONFIG_MODE_TCP)
        rc = relay_open(w, c->fd, (struct sockaddr *)&c->peer, c->peer_len);
    else
        rc = session_open(w, c->fd, (struct sockaddr *)&c->peer, c->peer_len, c->tls);
    if (rc != 0)
        connlimit_give(w->conns); /* closed at once: its slot was never the connection's */
}

/* Serves the connections other workers handed to this one (handoff.h). */
static void take_handed_clients(struct worker *w)
{
    struct handoff_conn batch[16];
    size_t n;
    while (w->handoff != NULL && (n = handoff_take(w->handoff, w->id, batch, 16)) > 0)
        for (size_t i = 0; i < n; i++)
            serve_client(w, &batch[i]);
}

/* Accepts from the plain listener, or with tls from the HTTPS one, and serves each connection
 * here or hands it to a worker that holds fewer (handoff.h). */
static void accept_clients(struct worker *w, bool tls)
{
    int lfd = tls ? w->tls_listen_fd : w->listen_fd;
    for (int i = 0; i < ACCEPT_MAX; i++) {
        struct handoff_conn c = {.tls = tls, .peer_len = sizeof(c.peer)};
        if (!connlimit_take(w->conns)) {
            /* --max-conns reached: new connections wait in the listen backlog */
            listen_off(w);
            w->accept_resume_ms = w->now_ms + CONNLIMIT_RECHECK_MS;
            return;
        }
        int fd = accept4(lfd, (struct sockaddr *)&c.peer, &c.peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            connlimit_give(w->conns);
            switch (errno) {
            case EAGAIN:
                return;
            case EINTR:
            case ECONNABORTED:
            case EPROTO:
            case EPERM:
                continue;
            case EMFILE:
            case ENFILE:
            case ENOBUFS:
            case ENOMEM:
                /* out of descriptors or memory: stop accepting for a moment instead of spinning
                 * on a listener that stays readable; a shortage that lasts repeats this every
                 * pause, so the line is rate-limited (loglimit.h) */
                loglimit_printf(w->warnings, "accept", w->now_ms,
                                "lb: worker %u: accept: %s (pausing accepts for %d ms)", w->id,
                                strerror(errno), ACCEPT_PAUSE_MS);
                listen_off(w);
                w->accept_resume_ms = w->now_ms + ACCEPT_PAUSE_MS;
                return;
            default:
                /* EINVAL: main() shut the listener down */
                listen_off(w);
                return;
            }
        }
        c.fd = fd;
        if (w->handoff != NULL) {
            unsigned to = handoff_choose(w->handoff, w->id);
            if (to != w->id && handoff_push(w->handoff, to, &c))
                continue;
            handoff_count_one(w->handoff, w->id);
        }
        serve_client(w, &c);
    }
}

static void handle_control(struct worker *w)
{
    uint64_t v;
    while (read(w->ctl_efd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
    struct routing *next = atomic_exchange(&w->next_routing, NULL);
    if (next != NULL)
        switch_routing(w, next);
    int stop = atomic_load(&w->stop);
    if (stop >= 1 && !w->draining) {
        if (w->handoff != NULL)
            handoff_retire(w->handoff, w->id); /* nobody hands it more; what came is served */
        w->draining = true;
        w->drain_deadline_ms = w->now_ms + w->cfg->drain_timeout_ms;
        listen_off(w);
        w->accept_resume_ms = 0;
        session_drain_all(w, false);
        relay_drain_all(w, false);
    }
    if (stop >= 2)
        w->drain_deadline_ms = w->now_ms;
    admin_reloads_done(w->admin);
    take_handed_clients(w);
}

static void handle_resolved(struct worker *w)
{
    struct resolve_req *list = resolve_reply_take(&w->replies);
    while (list != NULL) {
        struct resolve_req *req = list;
        list = list->next;
        struct endpoint *owner = req->owner;
        if (owner != NULL && owner->kind == ENDPOINT_RELAY)
            relay_resolved(w, req);
        else
            session_resolved(w, req); /* frees an answer nobody waits for any more */
    }
}

static size_t connections(const struct worker *w)
{
    return sessions_count(w->sessions) + relays_count(w->relays);
}

/* Gives back the memory the last second did not need (see the top of this file). */
static void trim(struct worker *w)
{
    size_t freed = buf_blocks_trim(&w->blocks) + sessions_trim(w->sessions);
    (void)pipebuf_cache_trim(&w->pipes);
    (void)upstreams_expire(w->upstreams);
    size_t now = connections(w);
    if (freed >= TRIM_BURST_BLOCKS || w->trim_peak_conns >= now + TRIM_BURST_CONNS)
        malloc_trim(0); /* the pages of what was freed go back to the system */
    w->trim_peak_conns = now;
    w->trim_next_ms = w->now_ms + TRIM_INTERVAL_MS;
}

/* With --busy-poll: polls for events until some come, or for up to busy_poll_us. Returns how
 * many came (0 or -1 too, as epoll_wait) and lowers *timeout by the time spent. */
static int busy_poll(struct worker *w, struct epoll_event *events, int *timeout)
{
    uint64_t start = clock_mono_ns(), now;
    uint64_t until = start + 1000u * (uint64_t)w->cfg->busy_poll_us;
    int n;
    do {
        n = epoll_wait(w->epfd, events, MAX_EVENTS, 0);
        now = clock_mono_ns();
    } while (n == 0 && now < until);
    if (n == 0 && *timeout > 0) {
        int spent_ms = (int)((now - start) / 1000000u);
        *timeout = spent_ms < *timeout ? *timeout - spent_ms : 0;
    }
    return n;
}

/* epoll_wait() for up to timeout ms. With --busy-poll the worker polls a while first; else after
 * a busy round (was_busy), a worker with company yields its CPU once before it sleeps (see the
 * top of this file). */
static int wait_for_events(struct worker *w, struct epoll_event *events, int timeout,
                           bool was_busy)
{
    if (w->cfg->busy_poll_us > 0 && timeout != 0) {
        int n = busy_poll(w, events, &timeout);
        if (n != 0)
            return n;
    } else if (was_busy && timeout != 0 && !w->cfg->no_yield) {
        int n = epoll_wait(w->epfd, events, MAX_EVENTS, 0);
        if (n != 0)
            return n;
        sched_yield(); /* never fails on Linux */
        n = epoll_wait(w->epfd, events, MAX_EVENTS, 0);
        if (n != 0)
            return n;
    }
    return epoll_wait(w->epfd, events, MAX_EVENTS, timeout);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event events[MAX_EVENTS];
    bool was_busy = false;

    for (;;) {
        w->now_ms = clock_mono_ms();
        if (w->draining && ((sessions_count(w->sessions) == 0 && relays_count(w->relays) == 0) ||
                            w->now_ms >= w->drain_deadline_ms))
            break;
        int max_wait = -1;
        if (sessions_deferred(w->sessions) || relays_deferred(w->relays))
            max_wait = 0;
        else if (w->accept_resume_ms != 0) /* paused: out of descriptors, or --max-conns */
            max_wait = w->accept_resume_ms > w->now_ms ? (int)(w->accept_resume_ms - w->now_ms) : 0;
        else if (w->draining)
            max_wait = 100;
        uint64_t to_trim = w->trim_next_ms > w->now_ms ? w->trim_next_ms - w->now_ms : 0;
        if (max_wait < 0 || (uint64_t)max_wait > to_trim)
            max_wait = (int)to_trim;
        int timeout = timer_wait_ms(&w->timers, w->now_ms, max_wait);
        timeout = checker_wait_ms(w->checker, w->now_ms, timeout);
        timeout = admin_run_due(w->admin, w->now_ms, timeout);
        int n = wait_for_events(w, events, timeout, was_busy);
        was_busy = n >= YIELD_AFTER_EVENTS;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "lb: worker %u: epoll_wait: %s\n", w->id, strerror(errno));
            break;
        }
        w->now_ms = clock_mono_ms();
        w->hold_client_writes = n > 1; /* a batch: see worker_hold_client_write() */
        w->client_writes_held = w->backend_writes_held = 0;
        for (int i = 0; i < n; i++) {
            struct endpoint *ep = events[i].data.ptr;
            switch (ep->kind) {
            case ENDPOINT_LISTENER:
            case ENDPOINT_TLS_LISTENER:
                if (w->listening)
                    accept_clients(w, ep->kind == ENDPOINT_TLS_LISTENER);
                break;
            case ENDPOINT_CONTROL:
                handle_control(w);
                break;
            case ENDPOINT_RESOLVER:
                handle_resolved(w);
                break;
            case ENDPOINT_CLIENT:
                session_client_event(ep, events[i].events);
                break;
            case ENDPOINT_RELAY:
                relay_client_event(ep, events[i].events);
                break;
            case ENDPOINT_BACKEND: {
                /* a backend connection: its owner (a session or a relay) takes it from here */
                struct endpoint *owner =
                    upstream_event(w->upstreams, (struct upstream *)ep, events[i].events);
                if (owner != NULL && owner->kind == ENDPOINT_RELAY)
                    relay_backend_ready(owner);
                else if (owner != NULL)
                    session_backend_ready(owner);
                break;
            }
            case ENDPOINT_ADMIN:
                admin_event(w->admin, ep, events[i].events);
                break;
            case ENDPOINT_CHECK:
                checker_event(w->checker, ep, events[i].events);
                break;
            }
        }
        w->hold_client_writes = false;
        struct timer *t;
        while ((t = timer_pop_expired(&w->timers, w->now_ms)) != NULL) {
            struct endpoint *owner = t->owner;
            if (owner->kind == ENDPOINT_RELAY)
                relay_timer_expired(w, t);
            else
                session_timer_expired(w, t);
        }
        checker_run_due(w->checker, w->now_ms);
        session_run_deferred(w);
        relay_run_deferred(w);
        if (n > 0)
            events_loop_round(w, (unsigned)n);
        session_reap(w);
        relay_reap(w);
        size_t conns = connections(w);
        if (w->handoff != NULL)
            handoff_set_load(w->handoff, w->id, conns);
        if (conns > w->trim_peak_conns)
            w->trim_peak_conns = conns;
        if (w->now_ms >= w->trim_next_ms)
            trim(w);
        if (w->accept_resume_ms != 0 && w->now_ms >= w->accept_resume_ms && !w->draining) {
            w->accept_resume_ms = 0;
            listen_on(w);
        }
        if (w->log_buf.len > 0)
            access_log_flush(w->log, &w->log_buf);
    }
    session_drain_all(w, true);
    relay_drain_all(w, true);
    session_run_deferred(w);
    relay_run_deferred(w);
    session_reap(w);
    relay_reap(w);
    buf_blocks_fini(&w->blocks);
    pipebuf_cache_fini(&w->pipes);
    if (w->log_buf.len > 0)
        access_log_flush(w->log, &w->log_buf);
    return NULL;
}

int worker_start(struct worker *w)
{
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    return rc == 0 ? 0 : -rc;
}

void worker_stop(struct worker *w, bool now)
{
    atomic_store(&w->stop, now ? 2 : 1);
    uint64_t one = 1;
    while (write(w->ctl_efd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

void worker_join(struct worker *w)
{
    pthread_join(w->thread, NULL);
}

void worker_fini(struct worker *w)
{
    if (w->handoff != NULL)
        handoff_retire(w->handoff, w->id);
    if (w->epfd >= 0)
        close(w->epfd);
    if (w->ctl_efd >= 0)
        close(w->ctl_efd);
    if (w->replies.efd >= 0)
        resolve_reply_fini(&w->replies);
    timer_heap_fini(&w->timers);
    send_batch_fini(&w->sends);
    checker_destroy(w->checker);
    w->checker = NULL;
    admin_destroy(w->admin);
    w->admin = NULL;
    upstreams_destroy(w->upstreams);
    w->upstreams = NULL;
    sessions_destroy(w->sessions);
    w->sessions = NULL;
    relays_destroy(w->relays);
    w->relays = NULL;
    routing_release(atomic_exchange(&w->next_routing, NULL));
    routing_release(w->routing);
    w->routing = NULL;
    w->epfd = w->ctl_efd = -1;
}
