/*
 * tlsrec.h - TLS seen from the outside: the record layer of one TCP connection, read from both
 * directions of its reassembled byte stream, the way a balancer in tcp mode (or anyone on the
 * path) sees it.
 *
 * What is readable is read: every record's header (content type, version, length), and the
 * handshake while it is still in clear: the ClientHello (the server name the client asked for,
 * SNI; the ALPN protocols it offers; the versions it supports) and the ServerHello (the version
 * and cipher suite chosen, ALPN chosen in TLS 1.2, resumption, HelloRetryRequest), alerts sent
 * in clear, and when the handshake finished (TLS 1.2: both sides' Finished after their
 * ChangeCipherSpec; TLS 1.3: the client's first encrypted record, its Finished). Everything
 * after that is ciphertext: only its records, sizes and timing are known. TLS 1.3 encrypts even
 * the server's ALPN choice and its certificate.
 *
 * Application data is grouped into exchanges by direction changes, as HTTP/1.1 uses a
 * connection: a flight of records from the client (a request), then one from the server (its
 * response); the next client flight begins the next exchange. That is a guess about what the
 * ciphertext carries, and says so in its name; with HTTP/1.1 without pipelining it is right.
 * An exchange ends when the client sends again, when the connection ends, or when the server's
 * flight has been silent for a while (tlsrec_idle).
 * In TLS 1.3 a 19-byte record (an alert's 2 bytes, its inner content type and a 16-byte tag) is
 * counted as an encrypted alert (most likely close_notify), not as data.
 *
 * Input is hostile: records and handshake messages span segments and records, lengths lie, a
 * capture loses bytes. Every length is checked against what is there; a record longer than
 * TLS allows, a content type or version that is not TLS, or a gap that breaks the framing stops
 * the reading of that direction (the problem says which) while its bytes are still counted.
 * Memory: one handshake message kept per direction, at most TLSREC_MAX_HELLO bytes; larger
 * messages (certificates) are skipped, not kept. Pure: bytes and capture times in, no I/O.
 */
#ifndef LBTRACE_TLSREC_H
#define LBTRACE_TLSREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLSREC_SNI_LEN 256
#define TLSREC_ALPN_LEN 160
#define TLSREC_MAX_RECORD (16384 + 2048) /* the longest TLSCiphertext fragment TLS 1.2 allows */
#define TLSREC_MAX_HELLO 65536           /* the longest ClientHello/ServerHello read */

/* Content types. */
#define TLSREC_CCS 20
#define TLSREC_ALERT 21
#define TLSREC_HANDSHAKE 22
#define TLSREC_APPDATA 23

/* Versions as on the wire. */
#define TLSREC_SSL30 0x0300
#define TLSREC_TLS10 0x0301
#define TLSREC_TLS11 0x0302
#define TLSREC_TLS12 0x0303
#define TLSREC_TLS13 0x0304

/* Index of a direction: from the connection's client, and from its server. */
#define TLSREC_C2S 0
#define TLSREC_S2C 1

enum tlsrec_sniff {
    TLSREC_NO,   /* these bytes do not begin a TLS record */
    TLSREC_YES,  /* they do (content type 20-23, version 3.x, a length TLS allows) */
    TLSREC_MORE, /* too few bytes to tell: look again with more */
};

/* Whether p[0..n) begins a TLS record. Needs at most 5 bytes. */
enum tlsrec_sniff tlsrec_sniff(const uint8_t *p, size_t n);

struct tlsrec_dir_stats {
    uint64_t records;           /* records whose header was read */
    uint64_t bytes;             /* stream bytes, record headers included */
    uint64_t handshake_records; /* content type 22 (in clear or encrypted) */
    uint64_t ccs_records;       /* content type 20 */
    uint64_t alert_records;     /* content type 21 */
    uint64_t app_records;       /* content type 23 */
    uint64_t app_bytes;         /* payload bytes of the application data records: ciphertext */
    uint64_t data_records;      /* application data records that carried data after the
                                   handshake (neither handshake nor alert in disguise) */
    uint64_t data_bytes;        /* their payload bytes */
    uint64_t unparsed_bytes;    /* bytes after reading stopped (see problem) */
    uint64_t first_ts, last_ts; /* capture times of the first and last record */
};

