/*
 * cliopt.h - the command-line wording every lblab program uses (lb, backend-sim, lbtop, lbtrace),
 * so a bad flag reads the same whichever program refused it:
 *   unknown option '--x'                  option '--x' needs a value
 *   option '--x' takes no value           unexpected argument 'x'
 *   invalid --x 'abc': expected milliseconds from 0 to 3600000
 * and one strict way to read a number: the whole text, decimal, in range; never silently 0.
 * Each function writes one line into the caller's err and returns 0 or -EINVAL; main() prints it
 * with cli_print_error() and exits 2.
 */
#ifndef LBLAB_CLIOPT_H
#define LBLAB_CLIOPT_H

#include <stddef.h>
#include <stdint.h>

/* Call right after getopt_long() returned c == ':' (missing value) or '?' (unknown option):
 * writes "option '--x' needs a value" or "unknown option '--x'" into err. Returns -EINVAL. */
int cli_getopt_error(int c, char *const argv[], char *err, size_t err_len);

/* Writes "invalid OPT 'TEXT': expected " followed by the printf-formatted rest into err.
 * Returns -EINVAL. */
int cli_invalid(char *err, size_t err_len, const char *opt, const char *text, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));

/* The number reader under the parsers below, for spans that are not whole strings too (a number
 * in a URL path): s[0..len) must be decimal digits only, the value at most max. Returns 0, -EINVAL
 * (empty or not digits) or -ERANGE (above max, however many digits). */
int cli_parse_digits(const char *s, size_t len, uint64_t max, uint64_t *out);

/* Parses text as a decimal whole number in [min, max] (digits only, no sign, no spaces) into *out.
 * unit names what is counted in the message ("milliseconds", "seconds"; NULL: "a number"):
 * "invalid --x 'abc': expected milliseconds from 0 to 3600000". Returns 0 or -EINVAL. */
int cli_parse_uint(const char *opt, const char *text, uint64_t min, uint64_t max,
                   const char *unit, uint64_t *out, char *err, size_t err_len);

/* The same for a decimal number that may have a fraction ("0.5", "5", ".25"), in [min, max]. */
int cli_parse_real(const char *opt, const char *text, double min, double max, const char *unit,
                   double *out, char *err, size_t err_len);

/* Parses a TCP port 1..65535 as net_parse_port() does (common/net.h): "invalid -p 'x': expected
 * a port from 1 to 65535". */
int cli_parse_port(const char *opt, const char *text, uint16_t *out, char *err, size_t err_len);

/* Prints "PROG: ERR" and "Try 'PROG -h' for help." to standard error. */
void cli_print_error(const char *prog, const char *err);

/* Prints "PROG (lblab) VERSION" to standard output: the answer to -V. */
void cli_print_version(const char *prog);

#endif
