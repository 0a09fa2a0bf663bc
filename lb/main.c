/*
 * main.c - lb from the top: parse the command line, open the listening socket, resolve the
 * backends once, start the resolver thread and the worker threads, then wait for SIGINT or
 * SIGTERM; on the first one stop accepting and let the workers drain (at most --drain-timeout),
 * on a second one stop at once; exit 0.
 *
 * Signals are blocked in every thread (workers inherit the mask) and read from a signalfd here,
 * so no handler ever runs in the middle of a worker's code. SIGPIPE is ignored: a client that
 * vanishes costs a write error (writes also pass MSG_NOSIGNAL), never the process.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"
#include "backend.h"
#include "cliopt.h"
#include "clock.h"
#include "conffile.h"
#include "config.h"
#include "connlimit.h"
#include "handoff.h"
#include "health.h"
#include "loglimit.h"
#include "net.h"
#include "privdrop.h"
#include "routing.h"
#include "reloads.h"
#include "resolver.h"
#include "sticky.h"
#include "stats_writer.h"
#include "tls_context.h"
#include "worker.h"

static void warn_line(const char *msg)
{
    fprintf(stderr, "lb: warning: %s\n", msg);
}

/* -c FILE: the file over the defaults, then the command line again over the file; the whole
 * validated. With --check, says "configuration OK" or every error. Returns 0, or the exit status:
 * 1 for a bad file, 2 for a bad combination of flags. */
static int load_config(struct config *cfg, int argc, char **argv)
{
    static struct conffile_errors errs;
    char file[sizeof(cfg->config_file)], err[1024];

    if (cfg->config_file[0] != '\0') {
        snprintf(file, sizeof(file), "%s", cfg->config_file);
        config_defaults(cfg);
        if (conffile_load(cfg, file, &errs) != 0) {
            fputs(errs.text, stderr);
            fprintf(stderr, "lb: %s: %u error%s\n", file, errs.count, errs.count == 1 ? "" : "s");
            return 1;
        }
        if (config_parse_options(cfg, argc, argv, err, sizeof(err)) != 0) {
            cli_print_error("lb", err);
            return 2;
        }
    }
    if (config_validate(cfg, err, sizeof(err)) != 0) {
        cli_print_error("lb", err);
        return cfg->check ? 1 : 2;
    }
    if (cfg->check)
        printf("lb: configuration OK%s%s\n", cfg->config_file[0] ? ": " : "", cfg->config_file);
    return 0;
}

/* "lb: pool api: 2 backends, policy leastconn" for each pool, then the routes' count and the
 * default pool. */
static void print_pools(const struct routing *rt)
{
    for (size_t p = 0; p < rt->num_pools; p++)
        fprintf(stderr, "lb: pool %s: %zu backend%s, policy %s\n", rt->pools[p].name,
                rt->pools[p].view.count, rt->pools[p].view.count == 1 ? "" : "s",
                rt->pools[p].policy.ops->name);
    const struct routing_pool *def = routing_default(rt);
    fprintf(stderr, "lb: %zu route%s; a request no route matches %s%s\n", rt->num_routes,
            rt->num_routes == 1 ? "" : "s", def ? "goes to pool " : "gets 404",
            def ? def->name : "");
}

/* What a reload reads and replaces (main()'s, on its thread only). */
struct live {
    const struct config *cfg; /* as lb started: what a reload cannot change */
    int argc;
    char **argv;              /* the command line, which overrides the file again */
    struct routing *routing;  /* the current snapshot (main()'s reference) */
    struct routing_slots slots;
    uint64_t sticky_key;      /* sticky-cookie ids stay the same across reloads */
    struct health *health;
    struct resolver *resolver;
    struct stats *stats;
    struct worker *workers;
    unsigned nworkers;
};

