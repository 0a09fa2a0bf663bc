/*
 * simsrv.c - one backend-sim instance's event loop (see simsrv.h): epoll_wait until the earliest
 * timer, accept new connections, hand readiness to the connections (simconn.c), run expired
 * timers, give connections that used up their fair share another turn, then write the log lines
 * of the iteration in one go and free the connections closed during it.
 *
 * The listening socket is level-triggered (accepting a batch per wake-up), connections are
 * edge-triggered (see simconn.c). A connection closed in the middle of an epoll_wait() batch is
 * only freed at the end of the iteration, since later events of the batch may still name it.
 */
#include "simsrv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "net.h"
#include "simconn.h"
#include "version.h"

static void rebuild_common(struct simsrv *s, uint64_t wall_sec)
{
    char date[64];
    time_t t = (time_t)wall_sec;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    simbuf_reset(&s->common);
    simbuf_printf(&s->common,
                  "Date: %s\r\nServer: backend-sim/" LBLAB_VERSION
                  "\r\nX-Backend: %s\r\nX-Backend-Port: %u\r\n",
                  date, s->ic->name, s->port);
    s->wall_sec = wall_sec;
}

static void flush_log(struct simsrv *s)
{
    if (s->sh->log != NULL && s->logbuf.len > 0)
        (void)simlog_write(s->sh->log, s->logbuf.data, s->logbuf.len);
    simbuf_reset(&s->logbuf);
}

static void bury_dead(struct simsrv *s)
{
    while (s->graveyard != NULL) {
        struct simconn *c = s->graveyard;
        simconn_list_remove(&s->graveyard, c);
        if (s->n_free < FREE_CONNS_MAX && c->in.cap <= 2 * READ_CHUNK &&
            c->out.cap <= 2 * OUT_HIGH) {
            if (c->body.cap > KEEP_BUF_MAX)
                simbuf_free(&c->body);
            if (c->pend.cap > KEEP_BUF_MAX)
                simbuf_free(&c->pend);
            simconn_list_push(&s->free_conns, c);
            s->n_free++;
        } else {
            simconn_free(c);
        }
    }
}

static void accept_ready(struct simsrv *s)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* the listener stays readable: stop watching it for a while, or the loop spins */
                if (epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, s->listen_fd, NULL) == 0)
                    s->accept_paused_until = s->now_ms + ACCEPT_PAUSE_MS;
                fprintf(stderr, "backend-sim: %s: accept: %s; pausing accepts\n", s->ic->name,
                        strerror(errno));
            }
            return; /* EAGAIN: all accepted */
        }
        bool counted = s->cfg->max_conns == 0 || s->n_counted < s->cfg->max_conns;
        if (!counted && s->n_refusing >= REFUSING_MAX) {
            close(fd);
            continue;
        }
        (void)net_set_nodelay(fd);
        struct simconn *c = simconn_new(s, fd, &ss, counted);
        if (c == NULL) {
            close(fd);
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = c};
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            simconn_close(c, false);
            continue;
        }
        c->can_write = true;
        if (!counted)
            simresp_refuse(c);
        simconn_drive(c);
    }
}

static void run_timers(struct simsrv *s)
{
    struct timer *t;

    while ((t = timer_pop_expired(&s->timers, s->now_ms)) != NULL) {
        struct simconn *c = t->owner;
        simconn_expire(c);
        if (!c->closed)
            simconn_drive(c);
    }
}

static void run_ready(struct simsrv *s)
{
    struct simconn *list = s->ready;

    s->ready = NULL;
    while (list != NULL) {
        struct simconn *c = list;
        list = c->ready_next;
        c->in_ready = false;
        c->ready_next = NULL;
        if (!c->closed)
            simconn_drive(c);
    }
}

