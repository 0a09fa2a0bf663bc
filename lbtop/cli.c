/*
 * cli.c - parsing lbtop's flags with getopt_long (see cli.h).
 */
#include "cli.h"
#include "cliopt.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "net.h"

void lbtop_cli_usage(FILE *out)
{
    fprintf(out,
            "usage: lbtop [-p LB_PORT | --shm NAME] [-d SECONDS] [--once] [--json] "
            "[-n ITERATIONS] [-h] [-V]\n"
            "\n"
            "Watch the statistics lb publishes in shared memory.\n"
            "\n"
            "  -p, --port PORT       the lb listening on PORT (default %d; segment /lblab-PORT)\n"
            "      --shm NAME        read the segment NAME instead (e.g. /lblab-3000)\n"
            "  -d, --delay SECONDS   refresh every SECONDS (default %.0f; fractions allowed)\n"
            "      --once            print one text snapshot and exit\n"
            "      --json            print one JSON document per snapshot and exit\n"
            "  -n, --iterations N    print N snapshots, -d apart, without a screen (like top -b)\n"
            "  -h, --help            this help\n"
            "  -V, --version         print the version\n"
            "\n"
            "Keys: 1-6 views, Tab next view, arrows select, Enter detail, s < > sort,\n"
            "p pause, r reset rates, ? help, q quit.\n"
            "Exit status: 0 ok, 1 lb not running or unreadable statistics, 2 usage.\n",
            LBTOP_DEFAULT_PORT, LBTOP_DEFAULT_DELAY_S);
}

int lbtop_cli_parse(struct lbtop_options *o, int argc, char *const argv[], char *err,
                    size_t err_len)
{
    enum { OPT_SHM = 0x100, OPT_ONCE, OPT_JSON };
    static const struct option longs[] = {
        {"port", required_argument, NULL, 'p'},
        {"shm", required_argument, NULL, OPT_SHM},
        {"delay", required_argument, NULL, 'd'},
        {"once", no_argument, NULL, OPT_ONCE},
        {"json", no_argument, NULL, OPT_JSON},
        {"iterations", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    bool have_port = false, have_shm = false;
    uint64_t n;
    int c;

    memset(o, 0, sizeof(*o));
    o->port = LBTOP_DEFAULT_PORT;
    o->delay_s = LBTOP_DEFAULT_DELAY_S;
    optind = 0; /* reset getopt, also for repeated calls in tests */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":p:d:n:hV", longs, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (cli_parse_port("-p", optarg, &o->port, err, err_len) != 0)
                return -EINVAL;
            have_port = true;
            break;
        case OPT_SHM:
            if (!stats_shm_name_valid(optarg))
                return cli_invalid(err, err_len, "--shm", optarg,
                                   "a name like /lblab-3000 (one leading '/')");
            snprintf(o->shm_name, sizeof(o->shm_name), "%s", optarg);
            have_shm = true;
            break;
        case 'd':
            if (cli_parse_real("-d", optarg, 0.05, 3600, "seconds", &o->delay_s, err, err_len) != 0)
                return -EINVAL;
            break;
        case 'n':
            if (cli_parse_uint("-n", optarg, 1, 100000000, "a number of snapshots", &n, err,
                               err_len) != 0)
                return -EINVAL;
            o->iterations = (long)n;
            break;
        case OPT_ONCE:
            o->once = true;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case 'h':
            o->help = true;
            break;
        case 'V':
            o->version = true;
            break;
        default: /* ':' or '?' */
            return cli_getopt_error(c, argv, err, err_len);
        }
    }
    if (optind < argc) {
        snprintf(err, err_len, "unexpected argument '%s'", argv[optind]);
        return -EINVAL;
    }
    if (have_port && have_shm) {
        snprintf(err, err_len, "-p and --shm both name the segment: give one of them");
        return -EINVAL;
    }
    if (!have_shm)
        stats_shm_name(o->port, o->shm_name, sizeof(o->shm_name));
    else
        o->port = 0;
    if (o->once && o->iterations == 0)
        o->iterations = 1;
    if (o->json && o->iterations == 0)
        o->iterations = 1;
    o->batch = o->once || o->json || o->iterations > 0;
    return 0;
}