/* Options set once on a client listener rather than on every connection it accepts.
 *
 * TCP_NODELAY: every accepted connection inherits it (Linux copies the listener's TCP options),
 * which saves a setsockopt() per connection. Returns 0 or -errno.
 *
 * TCP_DEFER_ACCEPT: in -m http a client speaks first, so a worker need not hear of a connection
 * before its request is there: the kernel reports it to accept() when its first bytes arrive (or
 * after about DEFER_ACCEPT_S for a silent client), and one wake-up serves both instead of two.
 * Not in -m tcp: there the backend may be the one to speak first (SMTP, MySQL, SSH). */
#define DEFER_ACCEPT_S 1
static int tune_listener(const struct config *cfg, int listen_fd)
{
    int rc = net_set_nodelay(listen_fd);
    if (rc != 0) {
        fprintf(stderr, "lb: TCP_NODELAY on a listener: %s\n", strerror(-rc));
        return rc;
    }
    if (cfg->mode != CONFIG_MODE_HTTP || cfg->no_defer_accept)
        return 0;
    rc = net_defer_accept(listen_fd, DEFER_ACCEPT_S);
    if (rc != 0)
        fprintf(stderr, "lb: TCP_DEFER_ACCEPT: %s (accepting connections as they open)\n",
                strerror(-rc));
    return 0;
}

/* Settings the workers read from the configuration lb started with: a reload that changes one
 * says it takes effect at the next start. Returns how many differ. */
static unsigned warn_fixed_settings(const struct config *now, const struct config *next)
{
    struct {
        const char *name;
        bool differs;
    } fixed[] = {
        {"listen", strcmp(now->listen_host, next->listen_host) != 0 ||
                       now->listen_port != next->listen_port},
        {"mode", now->mode != next->mode},
        {"workers", now->workers != next->workers},
        {"connect-timeout", now->connect_timeout_ms != next->connect_timeout_ms},
        {"client-timeout", now->client_timeout_ms != next->client_timeout_ms},
        {"server-timeout", now->server_timeout_ms != next->server_timeout_ms},
        {"idle-timeout", now->idle_timeout_ms != next->idle_timeout_ms},
        {"drain-timeout", now->drain_timeout_ms != next->drain_timeout_ms},
        {"dns-ttl", now->dns_ttl_s != next->dns_ttl_s},
        {"access-log", strcmp(now->access_log, next->access_log) != 0},
        {"hash-key", memcmp(&now->hash_key, &next->hash_key, sizeof(now->hash_key)) != 0},
        {"no-stats", now->no_stats != next->no_stats},
        {"no-defer-accept", now->no_defer_accept != next->no_defer_accept},
        {"no-yield", now->no_yield != next->no_yield},
        {"no-splice", now->no_splice != next->no_splice},
        {"no-io-uring", now->no_io_uring != next->no_io_uring},
        {"busy-poll", now->busy_poll_us != next->busy_poll_us},
        {"admin", strcmp(now->admin_host, next->admin_host) != 0 ||
                      now->admin_port != next->admin_port},
        {"retries", now->retries != next->retries},
        {"health-interval", now->health_interval_ms != next->health_interval_ms},
        {"health-timeout", now->health_timeout_ms != next->health_timeout_ms},
        {"health-rise", now->health_rise != next->health_rise},
        {"health-fall", now->health_fall != next->health_fall},
        {"max-fails", now->max_fails != next->max_fails},
        {"fail-window", now->fail_window_ms != next->fail_window_ms},
        {"observe", now->observe_5xx != next->observe_5xx},
        {"max-conns", now->max_conns != next->max_conns},
        {"pool-max", now->pool_max != next->pool_max},
        {"pool-idle-timeout", now->pool_idle_timeout_ms != next->pool_idle_timeout_ms},
        {"user", strcmp(now->user, next->user) != 0},
        {"tls-*", now->num_tls_certs != next->num_tls_certs ||
                      strcmp(now->tls_cert_dir, next->tls_cert_dir) != 0 ||
                      now->tls_listen_port != next->tls_listen_port ||
                      strcmp(now->tls_listen_host, next->tls_listen_host) != 0},
    };
    unsigned n = 0;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (fixed[i].differs) {
            fprintf(stderr, "lb: reload: %s changed: it takes effect at the next start\n",
                    fixed[i].name);
            n++;
        }
    return n;
}

