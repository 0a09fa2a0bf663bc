/*
 * cli.h - lbtop's command line as plain data. lbtop_cli_parse() fills a struct and does nothing
 * else, so every flag is unit-tested without a terminal or a running lb.
 */
#ifndef LBTOP_CLI_H
#define LBTOP_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "stats_shm.h"

#define LBTOP_DEFAULT_PORT 3000
#define LBTOP_DEFAULT_DELAY_S 1.0

struct lbtop_options {
    char shm_name[STATS_SHM_NAME_MAX]; /* from -p (or the default port) or --shm */
    uint16_t port;                     /* 0 when --shm named the segment */
    double delay_s;                    /* -d: seconds between refreshes */
    bool once;                         /* --once: one text snapshot */
    bool json;                         /* --json: JSON documents */
    long iterations;                   /* -n: snapshots to print, 0 when not given */
    bool batch;                        /* no screen: --once, --json or -n */
    bool help, version;
};

/* Parses argv over the defaults (port 3000, 1 s). Returns 0, or -EINVAL with a message naming
 * the flag or value in err. */
int lbtop_cli_parse(struct lbtop_options *o, int argc, char *const argv[], char *err,
                    size_t err_len);

void lbtop_cli_usage(FILE *out);

#endif
