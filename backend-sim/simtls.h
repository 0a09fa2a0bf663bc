/*
 * simtls.h - TLS for backend-sim (--tls-cert/--tls-key): every instance then speaks HTTPS, so lb's
 * TLS to backends (-b HOST:PORT,tls) and TLS passing through lb -m tcp run end to end on one
 * machine.
 *
 * One server context is made at start-up and shared read-only by the instances' threads; each
 * connection has its own SSL object. The handshake happens inside the first reads and writes of
 * the connection, in its instance's event loop, and never blocks it. Reads and writes follow the
 * convention of a nonblocking socket: a byte count, 0 for the end of the stream (reads), -EAGAIN
 * to wait for the next event (of either kind: TLS may need to write to read, and the other way
 * round), or another -errno.
 */
#ifndef LBLAB_SIMTLS_H
#define LBLAB_SIMTLS_H

#include <stddef.h>
#include <sys/types.h>

struct simtls;      /* the server context */
struct simtls_conn; /* one connection */

/* Loads the PEM certificate chain and its key: TLS 1.2 and 1.3, ALPN http/1.1. Returns NULL
 * with one line naming the file at fault in err (missing, not PEM, a key that does not match). */
struct simtls *simtls_create(const char *cert_file, const char *key_file, char *err,
                             size_t err_len);
void simtls_destroy(struct simtls *t);

/* The server end of a TLS connection over the accepted nonblocking socket fd. NULL on ENOMEM. */
struct simtls_conn *simtls_accept(struct simtls *t, int fd);

ssize_t simtls_read(struct simtls_conn *c, void *buf, size_t len);
ssize_t simtls_write(struct simtls_conn *c, const void *buf, size_t len);

/* Sends close_notify when the handshake is done (best effort, no waiting). */
void simtls_shutdown(struct simtls_conn *c);

/* Frees the connection's TLS state (the socket is the caller's to close). NULL is fine. */
void simtls_free(struct simtls_conn *c);

#endif
