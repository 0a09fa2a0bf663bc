/*
 * simcfg.h - backend-sim's command line as plain data. simcfg_parse() fills a struct simcfg from
 * argv and touches nothing else (no sockets, no files), so every flag's rules are unit-tested.
 *
 * --name with several ports: either a comma-separated list with one name per port, in the order
 * of the -p flags ("--name red,green,blue"), or a single name used as a prefix, numbered from 1
 * ("--name web" -> web1, web2, web3). With one port a single name is used as is. Without --name
 * the instances are b1, b2, b3, ... Names are 1-32 characters of A-Z a-z 0-9 . _ - (they go into
 * a response header unescaped).
 */
#ifndef LBLAB_SIMCFG_H
#define LBLAB_SIMCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"

#define SIMCFG_MAX_INSTANCES 64
#define SIMCFG_NAME_MAX      32

#define SIMCFG_DEFAULT_KEEPALIVE_MS 5000u
#define SIMCFG_DEFAULT_MAX_SIZE     (1ull << 30)
#define SIMCFG_DEFAULT_MAX_DELAY_MS 60000u

struct simcfg_instance {
    char host[NET_HOST_LEN]; /* "" = every address (dual-stack) */
    uint16_t port;
    char name[SIMCFG_NAME_MAX + 1];
};

enum simcfg_action { SIMCFG_RUN, SIMCFG_HELP, SIMCFG_VERSION };

struct simcfg {
    enum simcfg_action action;
    struct simcfg_instance inst[SIMCFG_MAX_INSTANCES];
    size_t n_inst;
    uint32_t latency_ms;   /* added before every answer */
    uint32_t jitter_ms;    /* latency varies uniformly by +- this much */
    double fail_rate;      /* probability 0..1 of answering 500 instead */
    uint32_t keepalive_ms; /* idle connections closed after this; 0 = no keep-alive */
    uint32_t max_conns;    /* per instance; 0 = unlimited */
    char docroot[4096];    /* "" = no static files */
    char log_path[4096];   /* "" = no log, "-" = stdout */
    uint64_t max_size;     /* cap on /bytes/N and /chunked/N */
    uint32_t max_delay_ms; /* cap on /delay/MS, --latency + --jitter and chunk gaps in total */
    bool accept_proxy;     /* every connection starts with a PROXY protocol header */
    char tls_cert[4096];   /* --tls-cert: every instance speaks HTTPS; "" = plain HTTP */
    char tls_key[4096];    /* --tls-key: its private key (both or neither) */
};

/* Fills cfg from argv (defaults first). Returns 0, or -EINVAL with a one-line message naming the
 * offending flag in err. -h and -V set cfg->action and return 0. Reentrant (resets getopt). */
int simcfg_parse(int argc, char *const argv[], struct simcfg *cfg, char *err, size_t err_len);

/* The usage text for -h. */
const char *simcfg_usage(void);

/* Parses a size with an optional K, M or G suffix (binary: 1K = 1024). Returns 0 or -EINVAL. */
int simcfg_parse_size(const char *s, uint64_t *out);

#endif
