/*
 * upstream.c - backend connections and the per-worker idle pool (see upstream.h).
 *
 * The pool is a doubly linked list per backend, most recently used first: the connection taken
 * next is the one whose backend has had the least time to time it out, and the oldest ones sink
 * to the tail where they age out (--pool-idle-timeout, closed from the tail by
 * upstreams_expire()).
 */
#include "upstream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "events.h"
#include "transport_tls.h"

/* Idle connections to one backend, most recently used first, and for a TLS backend the session
 * the next new connection offers to resume (the latest one a connection to it had: the backend
 * skips its certificate and signature, as HAProxy and nginx's proxy_ssl_session_reuse do). */
struct idle_list {
    struct upstream *head, *tail;
    size_t count;
    struct ssl_session_st *tls_session; /* this worker's reference, or NULL */
};

struct upstreams {
    struct worker *w;
    size_t nbackends;
    size_t idle_count;       /* in all the lists */
    struct upstream *closed; /* closed this round, freed by upstreams_reap() */
    struct idle_list idle[]; /* one per backend */
};

struct upstreams *upstreams_create(struct worker *w, size_t nbackends)
{
    struct upstreams *ups = calloc(1, sizeof(*ups) + nbackends * sizeof(ups->idle[0]));
    if (ups == NULL)
        return NULL;
    ups->w = w;
    ups->nbackends = nbackends;
    return ups;
}

void upstreams_destroy(struct upstreams *ups)
{
    if (ups == NULL)
        return;
    upstreams_close_idle(ups);
    upstreams_reap(ups);
    for (size_t i = 0; i < ups->nbackends; i++)
        transport_tls_session_free(ups->idle[i].tls_session);
    free(ups);
}

/* Keeps u's TLS session, if it has a resumable one, for the next connection to its backend. */
static void keep_tls_session(struct upstreams *ups, struct upstream *u)
{
    struct ssl_session_st *s = transport_tls_session(&u->side.tr);
    if (s == NULL)
        return;
    struct idle_list *l = &ups->idle[u->backend->index];
    transport_tls_session_free(l->tls_session);
    l->tls_session = s;
}

static void idle_unlink(struct upstreams *ups, struct upstream *u)
{
    struct idle_list *l = &ups->idle[u->backend->index];
    if (u->prev)
        u->prev->next = u->next;
    else
        l->head = u->next;
    if (u->next)
        u->next->prev = u->prev;
    else
        l->tail = u->prev;
    u->prev = u->next = NULL;
    l->count--;
    ups->idle_count--;
}

/* An idle connection that waited too long is not reused: its backend may be about to close it. */
static bool idle_expired(const struct upstreams *ups, const struct upstream *u)
{
    return ups->w->now_ms - u->idle_since_ms > ups->w->cfg->pool_idle_timeout_ms;
}

void upstream_close(struct upstreams *ups, struct upstream *u, bool abort)
{
    if (u == NULL || u->state == UPSTREAM_CLOSED)
        return;
    if (u->state == UPSTREAM_IDLE)
        idle_unlink(ups, u);
    if (u->state == UPSTREAM_READY || u->state == UPSTREAM_IDLE)
        keep_tls_session(ups, u);
    /* only an established one was counted as opened (its handshake done, for TLS) */
    if (u->state != UPSTREAM_CONNECTING && u->state != UPSTREAM_HANDSHAKING)
        events_backend_closed(ups->w, u->backend);
    side_close(&u->side, abort);
    u->owner = NULL;
    u->state = UPSTREAM_CLOSED;
    u->next = ups->closed;
    ups->closed = u;
}

void upstreams_reap(struct upstreams *ups)
{
    while (ups->closed != NULL) {
        struct upstream *u = ups->closed;
        ups->closed = u->next;
        free(u);
    }
}

void upstreams_close_idle(struct upstreams *ups)
{
    for (size_t i = 0; i < ups->nbackends; i++)
        while (ups->idle[i].head != NULL)
            upstream_close(ups, ups->idle[i].head, false);
}

static void note_local_address(struct upstream *u)
{
    socklen_t sl = sizeof(u->local);
    if (getsockname(u->side.tr.fd, (struct sockaddr *)&u->local, &sl) != 0)
        u->local.ss_family = AF_UNSPEC; /* only statistics miss it */
}

/* How the TLS handshake with the backend ended: a failure is said on standard error. */
static void tls_report(void *arg, const struct transport_tls_outcome *o)
{
    struct upstream *u = arg;
    if (o->version == 0)
        events_backend_tls_failed(u->w, u->backend, o->why);
}

/* One step of the handshake of a HANDSHAKING u: 0 when READY, -EINPROGRESS, or -errno. */
static int handshake(struct upstream *u)
{
    int rc = transport_handshake(&u->side.tr);
    if (rc == -EAGAIN) {
        u->side.readable = u->side.writable = false; /* until the next event */
        return -EINPROGRESS;
    }
    if (rc != 0)
        return rc == -ECONNRESET ? rc : -EPROTO;
    u->state = UPSTREAM_READY;
    u->side.readable = u->side.writable = true;
    return 0;
}

/* The TCP connection of u is established: READY, or HANDSHAKING first for a TLS backend.
 * Returns 0 (READY), -EINPROGRESS, or -errno. */
