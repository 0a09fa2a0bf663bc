/*
 * tls_bio.h - the BIO that lb's TLS connections write through: it holds a session ticket back
 * and sends it with the next write.
 *
 * After a handshake OpenSSL sends the client a session ticket (TLS 1.3: a NewSessionTicket
 * message after the handshake; TLS 1.2: one before the server's last flight) and flushes it at
 * once, which costs a write() and a TCP segment, and wakes the client for bytes it does not need
 * yet. This BIO keeps those bytes (what OpenSSL writes while its state is
 * TLS_ST_SW_SESSION_TICKET) and sends them in one sendmsg() with whatever is written next on
 * the connection: the first response, the server's Finished in TLS 1.2, or the close_notify.
 * Order on the wire is unchanged; a connection closed without a further write drops them (its
 * client is gone or never asked anything). Every other write goes straight to the socket, with
 * a socket's semantics: partial writes, and EAGAIN as a retry.
 *
 * The read BIO is a socket's (read(), EAGAIN as a retry, 0 as the end) that also remembers
 * whether its last read came up short: then the socket had nothing more, and a caller whose
 * library holds no bytes either need not read again before the next epoll event (one read()
 * that would only say EAGAIN saved per request).
 */
#ifndef LB_TLS_BIO_H
#define LB_TLS_BIO_H

#include <stdbool.h>

struct bio_st; /* OpenSSL's BIO */
struct ssl_st; /* OpenSSL's SSL */

/* A write BIO for ssl over the connected, non-blocking socket fd (which it does not close).
 * Returns NULL when out of memory. */
struct bio_st *tls_bio_new_write(int fd, const struct ssl_st *ssl);

/* A read BIO over the connected, non-blocking socket fd (which it does not close); SSL_get_fd()
 * finds fd in it. Returns NULL when out of memory. */
struct bio_st *tls_bio_new_read(int fd);

/* Whether the last read of rbio (made by tls_bio_new_read) took less than it asked for, or
 * found nothing: the socket was empty then. */
bool tls_bio_read_drained(struct bio_st *rbio);

#endif
