/*
 * stats_shm.c - creating, validating, attaching and removing the statistics segment, and the
 * sequence-lock protocols of its ring slots and resolved addresses.
 *
 * The writer maps the segment read-write and publishes it by storing the magic number last, with
 * release ordering, so a reader that sees the magic (acquire) sees a fully initialised header.
 * Readers map it read-only: nothing they do can damage lb's statistics, and all they take from
 * the segment is checked before use (see stats_shm.h).
 */
#include "stats_shm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "version.h"

uint32_t stats_shm_backends(const struct stats_shm *shm)
{
    if (shm->seg == NULL)
        return shm->nbackends;
    uint32_t n = __atomic_load_n(&shm->seg->header.nbackends, __ATOMIC_ACQUIRE);
    if (n > STATS_MAX_BACKENDS)
        n = STATS_MAX_BACKENDS;
    return n > shm->nbackends ? n : shm->nbackends;
}

void stats_shm_grow_backends(struct stats_shm *shm, uint32_t n)
{
    if (shm->seg == NULL || n > STATS_MAX_BACKENDS || n <= stats_shm_backends(shm))
        return;
    /* shm->nbackends stays the count at creation: other threads read it without a lock */
    __atomic_store_n(&shm->seg->header.nbackends, n, __ATOMIC_RELEASE);
}

char *stats_shm_name(uint16_t port, char *buf, size_t len)
{
    snprintf(buf, len, STATS_SHM_PREFIX "%u", (unsigned)port);
    return buf;
}

bool stats_shm_name_valid(const char *name)
{
    size_t n;

    if (name == NULL || name[0] != '/')
        return false;
    n = strlen(name);
    if (n < 2 || n > 251)
        return false;
    return strchr(name + 1, '/') == NULL;
}

static void shm_reset(struct stats_shm *shm)
{
    memset(shm, 0, sizeof(*shm));
}

/* Whether process pid exists (EPERM: it exists but belongs to someone else). */
static bool pid_alive(int32_t pid)
{
    if (pid <= 0)
        return false;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* Decides whether the existing segment name belongs to a live writer. Returns 1 if live (its pid
 * in *pid), 0 if stale or unreadable as ours (safe to replace), -errno if it cannot be opened. */
static int existing_is_live(const char *name, int32_t *pid)
{
    struct stat st;
    int fd, live = 0;

    fd = shm_open(name, O_RDONLY, 0);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(struct stats_header)) {
        struct stats_header *h =
            mmap(NULL, sizeof(*h), PROT_READ, MAP_SHARED, fd, 0);
        if (h != MAP_FAILED) {
            uint64_t beat = atomic_load_explicit(&h->heartbeat_mono_ns, memory_order_relaxed);
            uint64_t now = clock_mono_ns();
            *pid = h->writer_pid;
            if (atomic_load_explicit(&h->magic, memory_order_acquire) == STATS_MAGIC &&
                *pid != (int32_t)getpid() && pid_alive(*pid) &&
                atomic_load_explicit(&h->state, memory_order_relaxed) != STATS_WRITER_STOPPING &&
                (beat > now || now - beat < STATS_HEARTBEAT_STALE_NS))
                live = 1;
            munmap(h, sizeof(*h));
        }
    }
    close(fd);
    return live;
}

/* Fills the geometry and identity of a fresh (zeroed) segment of size bytes. */
static void segment_init(struct stats_segment *seg, uint64_t size, uint32_t nworkers,
                         uint32_t nbackends)
{
    struct stats_header *h = &seg->header;
    h->version = STATS_VERSION;
    h->header_size = sizeof(struct stats_header);
    h->segment_size = size;
    h->max_backends = STATS_MAX_BACKENDS;
    h->nbackends = nbackends;
    h->max_workers = STATS_MAX_WORKERS;
    h->nworkers = nworkers;
    h->backend_size = sizeof(struct stats_backend);
    h->worker_size = sizeof(struct stats_worker);
    h->ring_capacity = STATS_RING_CAPACITY;
    h->ring_slot_size = sizeof(struct stats_ring_slot);
    h->hist_buckets = STATS_HIST_BUCKETS;
    h->hist_sub_bits = STATS_HIST_SUB_BITS;
    h->backends_offset = offsetof(struct stats_segment, backends);
    h->ring_offset = offsetof(struct stats_segment, ring);
    h->workers_offset = offsetof(struct stats_segment, workers);
    h->writer_pid = (int32_t)getpid();
    h->start_wall_ns = clock_wall_ns();
    h->start_mono_ns = clock_mono_ns();
    stats_text_put(h->lb_version, sizeof(h->lb_version), LBLAB_VERSION, strlen(LBLAB_VERSION));
    atomic_store_explicit(&h->heartbeat_mono_ns, h->start_mono_ns, memory_order_relaxed);
    atomic_store_explicit(&h->heartbeat_wall_ns, h->start_wall_ns, memory_order_relaxed);
    atomic_store_explicit(&h->state, STATS_WRITER_RUNNING, memory_order_relaxed);
    seg->ring.capacity = STATS_RING_CAPACITY;
    seg->ring.slot_size = sizeof(struct stats_ring_slot);
    for (uint32_t i = 0; i < STATS_MAX_BACKENDS; i++)
        seg->backends[i].index = i;

}

