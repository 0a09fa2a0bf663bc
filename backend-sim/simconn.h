/*
 * simconn.h - the state shared by backend-sim's instance loop (simsrv.c), its connection state
 * machine (simconn.c) and its responses (simresp.c). Private to those three files: nothing else
 * includes it, and simsrv.h stays the instance's whole public contract.
 *
 * Ownership: a struct simsrv and every struct simconn in it belong to the instance's one thread;
 * only simsrv.stop is touched by another thread (atomically). Nothing here is locked.
 */
#ifndef LBLAB_SIMCONN_H
#define LBLAB_SIMCONN_H

#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "endpoint.h"
#include "http.h"
#include "net.h"
#include "simbuf.h"
#include "simsrv.h"
#include "timer.h"

#define IN_MAX          (HTTP_LIMITS_DEFAULT_HEADER_BYTES + 16384) /* input buffer limit */
#define READ_CHUNK      16384
#define HEAD_READ       4096
#define KEEP_BUF_MAX    (64 * 1024)   /* larger buffers are freed between requests */
#define ACCEPT_PAUSE_MS 100           /* out of descriptors: stop accepting this long */
#define OUT_HIGH        (64 * 1024)   /* produce no more output while this much is unsent */
#define ECHO_MEM_MAX    (1024 * 1024) /* /echo bodies up to this are answered with headers */
#define ADMIN_BODY_MAX  256
#define IO_TIMEOUT_MS   60000u /* a request making no progress for this long is dropped */
#define LINGER_MS       2000u  /* after a final response, wait this long for the client's FIN */
#define REFUSING_MAX    256    /* connections being refused (--max-conns) at the same time */
#define FREE_CONNS_MAX  64     /* closed connections kept for reuse, with their buffers */
#define MAX_EVENTS      256

enum health { HEALTH_UP, HEALTH_DOWN, HEALTH_SLOW };
#define SLOW_DEFAULT_MS 3000u

enum in_state {
    IN_HEAD,   /* waiting for a request head */
    IN_BODY,   /* consuming the current request's body */
    IN_WAIT,   /* body consumed; the response is still being produced or sent */
    IN_STOP,   /* no more requests on this connection (error, hang, closing) */
    IN_TUNNEL, /* /upgrade: after the 101, every byte received is sent back */
};

enum body_sink { SINK_DISCARD, SINK_COLLECT, SINK_ECHO_STREAM };

enum out_state {
    OUT_NONE,      /* no request */
    OUT_HELD,      /* response rendered into pend, released at hold_until */
    OUT_WAIT_BODY, /* /echo, /admin/health: the response needs the request body first */
    OUT_STREAM,    /* head sent; body produced as the socket drains */
    OUT_DONE,      /* everything produced; done when the output buffer is flushed */
    OUT_HANG,      /* /hang: never answers */
};

enum stream_kind { ST_BYTES, ST_CHUNKED, ST_FILE, ST_ECHO, ST_TUNNEL };

enum after {
    AFTER_KEEP,  /* keep the connection for the next request */
    AFTER_CLOSE, /* graceful: shutdown(SHUT_WR), drain, close */
    AFTER_ABORT, /* close right away: the client is gone, or the framing cannot be kept */
    AFTER_RESET, /* SO_LINGER 0: the close sends a TCP RST */
};

struct simsrv;

struct simconn {
    struct simsrv *srv;
    struct simconn *prev, *next; /* srv->conns, or srv->free_conns */
    struct timer timer;
    int fd;
    struct simtls_conn *tls; /* --tls-cert: reads and writes go through TLS; NULL: plain */
    struct simconn *ready_next; /* srv->ready, while queued there */
    bool in_ready;
    bool counted; /* counts against --max-conns */
    bool closed;  /* waiting in the graveyard until the end of the loop iteration */
    bool lingering;
    bool can_read, can_write, rdhup, peer_eof;
    char peer_ip[INET6_ADDRSTRLEN];
    uint16_t peer_port;
    char local_ip[INET6_ADDRSTRLEN]; /* the address the client connected to */
    char peer_str[NET_ADDRSTR_LEN];
    /* --accept-proxy: the header is read before anything else; once read, peer_* are the client
     * it named and proxy_from is the connection's own peer (the balancer) */
    bool proxy_pending;
    uint8_t proxy_version; /* 1 or 2 once a header was read, else 0 */
    char proxy_from[NET_ADDRSTR_LEN];

    struct simbuf in; /* received bytes; in.data[in_off..in.len) not yet used */
    size_t in_off;
    struct simbuf out; /* bytes to send: out.data[out_off..out.len) */
    size_t out_off;
    struct simbuf pend; /* a held response */
    struct simbuf body; /* a collected request body */
    struct simbuf meta; /* copies of method, path, X-Request-ID, X-Forwarded-For for the log */

    uint64_t idle_since_ms, last_progress_ms, linger_until_ms;
    uint64_t conn_requests;

