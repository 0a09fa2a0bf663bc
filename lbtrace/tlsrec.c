/*
 * tlsrec.c - the TLS record layer of one connection, one small state machine per direction.
 *
 * A direction reads a 5-byte record header, then the record's body, then the next header. The
 * body of a handshake record in clear goes on to a second reader, of handshake messages (a
 * 4-byte header, then the message), because messages span records and records span segments;
 * only ClientHello and ServerHello are kept (bounded) and parsed, the others are skipped by
 * their length. Parsing a hello walks a cursor that never reads past the message: every field
 * is taken through cur_*(), which fails on a short message.
 *
 * Design: direction states are named (READ_HEADER, READ_BODY, STOPPED); whether a direction is
 * encrypted follows the protocol: TLS 1.2 from that side's ChangeCipherSpec on, TLS 1.3 from the
 * ServerHello on (both sides).
 */
#include "tlsrec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HS_CLIENT_HELLO 1
#define HS_SERVER_HELLO 2
#define EXT_SERVER_NAME 0
#define EXT_ALPN 16
#define EXT_PRE_SHARED_KEY 41
#define EXT_SUPPORTED_VERSIONS 43
#define TLS13_ALERT_RECORD 19 /* alert (2) + inner content type (1) + AEAD tag (16) */

/* ServerHello.random of a HelloRetryRequest (RFC 8446 section 4.1.3) */
static const uint8_t hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

enum dir_state { READ_HEADER, READ_BODY, STOPPED };

struct tls_dir {
    enum dir_state state;
    uint8_t hdr[5];
    size_t hdr_len;
    uint8_t type;        /* the record being read */
    size_t body_left;    /* its bytes still to come */
    size_t body_len;
    uint64_t rec_ts;     /* capture time of its first byte */
    bool encrypted;      /* records from here on are ciphertext */
    bool ccs;            /* TLS 1.2: ChangeCipherSpec sent; the next record is Finished */
    uint64_t finished_ts; /* TLS 1.2: this side's Finished */
    /* handshake messages in clear */
    uint8_t hs_hdr[4];
    size_t hs_hdr_len;
    size_t hs_left;      /* bytes of the current message still to come */
    uint8_t *hs_buf;     /* the current message when kept (a hello), else NULL */
    size_t hs_len;
    uint64_t hs_ts;
    bool hs_broken;      /* a gap inside handshake bytes: stop reading messages */
    /* an alert in clear */
    uint8_t alert[2];
    size_t alert_len;
};

struct tlsrec {
    struct tlsrec_info info;
    struct tls_dir dir[2];
    bool seen_any;       /* a record was read (decides midstream) */
    bool client_data;    /* TLS 1.3: the client's Finished was seen */
    tlsrec_exchange_fn emit;
    void *ctx;
    struct tlsrec_exchange cur; /* the exchange being gathered (index 0: none) */
};

/* --- small helpers ------------------------------------------------------------------------ */

enum tlsrec_sniff tlsrec_sniff(const uint8_t *p, size_t n)
{
    if (n == 0)
        return TLSREC_MORE;
    if (p[0] < TLSREC_CCS || p[0] > TLSREC_APPDATA)
        return TLSREC_NO;
    if (n < 2)
        return TLSREC_MORE;
    if (p[1] != 3)
        return TLSREC_NO;
    if (n < 3)
        return TLSREC_MORE;
    if (p[2] > 4)
        return TLSREC_NO;
    if (n < 5)
        return TLSREC_MORE;
    size_t len = (size_t)p[3] << 8 | p[4];
    return len <= TLSREC_MAX_RECORD ? TLSREC_YES : TLSREC_NO;
}

char *tlsrec_version_str(uint16_t v, char *buf, size_t len)
{
    switch (v) {
    case TLSREC_SSL30: snprintf(buf, len, "SSL 3.0"); break;
    case TLSREC_TLS10: snprintf(buf, len, "TLS 1.0"); break;
    case TLSREC_TLS11: snprintf(buf, len, "TLS 1.1"); break;
    case TLSREC_TLS12: snprintf(buf, len, "TLS 1.2"); break;
    case TLSREC_TLS13: snprintf(buf, len, "TLS 1.3"); break;
    default: snprintf(buf, len, "0x%04x", (unsigned)v); break;
    }
    return buf;
}

