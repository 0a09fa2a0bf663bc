/*
 * config.c - parses lb's command line into a struct config.
 *
 * A small hand-written loop instead of getopt_long: it keeps no global state (optind), so the
 * unit tests can call it again and again. Every message is in the wording all lblab programs
 * share (common/cliopt.h): "invalid --server-timeout 'abc': expected milliseconds from 1 to
 * 86400000", "unknown option '--x'". Long options take "--flag VALUE" or "--flag=VALUE"; short
 * ones "-l VALUE" or "-lVALUE".
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cliopt.h"
#include "health.h"
#include "policy.h"

_Static_assert(CONFIG_MAX_WEIGHT == BACKEND_MAX_WEIGHT, "the weights config accepts are the table's");
_Static_assert(CONFIG_MAX_BACKENDS <= POLICY_MAX_BACKENDS, "every backend config accepts can be picked");
_Static_assert(CONFIG_DEFAULT_HEALTH_RISE == HEALTH_DEFAULT_RISE &&
                   CONFIG_DEFAULT_HEALTH_FALL == HEALTH_DEFAULT_FALL &&
                   CONFIG_DEFAULT_MAX_FAILS == HEALTH_DEFAULT_MAX_FAILS &&
                   CONFIG_DEFAULT_FAIL_WINDOW_MS == HEALTH_DEFAULT_FAIL_WINDOW_MS &&
                   CONFIG_MAX_HEALTH_COUNT <= HEALTH_MAX_FAILS_LIMIT,
               "the health defaults config shows are health.h's");

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->listen_port = CONFIG_DEFAULT_PORT;
    cfg->tls_listen_port = CONFIG_DEFAULT_TLS_PORT;
    snprintf(cfg->pools[0].name, sizeof(cfg->pools[0].name), "%s", CONFIG_DEFAULT_POOL);
    cfg->num_pools = 1;
    for (int i = 0; i < 3; i++) {
        snprintf(cfg->backends[i].host, sizeof(cfg->backends[i].host), "localhost");
        cfg->backends[i].port = (uint16_t)(3001 + i);
        cfg->backends[i].weight = 1;
    }
    cfg->num_backends = 3;
    cfg->connect_timeout_ms = CONFIG_DEFAULT_CONNECT_TIMEOUT_MS;
    cfg->client_timeout_ms = CONFIG_DEFAULT_CLIENT_TIMEOUT_MS;
    cfg->server_timeout_ms = CONFIG_DEFAULT_SERVER_TIMEOUT_MS;
    cfg->idle_timeout_ms = CONFIG_DEFAULT_IDLE_TIMEOUT_MS;
    cfg->drain_timeout_ms = CONFIG_DEFAULT_DRAIN_TIMEOUT_MS;
    cfg->dns_ttl_s = CONFIG_DEFAULT_DNS_TTL_S;
    snprintf(cfg->policy, sizeof(cfg->policy), "%s", CONFIG_DEFAULT_POLICY);
    cfg->retries = CONFIG_DEFAULT_RETRIES;
    cfg->pool_max = CONFIG_DEFAULT_POOL_MAX;
    cfg->pool_idle_timeout_ms = CONFIG_DEFAULT_POOL_IDLE_TIMEOUT_MS;
    cfg->health_interval_ms = CONFIG_DEFAULT_HEALTH_INTERVAL_MS;
    cfg->health_timeout_ms = CONFIG_DEFAULT_HEALTH_TIMEOUT_MS;
    cfg->health_rise = CONFIG_DEFAULT_HEALTH_RISE;
    cfg->health_fall = CONFIG_DEFAULT_HEALTH_FALL;
    cfg->max_fails = CONFIG_DEFAULT_MAX_FAILS;
    cfg->fail_window_ms = CONFIG_DEFAULT_FAIL_WINDOW_MS;
}

void config_usage(FILE *out)
{
    fprintf(out,
            "usage: lb [-m http|tcp] [-l [ADDR:]PORT] [-b HOST:PORT[,OPTION]...]... [-w WORKERS]\n"
            "          [--connect-timeout MS] [--client-timeout MS] [--server-timeout MS]\n"
            "          [--dns-ttl SEC] [--access-log FILE|-] [--policy NAME]\n"
            "          [--pool-max N] [--pool-idle-timeout MS]\n"
            "          [--hash-key path|header:NAME|cookie:NAME] [--health-path PATH]\n"
            "          [--health-interval MS] [--health-timeout MS] [--health-rise N]\n"
            "          [--health-fall N] [--max-fails N] [--fail-window MS] [--observe 5xx]\n"
            "          [--tls-cert FILE --tls-key FILE]... [--tls-cert-dir DIR]\n"
            "          [--tls-listen [ADDR:]PORT] [--tls-strict-sni]\n"
            "          [-c FILE [-t]] [-h] [-V]\n"
            "\n"
            "An HTTP/1.1 load balancer: requests to the listening address are spread over the\n"
            "backends, one request at a time (-m http), or whole TCP connections (-m tcp).\n"
            "\n"
            "  -m, --mode http|tcp       balance HTTP requests (layer 7, the default) or relay\n"
            "                            each TCP connection whole to one backend (layer 4)\n"
            "  -l, --listen [ADDR:]PORT  listen address and port (default: every address, port %d)\n"
            "  -b, --backend HOST:PORT[,OPTION]...\n"
            "                            a backend; repeat for more (default: localhost:3001,\n"
            "                            localhost:3002, localhost:3003). Options: name=NAME\n"
            "                            (shown in logs and lbtop), weight=N (1-%d, default 1),\n"
            "                            backup (serves only when no other backend can),\n"
            "                            send-proxy / send-proxy-v2 (-m tcp: a PROXY protocol\n"
            "                            v1 / v2 header with the client's address first),\n"
            "                            tls (-m http: lb speaks TLS to it), ca=FILE (verify\n"
            "                            its certificate against these PEM CAs), sni=NAME\n"
            "                            (the name lb asks for and verifies)\n"
            "  -w, --workers N           worker threads (default: the number of online CPUs)\n"
            "  --connect-timeout MS      connecting to one backend (default %d)\n"
            "  --client-timeout MS       a request head must be complete MS after its first byte;\n"
            "                            also the limit on a stalled request body and on a\n"
            "                            client that stops reading its response (default %d)\n"
            "  --server-timeout MS       backend silence while a request is in flight before 504\n"
            "                            (default %d)\n"
            "  --idle-timeout MS         close a keep-alive client connection idle this long\n"
            "                            (default %d)\n"
            "  --drain-timeout MS        on SIGINT/SIGTERM, time allowed to in-flight requests\n"
            "                            (default %d)\n"
            "  --dns-ttl SEC             re-resolve backend names every SEC seconds; 0 resolves\n"
            "                            before each new backend connection (default %d)\n"
            "  --access-log FILE|-       one line per request, appended to FILE or written to\n"
            "                            standard output with '-' (default: off)\n"
            "  --policy NAME             scheduling policy: %s\n"
            "                            (default %s; see the man page)\n"
            "  --hash-key KEY            what --policy hash hashes: path, header:NAME or\n"
            "                            cookie:NAME (default and fallback: the client address)\n"
            "  --no-stats                publish no statistics for lbtop (shared memory\n"
            "                            /lblab-PORT; they are on by default)\n"
            "  --no-defer-accept         -m http: accept a connection as soon as it is open\n"
            "                            (default: once its first bytes arrive, or after 1 s)\n"
            "  --no-yield                a worker that runs out of events after a busy\n"
            "                            round sleeps at once, without first letting the\n"
            "                            other threads on its CPU run (sched_yield)\n"
            "  --no-splice               copy large bodies (-m http: the rest of a body of\n"
            "                            64 KiB or more, either way) and bulk transfers\n"
            "                            (-m tcp) through lb's buffers instead of moving\n"
            "                            them socket to socket with splice()\n"
            "  --no-io-uring             write what a worker held for the end of its batch\n"
            "                            of events with one sendmsg() each, not all with\n"
            "                            one io_uring_enter()\n"
            "  --busy-poll USEC          a worker out of events keeps polling for up to USEC\n"
            "                            microseconds (at most %d) before it sleeps: lower\n"
            "                            latency at light load, more CPU (default 0: off)\n"
            "  --retries N               send a safe request without a body (GET, HEAD, ...)\n"
            "                            that failed before any answer to another backend,\n"
            "                            at most N times (default %d; 0: never)\n"
            "  --pool-max N              idle backend connections each worker keeps per\n"
            "                            backend for the next requests (default %d; 0: none)\n"
            "  --pool-idle-timeout MS    close a pooled backend connection idle this long\n"
            "                            (default %d)\n"
            "  --admin [ADDR:]PORT       admin endpoint (loopback unless ADDR is given):\n"
            "                            GET /metrics (Prometheus), GET /stats (JSON),\n"
            "                            POST /backends/NAME/drain|enable|disable\n"
            "  --sticky-cookie NAME      sticky sessions: a cookie NAME pins a client to the\n"
            "                            backend that served it while that one is up\n"
            "  --health-path PATH        check each backend with GET PATH every interval; 2xx\n"
            "                            or 3xx passes (default: no active checks)\n"
            "  --health-interval MS      time between two checks of a backend (default %d)\n"
            "  --health-timeout MS       a check fails without an answer in MS (default %d)\n"
            "  --health-rise N           good checks in a row that bring a DOWN backend UP\n"
            "                            (default %d)\n"
            "  --health-fall N           failed checks in a row that take a backend DOWN\n"
            "                            (default %d)\n"
            "  --max-fails N             failed requests (connect failures, timeouts) in\n"
            "                            --fail-window that eject a backend for a cool-down\n"
            "                            of 5 s, doubling up to 60 s (default %d; 0: off)\n"
            "  --fail-window MS          how long a failed request counts (default %d)\n"
            "  --observe 5xx             a 5xx answer counts as a failed request too\n"
            "  --tls-cert FILE           HTTPS: a PEM certificate (chain) for a second listener\n"
            "                            that terminates TLS 1.2/1.3 (-m http; with --tls-key);\n"
            "                            repeat the pair for more, chosen by SNI (up to %d;\n"
            "                            the first is the default)\n"
            "  --tls-key FILE            the PEM private key of the --tls-cert before it\n"
            "  --tls-cert-dir DIR        more certificates: every NAME.crt in DIR with NAME.key\n"
            "  --tls-strict-sni          refuse a name no certificate holds (else: the default)\n"
            "  --tls-listen [ADDR:]PORT  the HTTPS listener (default: every address, port %d)\n"
            "  --max-conns N             at most N client connections at once; beyond, new\n"
            "                            ones wait in the listen backlog (default 0: no limit)\n"
            "  --user NAME               after opening its sockets and statistics, run as\n"
            "                            user NAME (lb must be started as root)\n"
            "  -c, --config FILE         read the configuration from FILE (lb.conf(5)): pools,\n"
            "                            routes and every option above; flags given on the\n"
            "                            command line override the file; SIGHUP reads it again\n"
            "  -t, --check               check the configuration, report every error, exit\n"
            "  -h, --help                print this help and exit\n"
            "  -V, --version             print the version and exit\n",
            CONFIG_DEFAULT_PORT, CONFIG_MAX_WEIGHT, CONFIG_DEFAULT_CONNECT_TIMEOUT_MS,
            CONFIG_DEFAULT_CLIENT_TIMEOUT_MS, CONFIG_DEFAULT_SERVER_TIMEOUT_MS,
            CONFIG_DEFAULT_IDLE_TIMEOUT_MS, CONFIG_DEFAULT_DRAIN_TIMEOUT_MS,
            CONFIG_DEFAULT_DNS_TTL_S, policy_names(), CONFIG_DEFAULT_POLICY, CONFIG_MAX_BUSY_POLL_US,
            CONFIG_DEFAULT_RETRIES,
            CONFIG_DEFAULT_POOL_MAX, CONFIG_DEFAULT_POOL_IDLE_TIMEOUT_MS,
            CONFIG_DEFAULT_HEALTH_INTERVAL_MS, CONFIG_DEFAULT_HEALTH_TIMEOUT_MS,
            CONFIG_DEFAULT_HEALTH_RISE, CONFIG_DEFAULT_HEALTH_FALL, CONFIG_DEFAULT_MAX_FAILS,
            CONFIG_DEFAULT_FAIL_WINDOW_MS, CONFIG_MAX_TLS_CERTS, CONFIG_DEFAULT_TLS_PORT);
}

/* True when name is a valid backend name: 1..CONFIG_MAX_NAME_LEN letters, digits, '.', '_' or
 * '-' (never ':', so a name cannot be mistaken for a backend's default "host:port"). */
