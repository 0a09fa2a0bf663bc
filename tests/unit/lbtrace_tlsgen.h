/*
 * lbtrace_tlsgen.h - hand-made TLS records for lbtrace's tests: ClientHello and ServerHello
 * with the extensions lbtrace reads (server_name, ALPN, supported_versions, pre_shared_key),
 * ChangeCipherSpec, alerts, and records of "ciphertext" of any length. Enough of TLS's wire
 * format to draw a handshake and the records that follow; nothing here encrypts anything.
 * Header-only, like lbtrace_pcapgen.h. Every builder writes into out[cap] and returns the length
 * written (0 when it does not fit).
 */
#ifndef LBTRACE_TLSGEN_H
#define LBTRACE_TLSGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct tg_buf {
    uint8_t *p;
    size_t cap, len;
    bool full;
};

static inline void tg_put(struct tg_buf *b, const void *src, size_t n)
{
    if (b->full || b->len + n > b->cap) {
        b->full = true;
        return;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static inline void tg_u8(struct tg_buf *b, unsigned v)
{
    uint8_t x = (uint8_t)v;
    tg_put(b, &x, 1);
}

static inline void tg_u16(struct tg_buf *b, unsigned v)
{
    tg_u8(b, v >> 8);
    tg_u8(b, v);
}

static inline void tg_u24(struct tg_buf *b, unsigned v)
{
    tg_u8(b, v >> 16);
    tg_u16(b, v);
}

/* Writes a 16-bit length at b->p[at] for the bytes from at + 2 to the end. */
static inline void tg_fix16(struct tg_buf *b, size_t at)
{
    if (b->full)
        return;
    size_t n = b->len - at - 2;
    b->p[at] = (uint8_t)(n >> 8);
    b->p[at + 1] = (uint8_t)n;
}

/* A record header: type, version 3.3 (3.1 for a first ClientHello as browsers send), length. */
static inline size_t tg_record(uint8_t *out, size_t cap, uint8_t type, const uint8_t *payload,
                               size_t n)
{
    struct tg_buf b = {out, cap, 0, false};
    tg_u8(&b, type);
    tg_u16(&b, type == 22 && n > 0 && payload[0] == 1 ? 0x0301 : 0x0303);
    tg_u16(&b, (unsigned)n);
    tg_put(&b, payload, n);
    return b.full ? 0 : b.len;
}

/* A record of n bytes of "ciphertext" (a byte pattern) of the given content type. */
static inline size_t tg_opaque(uint8_t *out, size_t cap, uint8_t type, size_t n)
{
    if (n + 5 > cap)
        return 0;
    out[0] = type;
    out[1] = 3;
    out[2] = 3;
    out[3] = (uint8_t)(n >> 8);
    out[4] = (uint8_t)n;
    for (size_t i = 0; i < n; i++)
        out[5 + i] = (uint8_t)(i * 37 + 11);
    return n + 5;
}

static inline size_t tg_ccs(uint8_t *out, size_t cap)
{
    static const uint8_t one = 1;
    return tg_record(out, cap, 20, &one, 1);
}

static inline size_t tg_alert(uint8_t *out, size_t cap, uint8_t level, uint8_t desc)
{
    uint8_t a[2] = {level, desc};
    return tg_record(out, cap, 21, a, 2);
}

/* The ClientHello handshake message (no record header): sni ("" none), alpn as "h2,http/1.1"
 * ("" none), and supported_versions offering TLS 1.3 and 1.2 when tls13. */
static inline size_t tg_client_hello_msg(uint8_t *out, size_t cap, const char *sni,
                                         const char *alpn, bool tls13)
{
    struct tg_buf b = {out, cap, 0, false};
    uint8_t random[32];
    for (int i = 0; i < 32; i++)
        random[i] = (uint8_t)(i + 1);
    tg_u8(&b, 1);
    size_t len_at = b.len;
    tg_u24(&b, 0);
    tg_u16(&b, 0x0303);
    tg_put(&b, random, 32);
    tg_u8(&b, 32); /* a session id, as TLS 1.3 clients send for middleboxes */
    tg_put(&b, random, 32);
    tg_u16(&b, 6);
    tg_u16(&b, 0x1301);
    tg_u16(&b, 0x1302);
    tg_u16(&b, 0xc02f);
    tg_u8(&b, 1);
    tg_u8(&b, 0);
    size_t exts_at = b.len;
    tg_u16(&b, 0);
    if (sni[0]) {
        size_t n = strlen(sni);
        tg_u16(&b, 0);
        tg_u16(&b, (unsigned)(n + 5));
        tg_u16(&b, (unsigned)(n + 3));
        tg_u8(&b, 0);
        tg_u16(&b, (unsigned)n);
        tg_put(&b, sni, n);
    }
    if (alpn[0]) {
        tg_u16(&b, 16);
        size_t ext_at = b.len;
        tg_u16(&b, 0);
        size_t list_at = b.len;
        tg_u16(&b, 0);
        for (const char *p = alpn; *p;) {
            size_t n = strcspn(p, ",");
            tg_u8(&b, (unsigned)n);
            tg_put(&b, p, n);
            p += n;
            if (*p == ',')
                p++;
        }
        tg_fix16(&b, list_at);
        tg_fix16(&b, ext_at);
    }
    if (tls13) {
        tg_u16(&b, 43);
        tg_u16(&b, 7);
        tg_u8(&b, 6);
        tg_u16(&b, 0x3a3a); /* GREASE */
        tg_u16(&b, 0x0304);
        tg_u16(&b, 0x0303);
    }
    tg_fix16(&b, exts_at);
    if (b.full)
        return 0;
    size_t n = b.len - len_at - 3;
    out[len_at] = (uint8_t)(n >> 16);
    out[len_at + 1] = (uint8_t)(n >> 8);
    out[len_at + 2] = (uint8_t)n;
    return b.len;
}

/* The ServerHello handshake message: version 0x0304 (said in supported_versions) or 0x0303,
 * the cipher suite, alpn chosen ("" none; TLS 1.2 only), a HelloRetryRequest's random when
 * hrr, a pre_shared_key extension (TLS 1.3 resumption) when psk. */
static inline size_t tg_server_hello_msg(uint8_t *out, size_t cap, uint16_t version,
                                         uint16_t cipher, const char *alpn, bool hrr, bool psk)
{
    static const uint8_t hrr_random[32] = {
        0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
        0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};
    struct tg_buf b = {out, cap, 0, false};
    uint8_t random[32];
    for (int i = 0; i < 32; i++)
        random[i] = (uint8_t)(100 + i);
    tg_u8(&b, 2);
    size_t len_at = b.len;
    tg_u24(&b, 0);
    tg_u16(&b, 0x0303);
    tg_put(&b, hrr ? hrr_random : random, 32);
    tg_u8(&b, 0);
    tg_u16(&b, cipher);
    tg_u8(&b, 0);
    size_t exts_at = b.len;
    tg_u16(&b, 0);
    if (version == 0x0304) {
        tg_u16(&b, 43);
        tg_u16(&b, 2);
        tg_u16(&b, 0x0304);
    }
    if (psk) {
        tg_u16(&b, 41);
        tg_u16(&b, 2);
        tg_u16(&b, 0);
    }
    if (alpn[0]) {
        size_t n = strlen(alpn);
        tg_u16(&b, 16);
        tg_u16(&b, (unsigned)(n + 3));
        tg_u16(&b, (unsigned)(n + 1));
        tg_u8(&b, (unsigned)n);
        tg_put(&b, alpn, n);
    }
    tg_fix16(&b, exts_at);
    if (b.full)
        return 0;
    size_t n = b.len - len_at - 3;
    out[len_at] = (uint8_t)(n >> 16);
    out[len_at + 1] = (uint8_t)(n >> 8);
    out[len_at + 2] = (uint8_t)n;
    return b.len;
}

/* A ClientHello in one handshake record. */
static inline size_t tg_client_hello(uint8_t *out, size_t cap, const char *sni, const char *alpn,
                                     bool tls13)
{
    uint8_t msg[1024];
    size_t n = tg_client_hello_msg(msg, sizeof(msg), sni, alpn, tls13);
    return n ? tg_record(out, cap, 22, msg, n) : 0;
}

/* A ServerHello in one handshake record. */
static inline size_t tg_server_hello(uint8_t *out, size_t cap, uint16_t version, uint16_t cipher,
                                     const char *alpn, bool hrr, bool psk)
{
    uint8_t msg[512];
    size_t n = tg_server_hello_msg(msg, sizeof(msg), version, cipher, alpn, hrr, psk);
    return n ? tg_record(out, cap, 22, msg, n) : 0;
}

/* The client's first flight of a TLS 1.3 handshake and the server's answer, then the client's
 * Finished, as two byte strings (the server's includes its encrypted handshake records). */
static inline void tg_tls13_handshake(uint8_t *c, size_t ccap, size_t *clen, uint8_t *s,
                                      size_t scap, size_t *slen, const char *sni, const char *alpn)
{
    *clen = tg_client_hello(c, ccap, sni, alpn, true);
    *slen = tg_server_hello(s, scap, 0x0304, 0x1301, "", false, false);
    *slen += tg_ccs(s + *slen, scap - *slen);
    *slen += tg_opaque(s + *slen, scap - *slen, 23, 1200); /* EncryptedExtensions ... Finished */
}

#endif
