/*
 * cliopt.h - the wording every lblab program uses when getopt_long() refuses a command line, so
 * the programs name a bad flag the same way.
 */
#ifndef LBLAB_CLIOPT_H
#define LBLAB_CLIOPT_H

#include <stddef.h>

/* Call right after getopt_long() returned c == ':' (missing value) or '?' (unknown option):
 * writes "option '--x' needs a value" or "unknown option '--x'" into err. Returns -EINVAL. */
int cli_getopt_error(int c, char *const argv[], char *err, size_t err_len);

#endif