int stats_shm_create(struct stats_shm *shm, const char *name, uint32_t nworkers,
                     uint32_t nbackends, char *err, size_t err_len)
{
    uint64_t size = stats_segment_size(nworkers);
    struct stats_segment *seg;
    struct stat st;
    int fd = -1, rc, attempt;

    shm_reset(shm);
    if (!stats_shm_name_valid(name)) {
        snprintf(err, err_len, "invalid shared-memory name '%s'", name ? name : "");
        return -EINVAL;
    }
    if (nworkers == 0 || nworkers > STATS_MAX_WORKERS || nbackends > STATS_MAX_BACKENDS) {
        snprintf(err, err_len, "statistics support 1..%d workers and up to %d backends",
                 STATS_MAX_WORKERS, STATS_MAX_BACKENDS);
        return -EINVAL;
    }

    for (attempt = 0; attempt < 3; attempt++) {
        fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0 || errno != EEXIST)
            break;
        int32_t pid = 0;
        rc = existing_is_live(name, &pid);
        if (rc == 1) {
            snprintf(err, err_len, "shared memory %s is in use by another lb (pid %d)", name,
                     (int)pid);
            return -EADDRINUSE;
        }
        if (rc < 0) {
            snprintf(err, err_len, "cannot open the existing %s: %s", name, strerror(-rc));
            return rc;
        }
        if (shm_unlink(name) < 0 && errno != ENOENT) {
            rc = -errno;
            snprintf(err, err_len, "cannot remove the stale %s: %s", name, strerror(errno));
            return rc;
        }
    }
    if (fd < 0) {
        rc = -errno;
        snprintf(err, err_len, "shm_open %s: %s", name, strerror(errno));
        return rc;
    }
    /* The umask must not narrow it: every user may watch lb. */
    if (fchmod(fd, 0644) < 0 || ftruncate(fd, (off_t)size) < 0 || fstat(fd, &st) < 0) {
        rc = -errno;
        snprintf(err, err_len, "setting up %s: %s", name, strerror(errno));
        goto out_unlink;
    }
    seg = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (seg == MAP_FAILED) {
        rc = -errno;
        snprintf(err, err_len, "mmap %s: %s", name, strerror(errno));
        goto out_unlink;
    }
    close(fd);

    segment_init(seg, size, nworkers, nbackends);
    shm->seg = seg;
    shm->size = (size_t)size;
    shm->writable = true;
    shm->dev = st.st_dev;
    shm->ino = st.st_ino;
    shm->nworkers = nworkers;
    shm->nbackends = nbackends;
    snprintf(shm->name, sizeof(shm->name), "%s", name);
    return 0;

out_unlink:
    close(fd);
    shm_unlink(name);
    return rc;
}

int stats_shm_chown(struct stats_shm *shm, uid_t uid, gid_t gid, char *err, size_t err_len)
{
    struct stat st;
    if (shm->name[0] == '\0')
        return 0;
    int fd = shm_open(shm->name, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        int rc = -errno;
        snprintf(err, err_len, "opening %s again: %s", shm->name, strerror(errno));
        return rc;
    }
    int rc = 0;
    if (fstat(fd, &st) != 0 || st.st_dev != shm->dev || st.st_ino != shm->ino) {
        rc = -ESTALE;
        snprintf(err, err_len, "%s is no longer this lb's segment", shm->name);
    } else if (fchown(fd, uid, gid) != 0) {
        rc = -errno;
        snprintf(err, err_len, "chown %s: %s", shm->name, strerror(errno));
    }
    close(fd);
    return rc;
}