const char *tlsrec_cipher_name(uint16_t suite)
{
    switch (suite) {
    case 0x1301: return "TLS_AES_128_GCM_SHA256";
    case 0x1302: return "TLS_AES_256_GCM_SHA384";
    case 0x1303: return "TLS_CHACHA20_POLY1305_SHA256";
    case 0xc02b: return "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256";
    case 0xc02c: return "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384";
    case 0xc02f: return "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256";
    case 0xc030: return "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384";
    case 0xcca8: return "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256";
    case 0xcca9: return "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256";
    case 0x009c: return "TLS_RSA_WITH_AES_128_GCM_SHA256";
    case 0x009d: return "TLS_RSA_WITH_AES_256_GCM_SHA384";
    case 0x002f: return "TLS_RSA_WITH_AES_128_CBC_SHA";
    case 0x0035: return "TLS_RSA_WITH_AES_256_CBC_SHA";
    default: return NULL;
    }
}

const char *tlsrec_alert_name(int desc)
{
    switch (desc) {
    case 0: return "close_notify";
    case 10: return "unexpected_message";
    case 20: return "bad_record_mac";
    case 22: return "record_overflow";
    case 40: return "handshake_failure";
    case 42: return "bad_certificate";
    case 43: return "unsupported_certificate";
    case 44: return "certificate_revoked";
    case 45: return "certificate_expired";
    case 46: return "certificate_unknown";
    case 47: return "illegal_parameter";
    case 48: return "unknown_ca";
    case 49: return "access_denied";
    case 50: return "decode_error";
    case 51: return "decrypt_error";
    case 70: return "protocol_version";
    case 71: return "insufficient_security";
    case 80: return "internal_error";
    case 86: return "inappropriate_fallback";
    case 90: return "user_canceled";
    case 109: return "missing_extension";
    case 110: return "unsupported_extension";
    case 112: return "unrecognized_name";
    case 116: return "certificate_required";
    case 120: return "no_application_protocol";
    default: return NULL;
    }
}