/* Keeps text in report[report_len] (POST /reload's answer), cut to fit. */
static void reload_keep(char *report, size_t report_len, const char *text)
{
    size_t n = strnlen(text, report_len - 1);
    memcpy(report, text, n);
    report[n] = '\0';
}

/* Prints msg on standard error and keeps it in report[report_len]. */
static void reload_say(char *report, size_t report_len, const char *msg)
{
    fputs(msg, stderr);
    reload_keep(report, report_len, msg);
}

/* SIGHUP or POST /reload: reads the configuration file (and the command line over it) again
 * and, when it is valid, makes it what new requests start on. An invalid file changes nothing:
 * its errors are printed. What happened is also left in report. Returns 0 or -EINVAL. */
static int reload(struct live *lv, char *report, size_t report_len)
{
    static struct config next; /* large: not on the stack */
    static struct conffile_errors errs;
    char err[1024];
    const char *file = lv->cfg->config_file;

    char msg[sizeof(lv->cfg->config_file) + 1200];
    if (file[0] == '\0') {
        reload_say(report, report_len, "lb: reload: lb runs without a configuration file (-c): "
                                       "nothing to read again\n");
        return -EINVAL;
    }
    config_defaults(&next);
    if (conffile_load(&next, file, &errs) != 0) {
        fputs(errs.text, stderr);
        fprintf(stderr, "lb: reload refused: %s: %u error%s; the running configuration stays\n",
                file, errs.count, errs.count == 1 ? "" : "s");
        reload_keep(report, report_len, errs.text); /* cut to the report's size */
        return -EINVAL;
    }
    if (config_parse_options(&next, lv->argc, lv->argv, err, sizeof(err)) != 0 ||
        config_validate(&next, err, sizeof(err)) != 0) {
        snprintf(msg, sizeof(msg), "lb: reload refused: %s; the running configuration stays\n",
                 err);
        reload_say(report, report_len, msg);
        return -EINVAL;
    }
    config_group_backends(&next);
    struct routing *rt = routing_create(&next, lv->routing, &lv->slots, lv->health,
                                        lv->sticky_key, err, sizeof(err));
    if (rt == NULL) {
        snprintf(msg, sizeof(msg), "lb: reload refused: %s; the running configuration stays\n",
                 err);
        reload_say(report, report_len, msg);
        return -EINVAL;
    }
    warn_fixed_settings(lv->cfg, &next);
    /* the new backends' names are resolved before any request may go to them */
    if (resolver_set_table(lv->resolver, rt->table) != 0) {
        reload_say(report, report_len, "lb: reload refused: out of memory\n");
        routing_release(rt);
        return -EINVAL;
    }
    resolver_resolve_all(lv->resolver, warn_line);
    stats_follow_routing(lv->stats, lv->health, lv->routing, rt);
    for (unsigned i = 0; i < lv->nworkers; i++)
        worker_set_routing(&lv->workers[i], rt);
    routing_release(lv->routing); /* requests in flight and workers hold it while they need it */
    lv->routing = rt;
    /* "reloaded" means in effect: every worker starts new requests on rt (each takes it at its
     * next loop round; a worker stuck for a second is not waited for longer) */
    uint64_t deadline = clock_mono_ms() + 1000;
    for (unsigned i = 0; i < lv->nworkers; i++)
        while (!worker_routing_at(&lv->workers[i], rt->generation) && clock_mono_ms() < deadline)
            nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    snprintf(msg, sizeof(msg), "lb: reloaded %s (generation %llu): %zu backend%s in %zu pool%s, "
             "%zu route%s\n",
             file, (unsigned long long)rt->generation, rt->table->count,
             rt->table->count == 1 ? "" : "s", rt->num_pools, rt->num_pools == 1 ? "" : "s",
             rt->num_routes, rt->num_routes == 1 ? "" : "s");
    reload_say(report, report_len, msg);
    print_pools(rt);
    return 0;
}

