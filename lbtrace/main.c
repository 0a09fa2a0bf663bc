/*
 * main.c - lbtrace: shows the layer 4 and layer 7 view of each request through lb, pairing the
 * client leg (client <-> lb) with the backend leg (lb <-> backend).
 *
 *   bin/lbtrace [-i IFACE | -r FILE.pcap] [-w FILE.pcap] [-p LB_PORT[,PORT...]] [-B PORT[,PORT...]]
 *               [-m auto|http|tcp] [--view l4|l7|both] [--json] [-c COUNT] [-h] [-V]
 *
 * main parses the command line, opens the capture (capture.c), gives up privileges, and feeds
 * frames to the pipeline (trace.c) until the count is reached, the file ends, or a signal
 * comes. Everything it prints about itself goes to stderr; stdout carries only the trace.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "cliopt.h"
#include "clock.h"
#include "decode.h"
#include "net.h"
#include "shmring.h"
#include "trace.h"

#define DEFAULT_LB_PORT 3000
#define DEFAULT_LB_TLS_PORT 3443 /* lb --tls-listen's default */

/* The capture the signal handler interrupts: main's only, set once before handlers run. */
static struct capture *volatile g_capture;
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
    if (g_capture != NULL)
        capture_break(g_capture);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: lbtrace [-i IFACE | -r FILE.pcap] [-w FILE.pcap] [-p LB_PORT[,PORT...]]\n"
            "               [-B PORT[,PORT...]]\n"
            "               [-m auto|http|tcp] [--view l4|l7|both] [--json] [-c COUNT] [-h] [-V]\n"
            "\n"
            "Shows each request through lb on the wire: the client leg (client <-> lb) and the\n"
            "backend leg (lb <-> backend), paired by X-Request-ID, at layer 4 and layer 7; with\n"
            "lb -m tcp, each client connection beside the backend connection it was relayed to.\n"
            "A leg that carries TLS is shown by its records: handshake, SNI, ALPN, sizes.\n"
            "\n"
            "  -i, --interface IFACE   capture live on IFACE (default lo); needs root or\n"
            "                          setcap cap_net_raw,cap_net_admin+ep bin/lbtrace\n"
            "  -r, --read FILE         read a saved capture instead (no privileges needed)\n"
            "  -w, --write FILE        also save the captured packets to FILE (pcap)\n"
            "  -p, --port PORT[,PORT]  lb's listening ports (default %d,%d: the plain one, which\n"
            "                          names lb's shared memory, then its HTTPS one): flows to\n"
            "                          them are client legs\n"
            "  -B, --backends LIST     backend ports, comma separated (default: from lb's shared\n"
            "                          memory when lb runs, else 3001,3002,3003)\n"
            "  -m, --mode MODE         what lb balances: http (requests) or tcp (whole\n"
            "                          connections, lb -m tcp); default auto: lb's shared memory\n"
            "                          says, and http when it cannot (use -m tcp with -r)\n"
            "      --view l4|l7|both   TCP events, one line per request, or both legs per request\n"
            "                          (default both)\n"
            "      --json              one JSON object per line (per request; per segment with l4)\n"
            "  -c, --count COUNT       stop after COUNT requests (segments with --view l4)\n"
            "  -h, --help              this help\n"
            "  -V, --version           print the version\n",
            DEFAULT_LB_PORT, DEFAULT_LB_TLS_PORT);
}

static int parse_ports(const char *s, uint16_t *ports, size_t max, size_t *n)
{
    char buf[1024];
    char *save = NULL;
    *n = 0;
    size_t len = strlen(s);
    if (len >= sizeof(buf) || len == 0 || s[0] == ',' || s[len - 1] == ',' || strstr(s, ",,"))
        return -EINVAL; /* an empty item is a mistake, not a port to skip */
    strcpy(buf, s);
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        uint16_t p;
        if (*n == max || net_parse_port(tok, &p) < 0)
            return -EINVAL;
        ports[(*n)++] = p;
    }
    return *n > 0 ? 0 : -EINVAL;
}

