/*
 * conffile.c - parses lb's configuration file (see conffile.h and lb.conf(5)).
 *
 * Two passes over the text. The tokenizer cuts it into words, quoted strings, '{', '}', ';' and
 * line ends, each with its line and column. The parser reads statements (the words up to a ';',
 * a line end or a brace) and applies each: a pool block, a route, `default -> POOL`, or one of
 * the command line's options, handed to config_set() so that a directive and its flag can never
 * mean two things. An error is recorded with its position and the statement skipped, so the
 * parse goes on and one run reports every error. References to pools are resolved at the end:
 * a route may name a pool defined further down.
 */
#include "conffile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cliopt.h"
#include "policy.h"

enum tok_kind { TOK_WORD, TOK_STRING, TOK_BAD, TOK_LBRACE, TOK_RBRACE, TOK_SEMI, TOK_EOL, TOK_EOF };

struct token {
    enum tok_kind kind;
    unsigned line, col;
    const char *text; /* WORD and STRING: the text, unquoted and NUL-terminated */
};

#define MAX_WORDS 64 /* words in one statement */

/* A reference to a pool by name, resolved once every pool is known. */
struct pool_ref {
    unsigned line, col;
    char name[CONFIG_MAX_NAME_LEN + 1];
};

/* One error, kept until the end so the report is in the file's order. */
struct error {
    unsigned line, col; /* line 0: about the whole file */
    char msg[512];
};

struct parser {
    const char *file;
    struct error *errors; /* CONFFILE_MAX_ERRORS of them */
    struct config *cfg;
    struct conffile_errors *errs;
    struct token *toks;
    size_t num_toks, cap_toks, pos;
    char *arena; /* the words' texts */
    size_t arena_len;
    bool defaults_dropped;          /* the built-in pool "default" is gone */
    size_t first_pool;              /* pools before this one are not the file's */
    unsigned pool_line[CONFIG_MAX_POOLS], pool_col[CONFIG_MAX_POOLS]; /* where each is named */
    unsigned pool_backend_stmts[CONFIG_MAX_POOLS]; /* backend statements seen, good or bad */
    struct pool_ref route_refs[CONFIG_MAX_ROUTES];
    struct pool_ref default_ref;
    bool has_default;
};

