/*
 * soak_client.c - the client of `make soak` (scripts/soak.sh): many connections sending a mix of
 * requests through lb for a fixed time, every body checked, every failure recorded with its time
 * so that, at the end, each one is either explained by a fault the soak injected or reported.
 *
 *   soak-client -p LB_PORT [-c CONNS] [-d SECONDS] [--faults FILE]
 *
 * Each connection is a thread with a keep-alive connection (opened again after an error or a
 * "Connection: close"). What it sends, drawn at random:
 *   GET /bytes/N      N from 0 to 256 KiB; the body is compared by hash (FNV-1a 64) with the
 *                     pattern backend-sim documents (backend-sim/bytepat.h)
 *   POST /echo        a random body up to 256 KiB; the echo must hash the same
 *   slow reader       GET /bytes/1 MiB read 16 KiB at a time with pauses: must arrive whole
 *   GET /close/N      backend-sim cuts the body (an injected fault): must NOT arrive whole
 *   GET /reset        backend-sim resets without answering (injected): must be a 502
 *   aborted upload    POST /echo announcing 200 KB, 50 KB sent, then the connection closed
 * Anything else - a 5xx, a cut body, a reset, a connect failure, a timeout - is an error, and is
 * justified only if it happened during a fault window (FILE, written by soak.sh: one line
 * "START_MS END_MS KIND NAME" per fault, wall-clock milliseconds), widened by GRACE_MS for the
 * timeouts lb needs to notice. A body that arrives whole but different is never justified.
 *
 * The report ends with one line for the script, "SOAK sent=N ok=N unexplained=N ...", and the
 * exit status is 0 only when every error was justified and, if a backend was frozen, the
 * requests completed per second while it was stayed above half of those before any fault.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "../../backend-sim/bytepat.h"

#define MAX_THREADS 256
#define GRACE_MS 4000          /* a fault's effects may show this long after its window */
#define IO_TIMEOUT_S 30        /* a response that takes longer is an error (timeout) */
#define MAX_FAULTS 64
#define MAX_SECONDS 86400
#define UPLOAD_MAX (256 * 1024)
#define SLOW_BYTES (1024 * 1024)

enum kind { K_GET, K_ECHO, K_SLOW, K_CLOSE, K_RESET, K_ABORT, K_COUNT };
static const char *const kind_name[K_COUNT] = {"get", "echo", "slow-reader", "close-mid-body",
                                               "reset", "aborted-upload"};

/* What became of one request. */
enum outcome {
    O_OK,        /* answered as it should be */
    O_EXPECTED,  /* the injected fault showed as it should (cut, 502, aborted) */
    O_STATUS,    /* an unexpected status (5xx from lb...) */
    O_CUT,       /* the response stopped before its end (reset or close mid-body) */
    O_CLOSED,    /* the connection closed or reset before any response */
    O_CONNECT,   /* could not connect to lb */
    O_TIMEOUT,   /* no progress for IO_TIMEOUT_S */
    O_CORRUPT,   /* a whole body with the wrong bytes: never justified */
    O_WHOLE_CUT, /* /close/N arrived whole: the cut was hidden from the client */
    O_COUNT
};
static const char *const outcome_name[O_COUNT] = {
    "ok", "expected", "bad status", "cut mid-response", "closed before answer",
    "connect failed", "timeout", "CORRUPT BODY", "cut body looked whole"};

struct error_rec {
    uint64_t start_ms, end_ms;
    enum kind kind;
    enum outcome outcome;
    int status;
    char backend[16];
};

struct fault {
    uint64_t start_ms, end_ms;
    char kind[16], name[32];
};

