/*
 * capture.h - the only part of lbtrace that talks to libpcap and to the kernel: opening a live
 * interface or a saved file, the BPF filter, saving what is captured (-w), handing each frame to
 * a callback, and dropping privileges once the capture is open.
 *
 * Everything that interprets the bytes lives in the pure modules (decode, flow, reasm, l7,
 * pair), so those are tested from .pcap files without root.
 */
#ifndef LBTRACE_CAPTURE_H
#define LBTRACE_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct capture_opts {
    const char *iface;      /* live capture on this interface (default "lo") ... */
    const char *file;       /* ... or read this pcap file (then iface is ignored) */
    const char *write_file; /* also save every captured frame here, or NULL */
    const char *filter;     /* BPF filter expression, or NULL for everything */
    int snaplen;            /* 0: 262144 */
};

/* One frame: capture time in ns since the epoch, captured bytes, length on the wire. */
typedef void (*capture_frame_fn)(void *ctx, uint64_t ts, const uint8_t *data, size_t caplen,
                                 size_t wirelen);

struct capture;

/* Opens the capture. On failure returns NULL and writes a message into err; *perm_denied is set
 * when the cause is a missing capture permission (the caller then names the fixes). */
struct capture *capture_open(const struct capture_opts *o, bool *perm_denied, char *err,
                             size_t err_len);

/* The link type (DLT_ value) of the capture. */
int capture_link(const struct capture *c);

/* True for a live capture. */
bool capture_is_live(const struct capture *c);

/* Hands up to max frames (<= 0: all that are buffered) to fn. Returns how many, 0 when a live
 * capture's read timeout passed with nothing, -1 at the end of a file or after capture_break(),
 * -2 on error (message in err). */
int capture_next(struct capture *c, int max, capture_frame_fn fn, void *ctx, char *err,
                 size_t err_len);

/* Makes capture_next() return soon (async-signal-safe). */
void capture_break(struct capture *c);

/* Counts from the kernel for a live capture: received and dropped. Returns 0 or -1. */
int capture_stats(struct capture *c, uint64_t *received, uint64_t *dropped);

/* Flushes the -w file and closes everything. NULL is fine. */
void capture_close(struct capture *c);

/* Gives up privileges now that the capture is open: when root, becomes the user who ran sudo
 * (SUDO_UID/SUDO_GID) or else "nobody"; otherwise drops every capability (set with setcap).
 * Writes what it did into msg. Returns 0 or -errno (message in msg). */
int capture_drop_privileges(char *msg, size_t msg_len);

/* The BPF expression for lb's port and the backend ports ("tcp and (port 3000 or ...)"), into
 * buf. Returns buf, or NULL when it does not fit in len bytes (never a shortened filter). */
char *capture_filter_for(uint16_t lb_port, const uint16_t *backend_ports, size_t n, char *buf,
                         size_t len);

#endif