int stats_shm_create_private(struct stats_shm *shm, uint32_t nworkers, uint32_t nbackends,
                             char *err, size_t err_len)
{
    uint64_t size = stats_segment_size(nworkers);
    struct stats_segment *seg;

    shm_reset(shm);
    if (nworkers == 0 || nworkers > STATS_MAX_WORKERS || nbackends > STATS_MAX_BACKENDS) {
        snprintf(err, err_len, "statistics support 1..%d workers and up to %d backends",
                 STATS_MAX_WORKERS, STATS_MAX_BACKENDS);
        return -EINVAL;
    }
    seg = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (seg == MAP_FAILED) {
        int rc = -errno;
        snprintf(err, err_len, "statistics in private memory: mmap: %s", strerror(errno));
        return rc;
    }
    segment_init(seg, size, nworkers, nbackends);
    shm->seg = seg;
    shm->size = (size_t)size;
    shm->writable = true;
    shm->nworkers = nworkers;
    shm->nbackends = nbackends;
    return 0; /* name "": there is nothing to unlink */
}

void stats_shm_publish(struct stats_shm *shm)
{
    if (shm->seg != NULL && shm->writable)
        atomic_store_explicit(&shm->seg->header.magic, STATS_MAGIC, memory_order_release);
}

/* Whether name still refers to the object (dev, ino). */
static bool name_refers_to(const char *name, dev_t dev, ino_t ino)
{
    struct stat st;
    bool same = false;
    int fd = shm_open(name, O_RDONLY, 0);

    if (fd < 0)
        return false;
    if (fstat(fd, &st) == 0)
        same = st.st_dev == dev && st.st_ino == ino;
    close(fd);
    return same;
}

void stats_shm_destroy(struct stats_shm *shm)
{
    if (shm->seg != NULL && shm->writable) {
        atomic_store_explicit(&shm->seg->header.state, STATS_WRITER_STOPPING,
                              memory_order_release);
        if (shm->name[0] != '\0' && name_refers_to(shm->name, shm->dev, shm->ino))
            shm_unlink(shm->name);
    }
    stats_shm_detach(shm);
}

void stats_shm_detach(struct stats_shm *shm)
{
    if (shm->seg != NULL)
        munmap(shm->seg, shm->size);
    shm_reset(shm);
}

/* Checks the header of a mapping of size bytes against this build's layout. */
static int validate(const struct stats_header *h, size_t size, const char *name,
                    uint32_t *found_version, char *err, size_t err_len)
{
    uint64_t magic = atomic_load_explicit(&((struct stats_header *)h)->magic,
                                          memory_order_acquire);

    if (magic == 0) {
        snprintf(err, err_len, "%s is still being initialised by lb", name);
        return -EAGAIN;
    }
    if (magic != STATS_MAGIC) {
        snprintf(err, err_len, "%s is not an lblab statistics segment (magic %#llx)", name,
                 (unsigned long long)magic);
        return -EPROTO;
    }
    if (found_version != NULL)
        *found_version = h->version;
    if (h->version != STATS_VERSION) {
        snprintf(err, err_len,
                 "%s has statistics layout version %u, this program reads version %u "
                 "(use the lbtop built with that lb)",
                 name, h->version, STATS_VERSION);
        return -EPROTONOSUPPORT;
    }
    if (h->header_size != sizeof(struct stats_header) || h->max_backends != STATS_MAX_BACKENDS ||
        h->max_workers != STATS_MAX_WORKERS || h->backend_size != sizeof(struct stats_backend) ||
        h->worker_size != sizeof(struct stats_worker) ||
        h->ring_capacity != STATS_RING_CAPACITY ||
        h->ring_slot_size != sizeof(struct stats_ring_slot) ||
        h->hist_buckets != STATS_HIST_BUCKETS || h->hist_sub_bits != STATS_HIST_SUB_BITS ||
        h->backends_offset != offsetof(struct stats_segment, backends) ||
        h->ring_offset != offsetof(struct stats_segment, ring) ||
        h->workers_offset != offsetof(struct stats_segment, workers)) {
        snprintf(err, err_len, "%s: layout fields do not match version %u (corrupt segment)",
                 name, STATS_VERSION);
        return -EBADMSG;
    }
    if (h->nworkers == 0 || h->nworkers > STATS_MAX_WORKERS ||
        h->nbackends > STATS_MAX_BACKENDS ||
        h->segment_size != stats_segment_size(h->nworkers) || h->segment_size > size) {
        snprintf(err, err_len,
                 "%s: %u workers, %u backends, %llu bytes do not fit the %zu bytes mapped "
                 "(corrupt or truncated segment)",
                 name, h->nworkers, h->nbackends, (unsigned long long)h->segment_size, size);
        return -EBADMSG;
    }
    return 0;
}