/* Everything learnt about one connection. Strings are printable ASCII (others replaced by '?'),
 * NUL-terminated, "" when unknown. */
struct tlsrec_info {
    uint64_t client_hello_ts;   /* capture time of the ClientHello's first byte (0: not seen) */
    uint64_t server_hello_ts;   /* of the (final) ServerHello */
    uint64_t finished_ts;       /* the handshake finished (0: not seen, or not yet) */
    uint16_t hello_version;     /* ClientHello legacy_version */
    uint16_t offered_max;       /* the highest version the client offers (0: no ClientHello) */
    uint16_t version;           /* negotiated (0: not known yet) */
    uint16_t cipher;            /* chosen cipher suite (valid once server_hello_ts != 0) */
    bool hello_retry;           /* the server answered with HelloRetryRequest */
    bool resumed;               /* an abbreviated handshake: a session resumed */
    bool midstream;             /* the capture began after the handshake */
    char sni[TLSREC_SNI_LEN];              /* server_name from the ClientHello */
    char alpn_offered[TLSREC_ALPN_LEN];    /* "h2,http/1.1" as offered */
    char alpn[TLSREC_ALPN_LEN];            /* chosen (visible in TLS 1.2 only) */
    bool alpn_hidden;           /* TLS 1.3: the choice travels encrypted */
    int alert_level;            /* the last alert sent in clear: level and description, */
    int alert_desc;             /* -1 when none */
    int alert_dir;              /* who sent it: TLSREC_C2S or TLSREC_S2C */
    uint64_t encrypted_alerts;  /* alerts after encryption began (content unreadable) */
    uint64_t exchanges;         /* client flight + server flight pairs seen */
    struct tlsrec_dir_stats dir[2];
    const char *problem[2];     /* why reading a direction stopped (static text), or NULL */
};

/* One guessed request and response: a flight of application data records from the client and
 * the flight from the server that followed it. */
struct tlsrec_exchange {
    unsigned index;             /* 1, 2, ... on the connection */
    uint64_t t_request, t_request_end;   /* first and last record of the client's flight */
    uint64_t t_response, t_response_end; /* of the server's flight (0: none) */
    uint64_t request_records, request_bytes;   /* record payload bytes (ciphertext) */
    uint64_t response_records, response_bytes;
};

/* Receives a finished exchange (the struct is only valid during the call). */
typedef void (*tlsrec_exchange_fn)(void *ctx, const struct tlsrec_exchange *ex);

struct tlsrec;

/* A reader for one connection; emit (may be NULL) gets its exchanges. NULL when out of memory. */
struct tlsrec *tlsrec_new(tlsrec_exchange_fn emit, void *ctx);

/* Feeds in-order stream bytes of direction dir (TLSREC_C2S or TLSREC_S2C) captured at ts;
 * data == NULL reports a gap of len missing bytes. */
void tlsrec_feed(struct tlsrec *t, int dir, const uint8_t *data, size_t len, uint64_t ts);

/* Emits the exchange still open when its server flight has been silent since before
 * now - idle_ns (a connection kept alive for the next request). Records of that flight coming
 * later are counted, not given to an exchange. */
void tlsrec_idle(struct tlsrec *t, uint64_t now, uint64_t idle_ns);

/* The connection ended: the exchange still open is emitted. */
void tlsrec_finish(struct tlsrec *t);

const struct tlsrec_info *tlsrec_info(const struct tlsrec *t);

/* True once the handshake finished, or the capture began after it. */
bool tlsrec_established(const struct tlsrec *t);

void tlsrec_free(struct tlsrec *t);

/* "TLS 1.2", "TLS 1.3", "SSL 3.0", or "0x%04x" into buf. Returns buf. */
char *tlsrec_version_str(uint16_t v, char *buf, size_t len);

/* The IANA name of a common cipher suite ("TLS_AES_128_GCM_SHA256"...) or NULL. */
const char *tlsrec_cipher_name(uint16_t suite);

/* An alert description's name ("close_notify", "handshake_failure"...) or NULL. */
const char *tlsrec_alert_name(int desc);

#endif
