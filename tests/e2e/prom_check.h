/*
 * prom_check.h - a strict parser of the Prometheus text exposition format (version 0.0.4) for
 * the tests of lb's GET /metrics (tests/unit/test_metrics.c, tests/e2e/test_lb_metrics.c).
 *
 * Stricter than Prometheus itself, on purpose: every line must be one of
 *   # HELP name text          (text: escapes \\ and \n only)
 *   # TYPE name counter|gauge|histogram|summary|untyped
 *   name{label="value",...} value
 * with no empty line, no other comment, no timestamp, "\n" line ends (the last line too); every
 * family has HELP and TYPE once each, both before its first sample, and its samples together;
 * names and label names are valid (label names not starting with "__"), label values use the
 * escapes \\ \" \n only, a label is not repeated in a series and no series appears twice.
 * Histograms: each series has _bucket lines with strictly increasing le ending with +Inf,
 * cumulative (never decreasing) counts, +Inf equal to _count, and a _sum. Counters are finite and
 * not negative. Lb's own conventions are checked too: every name has the prefix given, and a
 * counter's name ends in "_total".
 *
 * prom_parse() keeps every sample (name, its labels sorted, value, its family's type), so a test
 * can look numbers up (prom_value) and compare two scrapes (prom_monotonic). Header-only, like
 * lb_fixture.h: it uses no cmocka, it returns errors as text.
 */
#ifndef LBLAB_PROM_CHECK_H
#define LBLAB_PROM_CHECK_H

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROM_NAME_MAX 128
#define PROM_LABELS_MAX 512
#define PROM_LABEL_COUNT 16

enum prom_type { PROM_UNTYPED, PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM, PROM_SUMMARY };

struct prom_sample {
    char name[PROM_NAME_MAX];     /* as written, e.g. "lblab_x_bucket" */
    char family[PROM_NAME_MAX];   /* the family it belongs to, e.g. "lblab_x" */
    char labels[PROM_LABELS_MAX]; /* canonical: name="value" pairs sorted by name, ',' between */
    enum prom_type type;
    double value;
};

struct prom_doc {
    struct prom_sample *v;
    size_t n, cap;
    char err[300];
};

/* One histogram series being checked (its labels without le). */
struct prom_hist_series {
    char labels[PROM_LABELS_MAX];
    double last_le, last_count, inf, count;
    bool any_bucket, have_inf, have_count, have_sum;
};

struct prom_parser {
    struct prom_doc *d;
    const char *prefix;
    int line;
    /* the family being read */
    char family[PROM_NAME_MAX];
    enum prom_type type;
    bool have_help, have_type, have_samples;
    /* families seen before, to refuse one coming back */
    char (*seen)[PROM_NAME_MAX];
    size_t nseen, seen_cap;
    struct prom_hist_series *hist;
    size_t nhist, hist_cap;
};