/* GREASE values (RFC 8701) are offered to keep servers tolerant; they are never versions. */
static bool is_grease(uint16_t v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* Copies p[0..n) into dst[cap] as printable ASCII. */
static void copy_text(char *dst, size_t cap, const uint8_t *p, size_t n)
{
    if (cap == 0)
        return;
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = (p[i] < 0x20 || p[i] > 0x7e || p[i] == '"' || p[i] == '\\') ? '?' : (char)p[i];
    dst[n] = '\0';
}

/* --- a bounds-checked cursor over one handshake message ------------------------------------- */

struct cur {
    const uint8_t *p;
    size_t left;
    bool bad; /* a read went past the end: every later read fails too */
};

static bool cur_take(struct cur *c, size_t n, const uint8_t **out)
{
    if (c->bad || n > c->left) {
        c->bad = true;
        return false;
    }
    *out = c->p;
    c->p += n;
    c->left -= n;
    return true;
}

static unsigned cur_u8(struct cur *c)
{
    const uint8_t *p;
    return cur_take(c, 1, &p) ? p[0] : 0;
}

static unsigned cur_u16(struct cur *c)
{
    const uint8_t *p;
    return cur_take(c, 2, &p) ? (unsigned)p[0] << 8 | p[1] : 0;
}

/* A vector with a 1- or 2-byte length: a sub-cursor over its bytes. */
static struct cur cur_vec(struct cur *c, int len_bytes)
{
    size_t n = len_bytes == 1 ? cur_u8(c) : cur_u16(c);
    struct cur sub = {NULL, 0, c->bad};
    const uint8_t *p;
    if (!c->bad && cur_take(c, n, &p)) {
        sub.p = p;
        sub.left = n;
    } else {
        sub.bad = true;
    }
    return sub;
}

/* --- the hellos --------------------------------------------------------------------------- */

static void parse_sni(struct tlsrec_info *in, struct cur ext)
{
    struct cur list = cur_vec(&ext, 2);
    while (!list.bad && list.left > 0) {
        unsigned type = cur_u8(&list);
        struct cur name = cur_vec(&list, 2);
        if (name.bad)
            return;
        if (type == 0 && in->sni[0] == '\0')
            copy_text(in->sni, sizeof(in->sni), name.p, name.left);
    }
}

/* The ALPN list as "a,b,c" into dst (names cut, the list cut at the buffer's end). */
static void parse_alpn(char *dst, size_t cap, struct cur ext)
{
    struct cur list = cur_vec(&ext, 2);
    size_t used = 0;
    dst[0] = '\0';
    while (!list.bad && list.left > 0) {
        struct cur name = cur_vec(&list, 1);
        if (name.bad || name.left == 0)
            return;
        char one[64];
        copy_text(one, sizeof(one), name.p, name.left);
        int w = snprintf(dst + used, cap - used, "%s%s", used ? "," : "", one);
        if (w < 0 || (size_t)w >= cap - used) {
            dst[used] = '\0';
            return;
        }
        used += (size_t)w;
    }
}

static void parse_client_hello(struct tlsrec *t, const uint8_t *msg, size_t len, uint64_t ts)
{
    struct tlsrec_info *in = &t->info;
    struct cur c = {msg, len, false};
    const uint8_t *skip;
    if (in->client_hello_ts == 0)
        in->client_hello_ts = ts;
    in->hello_version = (uint16_t)cur_u16(&c);
    in->offered_max = in->hello_version;
    cur_take(&c, 32, &skip);     /* random */
    (void)cur_vec(&c, 1);        /* legacy_session_id */
    (void)cur_vec(&c, 2);        /* cipher_suites */
    (void)cur_vec(&c, 1);        /* legacy_compression_methods */
    if (c.bad || c.left == 0)
        return;                  /* no extensions (or a short hello: what was read stays) */
    struct cur exts = cur_vec(&c, 2);
    while (!exts.bad && exts.left > 0) {
        unsigned type = cur_u16(&exts);
        struct cur ext = cur_vec(&exts, 2);
        if (ext.bad)
            return;
        if (type == EXT_SERVER_NAME) {
            parse_sni(in, ext);
        } else if (type == EXT_ALPN) {
            parse_alpn(in->alpn_offered, sizeof(in->alpn_offered), ext);
        } else if (type == EXT_SUPPORTED_VERSIONS) {
            struct cur list = cur_vec(&ext, 1);
            uint16_t best = 0;
            while (!list.bad && list.left >= 2) {
                uint16_t v = (uint16_t)cur_u16(&list);
                if (!is_grease(v) && (v >> 8) == 3 && v > best)
                    best = v;
            }
            if (best != 0)
                in->offered_max = best;
        }
    }
}

static void parse_server_hello(struct tlsrec *t, const uint8_t *msg, size_t len, uint64_t ts)
{
    struct tlsrec_info *in = &t->info;
    struct cur c = {msg, len, false};
    const uint8_t *random;
    uint16_t legacy = (uint16_t)cur_u16(&c);
    if (!cur_take(&c, 32, &random))
        return;
    bool hrr = memcmp(random, hrr_random, sizeof(hrr_random)) == 0;
    struct cur session = cur_vec(&c, 1);
    unsigned cipher = cur_u16(&c);
    (void)cur_u8(&c); /* compression */
    if (c.bad)
        return;
    if (hrr) { /* not the ServerHello yet: the client tries again with another key share */
        in->hello_retry = true;
        return;
    }
    in->server_hello_ts = ts;
    in->version = legacy;
    in->cipher = (uint16_t)cipher;
    /* TLS 1.2 resumption by session id: the server echoes the id the client offered (the
     * ClientHello is gone by now; a non-empty id and no new key exchange tell) */
    bool psk = false;
    char alpn[TLSREC_ALPN_LEN] = "";
    if (c.left > 0) {
        struct cur exts = cur_vec(&c, 2);
        while (!exts.bad && exts.left > 0) {
            unsigned type = cur_u16(&exts);
            struct cur ext = cur_vec(&exts, 2);
            if (ext.bad)
                break;
            if (type == EXT_SUPPORTED_VERSIONS && ext.left >= 2)
                in->version = (uint16_t)cur_u16(&ext);
            else if (type == EXT_PRE_SHARED_KEY)
                psk = true;
            else if (type == EXT_ALPN)
                parse_alpn(alpn, sizeof(alpn), ext);
        }
    }
    (void)session;
    if (in->version == TLSREC_TLS13) {
        in->resumed = psk;
        in->alpn_hidden = true; /* it is in EncryptedExtensions */
        /* from here on both sides encrypt (the client's ChangeCipherSpec is only for
         * middleboxes) */
        t->dir[TLSREC_S2C].encrypted = true;
        t->dir[TLSREC_C2S].encrypted = true;
    } else {
        snprintf(in->alpn, sizeof(in->alpn), "%s", alpn);
    }
}

/* A whole handshake message in clear from direction d. */
static void on_handshake_message(struct tlsrec *t, int d, uint8_t type, const uint8_t *msg,
                                 size_t len, uint64_t ts)
{
    if (type == HS_CLIENT_HELLO && d == TLSREC_C2S)
        parse_client_hello(t, msg, len, ts);
    else if (type == HS_SERVER_HELLO && d == TLSREC_S2C)
        parse_server_hello(t, msg, len, ts);
}

/* Feeds bytes of handshake records in clear to the message reader of direction d. */
static void handshake_bytes(struct tlsrec *t, int d, const uint8_t *p, size_t n, uint64_t ts)
{
    struct tls_dir *dd = &t->dir[d];
    while (n > 0 && !dd->hs_broken) {
        if (dd->hs_hdr_len < 4) {
            if (dd->hs_hdr_len == 0)
                dd->hs_ts = ts;
            dd->hs_hdr[dd->hs_hdr_len++] = *p++;
            n--;
            if (dd->hs_hdr_len < 4)
                continue;
            dd->hs_left = (size_t)dd->hs_hdr[1] << 16 | (size_t)dd->hs_hdr[2] << 8 | dd->hs_hdr[3];
            dd->hs_len = 0;
            uint8_t type = dd->hs_hdr[0];
            bool hello = type == HS_CLIENT_HELLO || type == HS_SERVER_HELLO;
            if (hello && dd->hs_left <= TLSREC_MAX_HELLO) {
                dd->hs_buf = malloc(dd->hs_left ? dd->hs_left : 1);
                if (dd->hs_buf == NULL)
                    t->info.problem[d] = "out of memory reading a hello";
            } else if (hello) {
                t->info.problem[d] = "a hello too long to read";
            }
            if (dd->hs_left > 0)
                continue;
        } else {
            size_t take = n < dd->hs_left ? n : dd->hs_left;
            if (dd->hs_buf != NULL)
                memcpy(dd->hs_buf + dd->hs_len, p, take);
            dd->hs_len += take;
            dd->hs_left -= take;
            p += take;
            n -= take;
            if (dd->hs_left > 0)
                continue;
        }
        /* the message is whole */
        if (dd->hs_buf != NULL)
            on_handshake_message(t, d, dd->hs_hdr[0], dd->hs_buf, dd->hs_len, dd->hs_ts);
        free(dd->hs_buf);
        dd->hs_buf = NULL;
        dd->hs_hdr_len = 0;
        dd->hs_len = 0;
    }
}

/* --- exchanges ---------------------------------------------------------------------------- */

static void emit_current(struct tlsrec *t)
{
    if (t->cur.index == 0)
        return;
    t->info.exchanges++;
    if (t->emit)
        t->emit(t->ctx, &t->cur);
    t->cur = (struct tlsrec_exchange){0};
}

/* A record of application data (after the handshake) from direction d. */
static void data_record(struct tlsrec *t, int d, size_t len, uint64_t start, uint64_t end)
{
    struct tlsrec_exchange *x = &t->cur;
    t->info.dir[d].data_records++;
    t->info.dir[d].data_bytes += len;
    if (d == TLSREC_C2S) {
        if (x->index != 0 && x->response_records > 0)
            emit_current(t);
        if (x->index == 0) {
            x->index = (unsigned)t->info.exchanges + 1;
            x->t_request = start;
        }
        x->request_records++;
        x->request_bytes += len;
        x->t_request_end = end;
    } else if (x->index != 0) {
        if (x->response_records == 0)
            x->t_response = start;
        x->response_records++;
        x->response_bytes += len;
        x->t_response_end = end;
    }
    /* a server flight with no client flight before it (TLS 1.3 session tickets, a server
     * speaking first) is counted in the statistics only */
}

/* --- records ------------------------------------------------------------------------------ */

/* The header of a record was read: check it. */
static bool record_start(struct tlsrec *t, int d)
{
    struct tls_dir *dd = &t->dir[d];
    struct tlsrec_dir_stats *st = &t->info.dir[d];
    dd->type = dd->hdr[0];
    dd->body_len = dd->body_left = (size_t)dd->hdr[3] << 8 | dd->hdr[4];
    if (dd->type < TLSREC_CCS || dd->type > TLSREC_APPDATA) {
        t->info.problem[d] = "not a TLS record (unknown content type)";
        return false;
    }
    if (dd->hdr[1] != 3 || dd->hdr[2] > 4) {
        t->info.problem[d] = "not a TLS record (unknown version)";
        return false;
    }
    if (dd->body_len > TLSREC_MAX_RECORD) {
        t->info.problem[d] = "a record longer than TLS allows";
        return false;
    }
    if (!t->seen_any) {
        t->seen_any = true;
        t->info.midstream = dd->type != TLSREC_HANDSHAKE;
    }
    st->records++;
    if (st->first_ts == 0)
        st->first_ts = dd->rec_ts;
    switch (dd->type) {
    case TLSREC_CCS: st->ccs_records++; break;
    case TLSREC_ALERT: st->alert_records++; break;
    case TLSREC_HANDSHAKE: st->handshake_records++; break;
    default: st->app_records++; st->app_bytes += dd->body_len; break;
    }
    dd->alert_len = 0;
    return true;
}

/* Bytes of the body of the current record. */
static void record_bytes(struct tlsrec *t, int d, const uint8_t *p, size_t n, uint64_t ts)
{
    struct tls_dir *dd = &t->dir[d];
    if (dd->type == TLSREC_HANDSHAKE && !dd->encrypted && !t->info.midstream) {
        handshake_bytes(t, d, p, n, ts);
    } else if (dd->type == TLSREC_ALERT && !dd->encrypted) {
        while (n > 0 && dd->alert_len < 2) {
            dd->alert[dd->alert_len++] = *p++;
            n--;
        }
    }
}

/* The record ended (its last byte came at ts). */
static void record_end(struct tlsrec *t, int d, uint64_t ts)
{
    struct tls_dir *dd = &t->dir[d];
    struct tlsrec_info *in = &t->info;
    in->dir[d].last_ts = ts;
    switch (dd->type) {
    case TLSREC_CCS:
        if (in->version != TLSREC_TLS13) {
            dd->ccs = true;
            dd->encrypted = true;
        }
        break;
    case TLSREC_ALERT:
        if (dd->encrypted) {
            in->encrypted_alerts++;
        } else if (dd->alert_len == 2) {
            in->alert_level = dd->alert[0];
            in->alert_desc = dd->alert[1];
            in->alert_dir = d;
        }
        break;
    case TLSREC_HANDSHAKE:
        /* TLS 1.2: the first record after ChangeCipherSpec is this side's Finished */
        if (dd->ccs && dd->finished_ts == 0) {
            dd->finished_ts = ts;
            uint64_t other = t->dir[1 - d].finished_ts;
            if (other != 0 && in->finished_ts == 0)
                in->finished_ts = ts > other ? ts : other;
        }
        break;
    default: /* application data */
        if (in->midstream) {
            data_record(t, d, dd->body_len, dd->rec_ts, ts);
        } else if (in->version == TLSREC_TLS13 && in->server_hello_ts != 0) {
            if (d == TLSREC_C2S && !t->client_data) {
                t->client_data = true; /* the client's Finished */
                in->finished_ts = ts;
            } else if (in->finished_ts != 0) {
                if (dd->body_len == TLS13_ALERT_RECORD)
                    in->encrypted_alerts++;
                else
                    data_record(t, d, dd->body_len, dd->rec_ts, ts);
            }
        } else if (in->finished_ts != 0) {
            data_record(t, d, dd->body_len, dd->rec_ts, ts);
        }
        break;
    }
}

/* Stops reading direction d: the rest of its bytes are only counted. */
static void stop(struct tlsrec *t, int d)
{
    struct tls_dir *dd = &t->dir[d];
    dd->state = STOPPED;
    free(dd->hs_buf);
    dd->hs_buf = NULL;
}

void tlsrec_feed(struct tlsrec *t, int d, const uint8_t *data, size_t len, uint64_t ts)
{
    if (t == NULL || d < 0 || d > 1)
        return;
    struct tls_dir *dd = &t->dir[d];
    struct tlsrec_dir_stats *st = &t->info.dir[d];
    if (data == NULL) { /* a gap: survivable only inside a record's body */
        if (dd->state == READ_BODY && len <= dd->body_left) {
            dd->body_left -= len;
            st->bytes += len;
            if (dd->type == TLSREC_HANDSHAKE && !dd->encrypted) {
                dd->hs_broken = true; /* the messages lost their framing */
                free(dd->hs_buf);
                dd->hs_buf = NULL;
            }
            if (dd->body_left == 0) {
                record_end(t, d, ts);
                dd->state = READ_HEADER;
                dd->hdr_len = 0;
            }
            return;
        }
        if (dd->state != STOPPED) {
            t->info.problem[d] = "bytes missing from the capture: record framing lost";
            stop(t, d);
        }
        st->unparsed_bytes += len;
        return;
    }
    st->bytes += len;
    while (len > 0) {
        if (dd->state == STOPPED) {
            st->unparsed_bytes += len;
            return;
        }
        if (dd->state == READ_HEADER) {
            if (dd->hdr_len == 0)
                dd->rec_ts = ts;
            dd->hdr[dd->hdr_len++] = *data++;
            len--;
            if (dd->hdr_len < 5)
                continue;
            dd->hdr_len = 0;
            if (!record_start(t, d)) {
                st->unparsed_bytes += 5 + len;
                stop(t, d);
                return;
            }
            dd->state = READ_BODY;
            if (dd->body_left == 0) {
                record_end(t, d, ts);
                dd->state = READ_HEADER;
            }
            continue;
        }
        size_t take = len < dd->body_left ? len : dd->body_left;
        record_bytes(t, d, data, take, ts);
        data += take;
        len -= take;
        dd->body_left -= take;
        if (dd->body_left == 0) {
            record_end(t, d, ts);
            dd->state = READ_HEADER;
        }
    }
}

struct tlsrec *tlsrec_new(tlsrec_exchange_fn emit, void *ctx)
{
    struct tlsrec *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->emit = emit;
    t->ctx = ctx;
    t->info.alert_level = t->info.alert_desc = -1;
    return t;
}

void tlsrec_idle(struct tlsrec *t, uint64_t now, uint64_t idle_ns)
{
    if (t != NULL && t->cur.index != 0 && t->cur.response_records > 0 &&
        now >= t->cur.t_response_end + idle_ns)
        emit_current(t);
}

void tlsrec_finish(struct tlsrec *t)
{
    if (t != NULL)
        emit_current(t);
}

const struct tlsrec_info *tlsrec_info(const struct tlsrec *t)
{
    return &t->info;
}

bool tlsrec_established(const struct tlsrec *t)
{
    return t->info.finished_ts != 0 || t->info.midstream;
}

void tlsrec_free(struct tlsrec *t)
{
    if (t == NULL)
        return;
    free(t->dir[0].hs_buf);
    free(t->dir[1].hs_buf);
    free(t);
}
