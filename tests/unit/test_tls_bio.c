/*
 * test_tls_bio.c - the BIOs of lb's TLS connections (lb/tls_bio.h): a server's session ticket
 * is held back after the handshake and reaches the client with the next write, in order, so the
 * client can resume; the handshake's own flights are never held. The read BIO says when a read
 * emptied the socket, finds its descriptor for SSL_get_fd(), and reports a bare end of stream
 * as OpenSSL expects.
 *
 * Both ends run in this process over a non-blocking socketpair, with a certificate made here:
 * the server as lb sets it up (its socket read directly, writes through tls_bio), the client a
 * plain OpenSSL client that asks for TLS 1.3 or 1.2.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "../../lb/tls_bio.h"

struct pair {
    int sfd, cfd;
    SSL_CTX *sctx, *cctx;
    SSL *server, *client;
};

/* A server context with a fresh self-signed P-256 certificate and one ticket per handshake. */
static SSL_CTX *server_ctx(int max_version)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = X509_new();
    assert_non_null(key);
    assert_non_null(cert);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    X509_set_pubkey(cert, key);
    assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_read_ahead(ctx, 1); /* as lb's: one read() takes what the socket has */
    X509_free(cert);
    EVP_PKEY_free(key);
    return ctx;
}

static void pair_open(struct pair *p, int max_version)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    p->sfd = sv[0];
    p->cfd = sv[1];
    p->sctx = server_ctx(max_version);
    p->cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(p->cctx);
    p->server = SSL_new(p->sctx);
    p->client = SSL_new(p->cctx);
    assert_non_null(p->server);
    assert_non_null(p->client);
    BIO *rbio = tls_bio_new_read(p->sfd);
    BIO *wbio = tls_bio_new_write(p->sfd, p->server);
    assert_non_null(rbio);
    assert_non_null(wbio);
    SSL_set_bio(p->server, rbio, wbio);
    SSL_set_accept_state(p->server);
    assert_int_equal(SSL_set_fd(p->client, p->cfd), 1);
    SSL_set_connect_state(p->client);
}

static void pair_close(struct pair *p)
{
    SSL_free(p->server);
    SSL_free(p->client);
    SSL_CTX_free(p->sctx);
    SSL_CTX_free(p->cctx);
    close(p->sfd);
    close(p->cfd);
}

/* Drives both handshakes to their end (each step returns at once: the sockets never block). */
static void handshake(struct pair *p)
{
    int s = 0, c = 0;
    for (int i = 0; i < 100 && (s != 1 || c != 1); i++) {
        if (c != 1)
            c = SSL_do_handshake(p->client);
        if (s != 1)
            s = SSL_do_handshake(p->server);
    }
    assert_int_equal(s, 1);
    assert_int_equal(c, 1);
}

/* Bytes the server sent that the client has not read yet. */
static bool client_has_bytes(const struct pair *p)
{
    char b;
    ssize_t n = recv(p->cfd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0)
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    return n > 0;
}

static void server_writes_client_reads(struct pair *p, const char *text)
{
    size_t n = 0;
    char got[64] = {0};
    assert_int_equal(SSL_write_ex(p->server, text, strlen(text), &n), 1);
    assert_int_equal(n, strlen(text));
    assert_int_equal(SSL_read_ex(p->client, got, sizeof(got) - 1, &n), 1);
    assert_int_equal(n, strlen(text));
    assert_string_equal(got, text);
}

static bool client_can_resume(const struct pair *p)
{
    SSL_SESSION *s = SSL_get1_session(p->client);
    bool ok = s != NULL && SSL_SESSION_is_resumable(s) == 1;
    SSL_SESSION_free(s);
    return ok;
}

static void test_tls13_ticket_waits_for_the_first_response(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, TLS1_3_VERSION);
    handshake(&p);
    assert_int_equal(SSL_version(p.server), TLS1_3_VERSION);
    /* the handshake is done and the server has issued its ticket, but nothing is on the wire */
    assert_false(client_has_bytes(&p));
    assert_false(client_can_resume(&p));
    /* the response carries it, ahead of the data: the client decrypts both in order */
    server_writes_client_reads(&p, "HTTP/1.1 200 OK\r\n\r\n");
    assert_true(client_can_resume(&p));
    server_writes_client_reads(&p, "and the next one goes straight out");
    pair_close(&p);
}

static void test_tls13_ticket_goes_with_the_close_notify(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, TLS1_3_VERSION);
    handshake(&p);
    assert_false(client_has_bytes(&p));
    assert_int_equal(SSL_shutdown(p.server), 0); /* close_notify sent, the peer's not yet read */
    char b[16];
    size_t n;
    assert_int_equal(SSL_read_ex(p.client, b, sizeof(b), &n), 0);
    assert_int_equal(SSL_get_error(p.client, 0), SSL_ERROR_ZERO_RETURN);
    assert_true(client_can_resume(&p));
    pair_close(&p);
}

static void test_tls12_handshake_completes_with_its_ticket(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, TLS1_2_VERSION);
    /* the ticket comes before the server's last flight: held, then sent with it */
    handshake(&p);
    assert_int_equal(SSL_version(p.server), TLS1_2_VERSION);
    assert_true(client_can_resume(&p));
    server_writes_client_reads(&p, "hello over TLS 1.2");
    pair_close(&p);
}

static void test_read_bio_says_when_the_socket_is_drained(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, TLS1_3_VERSION);
    handshake(&p);
    assert_int_equal(SSL_get_fd(p.server), p.sfd);
    size_t n;
    char buf[64];
    /* two records at once: the server's first read takes both from the socket */
    assert_int_equal(SSL_write_ex(p.client, "one", 3, &n), 1);
    assert_int_equal(SSL_write_ex(p.client, "two", 3, &n), 1);
    assert_int_equal(SSL_read_ex(p.server, buf, sizeof(buf), &n), 1);
    assert_int_equal(n, 3);
    /* the socket is empty, but the library holds the second record: not drained yet */
    assert_true(tls_bio_read_drained(SSL_get_rbio(p.server)));
    assert_int_equal(SSL_has_pending(p.server), 1);
    assert_int_equal(SSL_read_ex(p.server, buf, sizeof(buf), &n), 1);
    assert_int_equal(n, 3);
    assert_int_equal(SSL_has_pending(p.server), 0);
    /* a bare end of stream (no close_notify) reads as the end, with lb's option */
    SSL_set_options(p.server, SSL_OP_IGNORE_UNEXPECTED_EOF);
    assert_int_equal(shutdown(p.cfd, SHUT_WR), 0);
    assert_int_equal(SSL_read_ex(p.server, buf, sizeof(buf), &n), 0);
    assert_int_equal(SSL_get_error(p.server, 0), SSL_ERROR_ZERO_RETURN);
    pair_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls13_ticket_waits_for_the_first_response),
        cmocka_unit_test(test_tls13_ticket_goes_with_the_close_notify),
        cmocka_unit_test(test_tls12_handshake_completes_with_its_ticket),
        cmocka_unit_test(test_read_bio_says_when_the_socket_is_drained),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
