/*
 * main.c - backend-sim: the test backends of lblab. Parses the command line (simcfg), opens the
 * log and the docroot, creates one instance per port (simsrv: one event-loop thread each), then
 * waits for SIGINT or SIGTERM and stops them. Only this file exits.
 *
 * Signals are blocked in every thread and taken synchronously here with sigwait(), so no handler
 * runs in the middle of an event loop; SIGPIPE is ignored (writes report EPIPE instead).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cliopt.h"
#include "simcfg.h"
#include "simlog.h"
#include "simsrv.h"

/* Allows as many descriptors as the hard limit, for tests with thousands of connections. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    static struct simcfg cfg; /* large: not on the stack */
    struct simsrv *srv[SIMCFG_MAX_INSTANCES] = {0};
    struct simsrv_shared sh = {.cfg = &cfg, .log = NULL, .docroot_fd = -1};
    struct simlog log;
    bool log_ready = false;
    int log_fd = -1, status = 1, sig = 0;
    size_t started = 0;
    char err[512];
    sigset_t stop_set;

    if (simcfg_parse(argc, argv, &cfg, err, sizeof(err)) != 0) {
        cli_print_error("backend-sim", err);
        return 2;
    }
    if (cfg.action == SIMCFG_HELP) {
        fputs(simcfg_usage(), stdout);
        return 0;
    }
    if (cfg.action == SIMCFG_VERSION) {
        cli_print_version("backend-sim");
        return 0;
    }

    if (cfg.docroot[0] != '\0') {
        struct stat st;
        sh.docroot_fd = open(cfg.docroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sh.docroot_fd < 0 || fstat(sh.docroot_fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "backend-sim: invalid --docroot '%s': %s\n", cfg.docroot,
                    strerror(errno));
            return 2;
        }
    }
    if (cfg.log_path[0] != '\0') {
        if (strcmp(cfg.log_path, "-") == 0) {
            log_fd = STDOUT_FILENO;
        } else {
            log_fd = open(cfg.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (log_fd < 0) {
                fprintf(stderr, "backend-sim: invalid --log '%s': %s\n", cfg.log_path,
                        strerror(errno));
                status = 2;
                goto out_docroot;
            }
        }
        if (simlog_init(&log, log_fd) != 0) {
            fprintf(stderr, "backend-sim: cannot set up the log\n");
            goto out_log_fd;
        }
        log_ready = true;
        sh.log = &log;
    }
    sh.pid = (long)getpid();
    if (cfg.tls_cert[0] != '\0') {
        /* a certificate or key that cannot be used stops backend-sim naming the file */
        sh.tls = simtls_create(cfg.tls_cert, cfg.tls_key, err, sizeof(err));
        if (sh.tls == NULL) {
            fprintf(stderr, "backend-sim: %s\n", err);
            status = 1;
            goto out_log;
        }
    }

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGTERM);
    /* blocked before any thread starts, so every thread inherits the mask */
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
    raise_fd_limit();

    for (size_t i = 0; i < cfg.n_inst; i++) {
        srv[i] = simsrv_create(&sh, i, err, sizeof(err));
        if (srv[i] == NULL) {
            fprintf(stderr, "backend-sim: %s: %s\n", cfg.inst[i].name, err);
            goto out_servers;
        }
    }
    for (size_t i = 0; i < cfg.n_inst; i++) {
        int rc = simsrv_start(srv[i]);
        if (rc != 0) {
            fprintf(stderr, "backend-sim: cannot start a thread: %s\n", strerror(-rc));
            goto out_stop;
        }
        started++;
    }
    for (size_t i = 0; i < cfg.n_inst; i++) {
        const char *h = cfg.inst[i].host[0] ? cfg.inst[i].host : "*";
        bool v6 = strchr(h, ':') != NULL;
        fprintf(stderr, "backend-sim: %s listening on %s%s%s:%u%s\n", cfg.inst[i].name,
                v6 ? "[" : "", h, v6 ? "]" : "", cfg.inst[i].port, sh.tls ? " (HTTPS)" : "");
    }

    while (sigwait(&stop_set, &sig) != 0)
        ;
    status = 0;

out_stop:
    for (size_t i = 0; i < started; i++)
        simsrv_stop(srv[i]);
    for (size_t i = 0; i < started; i++)
        simsrv_join(srv[i]);
out_servers:
    for (size_t i = 0; i < cfg.n_inst; i++)
        simsrv_destroy(srv[i]);
out_log:
    simtls_destroy(sh.tls);
    if (log_ready)
        simlog_destroy(&log);
out_log_fd:
    if (log_fd >= 0 && log_fd != STDOUT_FILENO)
        close(log_fd);
out_docroot:
    if (sh.docroot_fd >= 0)
        close(sh.docroot_fd);
    return status;
}
