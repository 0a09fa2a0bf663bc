/*
 * backend.c - the backend table and its lock-free address publication.
 *
 * Sequence lock after Boehm, "Can seqlocks get along with programming language memory models?":
 * the writer makes seq odd, stores the words (relaxed atomics), makes seq even again; a reader
 * loads seq (acquire), the words (relaxed), an acquire fence, seq again, and retries if seq was
 * odd or changed. All accesses are atomic, so there is no data race for sanitizers to find, and
 * neither side ever waits on the other for longer than a copy of a few words.
 *
 * Whether a backend is up is not kept here: lb/health.c decides that.
 */
#include "backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_context.h"

bool backend_addr_parse_numeric(const char *host, uint16_t port, struct backend_addr *a)
{
    memset(a, 0, sizeof(*a));
    a->port = port;
    if (inet_pton(AF_INET, host, a->ip) == 1) {
        a->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, host, a->ip) == 1) {
        a->family = AF_INET6;
        return true;
    }
    return false;
}

struct backend_table *backend_table_create(const char *const hosts[], const uint16_t ports[],
                                           size_t count)
{
    struct backend_table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->backends = calloc(count ? count : 1, sizeof(*t->backends));
    if (t->backends == NULL) {
        free(t);
        return NULL;
    }
    t->count = count;
    for (size_t i = 0; i < count; i++) {
        struct backend *b = &t->backends[i];
        struct backend_addr a;
        b->index = i;
        snprintf(b->host, sizeof(b->host), "%s", hosts[i]);
        b->port = ports[i];
        if (strchr(b->host, ':') != NULL)
            snprintf(b->authority, sizeof(b->authority), "[%s]:%u", b->host, (unsigned)b->port);
        else
            snprintf(b->authority, sizeof(b->authority), "%s:%u", b->host, (unsigned)b->port);
        snprintf(b->name, sizeof(b->name), "%s", b->authority);
        b->weight = 1;
        b->backup = false;
        atomic_init(&b->seq, 0);
        atomic_init(&b->num_addrs, 0);
        atomic_init(&b->preferred, 0);
        for (size_t w = 0; w < BACKEND_MAX_ADDRS * 3; w++)
            atomic_init(&b->words[w], 0);
        b->numeric = backend_addr_parse_numeric(b->host, b->port, &a);
        if (b->numeric)
            backend_publish_addrs(b, &a, 1);
    }
    return t;
}

void backend_set_options(struct backend *b, const char *name, unsigned weight, bool backup)
{
    if (name != NULL && name[0] != '\0')
        snprintf(b->name, sizeof(b->name), "%s", name);
    b->weight = weight == 0 ? 1 : weight > BACKEND_MAX_WEIGHT ? BACKEND_MAX_WEIGHT : weight;
    b->backup = backup;
}

void backend_set_send_proxy(struct backend *b, unsigned version)
{
    b->send_proxy = version == 1 || version == 2 ? (uint8_t)version : 0;
}

int backend_set_tls(struct backend *b, const char *ca_file, const char *sni, char *err,
                    size_t err_len)
{
    bool verify = ca_file != NULL && *ca_file != '\0';
    b->tls_ctx = tls_client_ctx_create(verify ? ca_file : NULL, err, err_len);
    if (b->tls_ctx == NULL)
        return -1;
    const char *name = sni != NULL && *sni != '\0' ? sni : b->host;
    bool is_ip = !(sni != NULL && *sni != '\0') && b->numeric;
    snprintf(b->tls_sni, sizeof(b->tls_sni), "%s", is_ip ? "" : name);
    snprintf(b->tls_verify, sizeof(b->tls_verify), "%s", verify ? name : "");
    return 0;
}

void backend_table_destroy(struct backend_table *t)
{
    if (t == NULL)
        return;
    free(t->backends);
    free(t);
}

void backend_publish_addrs(struct backend *b, const struct backend_addr *addrs, size_t n)
{
    if (n > BACKEND_MAX_ADDRS)
        n = BACKEND_MAX_ADDRS;
    unsigned seq = atomic_load_explicit(&b->seq, memory_order_relaxed);
    atomic_store_explicit(&b->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (size_t i = 0; i < n; i++) {
        uint64_t w[3];
        memcpy(w, &addrs[i], sizeof(w));
        for (int k = 0; k < 3; k++)
            atomic_store_explicit(&b->words[i * 3 + k], w[k], memory_order_relaxed);
    }
    atomic_store_explicit(&b->num_addrs, (unsigned)n, memory_order_relaxed);
    atomic_store_explicit(&b->seq, seq + 2, memory_order_release);
}

size_t backend_get_addrs(struct backend *b, struct backend_addr *out, size_t max)
{
    for (;;) {
        unsigned s1 = atomic_load_explicit(&b->seq, memory_order_acquire);
        if (s1 & 1u)
            continue; /* a write is in progress: it takes a few nanoseconds */
        size_t n = atomic_load_explicit(&b->num_addrs, memory_order_relaxed);
        if (n > max)
            n = max;
        if (n > BACKEND_MAX_ADDRS)
            n = BACKEND_MAX_ADDRS;
        for (size_t i = 0; i < n; i++) {
            uint64_t w[3];
            for (int k = 0; k < 3; k++)
                w[k] = atomic_load_explicit(&b->words[i * 3 + k], memory_order_relaxed);
            memcpy(&out[i], w, sizeof(w));
        }
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&b->seq, memory_order_relaxed) == s1)
            return n;
    }
}

bool backend_has_addrs(struct backend *b)
{
    return atomic_load_explicit(&b->num_addrs, memory_order_relaxed) > 0;
}

socklen_t backend_addr_to_sockaddr(const struct backend_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(a->port);
        memcpy(&in->sin_addr, a->ip, 4);
        return sizeof(*in);
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(a->port);
    in6->sin6_scope_id = a->scope_id;
    memcpy(&in6->sin6_addr, a->ip, 16);
    return sizeof(*in6);
}

int backend_addr_from_sockaddr(const struct sockaddr *sa, struct backend_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        a->family = AF_INET;
        a->port = ntohs(in->sin_port);
        memcpy(a->ip, &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        a->family = AF_INET6;
        a->port = ntohs(in6->sin6_port);
        a->scope_id = in6->sin6_scope_id;
        memcpy(a->ip, &in6->sin6_addr, 16);
        return 0;
    }
    return -EAFNOSUPPORT;
}