static void error_at(struct parser *p, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends one line to errs (left out when there is no room for all of it). */
static void errs_append(struct conffile_errors *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void errs_append(struct conffile_errors *e, const char *fmt, ...)
{
    size_t room = sizeof(e->text) - e->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->text + e->len, room, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < room)
        e->len += (size_t)n;
    else
        e->text[e->len] = '\0';
}

/* Records an error at line:col (line 0: about the whole file). */
static void error_at(struct parser *p, unsigned line, unsigned col, const char *fmt, ...)
{
    unsigned k = p->errs->count++;
    if (k >= CONFFILE_MAX_ERRORS || p->errors == NULL)
        return;
    struct error *e = &p->errors[k];
    e->line = line;
    e->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
}

static int by_position(const void *a, const void *b)
{
    const struct error *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x < y ? -1 : x > y; /* stable: the order they were found in */
}

/* Writes the errors into errs->text, in the file's order ("FILE:LINE:COL: message"). */
static void report(struct parser *p)
{
    struct conffile_errors *e = p->errs;
    size_t n = e->count < CONFFILE_MAX_ERRORS ? e->count : CONFFILE_MAX_ERRORS;
    if (p->errors == NULL) {
        if (e->count > 0)
            errs_append(e, "%s: out of memory\n", p->file);
        return;
    }
    qsort(p->errors, n, sizeof(p->errors[0]), by_position);
    for (size_t i = 0; i < n; i++) {
        if (p->errors[i].line)
            errs_append(e, "%s:%u:%u: %s\n", p->file, p->errors[i].line, p->errors[i].col,
                        p->errors[i].msg);
        else
            errs_append(e, "%s: %s\n", p->file, p->errors[i].msg);
    }
    if (e->count > CONFFILE_MAX_ERRORS)
        errs_append(e, "%s: %u more errors not shown\n", p->file,
                    e->count - CONFFILE_MAX_ERRORS);
}

static void error_tok(struct parser *p, const struct token *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void error_tok(struct parser *p, const struct token *t, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    error_at(p, t->line, t->col, "%s", msg);
}

/* --- tokenizer ------------------------------------------------------------------------------- */

static int push(struct parser *p, enum tok_kind kind, unsigned line, unsigned col, const char *text)
{
    if (p->num_toks == p->cap_toks) {
        size_t cap = p->cap_toks ? p->cap_toks * 2 : 256;
        struct token *t = realloc(p->toks, cap * sizeof(*t));
        if (t == NULL)
            return -ENOMEM;
        p->toks = t;
        p->cap_toks = cap;
    }
    p->toks[p->num_toks++] = (struct token){.kind = kind, .line = line, .col = col, .text = text};
    return 0;
}

static bool word_char(char c)
{
    return c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '{' && c != '}' && c != ';' &&
           c != '"' && (unsigned char)c >= 0x20 && c != 0x7f;
}

static int tokenize(struct parser *p, const char *text, size_t len)
{
    unsigned line = 1;
    size_t line_start = 0, i = 0;
    char *out = p->arena;

    while (i < len) {
        char c = text[i];
        unsigned col = (unsigned)(i - line_start + 1);
        int rc = 0;
        if (c == '\n') {
            rc = push(p, TOK_EOL, line, col, NULL);
            line++;
            line_start = ++i;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            i++;
        } else if (c == '#') { /* a comment, to the end of the line */
            while (i < len && text[i] != '\n')
                i++;
        } else if (c == '{' || c == '}' || c == ';') {
            rc = push(p, c == '{' ? TOK_LBRACE : c == '}' ? TOK_RBRACE : TOK_SEMI, line, col, NULL);
            i++;
        } else if (c == '"') {
            char *start = out;
            bool closed = false, bad = false;
            for (i++; i < len && text[i] != '\n'; i++) {
                if (text[i] == '"') {
                    closed = true;
                    i++;
                    break;
                }
                if (text[i] == '\\' && i + 1 < len && (text[i + 1] == '"' || text[i + 1] == '\\'))
                    i++;
                else if ((unsigned char)text[i] < 0x20 && text[i] != '\t')
                    bad = true;
                *out++ = text[i];
            }
            *out++ = '\0';
            if (!closed) {
                error_at(p, line, col, "unterminated quote (a string ends on its line with '\"')");
                rc = push(p, TOK_BAD, line, col, NULL);
            } else if (bad) {
                error_at(p, line, col, "control character in a quoted string");
                rc = push(p, TOK_BAD, line, col, NULL);
            } else {
                rc = push(p, TOK_STRING, line, col, start);
            }
        } else if (!word_char(c)) {
            error_at(p, line, col, "unexpected control character 0x%02x",
                     (unsigned)(unsigned char)c);
            rc = push(p, TOK_BAD, line, col, NULL);
            i++;
        } else {
            char *start = out;
            while (i < len && word_char(text[i]))
                *out++ = text[i++];
            *out++ = '\0';
            rc = push(p, TOK_WORD, line, col, start);
        }
        if (rc != 0)
            return rc;
    }
    return push(p, TOK_EOF, line, (unsigned)(i - line_start + 1), NULL);
}

/* --- statements ------------------------------------------------------------------------------ */

struct stmt {
    const struct token *words[MAX_WORDS];
    size_t n;
    bool bad;                  /* a word could not be read (already reported) */
    bool too_long;             /* more than MAX_WORDS words */
    const struct token *end;   /* what ended it: ';', a line end, a brace, or the end */
};

/* Collects the words from p->pos up to (not including) a ';', line end, brace or the end. */
static void read_stmt(struct parser *p, struct stmt *s)
{
    s->n = 0;
    s->bad = s->too_long = false;
    for (;;) {
        const struct token *t = &p->toks[p->pos];
        if (t->kind != TOK_WORD && t->kind != TOK_STRING && t->kind != TOK_BAD) {
            s->end = t;
            return;
        }
        p->pos++;
        if (t->kind == TOK_BAD)
            s->bad = true;
        else if (s->n == MAX_WORDS)
            s->too_long = true;
        else
            s->words[s->n++] = t;
    }
}

static bool is_word(const struct token *t, const char *text)
{
    return t->kind == TOK_WORD && strcmp(t->text, text) == 0;
}

/* The built-in backends go when the file names its own. */
static void drop_defaults(struct parser *p)
{
    if (p->defaults_dropped)
        return;
    p->defaults_dropped = true;
    p->cfg->num_backends = 0;
    p->cfg->num_pools = 0;
    p->first_pool = 0;
}

/* Adds the backend of a "backend HOST:PORT [OPTION]..." statement to pool (an index that may be
 * CONFIG_MAX_POOLS for a pool already refused: the backend is checked, then dropped). */
static void backend_stmt(struct parser *p, const struct stmt *s, unsigned pool)
{
    char value[2048];
    size_t len = 0;

    if (pool < CONFIG_MAX_POOLS)
        p->pool_backend_stmts[pool]++;
    if (s->n < 2) {
        error_tok(p, s->words[0], "backend needs an address: backend HOST:PORT [name=NAME] "
                                  "[weight=N] [backup]");
        return;
    }
    for (size_t i = 1; i < s->n; i++) {
        int n = snprintf(value + len, sizeof(value) - len, "%s%s", i > 1 ? "," : "",
                         s->words[i]->text);
        if (n < 0 || (size_t)n >= sizeof(value) - len) {
            error_tok(p, s->words[i], "backend: too long");
            return;
        }
        len += (size_t)n;
    }
    char err[512];
    size_t before = p->cfg->num_backends;
    if (config_set(p->cfg, "backend", "backend", value, pool, err, sizeof(err)) != 0) {
        error_tok(p, s->words[1], "%s", err);
        return;
    }
    if (pool >= CONFIG_MAX_POOLS)
        p->cfg->num_backends = before;
}

/* A new pool named by t at t's line. Returns its index, or CONFIG_MAX_POOLS when refused. */
static unsigned add_pool(struct parser *p, const struct token *t)
{
    struct config *cfg = p->cfg;
    const char *name = t->text;
    int dup = config_find_pool(cfg, name);

    if (!config_valid_name(name, strlen(name)) || strlen(name) > CONFIG_MAX_POOL_NAME_LEN) {
        error_tok(p, t, "invalid pool name '%.64s': expected 1-%d letters, digits, '.', '_' or "
                        "'-'",
                  name, CONFIG_MAX_POOL_NAME_LEN);
        return CONFIG_MAX_POOLS;
    }
    if (dup >= 0) {
        if ((size_t)dup >= p->first_pool && p->pool_line[dup] != 0)
            error_tok(p, t, "duplicate pool '%s' (first defined at line %u)", name,
                      p->pool_line[dup]);
        else
            error_tok(p, t, "duplicate pool '%s'", name);
        return CONFIG_MAX_POOLS;
    }
    if (cfg->num_pools == CONFIG_MAX_POOLS) {
        error_tok(p, t, "too many pools (at most %d)", CONFIG_MAX_POOLS);
        return CONFIG_MAX_POOLS;
    }
    struct config_pool *pool = &cfg->pools[cfg->num_pools];
    memset(pool, 0, sizeof(*pool));
    snprintf(pool->name, sizeof(pool->name), "%s", name);
    p->pool_line[cfg->num_pools] = t->line;
    p->pool_col[cfg->num_pools] = t->col;
    return (unsigned)cfg->num_pools++;
}

/* One statement inside pool index's block. */
static void pool_stmt(struct parser *p, const struct stmt *s, unsigned index, const char *pool)
{
    const struct token *d = s->words[0];
    struct config_pool *cp = index < CONFIG_MAX_POOLS ? &p->cfg->pools[index] : NULL;
    char err[512];

    if (is_word(d, "backend")) {
        backend_stmt(p, s, index);
        return;
    }
    bool policy = is_word(d, "policy");
    if (!policy && !is_word(d, "health") && !is_word(d, "health-path")) {
        error_tok(p, d, "unknown directive '%.64s' in pool '%s' (expected backend, policy or "
                        "health)",
                  d->text, pool);
        return;
    }
    if (s->n != 2) {
        error_tok(p, d, "%s takes one value (%s)", d->text,
                  policy ? "a policy's name" : "a path starting with '/'");
        return;
    }
    const char *v = s->words[1]->text;
    if (policy) {
        if (policy_find(v) == NULL) {
            cli_invalid(err, sizeof(err), "policy", v, "one of the policies %s", policy_names());
            error_tok(p, s->words[1], "%s", err);
        } else if (cp != NULL) {
            snprintf(cp->policy, sizeof(cp->policy), "%s", v);
        }
    } else {
        if (!config_valid_health_path(v)) {
            cli_invalid(err, sizeof(err), d->text, v,
                        "a path starting with '/' (1-%d visible ASCII characters, no spaces)",
                        CONFIG_MAX_HEALTH_PATH);
            error_tok(p, s->words[1], "%s", err);
        } else if (cp != NULL) {
            snprintf(cp->health_path, sizeof(cp->health_path), "%s", v);
        }
    }
}

/* Skips to the end of a block whose '{' was just read (nested blocks included). */
static void skip_block(struct parser *p)
{
    for (unsigned depth = 1; depth > 0 && p->toks[p->pos].kind != TOK_EOF; p->pos++) {
        if (p->toks[p->pos].kind == TOK_LBRACE)
            depth++;
        else if (p->toks[p->pos].kind == TOK_RBRACE)
            depth--;
    }
}

/* Skips to the end of the line. */
static void skip_line(struct parser *p)
{
    while (p->toks[p->pos].kind != TOK_EOL && p->toks[p->pos].kind != TOK_EOF)
        p->pos++;
}

/* "pool NAME {" was read (s, its '{' consumed): the block up to its '}'. */
static void pool_block(struct parser *p, const struct stmt *s, const struct token *open)
{
    unsigned index = CONFIG_MAX_POOLS;
    const char *name = s->n >= 2 ? s->words[1]->text : "?";

    drop_defaults(p);
    if (s->n != 2)
        error_tok(p, s->words[0], "expected 'pool NAME {'");
    else
        index = add_pool(p, s->words[1]);
    for (;;) {
        const struct token *t = &p->toks[p->pos];
        if (t->kind == TOK_EOF) {
            error_tok(p, open, "unterminated '{': pool '%.64s' has no closing '}'", name);
            return;
        }
        if (t->kind == TOK_EOL || t->kind == TOK_SEMI) {
            p->pos++;
            continue;
        }
        if (t->kind == TOK_RBRACE) {
            p->pos++;
            t = &p->toks[p->pos];
            if (t->kind != TOK_EOL && t->kind != TOK_SEMI && t->kind != TOK_EOF) {
                error_tok(p, t, "expected the end of the line after pool '%.64s''s '}'", name);
                skip_line(p);
            }
            return;
        }
        if (t->kind == TOK_LBRACE) {
            error_tok(p, t, "unexpected '{' in pool '%.64s'", name);
            p->pos++;
            skip_block(p);
            continue;
        }
        struct stmt inner;
        read_stmt(p, &inner);
        if (inner.too_long)
            error_tok(p, inner.words[0], "too many words (at most %d)", MAX_WORDS);
        else if (!inner.bad && inner.n > 0)
            pool_stmt(p, &inner, index, name);
    }
}

/* Remembers that the pool named by t is referred to (resolved by check_refs()). */
static void ref_pool(struct pool_ref *ref, const struct token *t)
{
    ref->line = t->line;
    ref->col = t->col;
    snprintf(ref->name, sizeof(ref->name), "%s", t->text);
}

static bool valid_host_pattern(const char *v)
{
    const char *h = strncmp(v, "*.", 2) == 0 ? v + 2 : v;
    size_t n = strlen(h);
    return n >= 1 && n <= CONFIG_MAX_ROUTE_VALUE &&
           h[strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")] ==
               '\0';
}

static bool valid_header_name(const char *v, size_t n)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    if (n == 0 || n > CONFIG_MAX_NAME_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strchr(tchar, v[i]) == NULL || v[i] == '\0')
            return false;
    return true;
}

static bool valid_route_value(const char *v, bool spaces_ok)
{
    size_t n = strlen(v);
    if (n == 0 || n > CONFIG_MAX_ROUTE_VALUE)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f || (!spaces_ok && v[i] == ' '))
            return false;
    return true;
}

/* route path-prefix PATH -> POOL | route host HOST -> POOL | route header NAME: VALUE -> POOL */
static void route_stmt(struct parser *p, const struct stmt *s)
{
    struct config *cfg = p->cfg;
    struct config_route r = {0};
    const struct token *kind = s->n >= 2 ? s->words[1] : NULL;
    const char *shape = "route path-prefix PATH -> POOL, route host HOST -> POOL or route "
                        "header NAME: VALUE -> POOL";

    if (kind == NULL) {
        error_tok(p, s->words[0], "expected %s", shape);
        return;
    }
    /* the words between the kind and "->" */
    size_t arrow = 0;
    for (size_t i = 2; i < s->n && arrow == 0; i++)
        if (is_word(s->words[i], "->"))
            arrow = i;
    if (is_word(kind, "path-prefix") || is_word(kind, "host")) {
        bool path = is_word(kind, "path-prefix");
        r.kind = path ? CONFIG_ROUTE_PATH_PREFIX : CONFIG_ROUTE_HOST;
        if (arrow != 3 || s->n != 5) {
            error_tok(p, kind, "expected 'route %s %s -> POOL'", kind->text,
                      path ? "PATH" : "HOST");
            return;
        }
        const struct token *v = s->words[2];
        if (path ? (v->text[0] != '/' || !valid_route_value(v->text, false))
                 : !valid_host_pattern(v->text)) {
            error_tok(p, v, "invalid %s '%.64s': expected %s", kind->text, v->text,
                      path ? "a path starting with '/' (no spaces, at most 255 bytes)"
                           : "a host name (letters, digits, '.', '-'; '*.' first matches every "
                             "subdomain)");
            return;
        }
        snprintf(r.value, sizeof(r.value), "%s", v->text);
    } else if (is_word(kind, "header")) {
        r.kind = CONFIG_ROUTE_HEADER;
        const struct token *name = s->n > 2 ? s->words[2] : kind;
        const char *colon = s->n > 2 ? strchr(name->text, ':') : NULL;
        const char *value = NULL;
        const struct token *vt = name;
        if (colon != NULL && colon[1] == '\0' && arrow == 4) { /* NAME: VALUE */
            vt = s->words[3];
            value = vt->text;
        } else if (colon != NULL && colon[1] != '\0' && arrow == 3) { /* NAME:VALUE */
            value = colon + 1;
        }
        if (value == NULL || s->n != arrow + 2) {
            error_tok(p, kind, "expected 'route header NAME: VALUE -> POOL'");
            return;
        }
        size_t nlen = (size_t)(colon - name->text);
        if (!valid_header_name(name->text, nlen)) {
            error_tok(p, name, "invalid header name '%.*s': expected 1-%d letters, digits or "
                               "!#$%%&'*+-.^_`|~",
                      (int)(nlen > 64 ? 64 : nlen), name->text, CONFIG_MAX_NAME_LEN);
            return;
        }
        if (!valid_route_value(value, true)) {
            error_tok(p, vt, "invalid header value '%.64s': expected 1-%d visible characters",
                      value, CONFIG_MAX_ROUTE_VALUE);
            return;
        }
        memcpy(r.header, name->text, nlen);
        r.header[nlen] = '\0';
        snprintf(r.value, sizeof(r.value), "%s", value);
    } else {
        error_tok(p, kind, "unknown route kind '%.64s' (expected path-prefix, host or header)",
                  kind->text);
        return;
    }
    if (cfg->num_routes == CONFIG_MAX_ROUTES) {
        error_tok(p, s->words[0], "too many routes (at most %d)", CONFIG_MAX_ROUTES);
        return;
    }
    ref_pool(&p->route_refs[cfg->num_routes], s->words[s->n - 1]);
    cfg->routes[cfg->num_routes++] = r;
}

/* One of the command line's options: NAME [VALUE]. */
static void option_stmt(struct parser *p, const struct stmt *s)
{
    const struct token *d = s->words[0];
    int arity = d->kind == TOK_WORD ? config_option_arity(d->text) : -1;
    char err[512];

    if (arity < 0) {
        error_tok(p, d, "unknown directive '%.64s'", d->text);
        return;
    }
    if (arity == 1 && s->n != 2) {
        error_tok(p, s->n < 2 ? d : s->words[2], "%s takes one value", d->text);
        return;
    }
    if (arity == 0 && s->n != 1) {
        error_tok(p, s->words[1], "%s takes no value", d->text);
        return;
    }
    int rc = config_set(p->cfg, d->text, d->text, arity ? s->words[1]->text : NULL, 0, err,
                        sizeof(err));
    if (rc != 0)
        error_tok(p, arity ? s->words[1] : d, "%s", err);
}

/* One top-level statement (s, ended by s->end, which is not consumed unless a '{'). */
static void top_stmt(struct parser *p, const struct stmt *s)
{
    if (s->n == 0) { /* only words that could not be read (already reported) */
        if (s->end->kind == TOK_LBRACE) {
            p->pos++;
            skip_block(p);
        }
        return;
    }
    const struct token *d = s->words[0];
    if (s->end->kind == TOK_LBRACE) {
        p->pos++;
        if (is_word(d, "pool")) {
            pool_block(p, s, s->end);
        } else {
            error_tok(p, s->end, "'{' opens only a pool's block: pool NAME { ... }");
            skip_block(p);
        }
        return;
    }
    if (s->bad)
        return;
    if (s->too_long) {
        error_tok(p, d, "too many words (at most %d)", MAX_WORDS);
        return;
    }
    if (is_word(d, "pool")) {
        error_tok(p, d, "expected 'pool NAME { ... }'");
    } else if (is_word(d, "route")) {
        route_stmt(p, s);
    } else if (is_word(d, "default")) {
        if (s->n != 3 || !is_word(s->words[1], "->")) {
            error_tok(p, d, "expected 'default -> POOL'");
            return;
        }
        ref_pool(&p->default_ref, s->words[2]);
        p->has_default = true;
    } else if (is_word(d, "backend")) {
        drop_defaults(p);
        int pool = config_find_pool(p->cfg, CONFIG_DEFAULT_POOL);
        if (pool < 0) {
            struct token t = *d;
            t.text = CONFIG_DEFAULT_POOL;
            pool = (int)add_pool(p, &t);
        }
        backend_stmt(p, s, (unsigned)pool);
    } else {
        option_stmt(p, s);
    }
}

/* The pools referred to exist; each of the file's pools has backends. */
static void check_refs(struct parser *p)
{
    struct config *cfg = p->cfg;
    for (size_t i = 0; i < cfg->num_routes; i++) {
        int pool = config_find_pool(cfg, p->route_refs[i].name);
        if (pool < 0)
            error_at(p, p->route_refs[i].line, p->route_refs[i].col,
                     "route to a missing pool '%s'", p->route_refs[i].name);
        else
            cfg->routes[i].pool = (unsigned)pool;
    }
    if (p->has_default) {
        if (config_find_pool(cfg, p->default_ref.name) < 0)
            error_at(p, p->default_ref.line, p->default_ref.col,
                     "default to a missing pool '%s'", p->default_ref.name);
        else
            snprintf(cfg->default_pool, sizeof(cfg->default_pool), "%s", p->default_ref.name);
    }
    for (size_t k = p->first_pool; k < cfg->num_pools; k++) {
        if (p->pool_backend_stmts[k] == 0)
            error_at(p, p->pool_line[k], p->pool_col[k], "pool '%s' has no backends", cfg->pools[k].name);
    }
}

int conffile_parse(struct config *cfg, const char *file_name, const char *text, size_t len,
                   struct conffile_errors *errs)
{
    struct parser p = {.file = file_name, .cfg = cfg, .errs = errs, .first_pool = cfg->num_pools};
    int rc = 0;

    memset(errs, 0, sizeof(*errs));
    p.errors = calloc(CONFFILE_MAX_ERRORS, sizeof(*p.errors));
    if (len > CONFFILE_MAX_SIZE) {
        error_at(&p, 0, 0, "too large (%zu bytes; at most %d)", len, CONFFILE_MAX_SIZE);
        rc = -EINVAL;
        goto out;
    }
    p.arena = malloc(2 * len + 2);
    if (p.arena == NULL || tokenize(&p, text, len) != 0) {
        error_at(&p, 0, 0, "out of memory");
        rc = -EINVAL;
        goto out;
    }
    while (p.toks[p.pos].kind != TOK_EOF) {
        const struct token *t = &p.toks[p.pos];
        if (t->kind == TOK_EOL || t->kind == TOK_SEMI) {
            p.pos++;
            continue;
        }
        if (t->kind == TOK_RBRACE) {
            error_tok(&p, t, "'}' without a pool block to close");
            p.pos++;
            continue;
        }
        if (t->kind == TOK_LBRACE) {
            error_tok(&p, t, "'{' opens only a pool's block: pool NAME { ... }");
            p.pos++;
            skip_block(&p);
            continue;
        }
        struct stmt s;
        read_stmt(&p, &s);
        top_stmt(&p, &s);
    }
    check_refs(&p);
    if (errs->count == 0) {
        char err[512];
        if (config_validate(cfg, err, sizeof(err)) != 0)
            error_at(&p, 0, 0, "%s", err);
    }
    rc = errs->count ? -EINVAL : 0;
out:
    report(&p);
    free(p.errors);
    free(p.toks);
    free(p.arena);
    return rc;
}

int conffile_load(struct config *cfg, const char *path, struct conffile_errors *errs)
{
    char *text = NULL;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;

    memset(errs, 0, sizeof(*errs));
    if (fd < 0 || fstat(fd, &st) != 0) {
        errs_append(errs, "%s: cannot read: %s\n", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > CONFFILE_MAX_SIZE) {
        errs_append(errs, "%s: cannot read: %s\n", path,
                    S_ISREG(st.st_mode) ? "larger than 1 MiB" : "not a regular file");
        goto fail;
    }
    text = malloc((size_t)st.st_size + 1);
    if (text == NULL) {
        errs_append(errs, "%s: cannot read: out of memory\n", path);
        goto fail;
    }
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, text + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            errs_append(errs, "%s: cannot read: %s\n", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break; /* the file shrank meanwhile: parse what there is */
        len += (size_t)n;
    }
    close(fd);
    int rc = conffile_parse(cfg, path, text, len, errs);
    free(text);
    return rc;
fail:
    errs->count = 1;
    if (fd >= 0)
        close(fd);
    free(text);
    return -EINVAL;
}