/* A bad command line: the message in the wording every lblab program uses, exit status 2. */
static int usage_error(const char *err)
{
    cli_print_error("lbtrace", err);
    return 2;
}

struct feed_ctx {
    struct trace *trace;
};

static void on_frame(void *ctx, uint64_t ts, const uint8_t *data, size_t caplen, size_t wirelen)
{
    struct feed_ctx *fc = ctx;
    (void)wirelen;
    trace_frame(fc->trace, ts, data, caplen);
}

static void permission_help(const char *iface, const char *why)
{
    fprintf(stderr,
            "lbtrace: no permission to capture on %s (%s).\n"
            "Capturing packets needs the CAP_NET_RAW capability. Any one of these fixes it:\n"
            "  - run it as root:           sudo bin/lbtrace ...   (it drops root once the capture is open)\n"
            "  - grant the capability once: sudo setcap cap_net_raw,cap_net_admin+ep bin/lbtrace\n"
            "  - read a saved capture:      bin/lbtrace -r FILE.pcap   (e.g. one written by tcpdump -w)\n",
            iface, why);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"interface", required_argument, NULL, 'i'},
        {"read", required_argument, NULL, 'r'},
        {"write", required_argument, NULL, 'w'},
        {"port", required_argument, NULL, 'p'},
        {"backends", required_argument, NULL, 'B'},
        {"view", required_argument, NULL, 'v'},
        {"json", no_argument, NULL, 'j'},
        {"count", required_argument, NULL, 'c'},
        {"mode", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct trace_config cfg;
    struct capture_opts copts = {0};
    bool ports_given = false, backends_given = false;
    char err[512], filter[1536], msg[256];
    int opt, rc = 0;

    memset(&cfg, 0, sizeof(cfg));
    cfg.out.view = OUTPUT_BOTH;
    cfg.out.out = stdout;
    cfg.flows.lb_port = DEFAULT_LB_PORT;
    cfg.flows.more_lb_ports[0] = DEFAULT_LB_TLS_PORT;
    cfg.flows.num_more_lb_ports = 1;
    cfg.flows.num_backend_ports = 3;
    cfg.flows.backend_ports[0] = 3001;
    cfg.flows.backend_ports[1] = 3002;
    cfg.flows.backend_ports[2] = 3003;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":i:r:w:p:B:c:m:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'i':
            copts.iface = optarg;
            break;
        case 'r':
            copts.file = optarg;
            break;
        case 'w':
            copts.write_file = optarg;
            break;
        case 'p': {
            uint16_t lbp[FLOW_MAX_LB_PORTS + 1];
            size_t n = 0;
            if (parse_ports(optarg, lbp, FLOW_MAX_LB_PORTS + 1, &n) < 0) {
                cli_invalid(err, sizeof(err), "-p", optarg,
                            "ports from 1 to 65535 separated by commas (at most %d)",
                            FLOW_MAX_LB_PORTS + 1);
                return usage_error(err);
            }
            cfg.flows.lb_port = lbp[0];
            cfg.flows.num_more_lb_ports = n - 1;
            memcpy(cfg.flows.more_lb_ports, lbp + 1, (n - 1) * sizeof(lbp[0]));
            ports_given = true;
            break;
        }
        case 'B':
            if (parse_ports(optarg, cfg.flows.backend_ports, FLOW_MAX_BACKEND_PORTS,
                            &cfg.flows.num_backend_ports) < 0) {
                cli_invalid(err, sizeof(err), "-B", optarg,
                            "ports from 1 to 65535 separated by commas (at most %d)",
                            FLOW_MAX_BACKEND_PORTS);
                return usage_error(err);
            }
            backends_given = true;
            break;
        case 'v':
            if (output_parse_view(optarg, &cfg.out.view) < 0) {
                cli_invalid(err, sizeof(err), "--view", optarg, "l4, l7 or both");
                return usage_error(err);
            }
            break;
        case 'j':
            cfg.out.json = true;
            break;
        case 'm':
            if (strcmp(optarg, "http") == 0)
                cfg.mode = TRACE_MODE_HTTP;
            else if (strcmp(optarg, "tcp") == 0)
                cfg.mode = TRACE_MODE_TCP;
            else if (strcmp(optarg, "auto") == 0)
                cfg.mode = TRACE_MODE_AUTO;
            else {
                cli_invalid(err, sizeof(err), "-m", optarg, "auto, http or tcp");
                return usage_error(err);
            }
            break;
        case 'c':
            if (cli_parse_uint("-c", optarg, 1, UINT64_MAX, NULL, &cfg.count, err,
                               sizeof(err)) != 0)
                return usage_error(err);
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            cli_print_version("lbtrace");
            return 0;
        default: /* ':' or '?' */
            cli_getopt_error(opt, argv, err, sizeof(err));
            return usage_error(err);
        }
    }
    if (optind < argc) {
        snprintf(err, sizeof(err), "unexpected argument '%s'", argv[optind]);
        return usage_error(err);
    }
    if (copts.file != NULL && copts.iface != NULL)
        return usage_error("-i and -r exclude each other: capture live or read a file");

    /* lb's shared memory, for a live capture: the backend ports unless -B named them, and the
     * recent-requests ring to confirm pairs (a saved capture is not checked against a ring that
     * belongs to whatever lb runs now) */
    struct shmring *ring = NULL;
    if (copts.file == NULL) {
        ring = shmring_new(cfg.flows.lb_port);
        if (ring != NULL && !backends_given && shmring_attached(ring)) {
            uint16_t ports[FLOW_MAX_BACKEND_PORTS];
            size_t n = shmring_backend_ports(ring, ports, FLOW_MAX_BACKEND_PORTS);
            if (n > 0) {
                memcpy(cfg.flows.backend_ports, ports, n * sizeof(ports[0]));
                cfg.flows.num_backend_ports = n;
                fprintf(stderr, "lbtrace: backend ports from lb's shared memory (port %u)\n",
                        (unsigned)cfg.flows.lb_port);
            }
        }
    }

    /* lb's HTTPS listener, as lb published it, unless -p listed lb's ports itself */
    bool lb_ports_listed = ports_given && cfg.flows.num_more_lb_ports > 0;
    uint16_t tls_port = ring != NULL && !lb_ports_listed ? shmring_tls_port(ring) : 0;
    if (tls_port != 0 && tls_port != cfg.flows.lb_port) {
        cfg.flows.more_lb_ports[0] = tls_port;
        cfg.flows.num_more_lb_ports = 1;
        fprintf(stderr, "lbtrace: lb's HTTPS port %u from its shared memory\n", (unsigned)tls_port);
    }

    /* a live capture is always filtered; a file only when ports were named */
    /* room for every port (lb's and the backends'), so this fails only if they grow past it */
    uint16_t other_ports[FLOW_MAX_LB_PORTS + FLOW_MAX_BACKEND_PORTS];
    size_t nother = cfg.flows.num_more_lb_ports;
    memcpy(other_ports, cfg.flows.more_lb_ports, nother * sizeof(other_ports[0]));
    memcpy(other_ports + nother, cfg.flows.backend_ports,
           cfg.flows.num_backend_ports * sizeof(other_ports[0]));
    nother += cfg.flows.num_backend_ports;
    if (capture_filter_for(cfg.flows.lb_port, other_ports, nother, filter, sizeof(filter)) == NULL) {
        fprintf(stderr, "lbtrace: the capture filter for these ports is too long\n");
        return 2;
    }
    if (copts.file == NULL || ports_given || backends_given)
        copts.filter = filter;
    if (copts.file == NULL && copts.iface == NULL)
        copts.iface = "lo";

    bool perm_denied = false;
    struct capture *cap = capture_open(&copts, &perm_denied, err, sizeof(err));
    if (cap == NULL) {
        shmring_free(ring);
        if (perm_denied)
            permission_help(copts.iface, err);
        else
            fprintf(stderr, "lbtrace: cannot capture: %s\n", err);
        return 1;
    }
    /* from here on lbtrace parses bytes strangers sent: never with privileges, even offline */
    if (capture_drop_privileges(msg, sizeof(msg)) < 0) {
        fprintf(stderr, "lbtrace: %s; stopping rather than running with privileges\n", msg);
        capture_close(cap);
        shmring_free(ring);
        return 1;
    }
    if (capture_is_live(cap))
        fprintf(stderr, "lbtrace: capturing on %s (%s); %s\n", copts.iface, copts.filter, msg);
    int link = capture_link(cap);
    if (!decode_link_supported(link)) {
        fprintf(stderr, "lbtrace: link type %d is not supported (Ethernet, Linux cooked, loopback "
                        "and raw IP are)\n", link);
        capture_close(cap);
        return 1;
    }

    cfg.out.color = !cfg.out.json && isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL &&
                    !(getenv("TERM") && strcmp(getenv("TERM"), "dumb") == 0);
    setvbuf(stdout, NULL, _IOLBF, 0);

    struct trace *trace = trace_new(&cfg, link);
    if (trace == NULL) {
        fprintf(stderr, "lbtrace: out of memory\n");
        capture_close(cap);
        shmring_free(ring);
        return 1;
    }
    if (ring != NULL) {
        struct pair_ring_ops ops = shmring_ops(ring);
        trace_set_ring(trace, &ops);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    g_capture = cap;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct feed_ctx fc = {trace};
    while (!g_stop && !trace_done(trace)) {
        int n = capture_next(cap, 64, on_frame, &fc, err, sizeof(err));
        if (n == -2) {
            fprintf(stderr, "lbtrace: capture failed: %s\n", err);
            rc = 1;
            break;
        }
        if (n == -1)
            break;
        if (capture_is_live(cap))
            trace_tick(trace, clock_wall_ns());
        if (ferror(stdout))
            break; /* the reader went away (a closed pipe) */
    }
    trace_finish(trace);
    fflush(stdout);

    const struct trace_stats *st = trace_get_stats(trace);
    uint64_t received = 0, dropped = 0;
    fprintf(stderr,
            "lbtrace: %llu frames, %llu TCP segments, %llu connections, %llu HTTP requests, "
            "%llu responses, %llu paired",
            (unsigned long long)st->frames, (unsigned long long)st->tcp_segments,
            (unsigned long long)trace_connections(trace), (unsigned long long)st->requests,
            (unsigned long long)st->responses, (unsigned long long)st->paired);
    if (st->tls_connections)
        fprintf(stderr, ", %llu TLS connections (%llu encrypted exchanges)",
                (unsigned long long)st->tls_connections, (unsigned long long)st->tls_exchanges);
    if (st->tcp_connections)
        fprintf(stderr, ", %llu relayed connections (lb -m tcp)",
                (unsigned long long)st->tcp_connections);
    if (st->confirmed || st->contradicted)
        fprintf(stderr, " (%llu confirmed by lb's ring, %llu contradicted)",
                (unsigned long long)st->confirmed, (unsigned long long)st->contradicted);
    if (st->malformed)
        fprintf(stderr, ", %llu malformed (last: %s)", (unsigned long long)st->malformed,
                trace_last_error(trace));
    if (st->gaps)
        fprintf(stderr, ", %llu capture gaps", (unsigned long long)st->gaps);
    if (capture_stats(cap, &received, &dropped) == 0 && dropped)
        fprintf(stderr, ", %llu dropped by the kernel", (unsigned long long)dropped);
    fputc('\n', stderr);

    g_capture = NULL;
    trace_free(trace);
    capture_close(cap);
    shmring_free(ring);
    return rc;
}