int stats_shm_attach(struct stats_shm *shm, const char *name, uint32_t *found_version,
                     char *err, size_t err_len)
{
    struct stats_segment *seg;
    struct stat st;
    int fd, rc;

    shm_reset(shm);
    if (found_version != NULL)
        *found_version = 0;
    if (!stats_shm_name_valid(name)) {
        snprintf(err, err_len, "invalid shared-memory name '%s' (want /NAME)", name ? name : "");
        return -EINVAL;
    }
    fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        if (rc == -ENOENT)
            snprintf(err, err_len,
                     "no statistics at %s: lb is not running on that port (or runs with "
                     "--no-stats)",
                     name);
        else
            snprintf(err, err_len, "cannot open %s: %s", name, strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        snprintf(err, err_len, "fstat %s: %s", name, strerror(errno));
        goto out_close;
    }
    if (st.st_size < (off_t)sizeof(struct stats_header)) {
        /* A writer between shm_open and ftruncate, or a stranger's object. */
        snprintf(err, err_len, "%s is too small to be a statistics segment (%lld bytes)", name,
                 (long long)st.st_size);
        rc = st.st_size == 0 ? -EAGAIN : -EBADMSG;
        goto out_close;
    }
    seg = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (seg == MAP_FAILED) {
        rc = -errno;
        snprintf(err, err_len, "mmap %s: %s", name, strerror(errno));
        goto out_close;
    }
    rc = validate(&seg->header, (size_t)st.st_size, name, found_version, err, err_len);
    if (rc < 0) {
        munmap(seg, (size_t)st.st_size);
        goto out_close;
    }
    shm->seg = seg;
    shm->size = (size_t)st.st_size;
    shm->writable = false;
    shm->dev = st.st_dev;
    shm->ino = st.st_ino;
    shm->nworkers = seg->header.nworkers;
    shm->nbackends = seg->header.nbackends;
    snprintf(shm->name, sizeof(shm->name), "%s", name);
    rc = 0;
out_close:
    close(fd);
    return rc;
}

bool stats_shm_replaced(const struct stats_shm *shm)
{
    if (shm->seg == NULL)
        return true;
    return !name_refers_to(shm->name, shm->dev, shm->ino);
}

bool stats_shm_writer_alive(const struct stats_shm *shm, uint64_t now_mono_ns)
{
    struct stats_header *h;
    uint64_t beat;

    if (shm->seg == NULL)
        return false;
    h = &shm->seg->header;
    if (atomic_load_explicit(&h->state, memory_order_relaxed) != STATS_WRITER_RUNNING)
        return false;
    if (!pid_alive(h->writer_pid))
        return false;
    beat = atomic_load_explicit(&h->heartbeat_mono_ns, memory_order_relaxed);
    return beat >= now_mono_ns || now_mono_ns - beat < STATS_HEARTBEAT_STALE_NS;
}

/* ---- ring ------------------------------------------------------------------------------------ */

union ring_words {
    struct stats_ring_entry e;
    uint64_t w[STATS_RING_ENTRY_WORDS];
};

