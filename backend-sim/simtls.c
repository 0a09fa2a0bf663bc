/*
 * simtls.c - TLS for backend-sim with OpenSSL (see simtls.h).
 *
 * The error queue is per thread and cleared before every call, so SSL_get_error() speaks of
 * this call only. A bare end of stream without close_notify reads as the end
 * (SSL_OP_IGNORE_UNEXPECTED_EOF), like a plain HTTP connection closed by its client.
 */
#include "simtls.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct simtls {
    SSL_CTX *ctx;
};

struct simtls_conn {
    SSL *ssl;
};

static const unsigned char alpn_http11[] = "\x08http/1.1";

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *out_len,
                       const unsigned char *in, unsigned in_len, void *arg)
{
    (void)ssl;
    (void)arg;
    for (unsigned i = 0; i < in_len;) {
        unsigned n = in[i];
        if (n == 0 || i + 1 + n > in_len)
            break;
        if (n == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
            *out = alpn_http11 + 1;
            *out_len = 8;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + n;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    return r != NULL ? r : "unknown error";
}

struct simtls *simtls_create(const char *cert_file, const char *key_file, char *err,
                             size_t err_len)
{
    const char *files[2] = {cert_file, key_file}, *flags[2] = {"--tls-cert", "--tls-key"};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        if (f == NULL) {
            snprintf(err, err_len, "%s %s: %s", flags[i], files[i], strerror(errno));
            return NULL;
        }
        fclose(f);
    }
    struct simtls *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    ERR_clear_error();
    t->ctx = SSL_CTX_new(TLS_server_method());
    if (t->ctx == NULL || SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION) != 1) {
        snprintf(err, err_len, "TLS: cannot create a context: %s", ssl_reason());
        goto fail;
    }
    uint64_t opts = SSL_OP_NO_RENEGOTIATION;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    opts |= SSL_OP_IGNORE_UNEXPECTED_EOF;
#endif
    SSL_CTX_set_options(t->ctx, opts);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_alpn_select_cb(t->ctx, alpn_select, NULL);
    if (SSL_CTX_use_certificate_chain_file(t->ctx, cert_file) != 1) {
        snprintf(err, err_len, "--tls-cert %s: not a usable PEM certificate: %s", cert_file,
                 ssl_reason());
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(t->ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(t->ctx) != 1) {
        snprintf(err, err_len, "--tls-key %s: not the PEM private key of %s: %s", key_file,
                 cert_file, ssl_reason());
        goto fail;
    }
    ERR_clear_error();
    return t;

fail:
    ERR_clear_error();
    simtls_destroy(t);
    return NULL;
}

void simtls_destroy(struct simtls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

struct simtls_conn *simtls_accept(struct simtls *t, int fd)
{
    struct simtls_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    ERR_clear_error();
    c->ssl = SSL_new(t->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
        SSL_free(c->ssl);
        ERR_clear_error();
        free(c);
        return NULL;
    }
    SSL_set_accept_state(c->ssl);
    return c;
}

/* The seam's convention for an SSL call that failed. */
static ssize_t failure(struct simtls_conn *c, int ret)
{
    switch (SSL_get_error(c->ssl, ret)) {
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return -EAGAIN;
    case SSL_ERROR_SYSCALL:
        return errno != 0 && errno != EAGAIN ? -errno : -EPIPE;
    default:
        return -EPROTO; /* a failed handshake, a bad record */
    }
}

ssize_t simtls_read(struct simtls_conn *c, void *buf, size_t len)
{
    size_t n = 0;
    ERR_clear_error();
    errno = 0;
    int ret = SSL_read_ex(c->ssl, buf, len, &n);
    return ret == 1 ? (ssize_t)n : failure(c, ret);
}

ssize_t simtls_write(struct simtls_conn *c, const void *buf, size_t len)
{
    size_t n = 0;
    if (len == 0)
        return 0;
    ERR_clear_error();
    errno = 0;
    int ret = SSL_write_ex(c->ssl, buf, len, &n);
    if (ret == 1)
        return (ssize_t)n;
    ssize_t r = failure(c, ret);
    return r == 0 ? -EPIPE : r;
}

void simtls_shutdown(struct simtls_conn *c)
{
    if (SSL_is_init_finished(c->ssl)) {
        ERR_clear_error();
        (void)SSL_shutdown(c->ssl);
    }
}

void simtls_free(struct simtls_conn *c)
{
    if (c == NULL)
        return;
    SSL_free(c->ssl);
    ERR_clear_error();
    free(c);
}
