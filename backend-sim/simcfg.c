/*
 * simcfg.c - backend-sim's command-line parsing (see simcfg.h). getopt_long does the splitting;
 * every value is then checked strictly by common/cliopt (whole string a number, in range) so a
 * typo is reported in the wording all lblab programs share, never silently read as 0.
 */
#include "cliopt.h"
#include "simcfg.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_NAME = 256,
    OPT_LATENCY,
    OPT_JITTER,
    OPT_FAIL_RATE,
    OPT_KEEPALIVE,
    OPT_MAX_CONNS,
    OPT_DOCROOT,
    OPT_LOG,
    OPT_MAX_SIZE,
    OPT_MAX_DELAY,
    OPT_ACCEPT_PROXY,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
};

static const struct option long_opts[] = {
    {"port", required_argument, NULL, 'p'},
    {"name", required_argument, NULL, OPT_NAME},
    {"latency", required_argument, NULL, OPT_LATENCY},
    {"jitter", required_argument, NULL, OPT_JITTER},
    {"fail-rate", required_argument, NULL, OPT_FAIL_RATE},
    {"keepalive-timeout", required_argument, NULL, OPT_KEEPALIVE},
    {"max-conns", required_argument, NULL, OPT_MAX_CONNS},
    {"docroot", required_argument, NULL, OPT_DOCROOT},
    {"log", required_argument, NULL, OPT_LOG},
    {"max-size", required_argument, NULL, OPT_MAX_SIZE},
    {"max-delay", required_argument, NULL, OPT_MAX_DELAY},
    {"accept-proxy", no_argument, NULL, OPT_ACCEPT_PROXY},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

const char *simcfg_usage(void)
{
    return "usage: backend-sim [-p [HOST:]PORT]... [--name NAME[,NAME...]] [--latency MS]\n"
           "                   [--jitter MS] [--fail-rate P] [--keepalive-timeout SEC]\n"
           "                   [--max-conns N] [--docroot DIR] [--log FILE|-]\n"
           "                   [--max-size BYTES] [--max-delay MS] [--accept-proxy]\n"
           "                   [--tls-cert FILE --tls-key FILE] [-h] [-V]\n"
           "\n"
           "Test backends for lblab. Without -p, serves ports 3001, 3002 and 3003 as b1, b2, b3.\n"
           "\n"
           "  -p, --port [HOST:]PORT   listen here (repeat for several instances)\n"
           "  --name NAME              instance names: a comma list (one per port) or a prefix\n"
           "                           numbered from 1 when there are several ports\n"
           "  --latency MS             wait this long before every answer (default 0)\n"
           "  --jitter MS              vary the latency uniformly by +-MS (default 0)\n"
           "  --fail-rate P            answer 500 with probability P, 0..1 (default 0)\n"
           "  --keepalive-timeout SEC  close idle connections after SEC (default 5; 0 = close\n"
           "                           after every response)\n"
           "  --max-conns N            per instance; further connections get 503 and are closed\n"
           "  --docroot DIR            serve static files from DIR for paths no endpoint takes\n"
           "  --log FILE|-             one JSON line per request (- = standard output)\n"
           "  --max-size BYTES         cap on /bytes/N and /chunked/N (default 1G; K, M, G)\n"
           "  --max-delay MS           cap on /delay/MS and on chunk gaps (default 60000)\n"
           "  --accept-proxy           each connection starts with a PROXY protocol v1 or v2\n"
           "                           header (lb -m tcp -b ...,send-proxy): its client address\n"
           "                           is reported; a connection without one is closed\n"
           "  --tls-cert FILE          speak HTTPS on every port (TLS 1.2/1.3): a PEM\n"
           "                           certificate chain (with --tls-key)\n"
           "  --tls-key FILE           its PEM private key\n"
           "  -h, --help               this help\n"
           "  -V, --version            print the version\n"
           "\n"
           "Endpoints: / /whoami /health /admin/health /headers /echo /delay/MS /status/CODE\n"
           "/flaky?p=P /bytes/N /chunked/N?gap=MS&chunk=SIZE /hang /reset /close /login\n"
           "/upgrade\n"
           "See backend-sim(1).\n";
}

int simcfg_parse_size(const char *s, uint64_t *out)
{
    char digits[32];
    size_t n = s ? strlen(s) : 0;
    uint64_t mult = 1, v;

    if (n == 0 || n >= sizeof(digits))
        return -EINVAL;
    memcpy(digits, s, n + 1);
    switch (digits[n - 1]) {
    case 'k':
    case 'K': mult = 1ull << 10; break;
    case 'm':
    case 'M': mult = 1ull << 20; break;
    case 'g':
    case 'G': mult = 1ull << 30; break;
    default: break;
    }
    if (mult != 1)
        digits[--n] = '\0';
    if (cli_parse_digits(digits, n, UINT64_MAX / mult, &v) != 0)
        return -EINVAL;
    *out = v * mult;
    return 0;
}

static bool valid_name(const char *s, size_t n)
{
    if (n == 0 || n > SIMCFG_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Gives every instance its name from --name (or the defaults b1, b2, ...). */
static int assign_names(struct simcfg *cfg, const char *names, char *err, size_t err_len)
{
    if (names == NULL) {
        for (size_t i = 0; i < cfg->n_inst; i++)
            snprintf(cfg->inst[i].name, sizeof(cfg->inst[i].name), "b%u", (unsigned)(i + 1) % 100u);
        return 0;
    }
    if (strchr(names, ',') == NULL) {
        size_t n = strlen(names);
        /* room for the number suffix */
        if (!valid_name(names, n) || (cfg->n_inst > 1 && n > SIMCFG_NAME_MAX - 2)) {
            return cli_invalid(err, err_len, "--name", names,
                               "1 to %d characters of A-Z a-z 0-9 . _ -",
                               cfg->n_inst > 1 ? SIMCFG_NAME_MAX - 2 : SIMCFG_NAME_MAX);
        }
        for (size_t i = 0; i < cfg->n_inst; i++) {
            if (cfg->n_inst == 1)
                snprintf(cfg->inst[i].name, sizeof(cfg->inst[i].name), "%s", names);
            else
                snprintf(cfg->inst[i].name, sizeof(cfg->inst[i].name), "%.*s%u",
                         SIMCFG_NAME_MAX - 2, names, (unsigned)(i + 1) % 100u);
        }
        return 0;
    }
    const char *p = names;
    size_t i = 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (!valid_name(p, n)) {
            return cli_invalid(err, err_len, "--name", names,
                               "names of 1 to %d characters of A-Z a-z 0-9 . _ -",
                               SIMCFG_NAME_MAX);
        }
        if (i < cfg->n_inst) {
            memcpy(cfg->inst[i].name, p, n);
            cfg->inst[i].name[n] = '\0';
        }
        i++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (i != cfg->n_inst) {
        return cli_invalid(err, err_len, "--name", names, "one name for each of the %zu ports",
                           cfg->n_inst);
    }
    return 0;
}

static void set_defaults(struct simcfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->action = SIMCFG_RUN;
    cfg->keepalive_ms = SIMCFG_DEFAULT_KEEPALIVE_MS;
    cfg->max_size = SIMCFG_DEFAULT_MAX_SIZE;
    cfg->max_delay_ms = SIMCFG_DEFAULT_MAX_DELAY_MS;
}

int simcfg_parse(int argc, char *const argv[], struct simcfg *cfg, char *err, size_t err_len)
{
    const char *names = NULL;
    int c;

    set_defaults(cfg);
    optind = 0; /* glibc: full reinitialisation, so parsing twice works */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":p:hV", long_opts, NULL)) != -1) {
        const char *arg = optarg;
        uint64_t u = 0;
        double d = 0;

        switch (c) {
        case 'p': {
            struct simcfg_instance *in;
            if (cfg->n_inst == SIMCFG_MAX_INSTANCES) {
                return cli_invalid(err, err_len, "-p", arg, "at most %d ports",
                                   SIMCFG_MAX_INSTANCES);
            }
            in = &cfg->inst[cfg->n_inst];
            if (net_split_hostport(arg, in->host, sizeof(in->host), &in->port, true) != 0 ||
                in->port == 0)
                return cli_invalid(err, err_len, "-p", arg,
                                   "PORT or HOST:PORT with PORT from 1 to 65535");
            for (size_t i = 0; i < cfg->n_inst; i++) {
                if (cfg->inst[i].port == in->port && strcmp(cfg->inst[i].host, in->host) == 0)
                    return cli_invalid(err, err_len, "-p", arg, "each port once");
            }
            cfg->n_inst++;
            break;
        }
        case OPT_NAME: names = arg; break;
        case OPT_LATENCY:
            if (cli_parse_uint("--latency", arg, 0, 3600000, "milliseconds", &u, err,
                               err_len) != 0)
                return -EINVAL;
            cfg->latency_ms = (uint32_t)u;
            break;
        case OPT_JITTER:
            if (cli_parse_uint("--jitter", arg, 0, 3600000, "milliseconds", &u, err,
                               err_len) != 0)
                return -EINVAL;
            cfg->jitter_ms = (uint32_t)u;
            break;
        case OPT_FAIL_RATE:
            if (cli_parse_real("--fail-rate", arg, 0.0, 1.0, "a probability", &d, err,
                               err_len) != 0)
                return -EINVAL;
            cfg->fail_rate = d;
            break;
        case OPT_KEEPALIVE:
            if (cli_parse_real("--keepalive-timeout", arg, 0.0, 86400.0, "seconds", &d, err,
                               err_len) != 0)
                return -EINVAL;
            cfg->keepalive_ms = (uint32_t)llround(d * 1000.0);
            if (d > 0 && cfg->keepalive_ms == 0)
                cfg->keepalive_ms = 1;
            break;
        case OPT_MAX_CONNS:
            if (cli_parse_uint("--max-conns", arg, 1, 10000000, NULL, &u, err, err_len) != 0)
                return -EINVAL;
            cfg->max_conns = (uint32_t)u;
            break;
        case OPT_DOCROOT:
            if (*arg == '\0' || strlen(arg) >= sizeof(cfg->docroot))
                return cli_invalid(err, err_len, "--docroot", arg, "a directory");
            snprintf(cfg->docroot, sizeof(cfg->docroot), "%s", arg);
            break;
        case OPT_LOG:
            if (*arg == '\0' || strlen(arg) >= sizeof(cfg->log_path))
                return cli_invalid(err, err_len, "--log", arg, "a file name or '-'");
            snprintf(cfg->log_path, sizeof(cfg->log_path), "%s", arg);
            break;
        case OPT_MAX_SIZE:
            if (simcfg_parse_size(arg, &u) != 0 || u > (1ull << 40))
                return cli_invalid(err, err_len, "--max-size", arg,
                                   "bytes from 0 to 1T (K, M, G suffixes)");
            cfg->max_size = u;
            break;
        case OPT_MAX_DELAY:
            if (cli_parse_uint("--max-delay", arg, 0, 86400000, "milliseconds", &u, err,
                               err_len) != 0)
                return -EINVAL;
            cfg->max_delay_ms = (uint32_t)u;
            break;
        case OPT_ACCEPT_PROXY:
            cfg->accept_proxy = true;
            break;
        case OPT_TLS_CERT:
        case OPT_TLS_KEY: {
            char *field = c == OPT_TLS_CERT ? cfg->tls_cert : cfg->tls_key;
            if (*arg == '\0' || strlen(arg) >= sizeof(cfg->tls_cert))
                return cli_invalid(err, err_len, c == OPT_TLS_CERT ? "--tls-cert" : "--tls-key",
                                   arg, "a file name");
            snprintf(field, sizeof(cfg->tls_cert), "%s", arg);
            break;
        }
        case 'h': cfg->action = SIMCFG_HELP; return 0;
        case 'V': cfg->action = SIMCFG_VERSION; return 0;
        default: /* ':' or '?' */
            return cli_getopt_error(c, argv, err, err_len);
        }
    }
    if (optind < argc) {
        snprintf(err, err_len, "unexpected argument '%s'", argv[optind]);
        return -EINVAL;
    }
    if ((cfg->tls_cert[0] != '\0') != (cfg->tls_key[0] != '\0')) {
        snprintf(err, err_len, "%s", cfg->tls_cert[0] != '\0' ? "--tls-cert needs --tls-key"
                                                              : "--tls-key needs --tls-cert");
        return -EINVAL;
    }
    if (cfg->n_inst == 0) {
        for (uint16_t p = 3001; p <= 3003; p++) {
            cfg->inst[cfg->n_inst].host[0] = '\0';
            cfg->inst[cfg->n_inst].port = p;
            cfg->n_inst++;
        }
    }
    return assign_names(cfg, names, err, err_len);
}
