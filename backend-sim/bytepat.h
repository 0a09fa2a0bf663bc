/*
 * bytepat.h - the deterministic bytes of /bytes/N and /chunked/N, so a test (or a student with a
 * few lines of code) can check every byte that came through a proxy.
 *
 * Byte i (0-based) of the N-byte body is
 *     x = splitmix64(N * 0x9E3779B97F4A7C15 + i / 8)
 *     byte = ALPHABET[(x >> (8 * (i % 8))) & 63]
 * with ALPHABET the 64 characters "A-Za-z0-9-_" (base64url order) and splitmix64 the finaliser
 *     z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
 *     z ^ (z >> 31)
 * (all arithmetic mod 2^64). The body is printable (safe on a terminal), differs for every N
 * (responses cannot be swapped unnoticed), and any range can be generated without the bytes
 * before it (streaming from any offset).
 */
#ifndef LBLAB_BYTEPAT_H
#define LBLAB_BYTEPAT_H

#include <stddef.h>
#include <stdint.h>

#define BYTEPAT_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/* Writes bytes [offset, offset + len) of the n-byte body into dst. */
void bytepat_fill(uint64_t n, uint64_t offset, char *dst, size_t len);

/* Byte i of the n-byte body (the definition above, one byte at a time). */
char bytepat_byte(uint64_t n, uint64_t i);

#endif