void stats_ring_write(struct stats_ring *ring, const struct stats_ring_entry *e)
{
    uint64_t pos = atomic_fetch_add_explicit(&ring->head, 1, memory_order_relaxed);
    struct stats_ring_slot *slot = &ring->slots[pos & (STATS_RING_CAPACITY - 1)];
    union ring_words u;

    /* Most paths are short: stop after the word holding the path's NUL (half the cache lines). */
    size_t used = offsetof(struct stats_ring_entry, path) + strnlen(e->path, sizeof(e->path)) + 1;
    size_t words = (used + 7) / 8 < STATS_RING_ENTRY_WORDS ? (used + 7) / 8 : STATS_RING_ENTRY_WORDS;

    memcpy(&u.e, e, sizeof(u.e));
    atomic_store_explicit(&slot->seq, 2 * pos + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (size_t i = 0; i < words; i++)
        atomic_store_explicit(&slot->words[i], u.w[i], memory_order_relaxed);
    atomic_store_explicit(&slot->seq, 2 * pos + 2, memory_order_release);
}

uint64_t stats_ring_head(const struct stats_shm *shm)
{
    if (shm->seg == NULL)
        return 0;
    return atomic_load_explicit(&shm->seg->ring.head, memory_order_acquire);
}

static void sanitize_addr(struct stats_addr *a)
{
    if (a->family != 4 && a->family != 6)
        memset(a, 0, sizeof(*a));
    a->reserved0 = 0;
    if (a->family == 4)
        memset(a->addr + 4, 0, sizeof(a->addr) - 4);
}

static void sanitize_field(char *field, size_t len)
{
    char tmp[STATS_PATH_LEN];

    stats_text_get(tmp, len < sizeof(tmp) ? len : sizeof(tmp), field, len);
    memset(field, 0, len);
    memcpy(field, tmp, strlen(tmp));
}

int stats_ring_read(const struct stats_shm *shm, uint64_t pos, struct stats_ring_entry *out)
{
    struct stats_ring_slot *slot;
    union ring_words u;
    uint64_t s1, s2;

    if (shm->seg == NULL)
        return -ENOENT;
    slot = &shm->seg->ring.slots[pos & (STATS_RING_CAPACITY - 1)];
    s1 = atomic_load_explicit(&slot->seq, memory_order_acquire);
    if (s1 == 2 * pos + 1)
        return -EAGAIN;
    if (s1 != 2 * pos + 2)
        return -ENOENT;
    for (size_t i = 0; i < STATS_RING_ENTRY_WORDS; i++)
        u.w[i] = atomic_load_explicit(&slot->words[i], memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    s2 = atomic_load_explicit(&slot->seq, memory_order_relaxed);
    if (s2 != s1)
        return s2 == 2 * pos + 1 ? -EAGAIN : -ENOENT;

    *out = u.e;
    sanitize_addr(&out->client);
    sanitize_addr(&out->lb_front);
    sanitize_addr(&out->lb_back);
    sanitize_addr(&out->backend);
    if (out->backend_index < 0 || (uint32_t)out->backend_index >= stats_shm_backends(shm))
        out->backend_index = -1;
    if (out->worker >= shm->nworkers)
        out->worker = 0;
    if (out->kind != STATS_ENTRY_HTTP && out->kind != STATS_ENTRY_TCP)
        out->kind = STATS_ENTRY_HTTP;
    if (out->status > 999)
        out->status = 0;
    sanitize_field(out->method, sizeof(out->method));
    sanitize_field(out->request_id, sizeof(out->request_id));
    sanitize_field(out->path, sizeof(out->path));
    return 0;
}

size_t stats_ring_recent(const struct stats_shm *shm, struct stats_ring_entry *out, size_t max)
{
    uint64_t head = stats_ring_head(shm), pos;
    size_t n = 0, looked = 0;

    if (max > STATS_RING_CAPACITY)
        max = STATS_RING_CAPACITY;
    for (pos = head; pos > 0 && n < max && looked < STATS_RING_CAPACITY; looked++) {
        pos--;
        if (stats_ring_read(shm, pos, &out[n]) == 0)
            n++;
    }
    return n;
}

/* ---- addresses and text ---------------------------------------------------------------------- */

void stats_addr_from_sockaddr(struct stats_addr *a, const struct sockaddr *sa)
{
    memset(a, 0, sizeof(*a));
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        a->family = 4;
        a->port = ntohs(in->sin_port);
        memcpy(a->addr, &in->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        a->family = 6;
        a->port = ntohs(in6->sin6_port);
        a->scope_id = in6->sin6_scope_id;
        memcpy(a->addr, &in6->sin6_addr, 16);
    }
}

char *stats_addr_format_ip(const struct stats_addr *a, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];

    if (a->family == 4 && inet_ntop(AF_INET, a->addr, ip, sizeof(ip)) != NULL)
        snprintf(buf, len, "%s", ip);
    else if (a->family == 6 && inet_ntop(AF_INET6, a->addr, ip, sizeof(ip)) != NULL)
        snprintf(buf, len, "%s", ip);
    else
        snprintf(buf, len, "-");
    return buf;
}

char *stats_addr_format(const struct stats_addr *a, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];

    if (a->family == 4)
        snprintf(buf, len, "%s:%u", stats_addr_format_ip(a, ip, sizeof(ip)), (unsigned)a->port);
    else if (a->family == 6)
        snprintf(buf, len, "[%s]:%u", stats_addr_format_ip(a, ip, sizeof(ip)),
                 (unsigned)a->port);
    else
        snprintf(buf, len, "-");
    return buf;
}

