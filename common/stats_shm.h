/*
 * stats_shm.h - the life of the statistics segment (common/stats.h) on both sides: lb creates,
 * publishes and removes it; lbtop and lbtrace attach to it read-only and validate it. Also the
 * two lock-free protocols every side must agree on: the seqlocked ring slots and the seqlocked
 * resolved-address words.
 *
 * A reader treats the segment as hostile: attach checks magic, version and every size and offset
 * against this build's layout, and keeps its own copies of nworkers and nbackends, so that later
 * scribbles in the header cannot push an index out of the mapping. The number of backends may
 * grow while lb runs (a reload): stats_shm_backends() reads it anew, capped at the array's size. Strings read out of the
 * segment are cut at their field size and stripped of control characters.
 */
#ifndef LBLAB_STATS_SHM_H
#define LBLAB_STATS_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "stats.h"

/* Room for "/lblab-65535" or a name given with --shm. */
#define STATS_SHM_NAME_MAX 256

/* A writer considers an existing segment stale, and a reader considers lb gone, when the
 * heartbeat is older than this. */
#define STATS_HEARTBEAT_STALE_NS (3 * UINT64_C(1000000000))

/* One mapping of a segment. Fields are the caller's to read, not to change. */
struct stats_shm {
    struct stats_segment *seg; /* NULL when not mapped */
    size_t size;               /* bytes mapped */
    bool writable;             /* the writer's mapping */
    dev_t dev;                 /* identity of the object mapped, to notice a replacement */
    ino_t ino;
    uint32_t nworkers;         /* validated copies of the header's counts */
    uint32_t nbackends;
    char name[STATS_SHM_NAME_MAX];
};

/* How many backend entries are in use now: the header's count (it grows when a reload adds a
 * backend), read with an acquire load and capped at STATS_MAX_BACKENDS; never fewer than at
 * attach. */
uint32_t stats_shm_backends(const struct stats_shm *shm);

/* Writer: backends[0 .. n) are in use from now on (n larger than before, at most
 * STATS_MAX_BACKENDS); their entries must be written first. */
void stats_shm_grow_backends(struct stats_shm *shm, uint32_t n);

/* Writes the segment name of the lb listening on port ("/lblab-3000") into buf. Returns buf. */
char *stats_shm_name(uint16_t port, char *buf, size_t len);

/* True when name is usable with shm_open: "/" then 1..250 characters without '/'. */
bool stats_shm_name_valid(const char *name);

/* ---- writer --------------------------------------------------------------------------------- */

/* Creates segment name (mode 0644) sized for nworkers worker blocks and nbackends backends,
 * mapped read-write into *shm, zeroed, with the geometry fields of the header filled in. A
 * segment left behind by a writer that is gone (dead pid or stale heartbeat) is replaced; one
 * whose writer is alive is refused with -EADDRINUSE. The caller fills the rest of the header and
 * the backends, then calls stats_shm_publish(). Returns 0 or -errno with a message in err. */
int stats_shm_create(struct stats_shm *shm, const char *name, uint32_t nworkers,
                     uint32_t nbackends, char *err, size_t err_len);

/* Like stats_shm_create(), in memory of this process only (anonymous, never named): lb keeps
 * its statistics there with --no-stats when its admin endpoint needs them. shm->name is "". */
int stats_shm_create_private(struct stats_shm *shm, uint32_t nworkers, uint32_t nbackends,
                             char *err, size_t err_len);

/* Gives the created segment's name to uid/gid (its mode stays 0644: the writer alone writes),
 * so that a writer that changes user (lb --user) can still remove it when it stops. Checks that
 * the name still refers to this segment. No-op for a private one. Returns 0 or -errno with a
 * message in err. */
int stats_shm_chown(struct stats_shm *shm, uid_t uid, gid_t gid, char *err, size_t err_len);

/* Makes a created segment visible to readers (stores magic with release ordering). */
void stats_shm_publish(struct stats_shm *shm);

/* Marks the segment as stopping, unmaps it and unlinks its name if the name still refers to this
 * segment. Safe on a zeroed or already destroyed *shm. */
void stats_shm_destroy(struct stats_shm *shm);

/* ---- reader --------------------------------------------------------------------------------- */

