/*
 * cliopt.c - command-line complaints in one wording, and strict number parsing, for every lblab
 * program (see cliopt.h). getopt's own messages are turned off by the callers (opterr = 0 or a
 * leading ':' in the option string), so this is the only text a user sees.
 *
 * Numbers are read digit by digit rather than with strtoul(): strtoul accepts leading spaces, a
 * sign ("-5" becomes a huge number) and wraps silently; here anything but digits is refused.
 */
#include "cliopt.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "version.h"

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

int cli_invalid(char *err, size_t err_len, const char *opt, const char *text, const char *fmt,
                ...)
{
    va_list ap;
    int n = snprintf(err, err_len, "invalid %s '%s': expected ", opt, text);

    if (n >= 0 && (size_t)n < err_len) {
        va_start(ap, fmt);
        vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

int cli_parse_digits(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    bool big = false;

    if (len == 0)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        if (big || d > max || v > (max - d) / 10)
            big = true; /* keep reading: a letter later still makes it -EINVAL */
        else
            v = v * 10 + d;
    }
    if (big)
        return -ERANGE;
    *out = v;
    return 0;
}

int cli_parse_uint(const char *opt, const char *text, uint64_t min, uint64_t max,
                   const char *unit, uint64_t *out, char *err, size_t err_len)
{
    uint64_t v;

    if (cli_parse_digits(text, strlen(text), max, &v) != 0 || v < min) {
        if (max == UINT64_MAX)
            return cli_invalid(err, err_len, opt, text, "%s of at least %" PRIu64,
                               unit ? unit : "a number", min);
        return cli_invalid(err, err_len, opt, text, "%s from %" PRIu64 " to %" PRIu64,
                           unit ? unit : "a number", min, max);
    }
    *out = v;
    return 0;
}

int cli_parse_real(const char *opt, const char *text, double min, double max, const char *unit,
                   double *out, char *err, size_t err_len)
{
    char *end = NULL;
    double v;

    /* strtod alone would take " 5", "+5", "inf", "nan" and hexadecimal */
    if (!((*text >= '0' && *text <= '9') || *text == '.') || strpbrk(text, "xX") != NULL)
        goto out_invalid;
    errno = 0;
    v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(v) || v < min || v > max)
        goto out_invalid;
    *out = v;
    return 0;

out_invalid:
    return cli_invalid(err, err_len, opt, text, "%s from %g to %g", unit ? unit : "a number", min,
                       max);
}

int cli_parse_port(const char *opt, const char *text, uint16_t *out, char *err, size_t err_len)
{
    if (net_parse_port(text, out) != 0)
        return cli_invalid(err, err_len, opt, text, "a port from 1 to 65535");
    return 0;
}

void cli_print_error(const char *prog, const char *err)
{
    fprintf(stderr, "%s: %s\nTry '%s -h' for help.\n", prog, err, prog);
}

void cli_print_version(const char *prog)
{
    printf("%s (lblab) %s\n", prog, LBLAB_VERSION);
}
