/*
 * stats.h - the shared-memory statistics layout: lb writes it, lbtop and lbtrace read it.
 *
 * This header is the whole contract between the writer and every reader, so the two cannot
 * drift apart. docs/stats.md describes it for readers written in other languages.
 *
 * Design (after HAProxy's versioned stats-file layout, include/haproxy/stats-file-t.h):
 * - One POSIX shared-memory segment per lb, named after lb's listen port: "/lblab-<port>"
 *   (stats_shm_name() in stats_shm.h), mode 0644, created by lb at start-up and unlinked on exit.
 * - Every structure has an explicit size checked with _Static_assert, fields are naturally
 *   aligned, and padding is spelled out as reserved fields. ANY CHANGE OF A SIZE, AN ORDER, A
 *   MEANING, OR OF A CONSTANT BELOW BUMPS STATS_VERSION. Readers refuse other versions.
 * - The writer never takes a lock. Counters live in one block per worker thread, written only by
 *   that thread with relaxed atomic loads and stores (no read-modify-write, no lock prefix); a
 *   reader sums the blocks. Only connection gauges (active, peak) and backend state are shared
 *   by all threads; they change with atomic read-modify-writes, per connection event or change
 *   of state, never per request byte.
 * - Latency histograms use fixed log-linear buckets (8 per power of two, from 1 us to ~67 s), so
 *   per-worker histograms add up bucket by bucket and percentiles come from the sum.
 * - The recent-requests ring is written by all workers: a writer claims a position with one
 *   atomic fetch-add on ring.head, and each slot carries a sequence number (odd while being
 *   written, 2*position+2 when complete), so a reader detects torn or overwritten entries.
 * - Numbers are in host byte order (the segment never leaves the machine), except addresses,
 *   which are kept in network byte order as in struct in6_addr.
 *
 * Segment, in order (offsets also published in the header so readers can check them):
 *   struct stats_header                         1024 bytes at 0
 *   struct stats_backend   [STATS_MAX_BACKENDS] 512 bytes each, at header.backends_offset
 *   struct stats_ring      (STATS_RING_CAPACITY slots)         at header.ring_offset
 *   struct stats_worker    [header.nworkers]                   at header.workers_offset
 *
 * Everything a reader finds in the segment is untrusted: a reader bounds-checks every count,
 * index and string against the constants here and against the segment's real size.
 */
#ifndef LBLAB_STATS_H
#define LBLAB_STATS_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define STATS_MAGIC UINT64_C(0x4c424c4142535431) /* "LBLABST1" */
#define STATS_VERSION 4u

#define STATS_SHM_PREFIX "/lblab-" /* + decimal listen port, e.g. "/lblab-3000" */

#define STATS_MAX_BACKENDS 64
#define STATS_MAX_WORKERS 1024
#define STATS_RING_CAPACITY 1024 /* a power of two */

/* Histogram buckets, in microseconds: values 0..7 each have a bucket; from 8 up, each power of
 * two [2^e, 2^(e+1)) is split in 8 equal buckets, up to e = STATS_HIST_MAX_EXP; larger values
 * land in the last bucket. Relative bucket width is at most 1/8 (12.5%). */
#define STATS_HIST_SUB_BITS 3
#define STATS_HIST_SUB (1u << STATS_HIST_SUB_BITS)
#define STATS_HIST_MAX_EXP 25
#define STATS_HIST_BUCKETS (STATS_HIST_SUB + (STATS_HIST_MAX_EXP - STATS_HIST_SUB_BITS + 1) * STATS_HIST_SUB)

/* header.mode */
#define STATS_MODE_HTTP 1u
#define STATS_MODE_TCP 2u /* lb -m tcp: whole connections relayed (docs/stats.md says what the
                           * counters then mean) */

/* header.features: what this lb does, so readers show only what is meaningful */
#define STATS_FEATURE_CHECKS 0x1u /* active health checks run: checks_* counters move */
#define STATS_FEATURE_TLS 0x2u    /* an HTTPS listener (tls_listen_text): tls_* counters move */
#define STATS_FEATURE_SPLICE 0x4u /* large bodies may be spliced (no --no-splice): splice_*
                                   * counters move */

/* header.state */
#define STATS_WRITER_RUNNING 1u
#define STATS_WRITER_STOPPING 2u /* lb is shutting down; the segment goes away soon */

