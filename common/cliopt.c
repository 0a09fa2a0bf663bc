/*
 * cliopt.c - getopt_long() complaints in one wording for every lblab program. getopt's own
 * messages are turned off by the callers (opterr = 0 or a leading ':' in the option string),
 * so this is the only text a user sees.
 */
#include "cliopt.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>

int cli_getopt_error(int c, char *const argv[], char *err, size_t err_len)
{
    if (c == ':')
        snprintf(err, err_len, "option '%s' needs a value", argv[optind - 1]);
    else if (optopt != 0)
        snprintf(err, err_len, "unknown option '-%c'", optopt);
    else
        snprintf(err, err_len, "unknown option '%s'", argv[optind - 1]);
    return -EINVAL;
}
