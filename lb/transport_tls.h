/*
 * transport_tls.h - TLS on a connection, behind the transport seam (transport.h).
 *
 * lb terminates TLS from clients (the HTTPS listener) and may speak TLS again to a backend
 * (-b ...,tls): the handshake, the record layer and close_notify live here, and the session
 * above reads and writes plain HTTP exactly as on a plain socket. The handshake runs inside the
 * worker's event loop: until it is done, every read, write or handshake call drives it one step
 * further and returns -EAGAIN while it waits for the peer, so a stalled handshake costs the
 * session's --client-timeout (or the backend's --connect-timeout) and never blocks the worker.
 *
 * The contexts (certificates, versions, ciphers, verification) come from tls_context.h; each
 * connection has its own SSL object and a small record of its own, freed by close.
 */
#ifndef LB_TRANSPORT_TLS_H
#define LB_TRANSPORT_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "transport.h"

struct ssl_ctx_st;     /* OpenSSL's SSL_CTX */
struct ssl_session_st; /* OpenSSL's SSL_SESSION */

#define TRANSPORT_TLS_DEFAULT_PORT 3443

/* TLS as a transport: SSL_read_ex, SSL_write_ex, SSL_do_handshake, SSL_shutdown
 * (close_notify), SSL_free. A read returns 0 at the peer's close_notify or at a bare end of
 * stream; a failed handshake or a bad record is -EPROTO. A read that needs to write (or a write
 * that needs to read) returns -EAGAIN: ops.retry_both asks the side to retry both directions
 * on the next event of either kind. */
extern const struct transport_ops transport_tls;

/* How a connection's handshake ended. */
struct transport_tls_outcome {
    int version;     /* the protocol agreed (TLS1_2_VERSION 0x0303, TLS1_3_VERSION 0x0304) when
                        it completed; 0 when it failed */
    bool resumed;    /* it completed by resuming an earlier session (a ticket, a cached id) */
    const char *why; /* a failure as one line ("certificate verify failed: self-signed
                        certificate", "unsupported protocol", "closed before the handshake
                        completed"); NULL when it completed */
};

/* Told once per connection how its handshake ended; o is valid during the call only. Runs
 * inside an op of the transport (a read, a write, handshake or close), on its thread. */
typedef void transport_tls_report_fn(void *arg, const struct transport_tls_outcome *o);

/* Sets t up as the server end of a TLS connection over the accepted socket fd, starting on ctx
 * (tls_server_ctx()). report may be NULL. Returns 0, or -ENOMEM (t untouched, fd still open). */
int transport_tls_accept(struct transport *t, struct ssl_ctx_st *ctx, int fd,
                         transport_tls_report_fn *report, void *arg);

/* Sets t up as the client end over the connected socket fd: sni is the name sent in the
 * ClientHello (NULL or "": none), verify_name the name or IP address the server's certificate
 * must carry when ctx verifies (NULL: sni), resume a session of an earlier connection to the
 * same server to offer (NULL: a full handshake; the server may still refuse it). Returns 0, or
 * -ENOMEM (t untouched, fd open). */
int transport_tls_connect(struct transport *t, struct ssl_ctx_st *ctx, int fd, const char *sni,
                          const char *verify_name, struct ssl_session_st *resume,
                          transport_tls_report_fn *report, void *arg);

/* The session the client connection t could resume on a later connection (its own reference:
 * give it back with transport_tls_session_free), or NULL: t is not TLS, its handshake is not
 * done, or the session cannot be resumed. With TLS 1.3 it is the one of the latest ticket the
 * server sent, which comes after the handshake. */
struct ssl_session_st *transport_tls_session(const struct transport *t);
void transport_tls_session_free(struct ssl_session_st *s);

/* The protocol ALPN would choose from a client's list (wire format: length-prefixed names):
 * "http/1.1" when offered, else NULL (the handshake goes on without ALPN). */
const char *transport_tls_alpn_pick(const unsigned char *in, unsigned in_len);

/* "TLSv1.2", "TLSv1.3" for a version as reported; "?" for others. */
const char *transport_tls_version_name(int version);

#endif