static uint16_t lb_port;
static uint64_t deadline_ms, start_ms;
static atomic_ulong sent, outcomes[O_COUNT], by_status[600];
static atomic_uint per_second[MAX_SECONDS];
static pthread_mutex_t errors_lock = PTHREAD_MUTEX_INITIALIZER;
static struct error_rec *errors;
static size_t n_errors, cap_errors;

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static uint64_t fnv_add(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_START 0xcbf29ce484222325ull

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int connect_lb(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(lb_port)};
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    int one = 1;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A response as far as it came. */
struct response {
    int status;          /* 0: no status line */
    long long length;    /* Content-Length, -1 when none */
    bool close;          /* Connection: close */
    char backend[16];    /* X-Backend */
    uint64_t hash;       /* of the body bytes received */
    long long got;       /* body bytes received */
    bool timed_out;
};

/* Reads a response with a Content-Length body into r (hashing the body; a copy of at most
 * keep_cap bytes into keep). slow: read 16 KiB at a time with pauses. Returns 0 when the response
 * is complete, -1 when it stopped short (r says how far it came). */
static int read_response(int fd, struct response *r, bool slow)
{
    char buf[65536];
    size_t have = 0;
    char *end = NULL;
    memset(r, 0, sizeof(*r));
    r->length = -1;
    r->hash = FNV_START;
    while (end == NULL) {
        if (have == sizeof(buf) - 1)
            return -1;
        ssize_t n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r->timed_out = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
            return -1;
        }
        have += (size_t)n;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t head_len = (size_t)(end + 4 - buf);
    if (sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    for (char *line = strstr(buf, "\r\n"); line != NULL && line < end; line = strstr(line + 2, "\r\n")) {
        char *v = line + 2;
        if (strncasecmp(v, "Content-Length:", 15) == 0)
            r->length = atoll(v + 15);
        else if (strncasecmp(v, "Connection:", 11) == 0 && strstr(v, "close") != NULL &&
                 strstr(v, "close") < strstr(v, "\r\n"))
            r->close = true;
        else if (strncasecmp(v, "X-Backend:", 10) == 0)
            sscanf(v + 10, " %15[^\r\n]", r->backend);
    }
    if (r->length < 0)
        return -1; /* every answer in the soak has a Content-Length */
    size_t body = have - head_len;
    if ((long long)body > r->length)
        body = (size_t)r->length;
    r->hash = fnv_add(r->hash, buf + head_len, body);
    r->got = (long long)body;
    while (r->got < r->length) {
        size_t want = (size_t)(r->length - r->got);
        size_t max = slow ? 16384 : sizeof(buf);
        if (want > max)
            want = max;
        ssize_t n = recv(fd, buf, want, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r->timed_out = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
            return -1;
        }
        r->hash = fnv_add(r->hash, buf, (size_t)n);
        r->got += n;
        if (slow)
            sleep_ms(10);
    }
    return 0;
}

static uint64_t pattern_hash(uint64_t n)
{
    char buf[65536];
    uint64_t h = FNV_START;
    for (uint64_t off = 0; off < n; off += sizeof(buf)) {
        size_t len = n - off < sizeof(buf) ? (size_t)(n - off) : sizeof(buf);
        bytepat_fill(n, off, buf, len);
        h = fnv_add(h, buf, len);
    }
    return h;
}

static void record(enum kind k, enum outcome o, int status, const char *backend, uint64_t t0)
{
    uint64_t t1 = wall_ms();
    atomic_fetch_add(&outcomes[o], 1);
    if (status > 0 && status < 600)
        atomic_fetch_add(&by_status[status], 1);
    if (o == O_OK || o == O_EXPECTED) {
        uint64_t sec = (t1 - start_ms) / 1000;
        if (sec < MAX_SECONDS)
            atomic_fetch_add(&per_second[sec], 1);
        return;
    }
    pthread_mutex_lock(&errors_lock);
    if (n_errors == cap_errors) {
        size_t cap = cap_errors ? cap_errors * 2 : 1024;
        struct error_rec *e = realloc(errors, cap * sizeof(*e));
        if (e == NULL) {
            pthread_mutex_unlock(&errors_lock);
            fprintf(stderr, "soak-client: out of memory\n");
            exit(2);
        }
        errors = e;
        cap_errors = cap;
    }
    struct error_rec *e = &errors[n_errors++];
    *e = (struct error_rec){.start_ms = t0, .end_ms = t1, .kind = k, .outcome = o, .status = status};
    snprintf(e->backend, sizeof(e->backend), "%s", backend ? backend : "");
    pthread_mutex_unlock(&errors_lock);
}

/* What a failed read says about the request. */
static enum outcome failure(const struct response *r)
{
    if (r->timed_out)
        return O_TIMEOUT;
    return r->status == 0 ? O_CLOSED : O_CUT;
}

static void *worker(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
    char *upload = malloc(UPLOAD_MAX);
    int fd = -1;
    if (upload == NULL)
        return NULL;
    for (size_t i = 0; i < UPLOAD_MAX; i++)
        upload[i] = (char)('a' + rnd(&seed) % 26);

    while (wall_ms() < deadline_ms) {
        uint64_t t0 = wall_ms();
        if (fd < 0 && (fd = connect_lb()) < 0) {
            record(K_GET, O_CONNECT, 0, NULL, t0);
            sleep_ms(50);
            continue;
        }
        unsigned dice = (unsigned)(rnd(&seed) % 1000);
        enum kind k = dice < 800 ? K_GET : dice < 900 ? K_ECHO : dice < 920 ? K_SLOW
                    : dice < 950 ? K_CLOSE : dice < 970 ? K_RESET : K_ABORT;
        char head[256];
        uint64_t n = 0, body_len = 0;
        int hl;
        switch (k) {
        case K_GET: {
            static const uint64_t sizes[] = {0, 1, 100, 1024, 4096, 16384, 65536, 262144};
            n = rnd(&seed) % 3 == 0 ? sizes[rnd(&seed) % 8] : rnd(&seed) % 8192;
            hl = snprintf(head, sizeof(head), "GET /bytes/%llu HTTP/1.1\r\nHost: soak\r\n\r\n",
                          (unsigned long long)n);
            break;
        }
        case K_SLOW:
            n = SLOW_BYTES;
            hl = snprintf(head, sizeof(head), "GET /bytes/%llu HTTP/1.1\r\nHost: soak\r\n\r\n",
                          (unsigned long long)n);
            break;
        case K_ECHO:
            body_len = rnd(&seed) % UPLOAD_MAX;
            hl = snprintf(head, sizeof(head),
                          "POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: %llu\r\n\r\n",
                          (unsigned long long)body_len);
            break;
        case K_CLOSE:
            n = 65536;
            hl = snprintf(head, sizeof(head), "GET /close/%llu HTTP/1.1\r\nHost: soak\r\n\r\n",
                          (unsigned long long)n);
            break;
        case K_RESET:
            hl = snprintf(head, sizeof(head), "GET /reset HTTP/1.1\r\nHost: soak\r\n\r\n");
            break;
        default: /* K_ABORT */
            body_len = 50000;
            hl = snprintf(head, sizeof(head),
                          "POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: 200000\r\n\r\n");
            break;
        }
        uint64_t body_off = rnd(&seed) % (UPLOAD_MAX - body_len + 1);
        if (send_all(fd, head, (size_t)hl) != 0) {
            /* the connection lb had was gone before the request: not sent, try again */
            close(fd);
            fd = -1;
            continue;
        }
        atomic_fetch_add(&sent, 1);
        if (body_len > 0 && send_all(fd, upload + body_off, (size_t)body_len) != 0) {
            record(k, k == K_ABORT ? O_EXPECTED : O_CLOSED, 0, NULL, t0);
            close(fd);
            fd = -1;
            continue;
        }
        if (k == K_ABORT) {
            close(fd);
            fd = -1;
            record(k, O_EXPECTED, 0, NULL, t0);
            continue;
        }
        struct response r;
        int rc = read_response(fd, &r, k == K_SLOW);
        enum outcome o;
        if (k == K_CLOSE)
            o = rc != 0 || r.status == 502 ? O_EXPECTED : r.status == 200 ? O_WHOLE_CUT : O_STATUS;
        else if (k == K_RESET)
            o = rc == 0 && r.status == 502 ? O_EXPECTED : rc != 0 ? failure(&r) : O_STATUS;
        else if (rc != 0)
            o = failure(&r);
        else if (r.status != 200)
            o = O_STATUS;
        else if (k == K_ECHO)
            o = r.got == (long long)body_len &&
                        r.hash == fnv_add(FNV_START, upload + body_off, (size_t)body_len)
                    ? O_OK
                    : O_CORRUPT;
        else
            o = r.got == (long long)n && r.hash == pattern_hash(n) ? O_OK : O_CORRUPT;
        record(k, o, r.status, r.backend, t0);
        if (rc != 0 || r.close) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0)
        close(fd);
    free(upload);
    return NULL;
}

static size_t read_faults(const char *path, struct fault *f)
{
    size_t n = 0;
    FILE *in = path ? fopen(path, "r") : NULL;
    if (in == NULL)
        return 0;
    unsigned long long a, b;
    while (n < MAX_FAULTS && fscanf(in, "%llu %llu %15s %31s", &a, &b, f[n].kind, f[n].name) == 4) {
        f[n].start_ms = a;
        f[n].end_ms = b;
        n++;
    }
    fclose(in);
    return n;
}

/* Completed requests per second over whole seconds inside [from, to) (wall ms), or -1. */
static double rate(uint64_t from, uint64_t to)
{
    uint64_t s0 = (from - start_ms + 999) / 1000, s1 = (to - start_ms) / 1000;
    if (from < start_ms || s1 <= s0 || s1 > MAX_SECONDS)
        return -1;
    uint64_t total = 0;
    for (uint64_t s = s0; s < s1; s++)
        total += atomic_load(&per_second[s]);
    return (double)total / (double)(s1 - s0);
}

static int usage(void)
{
    fprintf(stderr, "usage: soak-client -p LB_PORT [-c CONNS] [-d SECONDS] [--faults FILE]\n");
    return 2;
}

int main(int argc, char **argv)
{
    unsigned conns = 32, seconds = 60;
    const char *faults_path = NULL;
    pthread_t threads[MAX_THREADS];

    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            return usage();
        if (strcmp(argv[i], "-p") == 0)
            lb_port = (uint16_t)atoi(argv[++i]);
        else if (strcmp(argv[i], "-c") == 0)
            conns = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "-d") == 0)
            seconds = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--faults") == 0)
            faults_path = argv[++i];
        else
            return usage();
    }
    if (lb_port == 0 || conns == 0 || conns > MAX_THREADS || seconds == 0 || seconds > 3600)
        return usage();

    start_ms = wall_ms();
    deadline_ms = start_ms + (uint64_t)seconds * 1000u;
    for (unsigned i = 0; i < conns; i++)
        if (pthread_create(&threads[i], NULL, worker, (void *)(uintptr_t)(i + 1)) != 0) {
            fprintf(stderr, "soak-client: cannot start thread %u\n", i);
            return 2;
        }
    for (unsigned i = 0; i < conns; i++)
        pthread_join(threads[i], NULL);
    uint64_t end_ms = wall_ms();

    /* each error: justified when it overlaps a fault window (widened by GRACE_MS) */
    struct fault faults[MAX_FAULTS];
    size_t nf = read_faults(faults_path, faults);
    unsigned long err_total[O_COUNT] = {0}, err_justified[O_COUNT] = {0}, unexplained = 0;
    for (size_t i = 0; i < n_errors; i++) {
        const struct error_rec *e = &errors[i];
        bool justified = false;
        for (size_t f = 0; f < nf && e->outcome != O_CORRUPT && e->outcome != O_WHOLE_CUT; f++)
            if (e->end_ms + GRACE_MS >= faults[f].start_ms && e->start_ms <= faults[f].end_ms + GRACE_MS)
                justified = true;
        err_total[e->outcome]++;
        if (justified)
            err_justified[e->outcome]++;
        else if (unexplained++ < 20)
            fprintf(stderr, "soak-client: unexplained: %s %s (status %d, backend %s) at +%.3f s\n",
                    kind_name[e->kind], outcome_name[e->outcome], e->status,
                    e->backend[0] ? e->backend : "-", (double)(e->end_ms - start_ms) / 1000.0);
    }

    unsigned long n_sent = atomic_load(&sent);
    double secs = (double)(end_ms - start_ms) / 1000.0;
    printf("soak-client: %lu requests in %.0f s (%.0f/s) on %u connections\n", n_sent, secs,
           (double)n_sent / secs, conns);
    printf("  answered as expected    %lu (of which %lu injected faults shown as they should be: "
           "cut bodies, 502 for resets, aborted uploads)\n",
           atomic_load(&outcomes[O_OK]) + atomic_load(&outcomes[O_EXPECTED]),
           atomic_load(&outcomes[O_EXPECTED]));
    printf("  errors by kind          (justified: during a fault window, +-%d ms)\n", GRACE_MS);
    for (int o = O_STATUS; o < O_COUNT; o++)
        if (err_total[o] > 0)
            printf("    %-22s %lu (%lu justified)\n", outcome_name[o], err_total[o], err_justified[o]);
    for (int s = 500; s < 600; s++)
        if (atomic_load(&by_status[s]) > 0)
            printf("    status %d seen        %lu\n", s, atomic_load(&by_status[s]));
    printf("  unexplained errors      %lu\n", unexplained);

    /* throughput while a backend was frozen, against before any fault */
    bool slow_ok = true;
    uint64_t first_fault = nf > 0 ? faults[0].start_ms : end_ms;
    double normal = rate(start_ms + 2000, first_fault);
    for (size_t f = 0; f < nf; f++) {
        if (strcmp(faults[f].kind, "freeze") != 0)
            continue;
        double during = rate(faults[f].start_ms, faults[f].end_ms);
        bool ok = normal > 0 && during >= normal / 2;
        printf("  throughput              %.0f/s before any fault; %.0f/s while %s was frozen "
               "(%.0f%%): %s\n",
               normal, during, faults[f].name, normal > 0 ? 100.0 * during / normal : 0.0,
               ok ? "above half" : "BELOW HALF");
        slow_ok = slow_ok && ok;
    }
    printf("SOAK sent=%lu ok=%lu expected=%lu unexplained=%lu corrupt=%lu status502=%lu "
           "status503=%lu status504=%lu throughput_ok=%d\n",
           n_sent, atomic_load(&outcomes[O_OK]), atomic_load(&outcomes[O_EXPECTED]), unexplained,
           err_total[O_CORRUPT], atomic_load(&by_status[502]), atomic_load(&by_status[503]),
           atomic_load(&by_status[504]), slow_ok ? 1 : 0);
    free(errors);
    return unexplained == 0 && slow_ok ? 0 : 1;
}
