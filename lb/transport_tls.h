/*
 * transport_tls.h - TLS on a client connection, behind the transport seam (transport.h).
 *
 * lb terminates TLS: the handshake, the record layer and close_notify live here, and the session
 * above reads and writes plain HTTP exactly as on a plain socket. The handshake runs inside the
 * worker's event loop: until it is done, every read or write drives it one step further and
 * returns -EAGAIN while it waits for the peer, so a stalled handshake costs the session's
 * --client-timeout and never blocks the worker.
 *
 * One server context (certificate, key, protocol versions, ciphers, ALPN, session tickets) is
 * made at start-up and shared read-only by every worker; each connection has its own SSL object.
 */
#ifndef LB_TRANSPORT_TLS_H
#define LB_TRANSPORT_TLS_H

#include <stddef.h>

#include "transport.h"

struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

#define TRANSPORT_TLS_DEFAULT_PORT 3443

/* TLS as a transport: SSL_read_ex, SSL_write_ex, SSL_shutdown (close_notify), SSL_free. A read
 * returns 0 at the peer's close_notify or at a bare end of stream; a failed handshake or a bad
 * record is -EPROTO. A read that needs to write (or a write that needs to read) returns -EAGAIN:
 * ops.retry_both asks the side to retry both directions on the next event of either kind. */
extern const struct transport_ops transport_tls;

/* The server context: TLS 1.2 and 1.3 only, ECDHE with AEAD ciphers for TLS 1.2 (OpenSSL's
 * defaults for 1.3), ALPN http/1.1, renegotiation off, session tickets on. cert_file is a PEM
 * certificate chain, key_file its PEM private key. Returns NULL with one line naming the file at
 * fault in err (missing, unreadable, not PEM, or a key that does not match the certificate). */
struct ssl_ctx_st *transport_tls_server_ctx(const char *cert_file, const char *key_file,
                                             char *err, size_t err_len);
void transport_tls_ctx_free(struct ssl_ctx_st *ctx);

/* Sets t up as the server end of a TLS connection over the accepted socket fd. Returns 0, or
 * -ENOMEM (t untouched, fd still open). */
int transport_tls_init(struct transport *t, struct ssl_ctx_st *ctx, int fd);

/* The protocol ALPN would choose from a client's list (wire format: length-prefixed names):
 * "http/1.1" when offered, else NULL (the handshake goes on without ALPN). */
const char *transport_tls_alpn_pick(const unsigned char *in, unsigned in_len);

#endif