union addr_words {
    struct stats_addr a;
    uint64_t w[3];
};

void stats_backend_store_resolved(struct stats_backend *b, const struct stats_addr *a)
{
    union addr_words u = {.a = *a};
    uint64_t seq = atomic_load_explicit(&b->resolved_seq, memory_order_relaxed);

    /* Two threads storing at once could interleave; backends are re-resolved by one thread at a
     * time, and a reader that sees a mix still gets a well-formed (if momentarily wrong) value. */
    atomic_store_explicit(&b->resolved_seq, seq | 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (int i = 0; i < 3; i++)
        atomic_store_explicit(&b->resolved_words[i], u.w[i], memory_order_relaxed);
    atomic_store_explicit(&b->resolved_seq, (seq | 1) + 1, memory_order_release);
}

int stats_backend_load_resolved(const struct stats_shm *shm, uint32_t b, struct stats_addr *out)
{
    struct stats_backend *be;
    union addr_words u;

    if (shm->seg == NULL || b >= stats_shm_backends(shm))
        return -ENOENT;
    be = &shm->seg->backends[b];
    for (int tries = 0; tries < 100; tries++) {
        uint64_t s1 = atomic_load_explicit(&be->resolved_seq, memory_order_acquire);
        if (s1 & 1)
            continue;
        for (int i = 0; i < 3; i++)
            u.w[i] = atomic_load_explicit(&be->resolved_words[i], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&be->resolved_seq, memory_order_relaxed) == s1) {
            *out = u.a;
            sanitize_addr(out);
            return 0;
        }
    }
    return -EAGAIN;
}

void stats_backend_store_reason(struct stats_backend *b, const char *reason)
{
    uint64_t w[STATS_REASON_LEN / 8];
    uint64_t seq = atomic_load_explicit(&b->reason_seq, memory_order_relaxed);

    stats_text_put((char *)w, sizeof(w), reason, reason ? strlen(reason) : 0);
    atomic_store_explicit(&b->reason_seq, seq | 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (size_t i = 0; i < STATS_REASON_LEN / 8; i++)
        atomic_store_explicit(&b->reason_words[i], w[i], memory_order_relaxed);
    atomic_store_explicit(&b->reason_seq, (seq | 1) + 1, memory_order_release);
}

int stats_backend_load_reason(const struct stats_shm *shm, uint32_t b, char *out, size_t len)
{
    uint64_t w[STATS_REASON_LEN / 8];

    if (len > 0)
        out[0] = '\0';
    if (shm->seg == NULL || b >= stats_shm_backends(shm))
        return -ENOENT;
    struct stats_backend *be = &shm->seg->backends[b];
    for (int tries = 0; tries < 100; tries++) {
        uint64_t s1 = atomic_load_explicit(&be->reason_seq, memory_order_acquire);
        if (s1 & 1)
            continue;
        for (size_t i = 0; i < STATS_REASON_LEN / 8; i++)
            w[i] = atomic_load_explicit(&be->reason_words[i], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&be->reason_seq, memory_order_relaxed) == s1) {
            stats_text_get(out, len, (const char *)w, sizeof(w));
            return 0;
        }
    }
    return -EAGAIN;
}

bool stats_text_put(char *dst, size_t dst_len, const char *src, size_t n)
{
    bool fits = n < dst_len;

    if (dst_len == 0)
        return n == 0;
    if (!fits)
        n = dst_len - 1;
    memset(dst, 0, dst_len);
    if (src != NULL)
        memcpy(dst, src, n);
    return fits;
}

char *stats_text_get(char *dst, size_t dst_len, const char *field, size_t field_len)
{
    size_t i;

    if (dst_len == 0)
        return dst;
    for (i = 0; i < field_len && i + 1 < dst_len; i++) {
        unsigned char c = (unsigned char)field[i];
        if (c == '\0')
            break;
        dst[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    dst[i] = '\0';
    return dst;
}
