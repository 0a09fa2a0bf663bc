/*
 * lbtrace_testrun.h - runs lbtrace's whole pipeline (capture.c reading a file, then trace.c)
 * over a .pcap and collects what it printed, for the tests. Header-only, like lbtrace_pcapgen.h.
 */
#ifndef LBTRACE_TESTRUN_H
#define LBTRACE_TESTRUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "trace.h"

struct run_result {
    char *out; /* everything printed, NUL-terminated (free it) */
    size_t len;
    struct trace_stats st;
    uint64_t connections;
    int link;
};

struct run_frame_ctx {
    struct trace *t;
};

static inline void run_on_frame(void *ctx, uint64_t ts, const uint8_t *data, size_t caplen,
                         size_t wirelen)
{
    struct run_frame_ctx *c = ctx;
    (void)wirelen;
    trace_frame(c->t, ts, data, caplen);
}

/* Runs the pipeline over path with lb on lb_port and one backend port range [b0, b0+nb), lb's
 * mode as given and lb's ring as ring (NULL: none). Returns 0, or -1 when the file could not be
 * opened. */
static inline int run_pcap_full(const char *path, uint16_t lb_port, uint16_t b0, size_t nb,
                                enum output_view view, bool json, uint64_t count,
                                enum trace_mode mode, const struct pair_ring_ops *ring,
                                struct run_result *r)
{
    struct trace_config cfg;
    struct capture_opts co = {.file = path};
    char err[256];
    bool perm = false;
    FILE *out;

    memset(r, 0, sizeof(*r));
    memset(&cfg, 0, sizeof(cfg));
    cfg.flows.lb_port = lb_port;
    for (size_t i = 0; i < nb && i < FLOW_MAX_BACKEND_PORTS; i++)
        cfg.flows.backend_ports[cfg.flows.num_backend_ports++] = (uint16_t)(b0 + i);
    cfg.out.view = view;
    cfg.out.json = json;
    cfg.count = count;
    cfg.mode = mode;

    struct capture *cap = capture_open(&co, &perm, err, sizeof(err));
    if (cap == NULL) {
        fprintf(stderr, "run_pcap: %s\n", err);
        return -1;
    }
    out = open_memstream(&r->out, &r->len);
    cfg.out.out = out;
    r->link = capture_link(cap);
    struct trace *t = trace_new(&cfg, r->link);
    if (ring != NULL)
        trace_set_ring(t, ring);
    struct run_frame_ctx fc = {t};
    while (!trace_done(t) && capture_next(cap, 64, run_on_frame, &fc, err, sizeof(err)) > 0)
        ;
    trace_finish(t);
    r->st = *trace_get_stats(t);
    r->connections = trace_connections(t);
    trace_free(t);
    capture_close(cap);
    fclose(out);
    return 0;
}

/* Runs the pipeline over path with lb on lb_port and one backend port range [b0, b0+nb).
 * Returns 0, or -1 when the file could not be opened. */
static inline int run_pcap_ex(const char *path, uint16_t lb_port, uint16_t b0, size_t nb,
                       enum output_view view, bool json, uint64_t count, struct run_result *r)
{
    return run_pcap_full(path, lb_port, b0, nb, view, json, count, TRACE_MODE_AUTO, NULL, r);
}

static inline int run_pcap(const char *path, bool json, struct run_result *r)
{
    return run_pcap_ex(path, 8000, 9001, 3, OUTPUT_BOTH, json, 0, r);
}

/* How many times needle occurs in hay. */
static inline int count_of(const char *hay, const char *needle)
{
    int n = 0;
    size_t nl = strlen(needle);
    for (const char *p = hay; p && (p = strstr(p, needle)) != NULL; p += nl)
        n++;
    return n;
}

/* Runs a shell command; returns its stdout (malloc'd) and its exit status. */
static inline char *harness_like_run(const char *command, int *status)
{
    FILE *p = popen(command, "r");
    char *out = calloc(1, 1);
    size_t len = 0;
    char chunk[4096];
    size_t r;
    if (p == NULL || out == NULL) {
        *status = -1;
        if (p)
            pclose(p);
        return out;
    }
    while ((r = fread(chunk, 1, sizeof(chunk), p)) > 0) {
        char *bigger = realloc(out, len + r + 1);
        if (bigger == NULL)
            break;
        out = bigger;
        memcpy(out + len, chunk, r);
        len += r;
        out[len] = '\0';
    }
    *status = pclose(p);
    return out;
}

/* A fresh temporary file name (the file is created empty). Caller frees; unlink when done. */
static inline char *temp_pcap(void)
{
    char *path = strdup("/tmp/lbtrace-test-XXXXXX");
    int fd = path ? mkstemp(path) : -1;
    if (fd >= 0)
        close(fd);
    return path;
}

/* The n-th line of s (0-based) that contains needle, copied into buf, or NULL. */
static inline const char *line_with(const char *s, const char *needle, int n, char *buf, size_t len)
{
    const char *line = s;
    while (line && *line) {
        const char *end = strchr(line, '\n');
        size_t l = end ? (size_t)(end - line) : strlen(line);
        char tmp[8192];
        size_t c = l < sizeof(tmp) - 1 ? l : sizeof(tmp) - 1;
        memcpy(tmp, line, c);
        tmp[c] = '\0';
        if (strstr(tmp, needle) && n-- == 0) {
            snprintf(buf, len, "%s", tmp);
            return buf;
        }
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

#endif