/* snprintf() for texts that may be cut (messages, keys too long to matter). */
static inline void prom_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static inline int prom_fail(struct prom_parser *p, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(p->d->err, sizeof(p->d->err), "line %d: ", p->line);
    va_start(ap, fmt);
    vsnprintf(p->d->err + n, sizeof(p->d->err) - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static inline bool prom_name_char(char c, bool first, bool label)
{
    if (isalpha((unsigned char)c) || c == '_')
        return true;
    if (!label && c == ':')
        return true;
    return !first && isdigit((unsigned char)c);
}

/* Reads a metric (or label, with label) name at *s into out; advances *s. */
static inline bool prom_read_name(const char **s, char *out, size_t len, bool label)
{
    size_t k = 0;
    const char *q = *s;
    if (!prom_name_char(*q, true, label))
        return false;
    while (prom_name_char(*q, k == 0, label)) {
        if (k + 1 >= len)
            return false;
        out[k++] = *q++;
    }
    out[k] = '\0';
    *s = q;
    return true;
}

/* A sample value: a float as Go's ParseFloat reads it, or NaN, +Inf, -Inf. */
static inline bool prom_read_value(const char *s, double *v)
{
    if (strcmp(s, "+Inf") == 0) {
        *v = INFINITY;
        return true;
    }
    if (strcmp(s, "-Inf") == 0) {
        *v = -INFINITY;
        return true;
    }
    if (strcmp(s, "NaN") == 0) {
        *v = NAN;
        return true;
    }
    if (*s == '\0' || strspn(s, "0123456789.eE+-") != strlen(s))
        return false;
    char *end;
    *v = strtod(s, &end);
    return *end == '\0';
}

static inline bool prom_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int prom_label_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks the histogram series of the family just finished. */
static inline int prom_hist_finish(struct prom_parser *p)
{
    for (size_t i = 0; i < p->nhist; i++) {
        struct prom_hist_series *h = &p->hist[i];
        if (!h->have_inf)
            return prom_fail(p, "histogram %s{%s} has no le=\"+Inf\" bucket", p->family, h->labels);
        if (!h->have_count || !h->have_sum)
            return prom_fail(p, "histogram %s{%s} lacks _count or _sum", p->family, h->labels);
        if (h->inf != h->count)
            return prom_fail(p, "histogram %s{%s}: +Inf bucket %.0f != _count %.0f", p->family,
                             h->labels, h->inf, h->count);
    }
    p->nhist = 0;
    return 0;
}

static inline struct prom_hist_series *prom_hist_of(struct prom_parser *p, const char *labels)
{
    for (size_t i = 0; i < p->nhist; i++)
        if (strcmp(p->hist[i].labels, labels) == 0)
            return &p->hist[i];
    if (p->nhist == p->hist_cap) {
        p->hist_cap = p->hist_cap ? 2 * p->hist_cap : 16;
        p->hist = realloc(p->hist, p->hist_cap * sizeof(*p->hist));
        if (p->hist == NULL)
            abort();
    }
    struct prom_hist_series *h = &p->hist[p->nhist++];
    memset(h, 0, sizeof(*h));
    snprintf(h->labels, sizeof(h->labels), "%s", labels);
    h->last_le = -INFINITY;
    return h;
}

/* Starts family name (a HELP or TYPE line for a family not being read). */
static inline int prom_new_family(struct prom_parser *p, const char *name)
{
    if (p->family[0] != '\0') {
        if (!p->have_samples)
            return prom_fail(p, "family %s has no sample", p->family);
        if (prom_hist_finish(p) != 0)
            return -1;
    }
    for (size_t i = 0; i < p->nseen; i++)
        if (strcmp(p->seen[i], name) == 0)
            return prom_fail(p, "family %s appears a second time", name);
    if (p->nseen == p->seen_cap) {
        p->seen_cap = p->seen_cap ? 2 * p->seen_cap : 64;
        p->seen = realloc(p->seen, p->seen_cap * sizeof(*p->seen));
        if (p->seen == NULL)
            abort();
    }
    snprintf(p->seen[p->nseen++], PROM_NAME_MAX, "%s", name);
    snprintf(p->family, sizeof(p->family), "%s", name);
    p->type = PROM_UNTYPED;
    p->have_help = p->have_type = p->have_samples = false;
    if (p->prefix != NULL && strncmp(name, p->prefix, strlen(p->prefix)) != 0)
        return prom_fail(p, "%s does not start with %s", name, p->prefix);
    return 0;
}

static inline int prom_comment(struct prom_parser *p, const char *line)
{
    bool help = strncmp(line, "# HELP ", 7) == 0, type = strncmp(line, "# TYPE ", 7) == 0;
    char name[PROM_NAME_MAX];
    const char *s = line + 7;
    if (!help && !type)
        return prom_fail(p, "a comment other than HELP or TYPE: %s", line);
    if (!prom_read_name(&s, name, sizeof(name), false) || *s != ' ')
        return prom_fail(p, "bad metric name in: %s", line);
    s++;
    if (strcmp(name, p->family) != 0 && prom_new_family(p, name) != 0)
        return -1;
    if (p->have_samples)
        return prom_fail(p, "%s of %s after its samples", help ? "HELP" : "TYPE", name);
    if (help) {
        if (p->have_help)
            return prom_fail(p, "a second HELP for %s", name);
        p->have_help = true;
        for (; *s != '\0'; s++)
            if (*s == '\\' && s[1] != '\\' && s[1] != 'n')
                return prom_fail(p, "bad escape in HELP text of %s", name);
            else if (*s == '\\')
                s++;
        return 0;
    }
    if (p->have_type)
        return prom_fail(p, "a second TYPE for %s", name);
    p->have_type = true;
    if (strcmp(s, "counter") == 0)
        p->type = PROM_COUNTER;
    else if (strcmp(s, "gauge") == 0)
        p->type = PROM_GAUGE;
    else if (strcmp(s, "histogram") == 0)
        p->type = PROM_HISTOGRAM;
    else if (strcmp(s, "summary") == 0)
        p->type = PROM_SUMMARY;
    else if (strcmp(s, "untyped") == 0)
        p->type = PROM_UNTYPED;
    else
        return prom_fail(p, "unknown type '%s' for %s", s, name);
    if (p->type == PROM_COUNTER && !prom_ends_with(name, "_total"))
        return prom_fail(p, "counter %s does not end in _total", name);
    return 0;
}

/* Reads {a="x",b="y"} at *s: sorted canonical text into out (le left out when drop_le, its
 * value into *le). */
static inline int prom_labels(struct prom_parser *p, const char **s, char *out, size_t len,
                              bool drop_le, char *le, size_t le_len)
{
    char names[PROM_LABEL_COUNT][PROM_NAME_MAX];
    char values[PROM_LABEL_COUNT][PROM_LABELS_MAX];
    char pairs[PROM_LABEL_COUNT][PROM_NAME_MAX + PROM_LABELS_MAX + 4];
    const char *sorted[PROM_LABEL_COUNT];
    size_t n = 0;
    const char *q = *s;

    out[0] = '\0';
    le[0] = '\0';
    if (*q != '{')
        return 0;
    q++;
    while (*q != '}') {
        if (n == PROM_LABEL_COUNT)
            return prom_fail(p, "too many labels");
        if (!prom_read_name(&q, names[n], sizeof(names[n]), true))
            return prom_fail(p, "bad label name at '%.20s'", q);
        if (strncmp(names[n], "__", 2) == 0)
            return prom_fail(p, "label name %s is reserved", names[n]);
        for (size_t i = 0; i < n; i++)
            if (strcmp(names[i], names[n]) == 0)
                return prom_fail(p, "label %s twice", names[n]);
        if (q[0] != '=' || q[1] != '"')
            return prom_fail(p, "label %s: expected =\"", names[n]);
        q += 2;
        size_t k = 0;
        while (*q != '"') {
            if (*q == '\0')
                return prom_fail(p, "unterminated label value");
            if (k + 3 >= sizeof(values[n]))
                return prom_fail(p, "label value too long");
            if (*q == '\\') {
                if (q[1] != '\\' && q[1] != '"' && q[1] != 'n')
                    return prom_fail(p, "bad escape \\%c in a label value", q[1]);
                values[n][k++] = *q++;
            }
            values[n][k++] = *q++;
        }
        values[n][k] = '\0';
        q++;
        n++;
        if (*q == ',')
            q++;
        else if (*q != '}')
            return prom_fail(p, "expected , or } after a label");
    }
    *s = q + 1;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], "le") == 0) {
            /* a copy cut at le_len (snprintf("%s") here fails gcc -O2's truncation check) */
            size_t vl = strlen(values[i]) < le_len ? strlen(values[i]) : le_len - 1;
            memcpy(le, values[i], vl);
            le[vl] = '\0';
            if (drop_le)
                continue;
        }
        prom_fmt(pairs[m], sizeof(pairs[m]), "%s=\"%s\"", names[i], values[i]);
        sorted[m] = pairs[m];
        m++;
    }
    qsort(sorted, m, sizeof(sorted[0]), prom_label_cmp);
    for (size_t i = 0; i < m; i++) {
        if (strlen(out) + strlen(sorted[i]) + 2 > len)
            return prom_fail(p, "labels too long");
        if (i > 0)
            strcat(out, ",");
        strcat(out, sorted[i]);
    }
    return 0;
}