    /* the current request */
    bool req_active;
    enum endpoint_kind kind;
    enum in_state ist;
    enum out_state ost;
    enum out_state after_hold; /* the state a held response moves to */
    enum after after;
    bool head_only; /* HEAD: no response body */
    bool keep;      /* the response keeps the connection */
    int minor;
    int status;
    uint64_t resp_sent;  /* bytes sent since the request began (interim responses included) */
    size_t interim_len;  /* of that, the 100 Continue put before the response */
    uint64_t start_ns, start_mono_ns;
    uint64_t hold_until_ms, hang_until_ms;
    size_t m_method, m_method_len, m_path, m_path_len, m_rid, m_rid_len, m_xff, m_xff_len;
    bool has_method, has_rid, has_xff;

    struct http_body req_body; /* the request body's framing, followed as it is consumed */
    bool body_done;            /* nothing more of the request body is read */
    enum body_sink sink;
    size_t collect_limit;
    bool collect_overflow;

    enum stream_kind sk;
    uint64_t st_n;   /* /bytes N: seeds the pattern */
    uint64_t st_off; /* body bytes produced */
    uint64_t st_end; /* produce until here */
    uint32_t st_chunk, st_gap;
    uint64_t next_chunk_ms;
    bool st_chunked; /* the response uses chunked framing */
    int file_fd;
    uint64_t body_bytes; /* response body bytes produced */

    EVP_MD_CTX *md; /* /echo hashing, allocated on first use */
    uint64_t echo_len;
};

struct simsrv {
    /* immutable after simsrv_create() */
    const struct simsrv_shared *sh;
    const struct simcfg *cfg;
    const struct simcfg_instance *ic;
    size_t index;
    int listen_fd, epoll_fd, wake_fd;
    uint16_t port;
    char local_addr[INET6_ADDRSTRLEN];
    struct endpoint_caps caps;
    struct http_limits limits;
    pthread_t thread;
    bool started;

    atomic_bool stop; /* set by simsrv_stop() from another thread */

    /* owned by the instance's thread */
    uint64_t now_ms;
    uint64_t wall_sec;
    struct simbuf common; /* Date, Server, X-Backend, X-Backend-Port lines; rebuilt each second */
    struct timer_heap timers;
    struct simconn *conns;      /* every open connection */
    struct simconn *graveyard;  /* closed this iteration, freed at its end */
    struct simconn *free_conns; /* for reuse */
    struct simconn *ready;      /* to drive again: they stopped after their fair share */
    size_t n_free;
    uint32_t n_counted, n_refusing;
    uint64_t accept_paused_until; /* 0: accepting */
    uint64_t requests;
    enum health health;
    uint32_t slow_ms;
    uint64_t rng;
    struct simbuf scratch; /* response bodies are rendered here first */
    struct simbuf logbuf;  /* log lines waiting for the end of the loop iteration */
};

static inline size_t simconn_out_pending(const struct simconn *c)
{
    return c->out.len - c->out_off;
}

static inline void simconn_list_remove(struct simconn **head, struct simconn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static inline void simconn_list_push(struct simconn **head, struct simconn *c)
{
    c->prev = NULL;
    c->next = *head;
    if (*head)
        (*head)->prev = c;
    *head = c;
}

/* --- simconn.c: connections --------------------------------------------------------------- */

/* A new connection on fd from peer *ss (counted against --max-conns or being refused), on the
 * instance's list; NULL when out of memory. */
struct simconn *simconn_new(struct simsrv *s, int fd, struct sockaddr_storage *ss, bool counted);

/* Closes the socket (logging the request in progress when log_request); the memory waits in
 * the graveyard until the end of the loop iteration. */
void simconn_close(struct simconn *c, bool log_request);

void simconn_free(struct simconn *c);

/* Makes all the progress the connection can, then arms its timer. */
void simconn_drive(struct simconn *c);

/* Handles the connection's deadlines that have passed (idle, hang, stall, linger). */
void simconn_expire(struct simconn *c);

/* Drops the bytes already sent from the output buffer. */
void simconn_out_compact(struct simconn *c);

/* --- simresp.c: responses ----------------------------------------------------------------- */

/* Starts the request whose head (head_len bytes) is at c->in.data + c->in_off and was parsed
 * into req: routes it, renders or schedules its response, sets up its body's sink. */
void simresp_request(struct simconn *c, struct http_request *req, size_t head_len);

/* Answers a request the parser refused (req->error) and marks the connection for closing. */
void simresp_bad_request(struct simconn *c, const struct http_request *req);

/* The current request's body turned out malformed (why: a short text): answers 400 and marks the
 * connection for closing when nothing of the response has been sent yet; otherwise the response
 * under way is finished if it was complete, else the connection is closed at once, and either is
 * reported on stderr (the log line keeps the status that was sent). */
void simresp_bad_body(struct simconn *c, const char *why);

/* Answers a connection beyond --max-conns with 503 and marks it for closing. */
void simresp_refuse(struct simconn *c);

/* Moves a held response on when its hold is over. */
void simresp_release(struct simconn *c);

/* /echo and /admin/health: the body is complete (or too big to wait for): answer. */
void simresp_after_body(struct simconn *c);

/* /echo: switch to streaming the body back as it arrives; and finish that stream. */
void simresp_echo_start_stream(struct simconn *c);
void simresp_echo_finish(struct simconn *c);

/* /echo: counts and hashes n echoed bytes. */
void simresp_echo_hash(struct simconn *c, const char *p, size_t n);

#endif