static int connected(struct upstream *u)
{
    note_local_address(u);
    if (u->backend->tls_ctx == NULL) {
        u->state = UPSTREAM_READY;
        u->side.writable = true;
        return 0;
    }
    const struct backend *b = u->backend;
    int rc = transport_tls_connect(&u->side.tr, b->tls_ctx, u->side.tr.fd, b->tls_sni,
                                   b->tls_verify, u->w->upstreams->idle[b->index].tls_session,
                                   tls_report, u);
    if (rc != 0)
        return rc;
    u->state = UPSTREAM_HANDSHAKING;
    return handshake(u);
}

int upstream_connect(struct upstreams *ups, struct backend *b, const struct sockaddr *server,
                     socklen_t server_len, void *owner, struct upstream **out)
{
    int err;
    int fd = socket(server->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    net_set_nodelay(fd);
    int rc;
    do {
        rc = connect(fd, server, server_len);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0 && errno != EINPROGRESS) {
        err = -errno;
        goto out_close_fd;
    }
    struct upstream *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        err = -ENOMEM;
        goto out_close_fd;
    }
    u->ep.kind = ENDPOINT_BACKEND;
    u->state = UPSTREAM_CONNECTING;
    side_init(&u->side, &transport_plain, fd);
    u->backend = b;
    u->w = ups->w;
    u->owner = owner;
    memcpy(&u->server, server, server_len);
    net_format_addr(server, u->addr, sizeof(u->addr));
    err = worker_watch(ups->w, fd, &u->ep);
    if (err != 0)
        goto out_free;
    if (rc == 0) {
        err = connected(u);
        if (err != 0 && err != -EINPROGRESS) {
            side_close(&u->side, false); /* the socket, and its TLS state if any */
            free(u);
            return err;
        }
    }
    *out = u;
    return 0;

out_free:
    free(u);
out_close_fd:
    close(fd);
    return err;
}

int upstream_finish_connect(struct upstream *u)
{
    if (u->state == UPSTREAM_HANDSHAKING)
        return u->side.writable || u->side.readable ? handshake(u) : -EINPROGRESS;
    if (u->state != UPSTREAM_CONNECTING)
        return 0;
    if (!u->side.writable && !u->side.readable)
        return -EINPROGRESS;
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(u->side.tr.fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr != 0)
        return -soerr;
    return connected(u);
}

struct upstream *upstream_take_idle(struct upstreams *ups, struct backend *b, void *owner)
{
    struct idle_list *l = &ups->idle[b->index];
    while (l->head != NULL) {
        struct upstream *u = l->head;
        idle_unlink(ups, u);
        u->state = UPSTREAM_READY;
        if (u->side.eof || u->side.wfailed || idle_expired(ups, u)) {
            upstream_close(ups, u, false);
            continue;
        }
        u->owner = owner;
        u->reused = true;
        return u;
    }
    return NULL;
}

/* The backend of rt in b's slot when it is the same server as b (b itself when rt has it), else
 * NULL: b was removed by a reload, or its name now stands for another server. */
static struct backend *same_server(const struct routing *rt, struct backend *b)
{
    if (rt == NULL)
        return b; /* no snapshots (unit tests): b is all there is */
    struct backend *nb = b->index < ROUTING_MAX_SLOTS ? rt->by_slot[b->index] : NULL;
    if (nb == NULL || nb == b)
        return nb;
    if (strcmp(nb->host, b->host) != 0 || nb->port != b->port ||
        (nb->tls_ctx != NULL) != (b->tls_ctx != NULL))
        return NULL;
    return nb;
}

void upstreams_follow(struct upstreams *ups, const struct routing *rt)
{
    for (size_t i = 0; i < ups->nbackends; i++) {
        for (struct upstream *u = ups->idle[i].head, *next; u != NULL; u = next) {
            next = u->next;
            struct backend *nb = same_server(rt, u->backend);
            if (nb == NULL)
                upstream_close(ups, u, false);
            else
                u->backend = nb;
        }
    }
}

void upstream_release(struct upstreams *ups, struct upstream *u, bool keep)
{
    /* a connection of an older snapshot goes on serving the current one's backend, if any */
    struct backend *nb = same_server(ups->w->routing, u->backend);
    if (nb == NULL)
        keep = false;
    else if (u->state == UPSTREAM_READY)
        u->backend = nb;
    struct idle_list *l = &ups->idle[u->backend->index];
    if (!keep || u->state != UPSTREAM_READY || l->count >= ups->w->cfg->pool_max ||
        ups->w->draining) {
        upstream_close(ups, u, false);
        return;
    }
    u->state = UPSTREAM_IDLE;
    u->owner = NULL;
    u->reused = false;
    u->idle_since_ms = ups->w->now_ms;
    u->prev = NULL;
    u->next = l->head;
    if (l->head)
        l->head->prev = u;
    else
        l->tail = u;
    l->head = u;
    l->count++;
    ups->idle_count++;
}

size_t upstreams_expire(struct upstreams *ups)
{
    size_t closed = 0;
    for (size_t i = 0; i < ups->nbackends; i++) {
        struct idle_list *l = &ups->idle[i];
        while (l->tail != NULL && idle_expired(ups, l->tail)) {
            upstream_close(ups, l->tail, false);
            closed++;
        }
    }
    return closed;
}

size_t upstreams_idle_count(const struct upstreams *ups)
{
    return ups->idle_count;
}

void *upstream_event(struct upstreams *ups, struct upstream *u, uint32_t events)
{
    if (u->state == UPSTREAM_CLOSED)
        return NULL;
    side_event(&u->side, events);
    if (u->state == UPSTREAM_IDLE) {
        /* the backend closed it, or sent bytes nobody asked for: either way it is done */
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            upstream_close(ups, u, false);
        return NULL;
    }
    return u->owner;
}
