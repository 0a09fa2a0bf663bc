/*
 * transport_tls.c - TLS on a connection with OpenSSL (see transport_tls.h).
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
 *
 * How a handshake ended is reported once per connection (transport_tls_report_fn): after the
 * op that completed it, after the op that saw it fail, or at close for one that never ended.
 */
#include "transport_tls.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls_bio.h"

#define GATHER_MAX 16384 /* one TLS record's plaintext at most */

static const unsigned char alpn_http11[] = "\x08http/1.1";

/* A connection's own state: its SSL object and whom to tell how the handshake ended. */
struct tls_conn {
    SSL *ssl;
    transport_tls_report_fn *report;
    void *arg;
    bool reported;
};

/* A failed handshake, reported once. */
static void report_failure(struct tls_conn *c, const char *why)
{
    if (c->reported)
        return;
    c->reported = true;
    struct transport_tls_outcome o = {.why = why};
    if (c->report != NULL)
        c->report(c->arg, &o);
}

/* After a call that may have completed the handshake. */
static void note_handshake(struct tls_conn *c)
{
    if (c->reported || !SSL_is_init_finished(c->ssl))
        return;
    c->reported = true;
    struct transport_tls_outcome o = {
        .version = SSL_version(c->ssl),
        .resumed = SSL_session_reused(c->ssl) == 1,
    };
    if (c->report != NULL)
        c->report(c->arg, &o);
}

/* Why a handshake failed, as one line: a certificate that did not verify says why, else
 * OpenSSL's reason. */
static void failure_reason(SSL *ssl, int e, int err, char *why, size_t len)
{
    long v = SSL_get_verify_result(ssl);
    unsigned long last = ERR_peek_last_error();
    const char *r = last != 0 ? ERR_reason_error_string(last) : NULL;
    if (!SSL_is_server(ssl) && v != X509_V_OK)
        snprintf(why, len, "certificate verify failed: %s", X509_verify_cert_error_string(v));
    else if (e == SSL_ERROR_SYSCALL)
        snprintf(why, len, "%s", err != 0 ? strerror(err) : "connection closed");
    else
        snprintf(why, len, "%s", r != NULL ? r : "protocol error");
}

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
 * so far (64 KiB at most), so the close that follows is an orderly one and not a reset that
 * would destroy the answer before the client reads it. */
static void answer_plain_http(int fd)
{
    char sink[4096];
    (void)send(fd, plain_http_answer, sizeof(plain_http_answer) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)shutdown(fd, SHUT_WR);
    for (int i = 0; i < 16 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
        ;
}

/* Maps the outcome of an SSL call that failed (ok == 0) to the seam's convention; a failure
 * during the handshake is reported. */
static ssize_t tls_failure(struct tls_conn *c, int ret)
{
    SSL *ssl = c->ssl;
    int err = errno; /* the socket's, before anything below changes it */
    int e = SSL_get_error(ssl, ret);
    if (!c->reported && !SSL_is_init_finished(ssl) && e != SSL_ERROR_WANT_READ &&
        e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_ZERO_RETURN) {
        char why[160];
        failure_reason(ssl, e, err, why, sizeof(why));
        report_failure(c, why);
    }
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
        return err != 0 && err != EAGAIN ? -err : -EPIPE;
    default:
        return -EPROTO;
    }
}

static ssize_t tls_read(struct transport *t, char *buf, size_t len)
{
    struct tls_conn *c = t->ctx;
    size_t n = 0;
    ERR_clear_error();
    errno = 0;
    int ret = SSL_read_ex(c->ssl, buf, len, &n);
    note_handshake(c);
    if (ret == 1)
        return (ssize_t)n;
    return tls_failure(c, ret);
}

/* After a read that returned bytes: OpenSSL holds none (decrypted or not) and its last read of
 * the socket came up short, so nothing more arrives before the next epoll event. */
static bool tls_drained(struct transport *t)
{
    const struct tls_conn *c = t->ctx;
    return SSL_has_pending(c->ssl) == 0 && tls_bio_read_drained(SSL_get_rbio(c->ssl));
}

static ssize_t tls_writev(struct transport *t, const struct iovec *iov, int cnt)
{
    struct tls_conn *c = t->ctx;
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
    int ret = SSL_write_ex(c->ssl, p, len, &n);
    note_handshake(c);
    if (ret == 1)
        return (ssize_t)n;
    ssize_t r = tls_failure(c, ret);
    return r == 0 ? -EPIPE : r; /* the peer's close_notify does not make a write succeed */
}