static inline int prom_sample_line(struct prom_parser *p, const char *line)
{
    struct prom_sample smp;
    char le[64], all[PROM_LABELS_MAX];
    const char *s = line;
    memset(&smp, 0, sizeof(smp));
    if (!prom_read_name(&s, smp.name, sizeof(smp.name), false))
        return prom_fail(p, "bad metric name: %s", line);
    if (p->family[0] == '\0' || !p->have_help || !p->have_type)
        return prom_fail(p, "sample %s before its family's HELP and TYPE", smp.name);
    bool bucket = false, sum = false, count = false;
    if (strcmp(smp.name, p->family) != 0) {
        size_t fl = strlen(p->family);
        const char *suf = smp.name + fl;
        bool ours = strncmp(smp.name, p->family, fl) == 0;
        bucket = ours && strcmp(suf, "_bucket") == 0;
        sum = ours && strcmp(suf, "_sum") == 0;
        count = ours && strcmp(suf, "_count") == 0;
        if (!(p->type == PROM_HISTOGRAM && (bucket || sum || count)) &&
            !(p->type == PROM_SUMMARY && (sum || count)))
            return prom_fail(p, "sample %s is not of family %s", smp.name, p->family);
    } else if (p->type == PROM_HISTOGRAM) {
        return prom_fail(p, "histogram %s has a sample without _bucket, _sum or _count", p->family);
    }
    if (prom_labels(p, &s, smp.labels, sizeof(smp.labels), bucket, le, sizeof(le)) != 0)
        return -1;
    if (*s != ' ')
        return prom_fail(p, "expected one space before the value of %s", smp.name);
    s++;
    if (strchr(s, ' ') != NULL)
        return prom_fail(p, "a timestamp or trailing text after the value of %s", smp.name);
    if (!prom_read_value(s, &smp.value))
        return prom_fail(p, "bad value '%s' for %s", s, smp.name);
    snprintf(smp.family, sizeof(smp.family), "%s", p->family);
    smp.type = p->type;
    if (p->type == PROM_COUNTER && !(isfinite(smp.value) && smp.value >= 0))
        return prom_fail(p, "counter %s is %s", smp.name, s);
    /* that the series is new (its name and all its labels, le included) is checked at the end */
    if (bucket) {
        if (le[0] == '\0')
            return prom_fail(p, "bucket of %s without le", p->family);
        prom_fmt(all, sizeof(all), "%s%sle=\"%s\"", smp.labels, smp.labels[0] ? "," : "", le);
    } else {
        snprintf(all, sizeof(all), "%s", smp.labels);
    }
    if (p->type == PROM_HISTOGRAM) {
        struct prom_hist_series *h = prom_hist_of(p, smp.labels);
        if (bucket) {
            double lev;
            if (!prom_read_value(le, &lev) || isnan(lev))
                return prom_fail(p, "bad le \"%s\"", le);
            if (h->have_inf || lev <= h->last_le)
                return prom_fail(p, "le \"%s\" of %s{%s} not above the previous one", le, p->family,
                                 smp.labels);
            if (h->any_bucket && smp.value < h->last_count)
                return prom_fail(p,
                                 "bucket le=\"%s\" of %s{%s} below the previous (not "
                                 "cumulative)",
                                 le, p->family, smp.labels);
            h->any_bucket = true;
            h->last_le = lev;
            h->last_count = smp.value;
            if (isinf(lev)) {
                h->have_inf = true;
                h->inf = smp.value;
            }
        } else if (count) {
            h->have_count = true;
            h->count = smp.value;
        } else {
            h->have_sum = true;
        }
    }
    /* kept with le among its labels, so that two scrapes compare bucket by bucket */
    snprintf(smp.labels, sizeof(smp.labels), "%s", all);
    if (p->d->n == p->d->cap) {
        p->d->cap = p->d->cap ? 2 * p->d->cap : 256;
        p->d->v = realloc(p->d->v, p->d->cap * sizeof(*p->d->v));
        if (p->d->v == NULL)
            abort();
    }
    p->d->v[p->d->n++] = smp;
    p->have_samples = true;
    return 0;
}