/* stats_backend.state: what lb believes (lb/health.h): UP, DOWN (failed checks, ejected after
 * failed requests, or admin) or DRAINING (no new requests); UNKNOWN is reserved. */
#define STATS_BACKEND_UNKNOWN 0u
#define STATS_BACKEND_UP 1u
#define STATS_BACKEND_DOWN 2u
#define STATS_BACKEND_DRAINING 3u

/* Response status classes: index 0 counts responses with no valid status (connection closed
 * before a response, tunnels), 1..5 count 1xx..5xx. */
#define STATS_STATUS_CLASSES 6

#define STATS_TEXT_LEN 64       /* names and addresses as text, NUL-padded */
#define STATS_HOST_LEN 128
#define STATS_METHOD_LEN 16
#define STATS_REQUEST_ID_LEN 64
#define STATS_PATH_LEN 256      /* truncated paths keep their first 255 bytes */
#define STATS_POOL_LEN 32       /* a backend's pool name, NUL-padded */
#define STATS_REASON_LEN 96     /* why a backend's state last changed, NUL-terminated */

/* An IPv4 or IPv6 address and port. family 0: none (e.g. no backend connection was made). */
struct stats_addr {
    uint8_t family;    /* 0, 4 or 6 */
    uint8_t reserved0;
    uint16_t port;     /* host byte order */
    uint32_t scope_id; /* IPv6 scope, else 0 */
    uint8_t addr[16];  /* network byte order; IPv4 in the first 4 bytes */
};
_Static_assert(sizeof(struct stats_addr) == 24, "stats_addr size");

/* ---- the header ------------------------------------------------------------------------- */

struct stats_header {
    /* Written once by the writer before it publishes magic (release); immutable after that. */
    _Atomic uint64_t magic;   /* STATS_MAGIC; 0 while the writer is still initialising */
    uint32_t version;         /* STATS_VERSION */
    uint32_t header_size;     /* sizeof(struct stats_header) */
    uint64_t segment_size;    /* bytes in the whole segment */
    uint32_t max_backends;    /* STATS_MAX_BACKENDS */
    uint32_t nbackends;       /* backends configured: backends[0 .. nbackends-1] are in use.
                                 The one field that may change after magic: it only grows
                                 (lb -c FILE reloaded with a new backend), by an atomic release
                                 store once the new entries are written; read it with an
                                 acquire load (stats_shm_backends()), never past max_backends */
    uint32_t max_workers;     /* STATS_MAX_WORKERS */
    uint32_t nworkers;        /* worker blocks present: workers[0 .. nworkers-1] */
    uint32_t backend_size;    /* sizeof(struct stats_backend) */
    uint32_t worker_size;     /* sizeof(struct stats_worker) */
    uint32_t ring_capacity;   /* STATS_RING_CAPACITY */
    uint32_t ring_slot_size;  /* sizeof(struct stats_ring_slot) */
    uint32_t hist_buckets;    /* STATS_HIST_BUCKETS */
    uint32_t hist_sub_bits;   /* STATS_HIST_SUB_BITS */
    uint64_t backends_offset; /* offsetof(struct stats_segment, backends) */
    uint64_t ring_offset;     /* offsetof(struct stats_segment, ring) */
    uint64_t workers_offset;  /* offsetof(struct stats_segment, workers) */
    int32_t writer_pid;       /* lb's pid */
    uint32_t mode;            /* STATS_MODE_* */
    uint64_t start_wall_ns;   /* when lb started, ns since the Unix epoch */
    uint64_t start_mono_ns;   /* the same moment on CLOCK_MONOTONIC */
    uint16_t listen_port;
    uint16_t reserved0;
    uint32_t features;        /* STATS_FEATURE_* */
    struct stats_addr listen_addr;      /* family 0: every address */
    char listen_text[STATS_TEXT_LEN];   /* as lb prints it, e.g. "0.0.0.0:3000" */
    char policy[32];                    /* e.g. "roundrobin" */
    char lb_version[16];                /* LBLAB_VERSION of the writer */

    /* Atomic, written by lb's stats thread. A reader considers lb gone when writer_pid is dead or
     * the heartbeat is older than a few seconds. */
    _Atomic uint64_t heartbeat_mono_ns; /* CLOCK_MONOTONIC, refreshed every 250 ms */
    _Atomic uint64_t heartbeat_wall_ns;
    _Atomic uint32_t state;             /* STATS_WRITER_* */
    uint32_t reserved2;

