/*
 * tls_context.c - lb's OpenSSL contexts (see tls_context.h).
 *
 * Several certificates on one listener follow nginx's and HAProxy's design: one SSL_CTX per
 * certificate, all configured alike; a connection starts on the default one, and OpenSSL's
 * servername callback, called while the ClientHello is processed, moves it to the context whose
 * certificate holds the requested name (SSL_set_SSL_CTX). Session tickets stay those of the
 * default context (OpenSSL encrypts and decrypts them with the context the connection started
 * on), so a resumed session does not depend on which certificate served it.
 */
#include "tls_context.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "transport_tls.h"

struct tls_server {
    size_t n;
    SSL_CTX *ctx[TLS_MAX_CERTS];
    char *cert_file[TLS_MAX_CERTS];
    bool strict_sni;
};

static const unsigned char alpn_http11[] = "\x08http/1.1";

/* The reason of OpenSSL's latest error, for a message. */
static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    return r != NULL ? r : "unknown error";
}

/* Checks that path can be opened for reading, with the reason in err when not. */
static int readable_file(const char *flag, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, err_len, "%s %s: %s", flag, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *out_len,
                       const unsigned char *in, unsigned in_len, void *arg)
{
    (void)ssl;
    (void)arg;
    if (transport_tls_alpn_pick(in, in_len) == NULL)
        return SSL_TLSEXT_ERR_NOACK; /* no common protocol: go on without ALPN */
    *out = alpn_http11 + 1;
    *out_len = (unsigned char)(sizeof(alpn_http11) - 2);
    return SSL_TLSEXT_ERR_OK;
}

int tls_server_pick(const struct tls_server *srv, const char *name)
{
    if (name == NULL || *name == '\0')
        return 0;
    for (size_t i = 0; i < srv->n; i++) {
        X509 *cert = SSL_CTX_get0_certificate(srv->ctx[i]);
        if (cert != NULL && X509_check_host(cert, name, 0, 0, NULL) == 1)
            return (int)i;
    }
    return srv->strict_sni ? -1 : 0;
}

/* OpenSSL's servername callback: the ClientHello's name chooses the certificate. */
static int servername(SSL *ssl, int *alert, void *arg)
{
    const struct tls_server *srv = arg;
    int i = tls_server_pick(srv, SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
    if (i < 0) {
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    if (i > 0 && SSL_set_SSL_CTX(ssl, srv->ctx[i]) == NULL) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

/* Protocol versions, ciphers and options every context of lb shares. */
static int common_setup(SSL_CTX *ctx, char *err, size_t err_len)
{
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
        snprintf(err, err_len, "TLS: cannot set the protocol versions and ciphers: %s",
                 ssl_reason());
        return -1;
    }
    uint64_t opts = SSL_OP_NO_RENEGOTIATION;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    opts |= SSL_OP_IGNORE_UNEXPECTED_EOF; /* a bare end of stream reads as the end, like HTTP's */
#endif
    SSL_CTX_set_options(ctx, opts);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* read what the socket has in one read(), not a record's 5-byte header and then its body:
     * one system call fewer per request */
    SSL_CTX_set_read_ahead(ctx, 1);
    return 0;
}

/* One server context for the pair cert_file, key_file; flag names where the pair came from. */
static SSL_CTX *server_ctx(const char *cert_flag, const char *cert_file, const char *key_flag,
                           const char *key_file, char *err, size_t err_len)
{
    static const unsigned char sid_ctx[] = "lblab";
    if (readable_file(cert_flag, cert_file, err, err_len) != 0 ||
        readable_file(key_flag, key_file, err, err_len) != 0)
        return NULL;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, err_len, "TLS: cannot create a context: %s", ssl_reason());
        return NULL;
    }
    if (common_setup(ctx, err, err_len) != 0)
        goto fail;
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    /* resumption: tickets and, for clients without them, the session cache. One ticket per
     * handshake, not OpenSSL's two: a ticket can be used more than once, and the second cost a
     * write and its encryption on every full or resumed handshake (7% of lb's CPU time per full
     * handshake, measured with openssl s_time) */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_num_tickets(ctx, 1);
    (void)SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        snprintf(err, err_len, "%s %s: not a usable PEM certificate: %s", cert_flag, cert_file,
                 ssl_reason());
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, err_len, "%s %s: not a usable PEM private key for %s: %s", key_flag,
                 key_file, cert_file, ssl_reason());
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, err_len, "%s %s: does not match the certificate in %s", key_flag, key_file,
                 cert_file);
        goto fail;
    }
    ERR_clear_error();
    return ctx;

fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

