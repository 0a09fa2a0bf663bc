/*
 * config.h - lb's command line as plain data.
 *
 * config_parse() turns argv into a struct config and touches nothing else: no sockets, no name
 * lookups, no exit(). main() decides what to do with the result, so every flag is unit-tested
 * without starting a balancer.
 */
#ifndef LB_CONFIG_H
#define LB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hashkey.h"
#include "net.h"

#define CONFIG_MAX_BACKENDS 256
#define CONFIG_MAX_WORKERS 1024
#define CONFIG_DEFAULT_PORT 3000
#define CONFIG_DEFAULT_TLS_PORT 3443
#define CONFIG_MAX_TLS_CERTS 16  /* --tls-cert/--tls-key pairs (and directory pairs) at most */
#define CONFIG_MAX_PATH 1024     /* a file or directory name given on the command line */
#define CONFIG_DEFAULT_CONNECT_TIMEOUT_MS 3000
#define CONFIG_DEFAULT_CLIENT_TIMEOUT_MS 10000
#define CONFIG_DEFAULT_SERVER_TIMEOUT_MS 30000
#define CONFIG_DEFAULT_IDLE_TIMEOUT_MS 60000
#define CONFIG_MAX_BUSY_POLL_US 1000 /* --busy-poll: a millisecond at most */
#define CONFIG_DEFAULT_DRAIN_TIMEOUT_MS 10000
#define CONFIG_DEFAULT_DNS_TTL_S 30
#define CONFIG_DEFAULT_POLICY "rr"
#define CONFIG_DEFAULT_RETRIES 1
/* The idle backend connections each worker keeps per backend, and for how long. */
#define CONFIG_DEFAULT_POOL_MAX 128
#define CONFIG_MAX_POOL_MAX 100000
#define CONFIG_DEFAULT_POOL_IDLE_TIMEOUT_MS 4000
#define CONFIG_MAX_RETRIES 10
#define CONFIG_MAX_CONNS 10000000 /* --max-conns at most */
/* Backend names (-b HOST:PORT,name=NAME) fit lbtop's columns and the statistics' 64 bytes. */
#define CONFIG_MAX_NAME_LEN 63
#define CONFIG_MAX_WEIGHT 256
/* Health (lb/health.h, lb/checker.h): the same defaults as health.h's, checked in config.c. */
#define CONFIG_MAX_HEALTH_PATH 1024
#define CONFIG_DEFAULT_HEALTH_INTERVAL_MS 2000
#define CONFIG_DEFAULT_HEALTH_TIMEOUT_MS 1000
#define CONFIG_DEFAULT_HEALTH_RISE 2
#define CONFIG_DEFAULT_HEALTH_FALL 3
#define CONFIG_DEFAULT_MAX_FAILS 1
#define CONFIG_DEFAULT_FAIL_WINDOW_MS 10000
#define CONFIG_MAX_HEALTH_COUNT 1000 /* --health-rise, --health-fall and --max-fails at most */
/* Pools and routes (lb -c FILE, lb/conffile.h): backends are grouped in named pools, and routes
 * send a request to one of them by its path, Host or a header. */
#define CONFIG_MAX_POOLS 32
#define CONFIG_MAX_ROUTES 64
#define CONFIG_MAX_ROUTE_VALUE 255 /* a path prefix, a host name or a header's value */
#define CONFIG_DEFAULT_POOL "default" /* the pool -b backends are in */
#define CONFIG_MAX_POOL_NAME_LEN 31   /* a pool's name fits the statistics' 32 bytes */

/* What lb balances: HTTP requests (layer 7), or TCP connections relayed whole (layer 4). */
enum config_mode { CONFIG_MODE_HTTP, CONFIG_MODE_TCP };

struct config_backend {
    char host[NET_HOST_LEN]; /* as given: a name or a numeric address, without brackets */
    uint16_t port;
    char name[CONFIG_MAX_NAME_LEN + 1]; /* name=: letters, digits, '.', '_', '-'; "" when not
                                           given (lb shows "host:port") */
    unsigned weight;                    /* weight=N, 1..CONFIG_MAX_WEIGHT; 1 by default */
    bool backup;                        /* backup: serves only when no other backend can */
    uint8_t send_proxy; /* send-proxy: 1, send-proxy-v2: 2, else 0: the PROXY protocol version
                           lb sends this backend first (-m tcp only) */
    bool tls;                    /* tls: lb speaks TLS to it (-m http only) */
    char tls_ca[CONFIG_MAX_PATH]; /* ca=FILE: verify its certificate against these; "": none */
    char tls_sni[NET_HOST_LEN];  /* sni=NAME: the name asked for (and verified); "": the host
                                    when it is a name, none for an IP address */
    unsigned pool;      /* the index of its pool in config.pools */
};