    /* Atomic read-modify-write by every worker, on client connection events only. */
    _Atomic uint64_t clients_active; /* client connections open now */
    _Atomic uint64_t clients_peak;   /* the most ever open at once */

    /* Written once before magic, like the fields at the top. */
    struct stats_addr admin_addr; /* lb's admin endpoint (--admin); family 0: none. An address
                                   * of every host (0.0.0.0, ::) is reached on loopback */
    char tls_listen_text[STATS_TEXT_LEN]; /* lb's HTTPS listener (--tls-listen) as lb prints
                                           * it, e.g. "127.0.0.1:3443"; "" when none */

    uint8_t reserved[1024 - 384];
};
_Static_assert(offsetof(struct stats_header, listen_addr) == 120, "stats_header layout");
_Static_assert(offsetof(struct stats_header, heartbeat_mono_ns) == 256, "stats_header layout");
_Static_assert(offsetof(struct stats_header, clients_active) == 280, "stats_header layout");
_Static_assert(offsetof(struct stats_header, admin_addr) == 296, "stats_header layout");
_Static_assert(offsetof(struct stats_header, tls_listen_text) == 320, "stats_header layout");
_Static_assert(sizeof(struct stats_header) == 1024, "stats_header size");

/* ---- per backend: configuration and shared state ------------------------------------------ */

struct stats_backend {
    /* Immutable after start-up (written before magic is published). */
    char name[STATS_TEXT_LEN];  /* the name lb, lbtop and lbtrace show: -b ...,name=NAME, or
                                   "host:port" as given, e.g. "localhost:3001" */
    char host[STATS_HOST_LEN];  /* host as configured */
    uint16_t port;              /* port as configured */
    uint16_t reserved0;
    uint32_t index;             /* its position in backends[] */

    /* Atomic, any thread. */
    _Atomic uint32_t state;                /* STATS_BACKEND_* */
    _Atomic uint32_t weight;               /* -b ...,weight=N (1 by default) */
    _Atomic uint64_t last_change_wall_ns;  /* last change of state, ns since the epoch */
    _Atomic uint64_t active_conns;         /* connections to it open now */
    _Atomic uint64_t peak_conns;           /* the most ever open at once */
    _Atomic uint64_t checks_total;         /* active health checks made (0 without checks) */
    _Atomic uint64_t checks_failed;        /* of those, failed */

    /* The address the host last resolved to, under a sequence lock like a ring slot (odd while
     * being written). Atomic, any thread. */
    _Atomic uint64_t resolved_seq;
    _Atomic uint64_t resolved_words[3];    /* a struct stats_addr */

    /* Why the state last changed, as text ("3 checks failed: connect refused", "ejected for
     * 10 s after 1 failure in 10 s: timeout", "admin"; "" before the first change), under a
     * sequence lock like resolved_seq (odd while being written). One writer at a time. */
    _Atomic uint64_t reason_seq;
    _Atomic uint64_t reason_words[STATS_REASON_LEN / 8]; /* NUL-terminated text */

    /* Immutable after start-up, like name. */
    char pool[STATS_POOL_LEN];  /* the pool it serves in, e.g. "default" (lb has one pool until
                                   pools are configured); "" from a writer that has none */

    uint8_t reserved[512 - 416];
};
_Static_assert(offsetof(struct stats_backend, state) == 200, "stats_backend layout");
_Static_assert(offsetof(struct stats_backend, resolved_seq) == 248, "stats_backend layout");
_Static_assert(offsetof(struct stats_backend, reason_seq) == 280, "stats_backend layout");
_Static_assert(offsetof(struct stats_backend, pool) == 384, "stats_backend layout");
_Static_assert(STATS_REASON_LEN % 8 == 0, "the reason is stored word by word");
_Static_assert(sizeof(struct stats_backend) == 512, "stats_backend size");

/* ---- the ring of recent requests ---------------------------------------------------------- */

/* stats_ring_entry.kind */
#define STATS_ENTRY_HTTP 1u /* one HTTP request and its response */
#define STATS_ENTRY_TCP 2u  /* one client connection relayed whole (lb -m tcp) */

