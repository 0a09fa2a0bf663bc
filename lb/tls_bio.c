/*
 * tls_bio.c - the BIOs under lb's TLS connections: a write BIO that sends a session ticket with
 * the next write, and a socket read BIO that remembers whether its last read drained the socket
 * (see tls_bio.h).
 */
#include "tls_bio.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>

/* Room for what is held: a TLS 1.3 ticket record is about 250 bytes (lb issues one). A ticket
 * that does not fit is not held but sent at once, after what is. */
#define HELD_MAX 512

struct held_write {
    int fd;
    const SSL *ssl;
    size_t len;  /* bytes held */
    size_t sent; /* of which a partial write already sent */
    char held[HELD_MAX];
};

/* Sends what is held, then data, in one sendmsg(). Returns what it took of data (0 when the
 * socket took only held bytes, or none), or -1 with errno. */
static ssize_t send_both(struct held_write *h, const char *data, size_t len)
{
    struct iovec iov[2];
    int cnt = 0;
    size_t held_left = h->len - h->sent;
    if (held_left > 0)
        iov[cnt++] = (struct iovec){.iov_base = h->held + h->sent, .iov_len = held_left};
    iov[cnt++] = (struct iovec){.iov_base = (void *)data, .iov_len = len};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
    ssize_t n;
    do
        n = sendmsg(h->fd, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    if ((size_t)n < held_left) {
        h->sent += (size_t)n;
        return 0;
    }
    h->len = h->sent = 0;
    return n - (ssize_t)held_left;
}

static int held_write_ex(BIO *b, const char *data, size_t len, size_t *written)
{
    struct held_write *h = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    *written = 0;
    if (SSL_get_state(h->ssl) == TLS_ST_SW_SESSION_TICKET && h->sent == 0 &&
        len <= HELD_MAX - h->len) {
        memcpy(h->held + h->len, data, len);
        h->len += len;
        *written = len;
        return 1;
    }
    ssize_t n = send_both(h, data, len);
    if (n > 0) {
        *written = (size_t)n;
        return 1;
    }
    if (n == 0)
        errno = EAGAIN; /* the socket is full: OpenSSL retries with the same bytes */
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        BIO_set_retry_write(b);
    return 0;
}

static long held_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    /* a flush keeps a held ticket (the point of this BIO); every other write is already sent */
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

/* --- the read BIO --- */

struct socket_read {
    int fd;
    bool drained; /* the last read took less than asked, or found nothing */
    bool eof;     /* a read returned 0 */
};

static int socket_read_ex(BIO *b, char *buf, size_t len, size_t *readbytes)
{
    struct socket_read *r = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    *readbytes = 0;
    ssize_t n;
    do
        n = read(r->fd, buf, len);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        r->drained = (size_t)n < len;
        *readbytes = (size_t)n;
        return 1;
    }
    if (n == 0) {
        r->eof = true;
        return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        r->drained = true;
        BIO_set_retry_read(b);
    }
    return 0;
}

static long socket_read_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    const struct socket_read *r = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_EOF: /* OpenSSL asks after a read of 0: the peer ended without close_notify */
        return r->eof;
    case BIO_C_GET_FD: /* SSL_get_fd() */
        if (ptr != NULL)
            *(int *)ptr = r->fd;
        return r->fd;
    case BIO_CTRL_FLUSH:
        return 1;
    default:
        return 0;
    }
}

bool tls_bio_read_drained(BIO *rbio)
{
    const struct socket_read *r = BIO_get_data(rbio);
    return r != NULL && r->drained;
}

/* --- both: their methods, made once for the process, and a BIO over each one's state --- */

static int free_data(BIO *b)
{
    free(BIO_get_data(b));
    BIO_set_data(b, NULL);
    return 1;
}

static BIO_METHOD *write_method, *read_method;
static pthread_once_t methods_once = PTHREAD_ONCE_INIT;

static void make_methods(void)
{
    BIO_METHOD *w = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "lblab held write");
    BIO_METHOD *r = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "lblab socket read");
    if (w == NULL || r == NULL || BIO_meth_set_write_ex(w, held_write_ex) != 1 ||
        BIO_meth_set_ctrl(w, held_ctrl) != 1 || BIO_meth_set_destroy(w, free_data) != 1 ||
        BIO_meth_set_read_ex(r, socket_read_ex) != 1 ||
        BIO_meth_set_ctrl(r, socket_read_ctrl) != 1 || BIO_meth_set_destroy(r, free_data) != 1) {
        BIO_meth_free(w);
        BIO_meth_free(r);
        return;
    }
    write_method = w;
    read_method = r;
}

/* A BIO of method m with state data (freed with it, or here when the BIO cannot be made). */
static BIO *bio_over(BIO_METHOD *m, void *data)
{
    BIO *b = data != NULL ? BIO_new(m) : NULL;
    if (b == NULL) {
        free(data);
        return NULL;
    }
    BIO_set_data(b, data);
    BIO_set_init(b, 1);
    return b;
}

BIO *tls_bio_new_write(int fd, const SSL *ssl)
{
    if (pthread_once(&methods_once, make_methods) != 0 || write_method == NULL)
        return NULL;
    struct held_write *h = calloc(1, sizeof(*h));
    if (h != NULL) {
        h->fd = fd;
        h->ssl = ssl;
    }
    return bio_over(write_method, h);
}

BIO *tls_bio_new_read(int fd)
{
    if (pthread_once(&methods_once, make_methods) != 0 || read_method == NULL)
        return NULL;
    struct socket_read *r = calloc(1, sizeof(*r));
    if (r != NULL)
        r->fd = fd;
    return bio_over(read_method, r);
}
