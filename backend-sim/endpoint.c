/*
 * endpoint.c - routing of request paths to backend-sim's endpoints (see endpoint.h). A fixed
 * table of exact paths and prefixes, checked in order: a linear scan of a dozen short strings
 * costs less than hashing and reads like the list in the man page.
 */
#include "endpoint.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cliopt.h"

bool endpoint_query_param(const char *q, size_t len, const char *name, const char **value,
                          size_t *value_len)
{
    size_t name_len = strlen(name), i = 0;

    while (i <= len && q != NULL) {
        size_t start = i;
        while (i < len && q[i] != '&')
            i++;
        /* q[start..i) is one "key=value" */
        const char *eq = memchr(q + start, '=', i - start);
        size_t key_len = eq ? (size_t)(eq - (q + start)) : i - start;
        if (key_len == name_len && memcmp(q + start, name, name_len) == 0) {
            *value = eq ? eq + 1 : q + i;
            *value_len = eq ? (size_t)((q + i) - (eq + 1)) : 0;
            return true;
        }
        i++;
    }
    return false;
}

/* A probability "0", "1", "0.25", ".5" (no exponent, no sign). */
static int parse_probability(const char *s, size_t len, double *out)
{
    char tmp[32];
    char *end = NULL;
    bool dot = false, digit = false;

    if (len == 0 || len >= sizeof(tmp))
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.' && !dot)
            dot = true;
        else if (s[i] >= '0' && s[i] <= '9')
            digit = true;
        else
            return -EINVAL;
    }
    if (!digit)
        return -EINVAL;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    double v = strtod(tmp, &end);
    if (end != tmp + len || v < 0.0 || v > 1.0)
        return -ERANGE;
    *out = v;
    return 0;
}

static bool path_is(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(p, lit, l) == 0;
}

/* If p[0..n) starts with prefix, points *rest at what follows. */
static bool path_has_prefix(const char *p, size_t n, const char *prefix, const char **rest,
                            size_t *rest_len)
{
    size_t l = strlen(prefix);
    if (n < l || memcmp(p, prefix, l) != 0)
        return false;
    *rest = p + l;
    *rest_len = n - l;
    return true;
}

/* How much of a user's argument to quote in a message. */
#define SHOWN(len) ((len) > 40 ? 40 : (int)(len))

