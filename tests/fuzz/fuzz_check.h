/*
 * fuzz_check.h - what every libFuzzer target in tests/fuzz/ shares: CHECK(), an invariant that
 * aborts with its text (so libFuzzer saves the input as a crash), and a cursor that takes
 * numbers and byte strings off the front of an input, so one input drives a sequence of calls.
 */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The input, read from the front. Reading past the end gives zeros and empty strings. */
struct fuzz_in {
    const uint8_t *p;
    size_t left;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
    if (in->left == 0)
        return 0;
    in->left--;
    return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
    uint16_t hi = fuzz_u8(in);
    return (uint16_t)(hi << 8 | fuzz_u8(in));
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
    uint32_t hi = fuzz_u16(in);
    return hi << 16 | fuzz_u16(in);
}

/* Up to n bytes (fewer at the end of the input); *len gets how many. */
static inline const uint8_t *fuzz_bytes(struct fuzz_in *in, size_t n, size_t *len)
{
    const uint8_t *p = in->p;
    if (n > in->left)
        n = in->left;
    in->p += n;
    in->left -= n;
    *len = n;
    return p;
}

/* n bytes on the heap, so a read or write past their end is caught by ASan. Never NULL. */
static inline char *fuzz_alloc(size_t n)
{
    char *d = malloc(n ? n : 1);
    CHECK(d != NULL);
    return d;
}

/* A heap copy of p[0..n) of exactly n bytes. */
static inline char *fuzz_dup(const void *p, size_t n)
{
    char *d = fuzz_alloc(n);
    for (size_t i = 0; i < n; i++)
        d[i] = ((const char *)p)[i];
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
