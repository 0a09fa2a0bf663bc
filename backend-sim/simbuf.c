/*
 * simbuf.c - growable byte buffer (see simbuf.h). Growth doubles, so appending n bytes costs
 * amortised O(n); the "failed" mark lets rendering code append freely and check once.
 */
#include "simbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void simbuf_init(struct simbuf *b, size_t limit)
{
    memset(b, 0, sizeof(*b));
    b->limit = limit ? limit : SIMBUF_DEFAULT_LIMIT;
}

void simbuf_free(struct simbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

void simbuf_reset(struct simbuf *b)
{
    b->len = 0;
    b->failed = false;
}

char *simbuf_reserve(struct simbuf *b, size_t n)
{
    if (b->failed)
        return NULL;
    if (n > b->limit || b->len > b->limit - n) {
        b->failed = true;
        return NULL;
    }
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n)
            cap *= 2;
        if (cap > b->limit)
            cap = b->limit;
        char *bigger = realloc(b->data, cap);
        if (bigger == NULL) {
            b->failed = true;
            return NULL;
        }
        b->data = bigger;
        b->cap = cap;
    }
    return b->data + b->len;
}

void simbuf_commit(struct simbuf *b, size_t n)
{
    b->len += n;
}

void simbuf_append(struct simbuf *b, const void *p, size_t n)
{
    char *dst = simbuf_reserve(b, n);
    if (dst == NULL || n == 0)
        return;
    memcpy(dst, p, n);
    b->len += n;
}

void simbuf_puts(struct simbuf *b, const char *s)
{
    simbuf_append(b, s, strlen(s));
}

void simbuf_putc(struct simbuf *b, char c)
{
    if (b->len < b->cap && !b->failed) {
        b->data[b->len++] = c;
        return;
    }
    simbuf_append(b, &c, 1);
}

size_t simbuf_fmt_u64(char *dst, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    return n;
}

void simbuf_u64(struct simbuf *b, uint64_t v)
{
    char *dst = simbuf_reserve(b, 20);
    if (dst != NULL)
        b->len += simbuf_fmt_u64(dst, v);
}

void simbuf_printf(struct simbuf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        simbuf_append(b, small, (size_t)n);
        return;
    }
    char *dst = simbuf_reserve(b, (size_t)n + 1);
    if (dst == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(dst, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void simbuf_consume(struct simbuf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}