bool config_valid_name(const char *name, size_t len)
{
    if (len == 0 || len > CONFIG_MAX_NAME_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

#define BACKEND_OPTIONS_HINT \
    "name=NAME, weight=N, backup, send-proxy, send-proxy-v2, tls, ca=FILE or sni=NAME"

/* Parses the options after HOST:PORT in "-b HOST:PORT,name=b1,weight=5,backup" (opts is the
 * text after the first comma) into *b. flag and val are for messages. Returns 0 or -EINVAL. */
static int parse_backend_options(const struct config *cfg, struct config_backend *b,
                                 const char *opts, const char *flag, const char *val, char *err,
                                 size_t err_len)
{
    bool seen_name = false, seen_weight = false, seen_backup = false, seen_proxy = false;
    bool seen_tls = false, seen_ca = false, seen_sni = false;

    for (const char *p = opts;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : len;
        const char *v = eq ? eq + 1 : p + len;
        size_t vlen = len - (size_t)(v - p);
        bool *seen = NULL;

        if (len == 0)
            return cli_invalid(err, err_len, flag, val,
                               BACKEND_OPTIONS_HINT " after HOST:PORT (empty backend option)");
        if (klen == 4 && memcmp(p, "name", 4) == 0)
            seen = &seen_name;
        else if (klen == 6 && memcmp(p, "weight", 6) == 0)
            seen = &seen_weight;
        else if (klen == 6 && memcmp(p, "backup", 6) == 0)
            seen = &seen_backup;
        else if ((klen == 10 && memcmp(p, "send-proxy", 10) == 0) ||
                 (klen == 13 && memcmp(p, "send-proxy-v2", 13) == 0))
            seen = &seen_proxy;
        else if (klen == 3 && memcmp(p, "tls", 3) == 0)
            seen = &seen_tls;
        else if (klen == 2 && memcmp(p, "ca", 2) == 0)
            seen = &seen_ca;
        else if (klen == 3 && memcmp(p, "sni", 3) == 0)
            seen = &seen_sni;
        if (seen == NULL)
            return cli_invalid(err, err_len, flag, val,
                               BACKEND_OPTIONS_HINT " (unknown backend option '%.*s')",
                               (int)(klen > 40 ? 40 : klen), p);
        if (seen == &seen_proxy && *seen && b->send_proxy != (klen == 10 ? 1 : 2))
            return cli_invalid(err, err_len, flag, val,
                               "one of send-proxy or send-proxy-v2 (both given)");
        if (*seen)
            return cli_invalid(err, err_len, flag, val,
                               "each backend option once (backend option '%.*s' given twice)",
                               (int)klen, p);
        *seen = true;
        if (seen == &seen_tls) {
            if (eq != NULL)
                return cli_invalid(err, err_len, flag, val,
                                   "tls alone (backend option 'tls' takes no value)");
            b->tls = true;
        } else if (seen == &seen_ca) {
            if (eq == NULL || vlen == 0 || vlen >= sizeof(b->tls_ca))
                return cli_invalid(err, err_len, flag, val, "ca=FILE with a file name of 1-%zu "
                                   "bytes", sizeof(b->tls_ca) - 1);
            memcpy(b->tls_ca, v, vlen);
            b->tls_ca[vlen] = '\0';
        } else if (seen == &seen_sni) {
            /* a DNS name: letters, digits, '-' and '.' */
            if (eq == NULL || vlen == 0 || vlen >= sizeof(b->tls_sni) ||
                strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") <
                    vlen)
                return cli_invalid(err, err_len, flag, val,
                                   "sni=NAME with NAME a host name (letters, digits, '-', '.')");
            memcpy(b->tls_sni, v, vlen);
            b->tls_sni[vlen] = '\0';
        } else if (seen == &seen_proxy) {
            if (eq != NULL)
                return cli_invalid(err, err_len, flag, val,
                                   "%.*s alone (it takes no value)", (int)klen, p);
            b->send_proxy = klen == 10 ? 1 : 2;
        } else if (seen == &seen_backup) {
            if (eq != NULL)
                return cli_invalid(err, err_len, flag, val,
                                   "backup alone (backend option 'backup' takes no value)");
            b->backup = true;
        } else if (seen == &seen_weight) {
            uint64_t w = 0;
            if (eq == NULL || cli_parse_digits(v, vlen, CONFIG_MAX_WEIGHT, &w) != 0 || w == 0)
                return cli_invalid(err, err_len, flag, val, "weight=N with N 1-%d",
                                   CONFIG_MAX_WEIGHT);
            b->weight = (unsigned)w;
        } else {
            if (eq == NULL || !config_valid_name(v, vlen))
                return cli_invalid(err, err_len, flag, val,
                                   "name=NAME with NAME 1-%d letters, digits, '.', '_' or '-'",
                                   CONFIG_MAX_NAME_LEN);
            memcpy(b->name, v, vlen);
            b->name[vlen] = '\0';
            for (size_t i = 0; i < cfg->num_backends; i++)
                if (strcmp(cfg->backends[i].name, b->name) == 0)
                    return cli_invalid(err, err_len, flag, val,
                                       "a name of its own (name '%s' is already the name of "
                                       "backend %zu)",
                                       b->name, i + 1);
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    if ((seen_ca || seen_sni) && !seen_tls)
        return cli_invalid(err, err_len, flag, val, "tls with %s (it is a TLS option)",
                           seen_ca ? "ca=FILE" : "sni=NAME");
    return 0;
}

enum opt_id {
    OPT_MODE,
    OPT_LISTEN,
    OPT_BACKEND,
    OPT_WORKERS,
    OPT_CONNECT_TIMEOUT,
    OPT_CLIENT_TIMEOUT,
    OPT_SERVER_TIMEOUT,
    OPT_IDLE_TIMEOUT,
    OPT_DRAIN_TIMEOUT,
    OPT_DNS_TTL,
    OPT_ACCESS_LOG,
    OPT_POLICY,
    OPT_HASH_KEY,
    OPT_NO_STATS,
    OPT_NO_DEFER_ACCEPT,
    OPT_NO_YIELD,
    OPT_NO_SPLICE,
    OPT_NO_IO_URING,
    OPT_BUSY_POLL,
    OPT_RETRIES,
    OPT_POOL_MAX,
    OPT_POOL_IDLE_TIMEOUT,
    OPT_ADMIN,
    OPT_STICKY_COOKIE,
    OPT_HEALTH_PATH,
    OPT_HEALTH_INTERVAL,
    OPT_HEALTH_TIMEOUT,
    OPT_HEALTH_RISE,
    OPT_HEALTH_FALL,
    OPT_MAX_FAILS,
    OPT_FAIL_WINDOW,
    OPT_OBSERVE,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_TLS_LISTEN,
    OPT_TLS_CERT_DIR,
    OPT_TLS_STRICT_SNI,
    OPT_MAX_CONNS,
    OPT_USER,
    OPT_CONFIG,
    OPT_CHECK,
    OPT_HELP,
    OPT_VERSION,
};

struct opt {
    char short_name; /* 0: long only */
    const char *long_name;
    bool has_arg;
    enum opt_id id;
};

static const struct opt options[] = {
    {'m', "mode", true, OPT_MODE},
    {'l', "listen", true, OPT_LISTEN},
    {'b', "backend", true, OPT_BACKEND},
    {'w', "workers", true, OPT_WORKERS},
    {0, "connect-timeout", true, OPT_CONNECT_TIMEOUT},
    {0, "client-timeout", true, OPT_CLIENT_TIMEOUT},
    {0, "server-timeout", true, OPT_SERVER_TIMEOUT},
    {0, "idle-timeout", true, OPT_IDLE_TIMEOUT},
    {0, "drain-timeout", true, OPT_DRAIN_TIMEOUT},
    {0, "dns-ttl", true, OPT_DNS_TTL},
    {0, "access-log", true, OPT_ACCESS_LOG},
    {0, "policy", true, OPT_POLICY},
    {0, "hash-key", true, OPT_HASH_KEY},
    {0, "no-stats", false, OPT_NO_STATS},
    {0, "no-defer-accept", false, OPT_NO_DEFER_ACCEPT},
    {0, "no-yield", false, OPT_NO_YIELD},
    {0, "no-splice", false, OPT_NO_SPLICE},
    {0, "no-io-uring", false, OPT_NO_IO_URING},
    {0, "busy-poll", true, OPT_BUSY_POLL},
    {0, "retries", true, OPT_RETRIES},
    {0, "pool-max", true, OPT_POOL_MAX},
    {0, "pool-idle-timeout", true, OPT_POOL_IDLE_TIMEOUT},
    {0, "admin", true, OPT_ADMIN},
    {0, "sticky-cookie", true, OPT_STICKY_COOKIE},
    {0, "health-path", true, OPT_HEALTH_PATH},
    {0, "health-interval", true, OPT_HEALTH_INTERVAL},
    {0, "health-timeout", true, OPT_HEALTH_TIMEOUT},
    {0, "health-rise", true, OPT_HEALTH_RISE},
    {0, "health-fall", true, OPT_HEALTH_FALL},
    {0, "max-fails", true, OPT_MAX_FAILS},
    {0, "fail-window", true, OPT_FAIL_WINDOW},
    {0, "observe", true, OPT_OBSERVE},
    {0, "tls-cert", true, OPT_TLS_CERT},
    {0, "tls-key", true, OPT_TLS_KEY},
    {0, "tls-listen", true, OPT_TLS_LISTEN},
    {0, "tls-cert-dir", true, OPT_TLS_CERT_DIR},
    {0, "tls-strict-sni", false, OPT_TLS_STRICT_SNI},
    {0, "max-conns", true, OPT_MAX_CONNS},
    {0, "user", true, OPT_USER},
    {'c', "config", true, OPT_CONFIG},
    {'t', "check", false, OPT_CHECK},
    {'h', "help", false, OPT_HELP},
    {'V', "version", false, OPT_VERSION},
};

#define NUM_OPTIONS (sizeof(options) / sizeof(options[0]))

/* Where apply() puts a backend: the command line's first -b empties pool "default" first. */
struct backend_target {
    bool from_command_line;
    bool backends_given; /* the command line gave a -b already */
    unsigned pool;       /* a file's backend: its pool */
};

/* The pool -b backends go to, created when missing. Returns its index, or -1 when full. */
static int command_line_pool(struct config *cfg)
{
    int i = config_find_pool(cfg, CONFIG_DEFAULT_POOL);
    if (i >= 0 || cfg->num_pools == CONFIG_MAX_POOLS)
        return i;
    struct config_pool *p = &cfg->pools[cfg->num_pools];
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", CONFIG_DEFAULT_POOL);
    return (int)cfg->num_pools++;
}

/* Removes pool's backends from cfg, keeping the others in order. */
static void clear_pool_backends(struct config *cfg, unsigned pool)
{
    size_t kept = 0;
    for (size_t i = 0; i < cfg->num_backends; i++)
        if (cfg->backends[i].pool != pool)
            cfg->backends[kept++] = cfg->backends[i];
    cfg->num_backends = kept;
}

/* Applies one option with its value; flag is how the user spelled it, for messages. */
static int apply(struct config *cfg, const struct opt *o, const char *flag, const char *val,
                 struct backend_target *target, char *err, size_t err_len)
{
    uint64_t v;

    switch (o->id) {
    case OPT_MODE:
        if (strcmp(val, "http") == 0)
            cfg->mode = CONFIG_MODE_HTTP;
        else if (strcmp(val, "tcp") == 0)
            cfg->mode = CONFIG_MODE_TCP;
        else
            return cli_invalid(err, err_len, flag, val, "http or tcp");
        return 0;
    case OPT_LISTEN:
        /* PORT alone, or ADDR:PORT: an ADDR without a port is refused, not taken as port 3000 */
        if (net_split_hostport(val, cfg->listen_host, sizeof(cfg->listen_host), &cfg->listen_port,
                               val[strspn(val, "0123456789")] == '\0') != 0)
            return cli_invalid(err, err_len, flag, val, "[ADDR:]PORT with PORT from 1 to 65535");
        if (strcmp(cfg->listen_host, "*") == 0)
            cfg->listen_host[0] = '\0';
        return 0;
    case OPT_BACKEND: {
        struct config_backend b = {.weight = 1};
        char addr[NET_HOST_LEN + 16];
        const char *comma = strchr(val, ',');
        size_t alen = comma ? (size_t)(comma - val) : strlen(val);
        if (target->from_command_line) {
            int pool = command_line_pool(cfg);
            if (pool < 0)
                return cli_invalid(err, err_len, flag, val, "at most %d pools (pool '%s')",
                                   CONFIG_MAX_POOLS, CONFIG_DEFAULT_POOL);
            if (!target->backends_given)
                clear_pool_backends(cfg, (unsigned)pool);
            target->backends_given = true;
            target->pool = (unsigned)pool;
        }
        b.pool = target->pool;
        snprintf(addr, sizeof(addr), "%.*s", (int)(alen < sizeof(addr) ? alen : 0), val);
        if (alen >= sizeof(addr) ||
            net_split_hostport(addr, b.host, sizeof(b.host), &b.port, false) != 0)
            return cli_invalid(err, err_len, flag, val,
                               "HOST:PORT[,name=NAME][,weight=N][,backup] with PORT from 1 to "
                               "65535");
        if (comma != NULL &&
            parse_backend_options(cfg, &b, comma + 1, flag, val, err, err_len) != 0)
            return -EINVAL;
        if (cfg->num_backends == CONFIG_MAX_BACKENDS)
            return cli_invalid(err, err_len, flag, val, "at most %d backends",
                               CONFIG_MAX_BACKENDS);
        cfg->backends[cfg->num_backends++] = b;
        return 0;
    }
    case OPT_WORKERS:
        if (cli_parse_uint(flag, val, 1, CONFIG_MAX_WORKERS, "a number of threads", &v, err,
                           err_len) != 0)
            return -EINVAL;
        cfg->workers = (unsigned)v;
        return 0;
    case OPT_CONNECT_TIMEOUT:
    case OPT_CLIENT_TIMEOUT:
    case OPT_SERVER_TIMEOUT:
    case OPT_IDLE_TIMEOUT:
    case OPT_POOL_IDLE_TIMEOUT:
    case OPT_DRAIN_TIMEOUT: {
        /* a day in milliseconds is plenty, and keeps every sum of deadlines far from overflow */
        if (cli_parse_uint(flag, val, o->id == OPT_DRAIN_TIMEOUT ? 0 : 1, 86400000,
                           "milliseconds", &v, err, err_len) != 0)
            return -EINVAL;
        uint32_t *field = o->id == OPT_CONNECT_TIMEOUT  ? &cfg->connect_timeout_ms
                          : o->id == OPT_CLIENT_TIMEOUT ? &cfg->client_timeout_ms
                          : o->id == OPT_SERVER_TIMEOUT ? &cfg->server_timeout_ms
                          : o->id == OPT_IDLE_TIMEOUT   ? &cfg->idle_timeout_ms
                          : o->id == OPT_POOL_IDLE_TIMEOUT ? &cfg->pool_idle_timeout_ms
                                                        : &cfg->drain_timeout_ms;
        *field = (uint32_t)v;
        return 0;
    }
    case OPT_DNS_TTL:
        if (cli_parse_uint(flag, val, 0, 86400 * 365, "seconds", &v, err, err_len) != 0)
            return -EINVAL;
        cfg->dns_ttl_s = (uint32_t)v;
        return 0;
    case OPT_ACCESS_LOG:
        if (*val == '\0' || strlen(val) >= sizeof(cfg->access_log))
            return cli_invalid(err, err_len, flag, val, "a file name or '-'");
        snprintf(cfg->access_log, sizeof(cfg->access_log), "%s", val);
        return 0;
    case OPT_POLICY:
        if (policy_find(val) == NULL)
            return cli_invalid(err, err_len, flag, val, "one of the policies %s",
                               policy_names());
        snprintf(cfg->policy, sizeof(cfg->policy), "%s", val);
        return 0;
    case OPT_HASH_KEY:
        if (hashkey_parse(val, &cfg->hash_key) != 0)
            return cli_invalid(err, err_len, flag, val,
                               "path, header:NAME or cookie:NAME with NAME a header or cookie "
                               "name of 1-%d characters",
                               HASHKEY_NAME_MAX);
        return 0;
    case OPT_NO_STATS:
        cfg->no_stats = true;
        return 0;
    case OPT_NO_DEFER_ACCEPT:
        cfg->no_defer_accept = true;
        return 0;
    case OPT_NO_YIELD:
        cfg->no_yield = true;
        return 0;
    case OPT_NO_SPLICE:
        cfg->no_splice = true;
        return 0;
    case OPT_NO_IO_URING:
        cfg->no_io_uring = true;
        return 0;
    case OPT_BUSY_POLL:
        if (cli_parse_uint(flag, val, 0, CONFIG_MAX_BUSY_POLL_US, "microseconds", &v, err,
                           err_len) != 0)
            return -EINVAL;
        cfg->busy_poll_us = (uint32_t)v;
        return 0;
    case OPT_ADMIN:
        if (net_split_hostport(val, cfg->admin_host, sizeof(cfg->admin_host), &cfg->admin_port,
                               val[strspn(val, "0123456789")] == '\0') != 0)
            return cli_invalid(err, err_len, flag, val, "[ADDR:]PORT with PORT from 1 to 65535");
        if (cfg->admin_host[0] == '\0')
            snprintf(cfg->admin_host, sizeof(cfg->admin_host), "127.0.0.1"); /* loopback */
        return 0;
    case OPT_MAX_CONNS:
        if (cli_parse_uint(flag, val, 0, CONFIG_MAX_CONNS, "a number of connections", &v, err,
                           err_len) != 0)
            return -EINVAL;
        cfg->max_conns = (uint32_t)v;
        return 0;
    case OPT_USER:
        /* a user name (checked against the system's users only when lb starts) */
        if (*val == '\0' || strlen(val) >= sizeof(cfg->user) || strchr(val, ':') != NULL ||
            strchr(val, '/') != NULL)
            return cli_invalid(err, err_len, flag, val, "a user name of 1-%zu characters",
                               sizeof(cfg->user) - 1);
        snprintf(cfg->user, sizeof(cfg->user), "%s", val);
        return 0;
    case OPT_RETRIES:
        if (cli_parse_uint(flag, val, 0, CONFIG_MAX_RETRIES, "a number of retries", &v, err,
                           err_len) != 0)
            return -EINVAL;
        cfg->retries = (uint32_t)v;
        return 0;
    case OPT_POOL_MAX:
        if (cli_parse_uint(flag, val, 0, CONFIG_MAX_POOL_MAX, "a number of connections", &v, err,
                           err_len) != 0)
            return -EINVAL;
        cfg->pool_max = (uint32_t)v;
        return 0;
    case OPT_STICKY_COOKIE:
        /* a cookie name is a token (RFC 6265): no separators, no controls */
        if (*val == '\0' || strlen(val) >= sizeof(cfg->sticky_cookie) ||
            val[strspn(val, "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                            "abcdefghijklmnopqrstuvwxyz")] != '\0')
            return cli_invalid(err, err_len, flag, val, "a cookie name (1-64 letters, digits or "
                                                        "!#$%%&'*+-.^_`|~)");
        snprintf(cfg->sticky_cookie, sizeof(cfg->sticky_cookie), "%s", val);
        return 0;
    case OPT_HEALTH_PATH: {
        if (!config_valid_health_path(val))
            return cli_invalid(err, err_len, flag, val,
                               "a path starting with '/' (1-%d visible ASCII characters, no "
                               "spaces)",
                               CONFIG_MAX_HEALTH_PATH);
        snprintf(cfg->health_path, sizeof(cfg->health_path), "%s", val);
        return 0;
    }
    case OPT_HEALTH_INTERVAL:
    case OPT_HEALTH_TIMEOUT:
    case OPT_FAIL_WINDOW: {
        if (cli_parse_uint(flag, val, 1, 86400000, "milliseconds", &v, err, err_len) != 0)
            return -EINVAL;
        uint32_t *field = o->id == OPT_HEALTH_INTERVAL  ? &cfg->health_interval_ms
                          : o->id == OPT_HEALTH_TIMEOUT ? &cfg->health_timeout_ms
                                                        : &cfg->fail_window_ms;
        *field = (uint32_t)v;
        return 0;
    }
    case OPT_HEALTH_RISE:
    case OPT_HEALTH_FALL:
    case OPT_MAX_FAILS: {
        if (cli_parse_uint(flag, val, o->id == OPT_MAX_FAILS ? 0 : 1, CONFIG_MAX_HEALTH_COUNT,
                           o->id == OPT_MAX_FAILS ? "a number of failures" : "a number of checks",
                           &v, err, err_len) != 0)
            return -EINVAL;
        unsigned *field = o->id == OPT_HEALTH_RISE    ? &cfg->health_rise
                          : o->id == OPT_HEALTH_FALL ? &cfg->health_fall
                                                     : &cfg->max_fails;
        *field = (unsigned)v;
        return 0;
    }
    case OPT_OBSERVE:
        if (strcmp(val, "5xx") != 0)
            return cli_invalid(err, err_len, flag, val, "5xx");
        cfg->observe_5xx = true;
        return 0;
    case OPT_TLS_CERT:
    case OPT_TLS_KEY: {
        size_t *n = o->id == OPT_TLS_CERT ? &cfg->num_tls_certs : &cfg->num_tls_keys;
        char(*files)[CONFIG_MAX_PATH] = o->id == OPT_TLS_CERT ? cfg->tls_certs : cfg->tls_keys;
        if (*val == '\0' || strlen(val) >= CONFIG_MAX_PATH)
            return cli_invalid(err, err_len, flag, val, "a file name of 1-%d bytes",
                               CONFIG_MAX_PATH - 1);
        if (*n == CONFIG_MAX_TLS_CERTS)
            return cli_invalid(err, err_len, flag, val, "at most %d certificates",
                               CONFIG_MAX_TLS_CERTS);
        snprintf(files[(*n)++], CONFIG_MAX_PATH, "%s", val);
        return 0;
    }
    case OPT_TLS_CERT_DIR:
        if (*val == '\0' || strlen(val) >= sizeof(cfg->tls_cert_dir))
            return cli_invalid(err, err_len, flag, val, "a directory name of 1-%d bytes",
                               CONFIG_MAX_PATH - 1);
        snprintf(cfg->tls_cert_dir, sizeof(cfg->tls_cert_dir), "%s", val);
        return 0;
    case OPT_TLS_STRICT_SNI:
        cfg->tls_strict_sni = true;
        return 0;
    case OPT_TLS_LISTEN:
        if (net_split_hostport(val, cfg->tls_listen_host, sizeof(cfg->tls_listen_host),
                               &cfg->tls_listen_port,
                               val[strspn(val, "0123456789")] == '\0') != 0)
            return cli_invalid(err, err_len, flag, val, "[ADDR:]PORT with PORT from 1 to 65535");
        if (strcmp(cfg->tls_listen_host, "*") == 0)
            cfg->tls_listen_host[0] = '\0';
        cfg->tls_listen_given = true;
        return 0;
    case OPT_CONFIG:
        if (*val == '\0' || strlen(val) >= sizeof(cfg->config_file))
            return cli_invalid(err, err_len, flag, val, "a file name");
        snprintf(cfg->config_file, sizeof(cfg->config_file), "%s", val);
        return 0;
    case OPT_CHECK:
        cfg->check = true;
        return 0;
    case OPT_HELP:
        cfg->help = true;
        return 0;
    case OPT_VERSION:
        cfg->version = true;
        return 0;
    }
    return -EINVAL;
}

int config_parse(struct config *cfg, int argc, char *const argv[], char *err, size_t err_len)
{
    int rc = config_parse_options(cfg, argc, argv, err, err_len);
    return rc != 0 ? rc : config_validate(cfg, err, err_len);
}

int config_parse_options(struct config *cfg, int argc, char *const argv[], char *err,
                         size_t err_len)
{
    struct backend_target target = {.from_command_line = true};

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const struct opt *o = NULL;
        const char *val = NULL;
        char flag[64];

        if (arg[0] == '-' && arg[1] == '-' && arg[2] != '\0') {
            const char *name = arg + 2, *eq = strchr(name, '=');
            size_t n = eq ? (size_t)(eq - name) : strlen(name);
            for (size_t k = 0; k < NUM_OPTIONS; k++)
                if (strlen(options[k].long_name) == n &&
                    strncmp(options[k].long_name, name, n) == 0)
                    o = &options[k];
            snprintf(flag, sizeof(flag), "--%.*s", (int)(n > 40 ? 40 : n), name);
            if (o == NULL) {
                snprintf(err, err_len, "unknown option '%s'", flag);
                return -EINVAL;
            }
            if (eq != NULL) {
                if (!o->has_arg) {
                    snprintf(err, err_len, "option '%s' takes no value", flag);
                    return -EINVAL;
                }
                val = eq + 1;
            }
        } else if (arg[0] == '-' && arg[1] != '\0' && arg[1] != '-') {
            for (size_t k = 0; k < NUM_OPTIONS; k++)
                if (options[k].short_name == arg[1])
                    o = &options[k];
            snprintf(flag, sizeof(flag), "-%c", arg[1]);
            if (o == NULL) {
                snprintf(err, err_len, "unknown option '%s'", flag);
                return -EINVAL;
            }
            if (arg[2] != '\0') {
                if (!o->has_arg) {
                    snprintf(err, err_len, "option '%s' takes no value", flag);
                    return -EINVAL;
                }
                val = arg + 2;
            }
        } else {
            snprintf(err, err_len, "unexpected argument '%s'", arg);
            return -EINVAL;
        }

        if (o->has_arg && val == NULL) {
            if (i + 1 >= argc) {
                snprintf(err, err_len, "option '%s' needs a value", flag);
                return -EINVAL;
            }
            val = argv[++i];
        }
        int rc = apply(cfg, o, flag, val, &target, err, err_len);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static const struct opt *find_long_option(const char *name)
{
    for (size_t k = 0; k < NUM_OPTIONS; k++)
        if (strcmp(options[k].long_name, name) == 0)
            return &options[k];
    return NULL;
}

/* Options that only make sense on a command line. */
static bool command_line_only(enum opt_id id)
{
    return id == OPT_HELP || id == OPT_VERSION || id == OPT_CONFIG || id == OPT_CHECK;
}

int config_set(struct config *cfg, const char *name, const char *flag, const char *value,
               unsigned pool, char *err, size_t err_len)
{
    const struct opt *o = find_long_option(name);
    struct backend_target target = {.pool = pool};
    if (o == NULL || command_line_only(o->id))
        return -ENOENT;
    return apply(cfg, o, flag, o->has_arg ? (value ? value : "") : NULL, &target, err, err_len);
}

int config_option_arity(const char *name)
{
    const struct opt *o = find_long_option(name);
    if (o == NULL || command_line_only(o->id))
        return -1;
    return o->has_arg ? 1 : 0;
}

bool config_valid_health_path(const char *path)
{
    /* an origin-form path sent as is in the request line: visible ASCII, no spaces */
    size_t n = strlen(path);
    bool ok = n >= 1 && n <= CONFIG_MAX_HEALTH_PATH && path[0] == '/';
    for (size_t i = 0; ok && i < n; i++)
        ok = path[i] > ' ' && path[i] < 0x7f;
    return ok;
}

void config_group_backends(struct config *cfg)
{
    /* insertion sort: stable, in place, and the table is small */
    for (size_t i = 1; i < cfg->num_backends; i++) {
        struct config_backend b = cfg->backends[i];
        size_t j = i;
        for (; j > 0 && cfg->backends[j - 1].pool > b.pool; j--)
            cfg->backends[j] = cfg->backends[j - 1];
        cfg->backends[j] = b;
    }
}

int config_find_pool(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->num_pools; i++)
        if (strcmp(cfg->pools[i].name, name) == 0)
            return (int)i;
    return -1;
}

int config_default_pool(const struct config *cfg)
{
    return config_find_pool(cfg, cfg->default_pool[0] ? cfg->default_pool : CONFIG_DEFAULT_POOL);
}

const char *config_pool_policy(const struct config *cfg, size_t i)
{
    return cfg->pools[i].policy[0] ? cfg->pools[i].policy : cfg->policy;
}

const char *config_pool_health_path(const struct config *cfg, size_t i)
{
    return cfg->pools[i].health_path[0] ? cfg->pools[i].health_path : cfg->health_path;
}

int config_validate(const struct config *cfg, char *err, size_t err_len)
{
    /* every pool serves: an empty one would answer every request it gets with 503 */
    for (size_t p = 0; p < cfg->num_pools; p++) {
        size_t n = 0;
        for (size_t i = 0; i < cfg->num_backends; i++)
            n += cfg->backends[i].pool == p;
        if (n == 0) {
            snprintf(err, err_len, "pool '%s' has no backends", cfg->pools[p].name);
            return -EINVAL;
        }
    }
    if (cfg->num_backends == 0) {
        snprintf(err, err_len, "no backends");
        return -EINVAL;
    }
    if (cfg->default_pool[0] != '\0' && config_default_pool(cfg) < 0) {
        snprintf(err, err_len, "default -> %s: no pool named '%s'", cfg->default_pool,
                 cfg->default_pool);
        return -EINVAL;
    }
    if (cfg->mode == CONFIG_MODE_TCP && cfg->num_routes > 0) {
        snprintf(err, err_len, "routes need -m http: in -m tcp lb relays connections and never "
                               "sees a request (every connection goes to the default pool)");
        return -EINVAL;
    }
    if (cfg->mode == CONFIG_MODE_TCP && config_default_pool(cfg) < 0) {
        snprintf(err, err_len, "-m tcp needs a default pool (`default -> POOL`, or a pool named "
                               "'%s')", CONFIG_DEFAULT_POOL);
        return -EINVAL;
    }
    /* a tcp balancer sees bytes, not requests: refuse what only a request could feed */
    if (cfg->mode == CONFIG_MODE_TCP) {
        const char *http_only = cfg->hash_key.kind != HASHKEY_CLIENT ? "--hash-key"
                                : cfg->sticky_cookie[0] != '\0'      ? "--sticky-cookie"
                                : cfg->retries != CONFIG_DEFAULT_RETRIES ? "--retries"
                                                                         : NULL;
        if (http_only != NULL) {
            snprintf(err, err_len,
                     "%s needs -m http: in -m tcp lb relays connections and never sees a request",
                     http_only);
            return -EINVAL;
        }
    }
    /* in -m http the client's address reaches a backend in X-Forwarded-For, and a backend's
     * connections are reused by many clients: one PROXY header per connection cannot say it */
    if (cfg->mode == CONFIG_MODE_HTTP) {
        for (size_t i = 0; i < cfg->num_backends; i++)
            if (cfg->backends[i].send_proxy != 0) {
                snprintf(err, err_len,
                         "-b ...,send-proxy%s (backend %zu) needs -m tcp: in -m http lb sends "
                         "the client's address in X-Forwarded-For",
                         cfg->backends[i].send_proxy == 2 ? "-v2" : "", i + 1);
                return -EINVAL;
            }
    }
    /* TLS: each certificate with its key; terminated only where lb reads requests */
    if (cfg->num_tls_certs != cfg->num_tls_keys) {
        snprintf(err, err_len, "%s", cfg->num_tls_certs > cfg->num_tls_keys
                                         ? "--tls-cert needs --tls-key (one key per certificate)"
                                         : "--tls-key needs --tls-cert (one certificate per key)");
        return -EINVAL;
    }
    if ((cfg->tls_listen_given || cfg->tls_strict_sni) && !config_tls(cfg)) {
        snprintf(err, err_len, "%s needs --tls-cert and --tls-key (or --tls-cert-dir)",
                 cfg->tls_listen_given ? "--tls-listen" : "--tls-strict-sni");
        return -EINVAL;
    }
    if (config_tls(cfg) && cfg->mode == CONFIG_MODE_TCP) {
        snprintf(err, err_len, "--tls-cert needs -m http: in -m tcp TLS passes through to the "
                               "backends untouched");
        return -EINVAL;
    }
    for (size_t i = 0; i < cfg->num_backends && cfg->mode == CONFIG_MODE_TCP; i++)
        if (cfg->backends[i].tls) {
            snprintf(err, err_len,
                     "-b ...,tls (backend %zu) needs -m http: in -m tcp lb relays the client's "
                     "bytes untouched (a client speaking TLS reaches the backend's TLS as it is)",
                     i + 1);
            return -EINVAL;
        }
    /* a key that nothing hashes would be silently ignored: say so instead */
    bool hashing = false;
    for (size_t p = 0; p < cfg->num_pools; p++)
        hashing = hashing || strcmp(config_pool_policy(cfg, p), "hash") == 0;
    if (cfg->hash_key.kind != HASHKEY_CLIENT && !hashing) {
        snprintf(err, err_len, "--hash-key is for --policy hash (the policy is %s)", cfg->policy);
        return -EINVAL;
    }
    return 0;
}