/* stats_ring_entry.flags */
#define STATS_ENTRY_RETRIED 0x01u    /* connecting failed at least once; retries says how often */
#define STATS_ENTRY_REUSED 0x02u     /* the backend connection was reused (keep-alive pool) */
#define STATS_ENTRY_GENERATED 0x04u  /* lb answered itself (400, 408, 502, 503, 504 ...) */
#define STATS_ENTRY_TRUNCATED 0x08u  /* path or request id did not fit and was cut */
#define STATS_ENTRY_CLIENT_TLS 0x10u /* the client leg is TLS (lb's HTTPS listener): its bytes
                                      * on the wire are records lb decrypted */
#define STATS_ENTRY_BACKEND_TLS 0x20u /* the backend leg is TLS (-b ...,tls) */
#define STATS_ENTRY_SPLICED 0x40u /* body bytes went from socket to socket through a pipe
                                   * (splice), not through lb's buffers */

/* One finished request. Strings are NUL-terminated (a reader still checks). method and
 * request_id are NUL-padded; bytes of path after its NUL are unspecified: a writer copies the
 * words up to the path's end only, so what follows may be left over from an older entry. */
struct stats_ring_entry {
    uint64_t start_wall_ns;  /* when its first byte arrived, ns since the epoch */
    uint64_t connect_ns;     /* connecting to the backend (0 when reused or none) */
    uint64_t ttfb_ns;        /* request sent to first response byte from the backend */
    uint64_t total_ns;       /* first request byte to last response byte sent */
    uint64_t bytes_in;       /* request body bytes received from the client */
    uint64_t bytes_out;      /* response bytes (head included) sent to the client */
    uint64_t client_conn_id; /* serial number of the client connection in its worker: the pair
                              * (worker, client_conn_id) is unique in one lb run */
    struct stats_addr client;       /* the client's address and port */
    struct stats_addr lb_front;     /* lb's address and port on the client connection */
    struct stats_addr lb_back;      /* lb's address and port on the backend connection */
    struct stats_addr backend;      /* the backend's address and port */
    uint16_t status;         /* status sent to the client, 0 when none */
    uint16_t worker;         /* worker thread that served it */
    int16_t backend_index;   /* index in backends[], -1 when no backend was chosen */
    uint8_t kind;            /* STATS_ENTRY_HTTP or STATS_ENTRY_TCP */
    uint8_t flags;           /* STATS_ENTRY_* */
    uint32_t conn_request;   /* 1 for the first request on the client connection, 2 ... */
    uint32_t retries;        /* connect attempts that failed before this one */
    char method[STATS_METHOD_LEN];
    char request_id[STATS_REQUEST_ID_LEN]; /* X-Request-ID as sent to the backend */
    char path[STATS_PATH_LEN];
};
_Static_assert(offsetof(struct stats_ring_entry, client) == 56, "stats_ring_entry layout");
_Static_assert(offsetof(struct stats_ring_entry, status) == 152, "stats_ring_entry layout");
_Static_assert(offsetof(struct stats_ring_entry, method) == 168, "stats_ring_entry layout");
_Static_assert(offsetof(struct stats_ring_entry, path) == 248, "stats_ring_entry layout");
_Static_assert(sizeof(struct stats_ring_entry) == 504, "stats_ring_entry size");

#define STATS_RING_ENTRY_WORDS (sizeof(struct stats_ring_entry) / sizeof(uint64_t))

/* A slot: the entry is stored as 63 words with relaxed atomic stores between two stores of seq.
 * Writer: seq = 2*pos+1; release fence; words; seq = 2*pos+2 (release).
 * Reader: s1 = seq (acquire); words; acquire fence; s2 = seq; the copy is good iff
 * s1 == s2 == 2*pos+2 for the position pos the reader wanted. seq 0: never written. */
struct stats_ring_slot {
    _Atomic uint64_t seq;
    _Atomic uint64_t words[STATS_RING_ENTRY_WORDS];
};
_Static_assert(sizeof(struct stats_ring_slot) == 512, "stats_ring_slot size");

