/*
 * conffile.h - lb's configuration file (lb -c FILE, lb.conf(5)) as plain data.
 *
 * The file says what the command line says, one directive a line, plus pools and routes:
 *
 *   # a comment
 *   listen 0.0.0.0:3000
 *   server-timeout 5000
 *   pool api    { backend 127.0.0.1:3001 weight=2; backend 127.0.0.1:3002; policy leastconn; }
 *   pool static { backend 127.0.0.1:3003; }
 *   route path-prefix /api/ -> api
 *   route host static.example -> static
 *   route header X-Canary: 1 -> api
 *   default -> static
 *
 * Every long option of the command line (config.h) is a directive of the same name with its
 * value after a space ("no-stats" alone); a top-level "backend" is a -b, in pool "default". A
 * value with spaces or a '#', ';', '{' or '}' in it is quoted: "a b" (\" and \\ inside). A pool's
 * block holds backend, policy and health directives separated by ';' or new lines.
 *
 * conffile_parse() fills a struct config (config.h) and touches nothing else: no sockets, no
 * exit(). It goes on after an error, so one run reports every error, each as
 * "FILE:LINE:COL: message".
 */
#ifndef LB_CONFFILE_H
#define LB_CONFFILE_H

#include <stddef.h>

#include "config.h"

#define CONFFILE_MAX_SIZE (1024 * 1024) /* a larger file is refused */
#define CONFFILE_MAX_ERRORS 100         /* reported at most; the rest are counted */

/* The errors of one parse: "FILE:LINE:COL: message" lines, each ending in '\n'. */
struct conffile_errors {
    unsigned count; /* every error found, reported or not */
    size_t len;
    char text[16384];
};

/* Parses text[0..len) (named file_name in messages) over cfg: the command line's defaults, or
 * what an earlier parse left. The first pool or top-level backend replaces the default backends.
 * Returns 0, or -EINVAL with every error in errs (cfg is then half-written: parse into a copy). */
int conffile_parse(struct config *cfg, const char *file_name, const char *text, size_t len,
                   struct conffile_errors *errs);

/* Reads the file at path and parses it as conffile_parse() does. A file that cannot be read is
 * one error, "FILE: cannot read: REASON". Returns 0 or -EINVAL. */
int conffile_load(struct config *cfg, const char *path, struct conffile_errors *errs);

#endif