/* Adds the pair to srv. Returns 0 or -1 with err set. */
static int add_pair(struct tls_server *srv, const char *cert_flag, const char *cert_file,
                    const char *key_flag, const char *key_file, char *err, size_t err_len)
{
    if (srv->n == TLS_MAX_CERTS) {
        snprintf(err, err_len, "%s %s: more than %d certificates", cert_flag, cert_file,
                 TLS_MAX_CERTS);
        return -1;
    }
    SSL_CTX *ctx = server_ctx(cert_flag, cert_file, key_flag, key_file, err, err_len);
    if (ctx == NULL)
        return -1;
    srv->cert_file[srv->n] = strdup(cert_file);
    if (srv->cert_file[srv->n] == NULL) {
        SSL_CTX_free(ctx);
        snprintf(err, err_len, "TLS: out of memory");
        return -1;
    }
    srv->ctx[srv->n++] = ctx;
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the directory's NAME.crt + NAME.key pairs, in the order of their names. */
static int add_dir(struct tls_server *srv, const char *dir, char *err, size_t err_len)
{
    char *names[TLS_MAX_CERTS + 1];
    size_t n = 0;
    int rc = -1;
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(err, err_len, "--tls-cert-dir %s: %s", dir, strerror(errno));
        return -1;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len <= 4 || strcmp(e->d_name + len - 4, ".crt") != 0)
            continue;
        if (n == TLS_MAX_CERTS) {
            snprintf(err, err_len, "--tls-cert-dir %s: more than %d certificates", dir,
                     TLS_MAX_CERTS);
            goto out;
        }
        if ((names[n] = strndup(e->d_name, len - 4)) == NULL) {
            snprintf(err, err_len, "TLS: out of memory");
            goto out;
        }
        n++;
    }
    if (n == 0) {
        snprintf(err, err_len, "--tls-cert-dir %s: no NAME.crt files in it", dir);
        goto out;
    }
    qsort(names, n, sizeof(names[0]), compare_names);
    for (size_t i = 0; i < n; i++) {
        char cert[4096], key[4096];
        if ((size_t)snprintf(cert, sizeof(cert), "%s/%s.crt", dir, names[i]) >= sizeof(cert) ||
            (size_t)snprintf(key, sizeof(key), "%s/%s.key", dir, names[i]) >= sizeof(key)) {
            snprintf(err, err_len, "--tls-cert-dir %s: a file name is too long", dir);
            goto out;
        }
        if (add_pair(srv, "--tls-cert-dir", cert, "--tls-cert-dir", key, err, err_len) != 0)
            goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    closedir(d);
    return rc;
}

struct tls_server *tls_server_create(const struct tls_server_config *cfg, char *err,
                                     size_t err_len)
{
    struct tls_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        snprintf(err, err_len, "TLS: out of memory");
        return NULL;
    }
    srv->strict_sni = cfg->strict_sni;
    for (size_t i = 0; i < cfg->ncerts; i++)
        if (add_pair(srv, "--tls-cert", cfg->certs[i], "--tls-key", cfg->keys[i], err,
                     err_len) != 0)
            goto fail;
    if (cfg->cert_dir != NULL && add_dir(srv, cfg->cert_dir, err, err_len) != 0)
        goto fail;
    if (srv->n == 0) {
        snprintf(err, err_len, "TLS: no certificate given");
        goto fail;
    }
    for (size_t i = 0; i < srv->n; i++) {
        SSL_CTX_set_tlsext_servername_callback(srv->ctx[i], servername);
        SSL_CTX_set_tlsext_servername_arg(srv->ctx[i], srv);
    }
    return srv;

fail:
    tls_server_destroy(srv);
    return NULL;
}

void tls_server_destroy(struct tls_server *srv)
{
    if (srv == NULL)
        return;
    for (size_t i = 0; i < srv->n; i++) {
        SSL_CTX_free(srv->ctx[i]);
        free(srv->cert_file[i]);
    }
    free(srv);
}

struct ssl_ctx_st *tls_server_ctx(const struct tls_server *srv)
{
    return srv->ctx[0];
}

size_t tls_server_count(const struct tls_server *srv)
{
    return srv->n;
}

const char *tls_server_cert_file(const struct tls_server *srv, size_t i)
{
    return i < srv->n ? srv->cert_file[i] : NULL;
}

struct ssl_ctx_st *tls_client_ctx_create(const char *ca_file, char *err, size_t err_len)
{
    if (ca_file != NULL) {
        FILE *f = fopen(ca_file, "r");
        if (f == NULL) {
            snprintf(err, err_len, "-b ...,ca=%s: %s", ca_file, strerror(errno));
            return NULL;
        }
        fclose(f);
    }
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(err, err_len, "TLS: cannot create a context: %s", ssl_reason());
        return NULL;
    }
    if (common_setup(ctx, err, err_len) != 0)
        goto fail;
    if (SSL_CTX_set_alpn_protos(ctx, alpn_http11, sizeof(alpn_http11) - 1) != 0) {
        snprintf(err, err_len, "TLS: cannot set ALPN: %s", ssl_reason());
        goto fail;
    }
    if (ca_file != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
            snprintf(err, err_len, "-b ...,ca=%s: no usable PEM certificate in it: %s", ca_file,
                     ssl_reason());
            goto fail;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    ERR_clear_error();
    return ctx;

fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

void tls_client_ctx_free(struct ssl_ctx_st *ctx)
{
    SSL_CTX_free(ctx);
}