struct stats_ring {
    _Atomic uint64_t head;   /* entries ever written; the next goes to position head */
    uint32_t capacity;       /* STATS_RING_CAPACITY; position p lives in slots[p % capacity] */
    uint32_t slot_size;      /* sizeof(struct stats_ring_slot) */
    uint8_t reserved[64 - 16];
    struct stats_ring_slot slots[STATS_RING_CAPACITY];
};
_Static_assert(offsetof(struct stats_ring, slots) == 64, "stats_ring layout");
_Static_assert((STATS_RING_CAPACITY & (STATS_RING_CAPACITY - 1)) == 0, "ring capacity");

/* ---- per-worker counters ------------------------------------------------------------------ */

/* A latency histogram; values are recorded in nanoseconds and bucketed in microseconds. */
struct stats_hist {
    _Atomic uint64_t count;
    _Atomic uint64_t sum_ns;
    _Atomic uint64_t max_ns;
    _Atomic uint64_t reserved;
    _Atomic uint64_t buckets[STATS_HIST_BUCKETS];
};
_Static_assert(STATS_HIST_BUCKETS == 192, "histogram geometry");
_Static_assert(sizeof(struct stats_hist) == 8 * (4 + 192), "stats_hist size");

/* Everything below: written only by the owning worker thread (relaxed atomic load + store),
 * read by anyone (relaxed atomic loads). */
struct stats_global_counters {
    _Atomic uint64_t clients_accepted;        /* client connections accepted */
    _Atomic uint64_t clients_closed;          /* client connections closed */
    _Atomic uint64_t clients_closed_requests; /* requests served on the connections closed */
    _Atomic uint64_t requests;                /* requests received (header block complete) */
    _Atomic uint64_t responses[STATS_STATUS_CLASSES]; /* requests finished, by status class */
    _Atomic uint64_t bytes_in;                /* request body bytes received from clients */
    _Atomic uint64_t bytes_out;               /* response bytes (head included) sent to clients */
    _Atomic uint64_t client_timeouts;         /* 408 or close: request incomplete in time */
    _Atomic uint64_t bad_requests;            /* refused as malformed (400, 414, 431, 501) */
    _Atomic uint64_t no_backend;              /* 503: no backend available */
    /* the HTTPS listener's handshakes (0 without one) */
    _Atomic uint64_t tls_handshakes;          /* completed */
    _Atomic uint64_t tls_handshake_failures;  /* connections closed before theirs completed */
    _Atomic uint64_t tls_v12;                 /* of the completed, TLS 1.2 ones */
    _Atomic uint64_t tls_v13;                 /* and TLS 1.3 ones */
    _Atomic uint64_t tls_resumed;             /* of the completed, resumed sessions (a ticket
                                               * or the session cache: no certificate, no
                                               * signature) */
    /* the worker's event loop (lb/worker.c): how much work one wake-up finds, and how the
     * writes it holds for the end of a batch of events go out (lb/sendbatch.h) */
    _Atomic uint64_t loop_wakeups;            /* epoll_wait() calls that returned events */
    _Atomic uint64_t loop_events;             /* the events they returned */
    _Atomic uint64_t held_writes;             /* writes held to the end of a batch, then made
                                               * together */
    _Atomic uint64_t held_uring_calls;        /* io_uring_enter() calls that made them */
    _Atomic uint64_t held_sendmsg_calls;      /* sendmsg() calls that made them (no io_uring,
                                               * or one the ring did not take) */
    /* spliced transfers (lb/pipebuf.h): large bodies, and -m tcp's bulk flows, moved from socket
     * to socket through a kernel pipe instead of through lb's buffers */
    _Atomic uint64_t spliced_bytes;           /* bytes spliced into sockets (also counted in
                                               * bytes_in or bytes_out) */
    _Atomic uint64_t splice_transfers;        /* pipes given to a transfer */
    _Atomic uint64_t splice_pipes_made;       /* of those, made new (the rest came from the
                                               * worker's cache of empty pipes) */
    _Atomic uint64_t reserved[32 - 28];
};
_Static_assert(sizeof(struct stats_global_counters) == 256, "stats_global_counters size");

