/*
 * tls_context.h - lb's TLS configuration as OpenSSL contexts, made once at start-up.
 *
 * Two kinds: the HTTPS listener's server side (one context per certificate, chosen by the name
 * the client asks for in its ClientHello, SNI) and, for each backend with -b ...,tls, a client
 * context (whether and how the backend's certificate is verified). Contexts are built by main()
 * before any worker starts and shared read-only by every worker; each connection gets its own
 * SSL object from them (transport_tls.h).
 *
 * Every start-up error comes back as one line naming the file and the flag at fault.
 */
#ifndef LB_TLS_CONTEXT_H
#define LB_TLS_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>

struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

#define TLS_MAX_CERTS 16 /* certificates one listener can choose from */

/* The HTTPS listener's certificates. The first one is the default: it answers clients that send
 * no name, and (unless strict_sni) names that no certificate holds. */
struct tls_server_config {
    size_t ncerts;                    /* pairs from --tls-cert / --tls-key, in order */
    const char *certs[TLS_MAX_CERTS]; /* PEM certificate chains */
    const char *keys[TLS_MAX_CERTS];  /* their PEM private keys */
    const char *cert_dir;             /* --tls-cert-dir: NAME.crt with NAME.key; NULL: none */
    bool strict_sni;                  /* refuse (alert unrecognized_name) a name no
                                         certificate holds, instead of the default one */
};

struct tls_server;

/* Loads every certificate and key (the directory's pairs after the flags' ones, in the order of
 * their names) into one context each: TLS 1.2 and 1.3 only, ECDHE with AEAD ciphers for TLS 1.2
 * (OpenSSL's defaults for 1.3), ALPN http/1.1, renegotiation off, session tickets and a session
 * cache for resumption. Returns NULL with one line in err naming the file at fault: missing,
 * unreadable, not PEM, a key that does not match its certificate, a .crt without its .key, or
 * more than TLS_MAX_CERTS certificates. */
struct tls_server *tls_server_create(const struct tls_server_config *cfg, char *err,
                                     size_t err_len);
void tls_server_destroy(struct tls_server *srv);

/* The context a new connection starts with (the default certificate's; the ClientHello's name
 * may switch it to another one during the handshake). */
struct ssl_ctx_st *tls_server_ctx(const struct tls_server *srv);

/* How many certificates srv holds, and the file of the i-th (for lb's start-up line). */
size_t tls_server_count(const struct tls_server *srv);
const char *tls_server_cert_file(const struct tls_server *srv, size_t i);

/* The certificate that answers a ClientHello naming name (NULL: no name): its index, or -1
 * when none holds that name and strict_sni refuses it. Names match as in a browser: the
 * certificate's DNS names (subjectAltName, or its CN when it has none), "*." wildcards for one
 * label, without regard to case. */
int tls_server_pick(const struct tls_server *srv, const char *name);

/* A client context for a backend connection: TLS 1.2 and 1.3, ALPN http/1.1. With ca_file (PEM
 * certificates), the backend's certificate must chain to one of them and carry the name lb asks
 * for (transport_tls_connect); without, it is not checked (encryption without authentication).
 * Returns NULL with one line naming ca_file in err when it cannot be used. */
struct ssl_ctx_st *tls_client_ctx_create(const char *ca_file, char *err, size_t err_len);
void tls_client_ctx_free(struct ssl_ctx_st *ctx);

#endif
