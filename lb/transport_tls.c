/*
 * transport_tls.c - TLS on a client connection with OpenSSL (see transport_tls.h).
 *
 * Every op clears OpenSSL's per-thread error queue first, so SSL_get_error() describes this
 * call and not an older one. Writes gather the iovecs into one record-sized buffer when the
 * first is small (a response head and the start of its body go out as one record, not two),
 * and SSL_MODE_ENABLE_PARTIAL_WRITE makes SSL_write_ex report each record as it is written, like
 * a short write on a socket. After a WANT_WRITE, OpenSSL wants the retry to offer the same
 * bytes again: the session does that (it retries from where the last write stopped), and
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets them come from another address (the gather buffer).
 * Unlike a socket's EAGAIN, a WANT_WRITE has already committed those bytes to an encrypted
 * record: a caller that changed its mind about them (wrote something else next) would still
 * send them. The session offers the same bytes again, with one known exception left for later:
 * a response head whose first write waited, replaced by a 502 because the backend broke in the
 * meantime (abort_truncated with head_sent == 0); the client may then get a mangled answer
 * instead of the 502, on a connection that is closed anyway.
 */
#include "transport_tls.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define GATHER_MAX 16384 /* one TLS record's plaintext at most */

static const unsigned char alpn_http11[] = "\x08http/1.1";

/* What a client that spoke plain HTTP to the TLS port reads back (nginx answers the same way):
 * the browser or curl shows why, instead of a bare reset. */
#define PLAIN_HTTP_BODY "400 Bad Request: a plain HTTP request was sent to lb's HTTPS port.\n"
static const char plain_http_answer[] = "HTTP/1.1 400 Bad Request\r\n"
                                        "Content-Type: text/plain\r\n"
                                        "Content-Length: 67\r\n"
                                        "Connection: close\r\n"
                                        "\r\n" PLAIN_HTTP_BODY;
_Static_assert(sizeof(PLAIN_HTTP_BODY) - 1 == 67, "Content-Length of the plain HTTP answer");

/* The handshake met "GET /", "POST ..." instead of a ClientHello: answers in plain HTTP, best
 * effort (it fits in an empty socket buffer), ends lb's side and reads away what the client sent
 * so far, so the close that follows is an orderly one and not a reset that would destroy the
 * answer before the client reads it. */
static void answer_plain_http(int fd)
{
    char sink[4096];
    (void)send(fd, plain_http_answer, sizeof(plain_http_answer) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)shutdown(fd, SHUT_WR);
    while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
        ;
}

/* Maps the outcome of an SSL call that failed (ok == 0) to the seam's convention. */
static ssize_t tls_failure(SSL *ssl, int ret)
{
    int e = SSL_get_error(ssl, ret);
    if (e == SSL_ERROR_SSL && SSL_is_server(ssl) &&
        ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_HTTP_REQUEST)
        answer_plain_http(SSL_get_fd(ssl));
    switch (e) {
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return -EAGAIN;
    case SSL_ERROR_SYSCALL:
        /* with SSL_OP_IGNORE_UNEXPECTED_EOF a bare end of stream is ZERO_RETURN; what is left
         * here is a socket error */
        return errno != 0 && errno != EAGAIN ? -errno : -EPIPE;
    default:
        return -EPROTO;
    }
}

static ssize_t tls_read(struct transport *t, char *buf, size_t len)
{
    SSL *ssl = t->ctx;
    size_t n = 0;
    ERR_clear_error();
    errno = 0;
    int ret = SSL_read_ex(ssl, buf, len, &n);
    if (ret == 1)
        return (ssize_t)n;
    return tls_failure(ssl, ret);
}