static int prom_sample_cmp(const void *a, const void *b)
{
    const struct prom_sample *x = *(const struct prom_sample *const *)a;
    const struct prom_sample *y = *(const struct prom_sample *const *)b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->labels, y->labels);
}

/* No series twice: the samples sorted by name and labels, no two neighbours alike. */
static inline int prom_unique(struct prom_doc *d)
{
    const struct prom_sample **v = malloc((d->n ? d->n : 1) * sizeof(*v));
    int rc = 0;
    if (v == NULL)
        abort();
    for (size_t i = 0; i < d->n; i++)
        v[i] = &d->v[i];
    qsort(v, d->n, sizeof(*v), prom_sample_cmp);
    for (size_t i = 1; i < d->n && rc == 0; i++)
        if (prom_sample_cmp(&v[i - 1], &v[i]) == 0) {
            prom_fmt(d->err, sizeof(d->err), "series %s{%s} twice", v[i]->name, v[i]->labels);
            rc = -1;
        }
    free(v);
    return rc;
}

/* Parses text[0..len) into *d (zeroed by the caller), every name starting with prefix (NULL:
 * any). Returns 0, or -1 with the reason (and the line) in d->err. */
static inline int prom_parse(const char *text, size_t len, const char *prefix, struct prom_doc *d)
{
    struct prom_parser p;
    int rc = 0;
    memset(&p, 0, sizeof(p));
    p.d = d;
    p.prefix = prefix;
    d->err[0] = '\0';
    if (len == 0 || text[len - 1] != '\n') {
        snprintf(d->err, sizeof(d->err), "the text is empty or does not end with a newline");
        return -1;
    }
    size_t at = 0;
    while (at < len && rc == 0) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = (size_t)(nl - (text + at));
        char *line = malloc(n + 1);
        if (line == NULL)
            abort();
        memcpy(line, text + at, n);
        line[n] = '\0';
        p.line++;
        if (n == 0)
            rc = prom_fail(&p, "an empty line");
        else if (strlen(line) != n || strchr(line, '\r') != NULL)
            rc = prom_fail(&p, "a NUL or CR in the line");
        else if (line[0] == '#')
            rc = prom_comment(&p, line);
        else
            rc = prom_sample_line(&p, line);
        free(line);
        at += n + 1;
    }
    if (rc == 0 && p.family[0] != '\0') {
        if (!p.have_samples)
            rc = prom_fail(&p, "family %s has no sample", p.family);
        else
            rc = prom_hist_finish(&p);
    }
    free(p.seen);
    free(p.hist);
    if (rc == 0)
        rc = prom_unique(d);
    return rc;
}

