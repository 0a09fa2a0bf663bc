/*
 * shmring.h - lbtrace's view of lb's shared-memory statistics (common/stats.h): the ports to
 * capture (lb's listen port and its backends' ports), lb's mode (http or tcp), and the
 * recent-requests ring, offered to the pairing engines as a lookup (struct pair_ring_ops) to
 * confirm pairs by request id and to pair tcp-mode connections (entries of kind tcp).
 *
 * The segment is optional: lb may not run yet, run without it, or restart; every lookup first
 * makes sure the mapping is current (attaching at most once a second), and every entry read is
 * validated by stats_shm (the segment is untrusted). Entries are copied into a local cache as
 * they appear, so a lookup never rescans the whole ring. Backend names come from the segment's
 * backend table, by the index a ring entry carries or by the address lb resolved.
 */
#ifndef LBTRACE_SHMRING_H
#define LBTRACE_SHMRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pair.h"

struct shmring;

/* A reader for the segment of the lb listening on lb_port. Never fails for a missing segment
 * (it attaches later); NULL only when out of memory. */
struct shmring *shmring_new(uint16_t lb_port);

/* True when the segment is mapped now (attaching if it can). */
bool shmring_attached(struct shmring *r);

/* The backend ports lb is configured with (resolved port when known). Returns how many (<= max),
 * 0 when the segment is not there. */
size_t shmring_backend_ports(struct shmring *r, uint16_t *ports, size_t max);

/* The port of lb's HTTPS listener (--tls-listen) as lb published it, or 0 when it has none or
 * the segment is not there. */
uint16_t shmring_tls_port(struct shmring *r);

/* The ops to hand to pair_set_ring() / trace_set_ring(); ctx is r. */
struct pair_ring_ops shmring_ops(struct shmring *r);

/* Entries seen in the ring so far (copied into the cache). */
uint64_t shmring_entries_seen(const struct shmring *r);

void shmring_free(struct shmring *r);

#endif