static ssize_t tls_writev(struct transport *t, const struct iovec *iov, int cnt)
{
    SSL *ssl = t->ctx;
    char gather[GATHER_MAX];
    const void *p = cnt > 0 ? iov[0].iov_base : NULL;
    size_t len = cnt > 0 ? iov[0].iov_len : 0;
    if (cnt > 1 && len < GATHER_MAX) {
        len = 0;
        for (int i = 0; i < cnt && len < GATHER_MAX; i++) {
            size_t take = iov[i].iov_len < GATHER_MAX - len ? iov[i].iov_len : GATHER_MAX - len;
            memcpy(gather + len, iov[i].iov_base, take);
            len += take;
        }
        p = gather;
    }
    if (len == 0)
        return 0;
    size_t n = 0;
    ERR_clear_error();
    errno = 0;
    int ret = SSL_write_ex(ssl, p, len, &n);
    if (ret == 1)
        return (ssize_t)n;
    ssize_t r = tls_failure(ssl, ret);
    return r == 0 ? -EPIPE : r; /* the peer's close_notify does not make a write succeed */
}

static int tls_shutdown(struct transport *t)
{
    SSL *ssl = t->ctx;
    /* close_notify, best effort (no retry when the socket is full), then the TCP FIN; the read
     * direction stays open for what the peer still sends */
    if (SSL_is_init_finished(ssl)) {
        ERR_clear_error();
        (void)SSL_shutdown(ssl);
    }
    return shutdown(t->fd, SHUT_WR) == 0 ? 0 : -errno;
}

static void tls_close(struct transport *t, bool abort)
{
    SSL *ssl = t->ctx;
    if (abort) {
        /* SO_LINGER with a zero time: close() sends RST instead of FIN */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        (void)setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    } else if (SSL_is_init_finished(ssl) && !(SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN)) {
        ERR_clear_error();
        (void)SSL_shutdown(ssl); /* an orderly end is announced */
    }
    SSL_free(ssl);
    ERR_clear_error();
    t->ctx = NULL;
    close(t->fd);
}

const struct transport_ops transport_tls = {
    .name = "tls",
    .read = tls_read,
    .writev = tls_writev,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .retry_both = true,
};

const char *transport_tls_alpn_pick(const unsigned char *in, unsigned in_len)
{
    for (unsigned i = 0; i < in_len;) {
        unsigned n = in[i];
        if (n == 0 || i + 1 + n > in_len)
            return NULL; /* malformed list */
        if (n == sizeof(alpn_http11) - 2 && memcmp(in + i + 1, alpn_http11 + 1, n) == 0)
            return "http/1.1";
        i += 1 + n;
    }
    return NULL;
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

struct ssl_ctx_st *transport_tls_server_ctx(const char *cert_file, const char *key_file,
                                             char *err, size_t err_len)
{
    if (readable_file("--tls-cert", cert_file, err, err_len) != 0 ||
        readable_file("--tls-key", key_file, err, err_len) != 0)
        return NULL;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, err_len, "TLS: cannot create a context: %s", ssl_reason());
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
        snprintf(err, err_len, "TLS: cannot set the protocol versions and ciphers: %s",
                 ssl_reason());
        goto fail;
    }
    uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    opts |= SSL_OP_IGNORE_UNEXPECTED_EOF; /* a bare end of stream reads as the end, like HTTP's */
#endif
    SSL_CTX_set_options(ctx, opts);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        snprintf(err, err_len, "--tls-cert %s: not a usable PEM certificate: %s", cert_file,
                 ssl_reason());
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, err_len, "--tls-key %s: not a usable PEM private key for %s: %s", key_file,
                 cert_file, ssl_reason());
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, err_len, "--tls-key %s: does not match the certificate in %s", key_file,
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

void transport_tls_ctx_free(struct ssl_ctx_st *ctx)
{
    SSL_CTX_free(ctx);
}

int transport_tls_init(struct transport *t, struct ssl_ctx_st *ctx, int fd)
{
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return -ENOMEM;
    }
    SSL_set_accept_state(ssl);
    transport_init(t, &transport_tls, fd);
    t->ctx = ssl;
    return 0;
}
