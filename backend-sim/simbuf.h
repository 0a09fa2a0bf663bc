/*
 * simbuf.h - a growable byte buffer for backend-sim: response heads and bodies are rendered into
 * one, then written to the socket. A buffer keeps its memory between requests, so the steady state
 * of a keep-alive connection allocates nothing.
 *
 * Appends never fail halfway: on allocation failure (or beyond the buffer's limit) the buffer is
 * marked failed, later appends are ignored, and the caller checks simbuf_failed() once at the end.
 */
#ifndef LBLAB_SIMBUF_H
#define LBLAB_SIMBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct simbuf {
    char *data;
    size_t len;   /* bytes held: data[0..len) */
    size_t cap;   /* bytes allocated */
    size_t limit; /* the most it may grow to (0: SIMBUF_DEFAULT_LIMIT) */
    bool failed;  /* an append did not fit or memory ran out */
};

#define SIMBUF_DEFAULT_LIMIT (64u << 20)

void simbuf_init(struct simbuf *b, size_t limit);
void simbuf_free(struct simbuf *b);

/* Empties the buffer (keeps its memory) and clears the failed mark. */
void simbuf_reset(struct simbuf *b);

/* Makes room for n more bytes. Returns a pointer to that room (data + len), or NULL and marks the
 * buffer failed. The caller commits what it wrote with simbuf_commit(). */
char *simbuf_reserve(struct simbuf *b, size_t n);
void simbuf_commit(struct simbuf *b, size_t n);

void simbuf_append(struct simbuf *b, const void *p, size_t n);
void simbuf_puts(struct simbuf *b, const char *s);
void simbuf_putc(struct simbuf *b, char c);
void simbuf_u64(struct simbuf *b, uint64_t v);
/* printf-style append. */
void simbuf_printf(struct simbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Removes the first n bytes (n <= len). */
void simbuf_consume(struct simbuf *b, size_t n);

static inline bool simbuf_failed(const struct simbuf *b)
{
    return b->failed;
}

/* Writes v in decimal into dst (room for 20 digits), returns the number of digits. */
size_t simbuf_fmt_u64(char *dst, uint64_t v);

#endif