/* Maps segment name read-only into *shm and validates it. Returns 0, or
 *   -ENOENT            no such segment (lb not running, or running without statistics)
 *   -EACCES            not allowed to read it
 *   -EAGAIN            it exists but its writer has not finished initialising it
 *   -EPROTO            it is not an lblab statistics segment (wrong magic)
 *   -EPROTONOSUPPORT   another layout version; *found_version gets it (may be NULL)
 *   -EBADMSG           sizes or offsets inconsistent with the layout (corrupt or truncated)
 * or another -errno; err gets a one-line message naming the segment. */
int stats_shm_attach(struct stats_shm *shm, const char *name, uint32_t *found_version,
                     char *err, size_t err_len);

/* Unmaps a reader's (or writer's) mapping without unlinking anything. Safe to repeat. */
void stats_shm_detach(struct stats_shm *shm);

/* True when the name no longer refers to the mapped segment: removed, or replaced by a new lb. */
bool stats_shm_replaced(const struct stats_shm *shm);

/* True while the writer looks alive: its pid exists, it is not stopping and its heartbeat is
 * younger than STATS_HEARTBEAT_STALE_NS at now_mono_ns. */
bool stats_shm_writer_alive(const struct stats_shm *shm, uint64_t now_mono_ns);

/* ---- ring of recent requests ---------------------------------------------------------------- */

/* Appends e to the ring (any thread, lock-free). Only the words up to the end of e->path (its
 * NUL included) are copied: the rest of the slot keeps an older entry's bytes. */
void stats_ring_write(struct stats_ring *ring, const struct stats_ring_entry *e);

/* Entries ever written (the position the next one will get). */
uint64_t stats_ring_head(const struct stats_shm *shm);

/* Copies the entry at absolute position pos into *out, sanitised (strings terminated and
 * printable, backend_index within nbackends or -1, unknown address families cleared). Returns 0,
 * -EAGAIN when the slot is being written, or -ENOENT when pos is not (or no longer) there. */
int stats_ring_read(const struct stats_shm *shm, uint64_t pos, struct stats_ring_entry *out);

/* Copies up to max of the most recent complete entries, newest first. Returns how many. */
size_t stats_ring_recent(const struct stats_shm *shm, struct stats_ring_entry *out, size_t max);

/* ---- addresses and text --------------------------------------------------------------------- */

/* Fills *a from an AF_INET or AF_INET6 socket address (anything else: family 0). */
void stats_addr_from_sockaddr(struct stats_addr *a, const struct sockaddr *sa);

/* Writes "1.2.3.4:80", "[::1]:80" or "-" into buf. Returns buf. */
char *stats_addr_format(const struct stats_addr *a, char *buf, size_t len);

/* Writes "1.2.3.4" or "::1" (no port) or "-" into buf. Returns buf. */
char *stats_addr_format_ip(const struct stats_addr *a, char *buf, size_t len);

/* Stores a backend's resolved address under its sequence lock (any thread). */
void stats_backend_store_resolved(struct stats_backend *b, const struct stats_addr *a);

/* Reads backend b's resolved address. Returns 0, or -EAGAIN if it kept changing, -ENOENT if b is
 * out of range. */
int stats_backend_load_resolved(const struct stats_shm *shm, uint32_t b, struct stats_addr *out);

/* Stores why backend b's state last changed (cut to STATS_REASON_LEN - 1 bytes) under its
 * sequence lock. One writer at a time (lb: under the backend's health lock). */
void stats_backend_store_reason(struct stats_backend *b, const char *reason);

/* Reads backend b's reason into out[len] (sanitised like stats_text_get, "" when none). Returns
 * 0, or -EAGAIN if it kept changing (out is "" then), -ENOENT if b is out of range. */
int stats_backend_load_reason(const struct stats_shm *shm, uint32_t b, char *out, size_t len);

/* Copies at most n bytes of src into dst[dst_len] (NUL-padded, always terminated). Returns true
 * when everything fitted. */
bool stats_text_put(char *dst, size_t dst_len, const char *src, size_t n);

/* Copies an untrusted fixed-size text field into dst[dst_len]: stops at the first NUL or at
 * field_len, replaces control and non-ASCII bytes with '?', always terminates. Returns dst. */
char *stats_text_get(char *dst, size_t dst_len, const char *field, size_t field_len);

#endif