static void *simsrv_main(void *arg)
{
    struct simsrv *s = arg;
    struct epoll_event events[MAX_EVENTS];

    while (!atomic_load(&s->stop)) {
        int timeout = -1;
        uint64_t next = timer_next_deadline(&s->timers);
        if (s->accept_paused_until != 0 && s->accept_paused_until < next)
            next = s->accept_paused_until;
        if (s->ready != NULL) {
            timeout = 0;
        } else if (next != TIMER_NONE) {
            uint64_t now = clock_mono_ms();
            timeout = next <= now ? 0 : next - now > 60000 ? 60000 : (int)(next - now);
        }
        int n = epoll_wait(s->epoll_fd, events, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR)
            break;
        s->now_ms = clock_mono_ms();
        uint64_t wall = clock_wall_ns() / 1000000000u;
        if (wall != s->wall_sec)
            rebuild_common(s, wall);
        for (int i = 0; i < n; i++) {
            void *p = events[i].data.ptr;
            uint32_t e = events[i].events;
            if (p == &s->listen_fd) {
                accept_ready(s);
                continue;
            }
            if (p == &s->wake_fd)
                continue; /* the stop flag is checked by the loop */
            struct simconn *c = p;
            if (c->closed)
                continue;
            if (e & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
                c->can_read = true;
            if (e & (EPOLLRDHUP | EPOLLERR | EPOLLHUP))
                c->rdhup = true;
            if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                c->can_write = true;
            if (c->tls != NULL && e != 0) /* TLS may read to write, and write to read */
                c->can_read = c->can_write = true;
            simconn_drive(c);
        }
        run_timers(s);
        if (s->accept_paused_until != 0 && s->now_ms >= s->accept_paused_until) {
            struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &s->listen_fd};
            if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &lev) == 0)
                s->accept_paused_until = 0;
            else
                s->accept_paused_until = s->now_ms + ACCEPT_PAUSE_MS;
        }
        run_ready(s);
        flush_log(s);
        bury_dead(s);
    }
    /* shutdown: every connection goes, requests in flight are logged with what they got */
    while (s->conns != NULL)
        simconn_close(s->conns, true);
    flush_log(s);
    bury_dead(s);
    return NULL;
}

struct simsrv *simsrv_create(const struct simsrv_shared *sh, size_t index, char *err,
                             size_t err_len)
{
    struct simsrv *s = calloc(1, sizeof(*s));
    const struct simcfg_instance *ic = &sh->cfg->inst[index];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    uint8_t seed[8];

    if (s == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    s->sh = sh;
    s->cfg = sh->cfg;
    s->ic = ic;
    s->index = index;
    s->listen_fd = s->epoll_fd = s->wake_fd = -1;
    s->caps.max_size = sh->cfg->max_size;
    s->caps.max_delay_ms = sh->cfg->max_delay_ms;
    http_limits_default(&s->limits);
    atomic_init(&s->stop, false);
    timer_heap_init(&s->timers);
    simbuf_init(&s->common, 0);
    simbuf_init(&s->scratch, 0);
    simbuf_init(&s->logbuf, 0);
    s->health = HEALTH_UP;
    s->slow_ms = SLOW_DEFAULT_MS;
    if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        memset(seed, 0, sizeof(seed));
    memcpy(&s->rng, seed, sizeof(seed));
    s->rng ^= clock_mono_ns() ^ ((uint64_t)sh->pid << 32) ^ (index + 1) * 0x9E3779B97F4A7C15ull;
    if (s->rng == 0)
        s->rng = 0x853c49e6748fea9bull;

    s->listen_fd = net_listen_tcp(ic->host, ic->port, 1024, true, err, err_len);
    if (s->listen_fd < 0)
        goto out_free;
    if (getsockname(s->listen_fd, (struct sockaddr *)&ss, &sl) == 0) {
        net_unmap_v4((struct sockaddr *)&ss, sl, &ss);
        s->port = net_addr_port((struct sockaddr *)&ss);
    } else {
        s->port = ic->port;
    }
    snprintf(s->local_addr, sizeof(s->local_addr), "%s", ic->host[0] ? ic->host : "*");
    s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->epoll_fd < 0 || s->wake_fd < 0) {
        snprintf(err, err_len, "epoll/eventfd: %s", strerror(errno));
        goto out_free;
    }
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &s->listen_fd};
    struct epoll_event wev = {.events = EPOLLIN, .data.ptr = &s->wake_fd};
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &lev) < 0 ||
        epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &wev) < 0) {
        snprintf(err, err_len, "epoll_ctl: %s", strerror(errno));
        goto out_free;
    }
    s->now_ms = clock_mono_ms();
    rebuild_common(s, clock_wall_ns() / 1000000000u);
    return s;

out_free:
    simsrv_destroy(s);
    return NULL;
}

int simsrv_start(struct simsrv *s)
{
    int rc = pthread_create(&s->thread, NULL, simsrv_main, s);
    if (rc != 0)
        return -rc;
    s->started = true;
    return 0;
}

void simsrv_stop(struct simsrv *s)
{
    uint64_t one = 1;
    atomic_store(&s->stop, true);
    while (write(s->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

void simsrv_join(struct simsrv *s)
{
    if (s->started) {
        pthread_join(s->thread, NULL);
        s->started = false;
    }
}

void simsrv_destroy(struct simsrv *s)
{
    if (s == NULL)
        return;
    while (s->conns != NULL)
        simconn_close(s->conns, false);
    bury_dead(s);
    while (s->free_conns != NULL) {
        struct simconn *c = s->free_conns;
        simconn_list_remove(&s->free_conns, c);
        simconn_free(c);
    }
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->epoll_fd >= 0)
        close(s->epoll_fd);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    timer_heap_fini(&s->timers);
    simbuf_free(&s->common);
    simbuf_free(&s->scratch);
    simbuf_free(&s->logbuf);
    free(s);
}