static int tls_handshake(struct transport *t)
{
    struct tls_conn *c = t->ctx;
    if (SSL_is_init_finished(c->ssl)) {
        note_handshake(c);
        return 0;
    }
    ERR_clear_error();
    errno = 0;
    int ret = SSL_do_handshake(c->ssl);
    note_handshake(c);
    if (ret == 1)
        return 0;
    ssize_t r = tls_failure(c, ret);
    if (r == 0) { /* the peer closed in the middle of it */
        report_failure(c, "closed before the handshake completed");
        return -ECONNRESET;
    }
    return (int)r;
}

static int tls_shutdown(struct transport *t)
{
    struct tls_conn *c = t->ctx;
    SSL *ssl = c->ssl;
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
    struct tls_conn *c = t->ctx;
    SSL *ssl = c->ssl;
    report_failure(c, "closed before the handshake completed");
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
    free(c);
    t->ctx = NULL;
    close(t->fd);
}

const struct transport_ops transport_tls = {
    .name = "tls",
    .read = tls_read,
    .writev = tls_writev,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .handshake = tls_handshake,
    .drained = tls_drained,
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

const char *transport_tls_version_name(int version)
{
    return version == TLS1_3_VERSION   ? "TLSv1.3"
           : version == TLS1_2_VERSION ? "TLSv1.2"
                                       : "?";
}

/* A connection record with its SSL object over fd, from ctx. NULL on ENOMEM. */
static struct tls_conn *conn_new(struct ssl_ctx_st *ctx, int fd, transport_tls_report_fn *rep,
                                 void *arg)
{
    ERR_clear_error();
    struct tls_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    /* both through tls_bio: reads say whether they drained the socket, a session ticket goes
     * out with the next write */
    BIO *rbio = NULL, *wbio = NULL;
    c->ssl = SSL_new(ctx);
    if (c->ssl == NULL || (rbio = tls_bio_new_read(fd)) == NULL ||
        (wbio = tls_bio_new_write(fd, c->ssl)) == NULL) {
        BIO_free(rbio);
        SSL_free(c->ssl);
        ERR_clear_error();
        free(c);
        return NULL;
    }
    SSL_set_bio(c->ssl, rbio, wbio);
    c->report = rep;
    c->arg = arg;
    return c;
}

int transport_tls_accept(struct transport *t, struct ssl_ctx_st *ctx, int fd,
                         transport_tls_report_fn *report, void *arg)
{
    struct tls_conn *c = conn_new(ctx, fd, report, arg);
    if (c == NULL)
        return -ENOMEM;
    SSL_set_accept_state(c->ssl);
    transport_init(t, &transport_tls, fd);
    t->ctx = c;
    return 0;
}

int transport_tls_connect(struct transport *t, struct ssl_ctx_st *ctx, int fd, const char *sni,
                          const char *verify_name, struct ssl_session_st *resume,
                          transport_tls_report_fn *report, void *arg)
{
    struct tls_conn *c = conn_new(ctx, fd, report, arg);
    if (c == NULL)
        return -ENOMEM;
    if (verify_name == NULL)
        verify_name = sni;
    if ((sni != NULL && *sni != '\0' && SSL_set_tlsext_host_name(c->ssl, sni) != 1) ||
        (verify_name != NULL && *verify_name != '\0' && SSL_set1_host(c->ssl, verify_name) != 1) ||
        (resume != NULL && SSL_set_session(c->ssl, resume) != 1)) {
        SSL_free(c->ssl);
        ERR_clear_error();
        free(c);
        return -ENOMEM;
    }
    SSL_set_connect_state(c->ssl);
    transport_init(t, &transport_tls, fd);
    t->ctx = c;
    return 0;
}

struct ssl_session_st *transport_tls_session(const struct transport *t)
{
    if (t->ops != &transport_tls || t->ctx == NULL)
        return NULL;
    const struct tls_conn *c = t->ctx;
    if (SSL_is_server(c->ssl) || !SSL_is_init_finished(c->ssl))
        return NULL;
    SSL_SESSION *s = SSL_get1_session(c->ssl);
    if (s != NULL && SSL_SESSION_is_resumable(s) != 1) {
        SSL_SESSION_free(s);
        return NULL;
    }
    return s;
}

void transport_tls_session_free(struct ssl_session_st *s)
{
    SSL_SESSION_free(s);
}