/* A named group of backends with its own policy and health check path. */
struct config_pool {
    char name[CONFIG_MAX_NAME_LEN + 1]; /* letters, digits, '.', '_', '-' */
    char policy[32];                    /* "": the global --policy */
    char health_path[CONFIG_MAX_HEALTH_PATH + 1]; /* "": the global --health-path */
};

/* What a route looks at. */
enum config_route_kind {
    CONFIG_ROUTE_PATH_PREFIX, /* the request target starts with value */
    CONFIG_ROUTE_HOST,        /* the Host (without its port) is value, any case; "*.x" suffix */
    CONFIG_ROUTE_HEADER,      /* a header named header (any case) has exactly value */
};

/* route KIND ... -> POOL: requests that match go to pools[pool]. */
struct config_route {
    enum config_route_kind kind;
    char header[CONFIG_MAX_NAME_LEN + 1]; /* CONFIG_ROUTE_HEADER: the header's name */
    char value[CONFIG_MAX_ROUTE_VALUE + 1];
    unsigned pool;
};

struct config {
    enum config_mode mode;          /* -m http (default) or -m tcp */
    char listen_host[NET_HOST_LEN]; /* "" means every address */
    uint16_t listen_port;
    struct config_backend backends[CONFIG_MAX_BACKENDS]; /* of every pool, each with its own */
    size_t num_backends;
    struct config_pool pools[CONFIG_MAX_POOLS]; /* -b's backends are in pool "default" */
    size_t num_pools;
    struct config_route routes[CONFIG_MAX_ROUTES]; /* tried in order, the first match wins */
    size_t num_routes;
    char default_pool[CONFIG_MAX_NAME_LEN + 1]; /* `default -> POOL`: where requests no route
                                                   matches go; "": the pool named "default" if
                                                   any, else lb answers 404 */
    char config_file[4096]; /* -c FILE: "" when none */
    bool check;             /* --check, -t: validate the configuration, report, exit */
    unsigned workers;            /* 0 means "the number of online CPUs", decided by main() */
    uint32_t connect_timeout_ms; /* nonblocking connect to one backend */
    uint32_t client_timeout_ms;  /* whole request head, from its first byte; body inactivity */
    uint32_t server_timeout_ms;  /* backend inactivity while a request is in flight */
    uint32_t idle_timeout_ms;    /* keep-alive client connection with no request */
    uint32_t drain_timeout_ms;   /* SIGTERM: how long in-flight requests may still take */
    uint32_t dns_ttl_s;          /* re-resolve period; 0: before each new backend connection */
    char access_log[4096];       /* "" off, "-" standard output, else a file appended to */
    char policy[32];             /* scheduling policy name, see policy.h */
    struct hashkey_spec hash_key; /* --hash-key, for --policy hash; HASHKEY_CLIENT by default */
    bool no_stats;               /* --no-stats: publish no shared-memory statistics */
    bool no_defer_accept;        /* --no-defer-accept: accept before the client's first bytes */
    bool no_yield;               /* --no-yield: a worker out of events sleeps at once */
    bool no_splice;              /* --no-splice: large bodies and bulk transfers are copied */
    bool no_io_uring;            /* --no-io-uring: held writes go one sendmsg() each */
    uint32_t busy_poll_us;       /* --busy-poll: how long a worker polls before sleeping; 0 off */
    char sticky_cookie[65];      /* --sticky-cookie NAME: "" when off */
    char admin_host[NET_HOST_LEN]; /* --admin [ADDR:]PORT: 127.0.0.1 unless an address is given */
    uint16_t admin_port;           /* 0: no admin endpoint */
    uint32_t retries;            /* a safe request that failed before any answer goes to
                                    another backend at most this often */
    uint32_t pool_max;             /* --pool-max: idle backend connections kept per backend and
                                      worker; 0: none (every backend connection closes) */
    uint32_t pool_idle_timeout_ms; /* --pool-idle-timeout: an idle one is closed after this */
    uint32_t max_conns;          /* --max-conns: client connections at once; 0: no limit */
    char user[64];               /* --user: the user lb runs as once started; "": unchanged */
    /* health: active checks (off while health_path is "") and passive observation */
    char health_path[CONFIG_MAX_HEALTH_PATH + 1]; /* --health-path: "/..." checked with GET */
    uint32_t health_interval_ms; /* from one check of a backend to the next */
    uint32_t health_timeout_ms;  /* a check's connect, request and answer head */
    unsigned health_rise;        /* good checks in a row that bring a DOWN backend UP */
    unsigned health_fall;        /* failed checks in a row that take an UP backend DOWN */
    unsigned max_fails;          /* failed requests within fail_window_ms that eject; 0: off */
    uint32_t fail_window_ms;
    /* TLS termination: on when config_tls(cfg) (a certificate, or a directory of them) */
    char tls_certs[CONFIG_MAX_TLS_CERTS][CONFIG_MAX_PATH]; /* --tls-cert FILE: PEM chains; the
                                                              first is the default */
    char tls_keys[CONFIG_MAX_TLS_CERTS][CONFIG_MAX_PATH];  /* --tls-key FILE: the i-th key
                                                              belongs to the i-th certificate */
    size_t num_tls_certs, num_tls_keys;
    char tls_cert_dir[CONFIG_MAX_PATH]; /* --tls-cert-dir DIR: NAME.crt + NAME.key pairs */
    bool tls_strict_sni;                /* --tls-strict-sni: refuse names no certificate has */
    char tls_listen_host[NET_HOST_LEN]; /* --tls-listen [ADDR:]PORT: "" means every address */
    uint16_t tls_listen_port;           /* CONFIG_DEFAULT_TLS_PORT unless given */
    bool observe_5xx;            /* --observe 5xx: a 5xx answer counts as a failed request */
    bool tls_listen_given;       /* --tls-listen was given (it needs --tls-cert) */
    bool help;                   /* -h: print usage, exit 0 */
    bool version;                /* -V: print the version, exit 0 */
};

