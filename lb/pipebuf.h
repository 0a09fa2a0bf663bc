/*
 * pipebuf.h - a kernel pipe used as the buffer between two sockets.
 *
 * splice(2) moves bytes from a socket into a pipe and from the pipe into another socket without
 * copying them through lb's memory: the kernel hands over references to its own pages. The
 * layer-4 relay (relay.h) moves bulk transfers this way, and an HTTP session large request and
 * response bodies (session.h). A pipe costs two descriptors and holds at most PIPEBUF_BYTES,
 * so a reader never runs further ahead of its writer than that.
 *
 * Making a pipe and closing it again costs three system calls (4.7 us together on a machine
 * where a 128 KiB response costs lb 44 us), so each worker keeps the empty pipes its transfers
 * give back in a small cache (struct pipebuf_cache) and lends them out again, as HAProxy does;
 * a pipe that still holds bytes is closed instead. The cache gives back to the system, once a
 * second, the pipes nobody took during the last second (pipebuf_cache_trim).
 *
 * All functions run on the owning worker's thread.
 */
#ifndef LB_PIPEBUF_H
#define LB_PIPEBUF_H

#include <stddef.h>
#include <sys/types.h>

#define PIPEBUF_BYTES (64 * 1024) /* what a pipe holds (Linux's default size) */
#define PIPEBUF_CACHE_MAX 8       /* empty pipes a worker keeps for its next transfers */

/* What the transfers that drew on one cache did, totals since it was zeroed (a worker's
 * statistics: stats_writer.h's stats_splices()). */
struct pipebuf_counts {
    unsigned long long bytes;     /* bytes spliced out of pipes into sockets */
    unsigned long long transfers; /* pipes given to a transfer, from the cache or made */
    unsigned long long made;      /* of those, made with pipe2(): the cache had none */
};

/* A worker's empty pipes, ready to lend, and what its transfers did. Zeroed is empty. */
struct pipebuf_cache {
    int fds[PIPEBUF_CACHE_MAX][2];
    size_t count;
    size_t low; /* the fewest it held since the last trim: that many were not needed */
    struct pipebuf_counts counts;
};

struct pipebuf {
    int fd[2];                    /* read end, write end; -1 until the first fill */
    size_t held;                  /* bytes in the pipe: spliced in, not yet out */
    unsigned long long moved;     /* bytes spliced out since pipebuf_init() (for the request's
                                   * record: kept by pipebuf_close()) */
    struct pipebuf_cache *cache;  /* where the pipe comes from and goes back to (may be NULL) */
};

/* No pipe yet: the first pipebuf_fill() takes one from cache (NULL: none) or makes one. What p
 * moves is counted in cache's counts (with no cache, nowhere). */
void pipebuf_init(struct pipebuf *p, struct pipebuf_cache *cache);

/* Moves up to max bytes that socket fd has, and no more than the pipe has room for, into p
 * (taking a pipe first if p has none). Returns the bytes moved; 0 at the socket's end of
 * stream; or -errno: -EAGAIN when the socket has nothing now or the pipe is full, -EINVAL when
 * the socket cannot be spliced (nothing moved: copy instead), else the failure (of pipe2() too,
 * -EMFILE when out of descriptors). */
ssize_t pipebuf_fill(struct pipebuf *p, int fd, size_t max);

/* Moves what p holds into socket fd. Returns the bytes moved, 0 when p holds none, or -errno:
 * -EAGAIN when the socket is full, else the write's failure. */
ssize_t pipebuf_drain(struct pipebuf *p, int fd);

/* Gives p's pipe back to its cache when it is empty and the cache has room, else closes it
 * with whatever it still holds. p then has no pipe, as after pipebuf_init(), with the same cache
 * and its count of bytes moved. */
void pipebuf_close(struct pipebuf *p);

/* Closes the pipes the cache held all through the last second (called once a second). Returns
 * how many it closed. */
size_t pipebuf_cache_trim(struct pipebuf_cache *cache);

/* Closes every pipe the cache holds (the worker's end). */
void pipebuf_cache_fini(struct pipebuf_cache *cache);

#endif