/* Waits for the workers to finish, answering a second signal by stopping them at once. */
static void wait_workers(struct worker *workers, unsigned n, int sfd)
{
    bool forced = false;
    for (unsigned i = 0; i < n; i++) {
        for (;;) {
            struct pollfd pfd = {.fd = sfd, .events = POLLIN};
            int rc = pthread_tryjoin_np(workers[i].thread, NULL);
            if (rc == 0)
                break;
            if (poll(&pfd, 1, 50) > 0) {
                struct signalfd_siginfo si;
                if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) && !forced &&
                    si.ssi_signo != SIGHUP) { /* no reload while stopping */
                    fprintf(stderr, "lb: second signal: closing every connection now\n");
                    for (unsigned k = 0; k < n; k++)
                        worker_stop(&workers[k], true);
                    forced = true;
                }
            }
        }
    }
}

int main(int argc, char **argv)
{
    static struct config cfg; /* large (every backend name): not on the stack */
    char err[1024];
    int status = 1, sfd = -1, lfd = -1, afd = -1, tfd = -1;
    struct tls_server *tls = NULL;
    struct resolver *resolver = NULL;
    struct routing *routing = NULL; /* the current snapshot: main()'s reference */
    struct health *health = NULL;
    struct live live = {0};
    static struct reloads reloads = {.efd = -1}; /* POST /reload, from worker 0 to here */
    struct access_log log = {.fd = -1};
    struct worker *workers = NULL;
    struct stats *stats = NULL;
    struct handoff *handoff = NULL;
    struct loglimit *warnings = NULL;
    static struct connlimit conns; /* shared by the workers for as long as they run */
    unsigned started = 0, nworkers;
    int rc;

    config_defaults(&cfg);
    if (config_parse_options(&cfg, argc, argv, err, sizeof(err)) != 0) {
        cli_print_error("lb", err);
        return 2;
    }
    if (cfg.help) {
        config_usage(stdout);
        return 0;
    }
    if (cfg.version) {
        cli_print_version("lb");
        return 0;
    }
    rc = load_config(&cfg, argc, argv);
    if (rc != 0 || cfg.check)
        return rc;
    config_group_backends(&cfg); /* the table holds each pool's backends together */
    nworkers = cfg.workers;
    if (nworkers == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        nworkers = cpus > 0 ? (unsigned)(cpus > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : cpus) : 1;
    }

    /* every connection costs a descriptor or two: use all the kernel allows this process */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    /* --user: refused at once when it cannot work, before anything is opened */
    uid_t run_uid = 0;
    gid_t run_gid = 0;
    if (cfg.user[0] != '\0' && (privdrop_lookup(cfg.user, &run_uid, &run_gid, err, sizeof(err)) != 0 ||
                                 privdrop_check_root(cfg.user, err, sizeof(err)) != 0)) {
        fprintf(stderr, "lb: %s\n", err);
        return 2;
    }

    /* signals first, so every thread created later inherits the blocked mask */
    signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP); /* reload (read by main() like the others) */
    if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0 ||
        (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
        fprintf(stderr, "lb: signalfd: %s\n", strerror(errno));
        goto out;
    }

    if (access_log_open(&log, cfg.access_log, err, sizeof(err)) != 0) {
        fprintf(stderr, "lb: %s\n", err);
        status = 2;
        goto out;
    }

    lfd = net_listen_tcp(cfg.listen_host, cfg.listen_port, SOMAXCONN, true, err, sizeof(err));
    if (lfd < 0) {
        fprintf(stderr, "lb: invalid -l '%s:%u': %s\n", cfg.listen_host[0] ? cfg.listen_host : "*",
                (unsigned)cfg.listen_port, err);
        status = 2;
        goto out;
    }
    if (tune_listener(&cfg, lfd) != 0)
        goto out;

    if (config_tls(&cfg)) {
        /* a bad certificate or key is a start-up error naming the file: exit 1 */
        struct tls_server_config tc = {
            .ncerts = cfg.num_tls_certs,
            .cert_dir = cfg.tls_cert_dir[0] != '\0' ? cfg.tls_cert_dir : NULL,
            .strict_sni = cfg.tls_strict_sni,
        };
        for (size_t i = 0; i < cfg.num_tls_certs; i++) {
            tc.certs[i] = cfg.tls_certs[i];
            tc.keys[i] = cfg.tls_keys[i];
        }
        tls = tls_server_create(&tc, err, sizeof(err));
        if (tls == NULL) {
            fprintf(stderr, "lb: %s\n", err);
            goto out;
        }
        tfd = net_listen_tcp(cfg.tls_listen_host, cfg.tls_listen_port, SOMAXCONN, true, err,
                             sizeof(err));
        if (tfd < 0) {
            fprintf(stderr, "lb: invalid --tls-listen '%s:%u': %s\n",
                    cfg.tls_listen_host[0] ? cfg.tls_listen_host : "*",
                    (unsigned)cfg.tls_listen_port, err);
            status = 2;
            goto out;
        }
        if (tune_listener(&cfg, tfd) != 0)
            goto out;
    }

    if (cfg.admin_port != 0) {
        if ((rc = reloads_init(&reloads)) != 0) {
            fprintf(stderr, "lb: eventfd: %s\n", strerror(-rc));
            goto out;
        }
        afd = net_listen_tcp(cfg.admin_host, cfg.admin_port, 16, true, err, sizeof(err));
        if (afd < 0) {
            fprintf(stderr, "lb: invalid --admin '%s:%u': %s\n", cfg.admin_host,
                    (unsigned)cfg.admin_port, err);
            status = 2;
            goto out;
        }
    }

    struct health_config hc;
    health_config_defaults(&hc);
    hc.rise = cfg.health_rise;
    hc.fall = cfg.health_fall;
    hc.max_fails = cfg.max_fails;
    hc.fail_window_ms = cfg.fail_window_ms;
    /* a trial whose outcome never comes is given up after the longest a request can take */
    hc.trial_lease_ms = cfg.connect_timeout_ms + cfg.server_timeout_ms;
    /* one entry per backend slot: a reload may bring backends the start had not */
    health = health_create(ROUTING_MAX_SLOTS, &hc);
    if (health == NULL)
        goto out_nomem;
    if (getrandom(&live.sticky_key, sizeof(live.sticky_key), 0) != (ssize_t)sizeof(uint64_t)) {
        fprintf(stderr, "lb: getrandom: %s\n", strerror(errno));
        goto out;
    }
    routing = routing_create(&cfg, NULL, &live.slots, health, live.sticky_key, err, sizeof(err));
    if (routing == NULL) {
        fprintf(stderr, "lb: %s\n", err); /* e.g. a CA file lb cannot use: exit 1 */
        goto out;
    }
    resolver = resolver_create(routing->table, cfg.dns_ttl_s, err, sizeof(err));
    if (resolver == NULL) {
        fprintf(stderr, "lb: %s\n", err);
        goto out;
    }
    resolver_resolve_all(resolver, warn_line);
    rc = resolver_start(resolver);
    if (rc != 0) {
        fprintf(stderr, "lb: resolver thread: %s\n", strerror(-rc));
        goto out;
    }

    /* the admin endpoint answers from the statistics: with --no-stats they are kept all the
     * same, in private memory */
    if (!cfg.no_stats || afd >= 0) {
        stats = stats_open_lb(&cfg, routing->table, lfd, afd, nworkers, cfg.no_stats, err, sizeof(err));
        if (stats == NULL && afd >= 0 && !cfg.no_stats) {
            /* no segment for lbtop (e.g. another lb publishes one under this name), but the
             * admin endpoint can still answer from private memory */
            fprintf(stderr, "lb: no shared statistics (%s): kept in private memory for --admin\n",
                    err);
            stats = stats_open_lb(&cfg, routing->table, lfd, afd, nworkers, true, err,
                                  sizeof(err));
        }
        if (stats == NULL)
            fprintf(stderr, "lb: running without statistics: %s\n", err);
    }

    /* everything that needs root is open (listeners, log, keys, statistics): become --user */
    if (cfg.user[0] != '\0') {
        if (stats_chown(stats, run_uid, run_gid, err, sizeof(err)) != 0 ||
            privdrop_to(run_uid, run_gid, err, sizeof(err)) != 0) {
            fprintf(stderr, "lb: --user %s: %s\n", cfg.user, err);
            goto out;
        }
        fprintf(stderr, "lb: running as user %s (uid %u, gid %u)\n", cfg.user,
                (unsigned)run_uid, (unsigned)run_gid);
    }

    workers = calloc(nworkers, sizeof(*workers));
    if (workers == NULL)
        goto out_nomem;
    /* a trouble that repeats prints one line a second, with a count of the ones left out */
    warnings = loglimit_create(stderr, 1000);
    if (warnings == NULL)
        goto out_nomem;
    connlimit_init(&conns, cfg.max_conns);
    /* with more than one worker, each hands new connections to the least loaded (handoff.h) */
    if (nworkers > 1 && (handoff = handoff_create(nworkers)) == NULL)
        goto out_nomem;
    for (unsigned i = 0; i < nworkers; i++) {
        struct worker *w = &workers[i];
        w->id = i;
        w->cfg = &cfg;
        w->routing = routing_hold(routing);
        w->resolver = resolver;
        w->log = &log;
        w->listen_fd = lfd;
        w->tls_listen_fd = tfd;
        w->tls_ctx = tls != NULL ? tls_server_ctx(tls) : NULL;
        w->admin_fd = i == 0 ? afd : -1; /* one worker serves the admin endpoint */
        w->reloads = i == 0 && afd >= 0 ? &reloads : NULL;
        w->stats = stats_for_worker(stats, i);
        w->health = health;
        w->nworkers = nworkers;
        w->handoff = handoff;
        w->warnings = warnings;
        w->conns = &conns;
        if (worker_init(w, err, sizeof(err)) != 0) {
            fprintf(stderr, "lb: %s\n", err);
            worker_fini(w);
            goto out_stop;
        }
        rc = worker_start(w);
        if (rc != 0) {
            fprintf(stderr, "lb: worker %u: cannot start its thread: %s\n", w->id, strerror(-rc));
            worker_fini(w);
            goto out_stop;
        }
        started++;
    }

    char addr[NET_HOST_LEN + 16];
    bool v6 = strchr(cfg.listen_host, ':') != NULL;
    snprintf(addr, sizeof(addr), "%s%s%s:%u", v6 ? "[" : "",
             cfg.listen_host[0] ? cfg.listen_host : "*", v6 ? "]" : "", (unsigned)cfg.listen_port);
    fprintf(stderr, "lb: listening on %s, %zu backend%s, %u worker%s, policy %s\n", addr,
            cfg.num_backends, cfg.num_backends == 1 ? "" : "s", nworkers, nworkers == 1 ? "" : "s",
            cfg.policy);
    if (!cfg.no_io_uring) {
        /* every worker's ring was made the same way: the first one speaks for all */
        const char *why_not = send_batch_why_not(&workers[0].sends);
        if (why_not == NULL)
            fprintf(stderr, "lb: the writes of a batch of events go out together (io_uring)\n");
        else
            fprintf(stderr, "lb: no io_uring (%s): one sendmsg() per write\n", why_not);
    }
    if (cfg.num_pools > 1 || cfg.num_routes > 0)
        print_pools(routing);
    if (tls != NULL) {
        size_t n = tls_server_count(tls);
        v6 = strchr(cfg.tls_listen_host, ':') != NULL;
        fprintf(stderr, "lb: HTTPS on %s%s%s:%u (TLS 1.2 and 1.3, certificate %s", v6 ? "[" : "",
                cfg.tls_listen_host[0] ? cfg.tls_listen_host : "*", v6 ? "]" : "",
                (unsigned)cfg.tls_listen_port, tls_server_cert_file(tls, 0));
        if (n > 1)
            fprintf(stderr, " and %zu more chosen by SNI%s", n - 1,
                    cfg.tls_strict_sni ? ", unknown names refused" : "");
        fprintf(stderr, ")\n");
    }
    if (afd >= 0) {
        v6 = strchr(cfg.admin_host, ':') != NULL;
        fprintf(stderr,
                "lb: admin endpoint on %s%s%s:%u (GET /metrics, GET /stats, "
                "POST /backends/NAME/drain|enable|disable)\n",
                v6 ? "[" : "", cfg.admin_host, v6 ? "]" : "", (unsigned)cfg.admin_port);
    }
    if (stats != NULL && stats_name(stats)[0] != '\0')
        fprintf(stderr, "lb: statistics in shared memory %s (watch them with: lbtop -p %u)\n",
                stats_name(stats), (unsigned)cfg.listen_port);

    live = (struct live){.cfg = &cfg, .argc = argc, .argv = argv, .routing = routing,
                         .slots = live.slots, .sticky_key = live.sticky_key, .health = health,
                         .resolver = resolver, .stats = stats, .workers = workers,
                         .nworkers = started};
    for (;;) {
        static char report[RELOADS_REPORT_MAX];
        struct pollfd pfds[2] = {{.fd = sfd, .events = POLLIN},
                                 {.fd = afd >= 0 ? reloads.efd : -1, .events = POLLIN}};
        if (poll(pfds, 2, -1) < 0 && errno != EINTR) {
            fprintf(stderr, "lb: poll: %s\n", strerror(errno));
            break;
        }
        if (pfds[1].revents & POLLIN) { /* POST /reload on the admin endpoint */
            uint64_t upto = reloads_pending(&reloads);
            if (upto != 0) {
                fprintf(stderr, "lb: reload asked for on the admin endpoint\n");
                int rc2 = reload(&live, report, sizeof(report));
                reloads_answer(&reloads, upto, rc2 == 0, live.routing->generation, report);
                worker_wake(&workers[0]);
            }
        }
        if (!(pfds[0].revents & POLLIN))
            continue;
        struct signalfd_siginfo si;
        ssize_t n = read(sfd, &si, sizeof(si));
        if (n == (ssize_t)sizeof(si) && si.ssi_signo == SIGHUP) {
            reload(&live, report, sizeof(report));
            continue;
        }
        if (n == (ssize_t)sizeof(si))
            break;
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "lb: reading signals: %s\n", strerror(errno));
            break;
        }
    }
    fprintf(stderr, "lb: shutting down: finishing in-flight requests (up to %u ms)\n",
            cfg.drain_timeout_ms);
    status = 0;

out_stop:
    /* stop accepting: new connections are refused from now on, queued ones are dropped */
    shutdown(lfd, SHUT_RD);
    if (tfd >= 0)
        shutdown(tfd, SHUT_RD);
    for (unsigned i = 0; i < started; i++)
        worker_stop(&workers[i], false);
    wait_workers(workers, started, sfd);
    resolver_stop(resolver);
    for (unsigned i = 0; i < started; i++)
        worker_fini(&workers[i]);
    goto out;

out_nomem:
    fprintf(stderr, "lb: out of memory\n");
out:
    stats_close(stats); /* the workers are gone: nothing writes the segment any more */
    free(workers);
    loglimit_destroy(warnings);
    handoff_destroy(handoff); /* closes connections handed to a worker that never took them */
    resolver_destroy(resolver);
    routing_release(live.routing != NULL ? live.routing : routing);
    health_destroy(health);
    if (lfd >= 0)
        close(lfd);
    if (afd >= 0)
        close(afd);
    if (tfd >= 0)
        close(tfd);
    tls_server_destroy(tls);
    access_log_close(&log);
    if (sfd >= 0)
        close(sfd);
    reloads_fini(&reloads);
    if (status == 0)
        fprintf(stderr, "lb: bye\n");
    return status;
}
