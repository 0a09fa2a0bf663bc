/*
 * backend.h - the table of backends: what the command line named, and the addresses the
 * resolver last found for each.
 *
 * The table is built once by main() and never resized. Names and ports are immutable after
 * start-up. Addresses change while workers run: the resolver thread is the only writer, and
 * publishes them under a sequence lock made of C11 atomics, so a worker reading them never waits
 * and never blocks the resolver (a reader that overlaps a write simply reads again).
 */
#ifndef LB_BACKEND_H
#define LB_BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net.h"

/* The largest weight a backend may have (-b HOST:PORT,weight=N). */
#define BACKEND_MAX_WEIGHT 256

/* Addresses kept per backend (the first ones getaddrinfo returns). */
#define BACKEND_MAX_ADDRS 8

/* One resolved address, small and fixed-size so it can be published word by word. */
struct backend_addr {
    uint16_t family; /* AF_INET or AF_INET6 */
    uint16_t port;   /* host byte order */
    uint32_t scope_id;
    uint8_t ip[16]; /* 4 bytes used for AF_INET */
};
_Static_assert(sizeof(struct backend_addr) == 24, "backend_addr is published as 3 words");

struct backend {
    /* immutable after start-up */
    size_t index;
    char host[NET_HOST_LEN];
    uint16_t port;
    char authority[NET_HOST_LEN + 8]; /* "host:port" ("[v6]:port"): the Host lb sends with a
                                         request that has none */
    char name[NET_HOST_LEN + 8]; /* what logs, lbtop and lbtrace show: -b ...,name=NAME, or
                                    the authority by default */
    unsigned weight;             /* 1..BACKEND_MAX_WEIGHT (-b ...,weight=N), 1 by default */
    bool backup;                 /* -b ...,backup: serves only when no other backend can */
    uint8_t send_proxy;          /* -b ...,send-proxy(-v2): the PROXY protocol version (1 or 2)
                                    whose header lb -m tcp writes first on each connection;
                                    0: none */
    bool numeric;                /* host is an IP literal: never resolved again */
    bool on_demand;              /* --dns-ttl 0: resolved before each new connection */
    struct ssl_ctx_st *tls_ctx;  /* -b ...,tls: the client context lb speaks TLS with (owned by
                                    main(), shared read-only); NULL: plain TCP */
    char tls_sni[NET_HOST_LEN];  /* the name sent in the ClientHello; "": none */
    char tls_verify[NET_HOST_LEN]; /* the name or address its certificate must carry when
                                      ca= verifies: sni=, else the host */

    /* written by the resolver thread only (seqlock); read by anyone with backend_get_addrs() */
    atomic_uint seq;
    atomic_uint num_addrs;
    _Atomic uint64_t words[BACKEND_MAX_ADDRS * 3];

    /* atomic, relaxed: the address index that last connected, tried first next time */
    atomic_uint preferred;
};

struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

struct backend_table {
    /* immutable after start-up */
    size_t count;
    struct backend *backends;
};

/* Allocates a table of count backends with the given hosts and ports; numeric hosts get their
 * address at once, names get none until the resolver publishes some. Returns NULL on ENOMEM. */
struct backend_table *backend_table_create(const char *const hosts[], const uint16_t ports[],
                                           size_t count);
void backend_table_destroy(struct backend_table *t);

/* Sets what the command line said about b besides its address: its display name (NULL or "":
 * keep "host:port"), its weight (0 is taken as 1; above BACKEND_MAX_WEIGHT as the maximum) and
 * whether it is a backup. Call after backend_table_create() and before any worker starts. */
void backend_set_options(struct backend *b, const char *name, unsigned weight, bool backup);

/* Sets the PROXY protocol version (0 none, 1 or 2; anything else is taken as 0) lb sends b at the
 * start of each relayed connection (-m tcp). Call before any worker starts. */
void backend_set_send_proxy(struct backend *b, unsigned version);

/* Publishes addrs[0..n) (n <= BACKEND_MAX_ADDRS) as b's addresses. One writer at a time. */
void backend_publish_addrs(struct backend *b, const struct backend_addr *addrs, size_t n);

/* Copies b's current addresses into out[0..max). Returns how many. Never blocks. */
size_t backend_get_addrs(struct backend *b, struct backend_addr *out, size_t max);

/* True when b has at least one address to connect to. */
bool backend_has_addrs(struct backend *b);

/* Converts between struct backend_addr and socket addresses. from_sockaddr returns 0 or -EAFNOSUPPORT. */
socklen_t backend_addr_to_sockaddr(const struct backend_addr *a, struct sockaddr_storage *ss);
int backend_addr_from_sockaddr(const struct sockaddr *sa, struct backend_addr *a);

/* Parses a numeric IPv4/IPv6 literal into *a with port. Returns true if host was numeric. */
bool backend_addr_parse_numeric(const char *host, uint16_t port, struct backend_addr *a);

/* -b ...,tls[,ca=FILE][,sni=NAME]: b is reached over TLS, with a client context of its own
 * (tls_context.h) whose certificate check uses ca_file ("" or NULL: no check). The name sent is
 * sni, or b's host when that is a name (an IP address is never sent as SNI); the name checked is
 * the same, or the IP address. Call before any worker starts. Returns 0, or -1 with one line
 * naming the CA file in err. */
int backend_set_tls(struct backend *b, const char *ca_file, const char *sni, char *err,
                    size_t err_len);

#endif