struct stats_backend_counters {
    _Atomic uint64_t conns_opened;     /* backend connections established */
    _Atomic uint64_t conns_closed;
    _Atomic uint64_t conns_reused;     /* requests sent on an already open connection */
    _Atomic uint64_t requests;         /* requests sent to it (started) */
    _Atomic uint64_t requests_done;    /* of those, finished (in flight = requests - done) */
    _Atomic uint64_t responses[STATS_STATUS_CLASSES]; /* by status class the client got */
    _Atomic uint64_t resp_502;         /* also counted in responses[5] */
    _Atomic uint64_t resp_503;
    _Atomic uint64_t resp_504;
    _Atomic uint64_t connect_errors;   /* connects that failed (refused, unreachable, timeout) */
    _Atomic uint64_t timeouts;         /* responses that took longer than --server-timeout */
    _Atomic uint64_t retries;          /* requests moved to another backend after failing here */
    _Atomic uint64_t bytes_in;         /* request body bytes of its requests (client to backend) */
    _Atomic uint64_t bytes_out;        /* response bytes of its requests as sent to the client */
    _Atomic uint64_t reserved[32 - 19];
    struct stats_hist connect;         /* connect time (new connections only) */
    struct stats_hist ttfb;            /* request sent to first response byte */
    struct stats_hist total;           /* first request byte to last response byte */
};
_Static_assert(offsetof(struct stats_backend_counters, connect) == 256, "counters layout");
_Static_assert(sizeof(struct stats_backend_counters) == 256 + 3 * sizeof(struct stats_hist),
               "stats_backend_counters size");

struct stats_worker {
    struct stats_global_counters global;
    struct stats_backend_counters backends[STATS_MAX_BACKENDS];
};
_Static_assert(sizeof(struct stats_worker) % 64 == 0, "worker blocks stay cache-line aligned");
_Static_assert(sizeof(struct stats_worker) == 256 + 64 * 4960, "stats_worker size");

/* ---- the whole segment -------------------------------------------------------------------- */

struct stats_segment {
    struct stats_header header;
    struct stats_backend backends[STATS_MAX_BACKENDS];
    struct stats_ring ring;
    struct stats_worker workers[]; /* header.nworkers of them */
};
_Static_assert(offsetof(struct stats_segment, backends) == 1024, "segment layout");
_Static_assert(offsetof(struct stats_segment, ring) == 1024 + 64 * 512, "segment layout");
_Static_assert(offsetof(struct stats_segment, workers) == 1024 + 64 * 512 + 64 + 1024 * 512,
               "segment layout");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "the layout needs lock-free 64-bit atomics (no hidden locks in shared memory)");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && alignof(_Atomic uint64_t) == 8,
               "atomics must have the size of plain integers");

/* The size of a segment with nworkers worker blocks. */
static inline uint64_t stats_segment_size(uint32_t nworkers)
{
    return (uint64_t)offsetof(struct stats_segment, workers) +
           (uint64_t)nworkers * sizeof(struct stats_worker);
}

/* ---- histogram buckets (part of the layout: changing them bumps STATS_VERSION) ------------ */

/* The bucket of a value in microseconds. */
static inline unsigned stats_hist_bucket(uint64_t us)
{
    if (us < STATS_HIST_SUB)
        return (unsigned)us;
    unsigned e = 63u - (unsigned)__builtin_clzll(us); /* us in [2^e, 2^(e+1)) */
    if (e > STATS_HIST_MAX_EXP)
        return STATS_HIST_BUCKETS - 1;
    unsigned sub = (unsigned)(us >> (e - STATS_HIST_SUB_BITS)) - STATS_HIST_SUB;
    return STATS_HIST_SUB + (e - STATS_HIST_SUB_BITS) * STATS_HIST_SUB + sub;
}

/* The smallest value in microseconds that lands in bucket b. */
static inline uint64_t stats_hist_bucket_low(unsigned b)
{
    if (b < STATS_HIST_SUB)
        return b;
    unsigned octave = (b - STATS_HIST_SUB) / STATS_HIST_SUB;
    unsigned sub = (b - STATS_HIST_SUB) % STATS_HIST_SUB;
    return (uint64_t)(STATS_HIST_SUB + sub) << octave;
}

/* One past the largest value in microseconds of bucket b (the last bucket has no bound; this
 * returns where it would end). */
static inline uint64_t stats_hist_bucket_high(unsigned b)
{
    if (b < STATS_HIST_SUB)
        return (uint64_t)b + 1;
    unsigned octave = (b - STATS_HIST_SUB) / STATS_HIST_SUB;
    unsigned sub = (b - STATS_HIST_SUB) % STATS_HIST_SUB;
    return (uint64_t)(STATS_HIST_SUB + sub + 1) << octave;
}

#endif
