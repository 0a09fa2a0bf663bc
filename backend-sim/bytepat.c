/*
 * bytepat.c - the /bytes pattern (see bytepat.h for its definition). Generating 8 bytes per
 * splitmix64 step keeps a 1 GiB body well above network speed on one core.
 */
#include "bytepat.h"

static const char alphabet[64] = BYTEPAT_ALPHABET;

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

char bytepat_byte(uint64_t n, uint64_t i)
{
    uint64_t x = mix(n * 0x9E3779B97F4A7C15ull + i / 8);
    return alphabet[(x >> (8 * (i % 8))) & 63];
}

void bytepat_fill(uint64_t n, uint64_t offset, char *dst, size_t len)
{
    uint64_t seed = n * 0x9E3779B97F4A7C15ull;
    size_t done = 0;

    /* the partial word at the start */
    while (done < len && (offset + done) % 8 != 0) {
        dst[done] = bytepat_byte(n, offset + done);
        done++;
    }
    /* whole words */
    while (len - done >= 8) {
        uint64_t x = mix(seed + (offset + done) / 8);
        for (int k = 0; k < 8; k++)
            dst[done + (size_t)k] = alphabet[(x >> (8 * k)) & 63];
        done += 8;
    }
    /* the tail */
    while (done < len) {
        dst[done] = bytepat_byte(n, offset + done);
        done++;
    }
}