/* Whether lb terminates TLS (an HTTPS listener): a certificate or a directory was given. */
static inline bool config_tls(const struct config *cfg)
{
    return cfg->num_tls_certs > 0 || cfg->tls_cert_dir[0] != '\0';
}

/* Fills cfg with the defaults: listen on :3000, pool "default" with backends
 * localhost:3001..3003. */
void config_defaults(struct config *cfg);

/* Parses argv[1..argc) over cfg (the defaults, or what a -c FILE set). The first -b replaces the
 * backends of pool "default" (creating that pool when cfg has none of that name). Ends with
 * config_validate(). Returns 0, or -EINVAL with one line naming the bad flag or value in err. */
int config_parse(struct config *cfg, int argc, char *const argv[], char *err, size_t err_len);

/* config_parse() without config_validate(): main() reads -c FILE with it, then the file, then the
 * command line again over the file, and validates the whole. */
int config_parse_options(struct config *cfg, int argc, char *const argv[], char *err,
                         size_t err_len);

/* What a configuration file (lb/conffile.c) shares with the command line: applies the long
 * option name (without "--"; never help, version, config or check) with value (NULL for the
 * options that take none) as the command line would. A backend ("backend", value
 * "HOST:PORT[,OPTION]...") is added to pools[pool]. Messages name the option as flag spells it.
 * Returns 0, -ENOENT when there is no such option (err untouched), or -EINVAL with err. */
int config_set(struct config *cfg, const char *name, const char *flag, const char *value,
               unsigned pool, char *err, size_t err_len);

/* 1 when the option named name (without "--") takes a value, 0 when it takes none, -1 when
 * config_set() does not know it. */
int config_option_arity(const char *name);

/* True when path is a valid --health-path: '/' then visible ASCII, at most
 * CONFIG_MAX_HEALTH_PATH bytes. */
bool config_valid_health_path(const char *path);

/* Orders cfg's backends by pool (a stable sort: each pool's keep their order), so that each
 * pool's backends are together, as lb's backend table holds them (lb/routing.h). */
void config_group_backends(struct config *cfg);

/* The index of the pool named name, or -1. */
int config_find_pool(const struct config *cfg, const char *name);

/* The index of the pool requests that match no route go to, or -1 (lb answers 404). */
int config_default_pool(const struct config *cfg);

/* The policy pool i uses: its own, else the global one. */
const char *config_pool_policy(const struct config *cfg, size_t i);

/* The health check path of pool i: its own, else the global --health-path ("" : none). */
const char *config_pool_health_path(const struct config *cfg, size_t i);

/* True when name is a valid backend or pool name (1..CONFIG_MAX_NAME_LEN letters, digits, '.',
 * '_' or '-'). */
bool config_valid_name(const char *name, size_t len);

/* The checks between options, once all are in: -m tcp refuses what needs requests, TLS needs a
 * certificate and a key, a pool has backends, ... Returns 0, or -EINVAL with one line in err. */
int config_validate(const struct config *cfg, char *err, size_t err_len);

/* Prints the usage text (with every default) to out. */
void config_usage(FILE *out);

#endif