static inline void prom_free(struct prom_doc *d)
{
    free(d->v);
    memset(d, 0, sizeof(*d));
}

/* The sample name{labels} (labels canonical: sorted, le last for buckets) or NULL. */
static inline const struct prom_sample *prom_find(const struct prom_doc *d, const char *name,
                                                  const char *labels)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].name, name) == 0 && strcmp(d->v[i].labels, labels) == 0)
            return &d->v[i];
    return NULL;
}

/* Its value, or NAN when there is no such sample. */
static inline double prom_value(const struct prom_doc *d, const char *name, const char *labels)
{
    const struct prom_sample *s = prom_find(d, name, labels);
    return s ? s->value : NAN;
}

/* True when every counter and every histogram sample of a is in b with a value at least as
 * large; else false with the first offender in err. */
static inline bool prom_monotonic(const struct prom_doc *a, const struct prom_doc *b, char *err,
                                  size_t len)
{
    for (size_t i = 0; i < a->n; i++) {
        const struct prom_sample *s = &a->v[i];
        if (s->type != PROM_COUNTER && s->type != PROM_HISTOGRAM)
            continue;
        const struct prom_sample *t = prom_find(b, s->name, s->labels);
        if (t == NULL) {
            prom_fmt(err, len, "%s{%s} is gone from the second scrape", s->name, s->labels);
            return false;
        }
        if (t->value < s->value) {
            prom_fmt(err, len, "%s{%s} went down from %.17g to %.17g", s->name, s->labels, s->value,
                     t->value);
            return false;
        }
    }
    return true;
}

#endif