static enum endpoint_kind bad(struct endpoint_route *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum endpoint_kind bad(struct endpoint_route *r, const char *fmt, ...)
{
    va_list ap;
    r->kind = ENDPOINT_BAD;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
    return ENDPOINT_BAD;
}

/* A number argument s[0..n) of at most max: what names the argument in messages ("/bytes/N: ",
 * "/chunked/N: gap="), noun what it should be ("a byte count"), unit its unit ("bytes"). */
static int num_arg(const char *s, size_t n, uint64_t max, const char *what, const char *noun,
                   const char *unit, struct endpoint_route *r, uint64_t *out)
{
    int rc = cli_parse_digits(s, n, max, out);
    if (rc == -EINVAL)
        bad(r, "%s'%.*s' is not %s", what, SHOWN(n), s, noun);
    else if (rc == -ERANGE)
        bad(r, "%s%.*s %s is beyond the cap of %llu %s", what, SHOWN(n), s, unit,
            (unsigned long long)max, unit);
    return rc;
}

/* The N of /bytes/N, /chunked/N, /close/N, into r->n. */
static int size_arg(const char *s, size_t n, const struct endpoint_caps *caps,
                    struct endpoint_route *r, const char *what)
{
    return num_arg(s, n, caps->max_size, what, "a byte count", "bytes", r, &r->n);
}

/* The MS of /delay/MS and of ?gap=MS, into r->ms. */
static int ms_arg(const char *s, size_t n, const struct endpoint_caps *caps,
                  struct endpoint_route *r, const char *what)
{
    uint64_t v = 0;
    int rc = num_arg(s, n, caps->max_delay_ms, what, "a number of milliseconds", "ms", r, &v);
    if (rc == 0)
        r->ms = (uint32_t)v;
    return rc;
}

/* The endpoints that take no argument in their path, matched exactly. */
static const struct {
    const char *path;
    enum endpoint_kind kind;
} plain_paths[] = {
    {"/", ENDPOINT_PAGE},           {"/whoami", ENDPOINT_WHOAMI},
    {"/health", ENDPOINT_HEALTH},   {"/admin/health", ENDPOINT_ADMIN_HEALTH},
    {"/headers", ENDPOINT_HEADERS}, {"/echo", ENDPOINT_ECHO},
    {"/hang", ENDPOINT_HANG},       {"/reset", ENDPOINT_RESET},
    {"/login", ENDPOINT_LOGIN},     {"/upgrade", ENDPOINT_UPGRADE},
};

enum endpoint_kind endpoint_route(const char *path, size_t len, const struct endpoint_caps *caps,
                                  struct endpoint_route *r)
{
    const char *q = len > 0 ? memchr(path, '?', len) : NULL;
    size_t plen = q ? (size_t)(q - path) : len;
    size_t qlen = q ? len - plen - 1 : 0;
    const char *rest, *v;
    size_t rest_len, v_len;
    uint64_t u = 0;
    int rc;

    memset(r, 0, sizeof(*r));
    r->path = path;
    r->path_len = plen;
    if (q != NULL)
        q++;

    for (size_t i = 0; i < sizeof(plain_paths) / sizeof(plain_paths[0]); i++)
        if (path_is(path, plen, plain_paths[i].path))
            return r->kind = plain_paths[i].kind;
    if (path_is(path, plen, "/close")) {
        r->n = ENDPOINT_CLOSE_DEFAULT_N;
        return r->kind = ENDPOINT_CLOSE;
    }
    if (path_has_prefix(path, plen, "/close/", &rest, &rest_len)) {
        if (size_arg(rest, rest_len, caps, r, "/close/N: ") < 0)
            return ENDPOINT_BAD;
        return r->kind = ENDPOINT_CLOSE;
    }
    if (path_is(path, plen, "/flaky")) {
        r->p = ENDPOINT_FLAKY_DEFAULT_P;
        if (endpoint_query_param(q, qlen, "p", &v, &v_len) &&
            parse_probability(v, v_len, &r->p) != 0)
            return bad(r, "/flaky: p='%.*s' is not a probability between 0 and 1", SHOWN(v_len), v);
        return r->kind = ENDPOINT_FLAKY;
    }
    if (path_has_prefix(path, plen, "/delay/", &rest, &rest_len)) {
        if (ms_arg(rest, rest_len, caps, r, "/delay/MS: ") < 0)
            return ENDPOINT_BAD;
        return r->kind = ENDPOINT_DELAY;
    }
    if (path_has_prefix(path, plen, "/status/", &rest, &rest_len)) {
        rc = cli_parse_digits(rest, rest_len, 999, &u);
        if (rc != 0 || u < 100 || u > 599)
            return bad(r, "/status/CODE: '%.*s' is not a status code 100-599", SHOWN(rest_len),
                       rest);
        if (u == 101)
            return bad(r, "/status/CODE: 101 needs a protocol upgrade; use /upgrade");
        r->status = (int)u;
        return r->kind = ENDPOINT_STATUS;
    }
    if (path_has_prefix(path, plen, "/bytes/", &rest, &rest_len)) {
        if (size_arg(rest, rest_len, caps, r, "/bytes/N: ") < 0)
            return ENDPOINT_BAD;
        return r->kind = ENDPOINT_BYTES;
    }
    if (path_has_prefix(path, plen, "/chunked/", &rest, &rest_len)) {
        uint64_t chunks;
        if (size_arg(rest, rest_len, caps, r, "/chunked/N: ") < 0)
            return ENDPOINT_BAD;
        r->chunk = ENDPOINT_CHUNK_DEFAULT;
        if (endpoint_query_param(q, qlen, "chunk", &v, &v_len)) {
            rc = cli_parse_digits(v, v_len, ENDPOINT_CHUNK_MAX, &u);
            if (rc != 0 || u == 0)
                return bad(r, "/chunked/N: chunk='%.*s' is not a size 1-%u", SHOWN(v_len), v,
                           ENDPOINT_CHUNK_MAX);
            r->chunk = (uint32_t)u;
        }
        if (endpoint_query_param(q, qlen, "gap", &v, &v_len) &&
            ms_arg(v, v_len, caps, r, "/chunked/N: gap=") < 0)
            return ENDPOINT_BAD;
        chunks = (r->n + r->chunk - 1) / r->chunk;
        if (chunks > 1 && r->ms > 0 && (chunks - 1) > caps->max_delay_ms / r->ms)
            return bad(r, "/chunked/N: %llu chunks %u ms apart take longer than the cap of %u ms",
                       (unsigned long long)chunks, r->ms, caps->max_delay_ms);
        return r->kind = ENDPOINT_CHUNKED;
    }
    return r->kind = ENDPOINT_FILE;
}

const char *endpoint_name(enum endpoint_kind kind)
{
    static const char *const names[] = {
        [ENDPOINT_BAD] = "bad",
        [ENDPOINT_PAGE] = "page",
        [ENDPOINT_WHOAMI] = "whoami",
        [ENDPOINT_HEALTH] = "health",
        [ENDPOINT_ADMIN_HEALTH] = "admin-health",
        [ENDPOINT_HEADERS] = "headers",
        [ENDPOINT_ECHO] = "echo",
        [ENDPOINT_DELAY] = "delay",
        [ENDPOINT_STATUS] = "status",
        [ENDPOINT_FLAKY] = "flaky",
        [ENDPOINT_BYTES] = "bytes",
        [ENDPOINT_CHUNKED] = "chunked",
        [ENDPOINT_HANG] = "hang",
        [ENDPOINT_RESET] = "reset",
        [ENDPOINT_CLOSE] = "close",
        [ENDPOINT_LOGIN] = "login",
        [ENDPOINT_UPGRADE] = "upgrade",
        [ENDPOINT_FILE] = "file",
    };
    return (size_t)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}
