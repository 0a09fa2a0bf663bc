/*
 * capture.c - libpcap glue.
 *
 * Live captures use pcap_create/pcap_activate (not pcap_open_live) so that the permission error
 * is told apart from the others. Not in immediate mode: on Linux that means fixed-size slots of
 * snaplen bytes each (TPACKET_V2), so an 8 MiB buffer holds only 32 packets and a fast transfer
 * on lo overflows it; the default mode packs packets into blocks that the kernel hands over when
 * full or after a 20 ms timeout, which is still immediate for a person. The handle is non-blocking and capture_next() polls its descriptor with a
 * 100 ms timeout itself, because how libpcap's own read timeout behaves in immediate mode varies
 * between versions, and the caller must get control back while the wire is quiet to expire
 * connections and print what is due. Timestamps are requested in nanoseconds, and files are opened with nanosecond
 * precision too, so every module sees one unit.
 */
#include "capture.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cliopt.h"

#define CAPTURE_SNAPLEN 262144
#define CAPTURE_TIMEOUT_MS 100
#define CAPTURE_BLOCK_MS 20          /* the kernel hands over packets at least this often */
#define CAPTURE_BUFFER (32 << 20)    /* bytes of kernel buffer: a 1 MB body on lo is 16+ frames of 64 KiB */

struct capture {
    pcap_t *pcap;
    int fd; /* live: the selectable descriptor, polled with our own timeout */
    volatile sig_atomic_t broken;
    pcap_dumper_t *dump;
    bool live;
    capture_frame_fn fn;
    void *ctx;
};

static struct capture *failed(struct capture *c, char *err, size_t err_len, const char *what,
                              const char *why)
{
    snprintf(err, err_len, "%s: %s", what, why);
    capture_close(c);
    return NULL;
}

struct capture *capture_open(const struct capture_opts *o, bool *perm_denied, char *err,
                             size_t err_len)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    struct capture *c = calloc(1, sizeof(*c));
    int snaplen = o->snaplen > 0 ? o->snaplen : CAPTURE_SNAPLEN;

    *perm_denied = false;
    if (c == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    if (o->file != NULL) {
        c->pcap = pcap_open_offline_with_tstamp_precision(o->file, PCAP_TSTAMP_PRECISION_NANO,
                                                          perr);
        if (c->pcap == NULL)
            return failed(c, err, err_len, o->file, perr);
    } else {
        const char *iface = o->iface ? o->iface : "lo";
        int rc;
        c->live = true;
        c->pcap = pcap_create(iface, perr);
        if (c->pcap == NULL)
            return failed(c, err, err_len, iface, perr);
        pcap_set_snaplen(c->pcap, snaplen);
        pcap_set_promisc(c->pcap, 0);
        pcap_set_timeout(c->pcap, CAPTURE_BLOCK_MS);
        pcap_set_buffer_size(c->pcap, CAPTURE_BUFFER);
        pcap_set_tstamp_precision(c->pcap, PCAP_TSTAMP_PRECISION_NANO); /* best effort */
        rc = pcap_activate(c->pcap);
        if (rc < 0) {
            const char *msg = pcap_geterr(c->pcap);
            *perm_denied = rc == PCAP_ERROR_PERM_DENIED ||
                           (rc == PCAP_ERROR && (strstr(msg, "permitted") || strstr(msg, "ermission")));
            snprintf(perr, sizeof(perr), "%s", rc == PCAP_ERROR_NO_SUCH_DEVICE ? "no such interface"
                                               : msg[0] ? msg : pcap_statustostr(rc));
            return failed(c, err, err_len, iface, perr);
        }
        c->fd = pcap_get_selectable_fd(c->pcap);
        if (c->fd < 0 || pcap_setnonblock(c->pcap, 1, perr) < 0)
            return failed(c, err, err_len, iface, c->fd < 0 ? "no selectable descriptor" : perr);
    }
    if (o->filter != NULL && o->filter[0] != '\0') {
        struct bpf_program prog;
        if (pcap_compile(c->pcap, &prog, o->filter, 1, PCAP_NETMASK_UNKNOWN) < 0)
            return failed(c, err, err_len, "filter", pcap_geterr(c->pcap));
        int rc = pcap_setfilter(c->pcap, &prog);
        pcap_freecode(&prog);
        if (rc < 0)
            return failed(c, err, err_len, "filter", pcap_geterr(c->pcap));
    }
    if (o->write_file != NULL) {
        c->dump = pcap_dump_open(c->pcap, o->write_file);
        if (c->dump == NULL)
            return failed(c, err, err_len, o->write_file, pcap_geterr(c->pcap));
    }
    return c;
}

int capture_link(const struct capture *c)
{
    return pcap_datalink(c->pcap);
}

bool capture_is_live(const struct capture *c)
{
    return c->live;
}

static void on_frame(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct capture *c = (struct capture *)user;
    /* the handle was opened for nanoseconds; tv_usec then holds nanoseconds */
    uint64_t frac = (uint64_t)h->ts.tv_usec;
    if (pcap_get_tstamp_precision(c->pcap) != PCAP_TSTAMP_PRECISION_NANO)
        frac *= 1000u;
    uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000u + frac;
    if (c->dump)
        pcap_dump((u_char *)c->dump, h, bytes);
    c->fn(c->ctx, ts, bytes, h->caplen, h->len);
}

int capture_next(struct capture *c, int max, capture_frame_fn fn, void *ctx, char *err,
                 size_t err_len)
{
    c->fn = fn;
    c->ctx = ctx;
    if (c->broken)
        return -1;
    if (c->live) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int r = poll(&pfd, 1, CAPTURE_TIMEOUT_MS);
        if (r < 0 && errno != EINTR) {
            snprintf(err, err_len, "poll: %s", strerror(errno));
            return -2;
        }
        if (c->broken)
            return -1;
        if (r <= 0)
            return 0;
    }
    int n = pcap_dispatch(c->pcap, max <= 0 ? -1 : max, on_frame, (u_char *)c);
    if (c->dump)
        pcap_dump_flush(c->dump);
    if (n == PCAP_ERROR_BREAK)
        return -1;
    if (n == PCAP_ERROR) {
        snprintf(err, err_len, "%s", pcap_geterr(c->pcap));
        return -2;
    }
    if (n == 0 && !c->live)
        return -1; /* end of file */
    return n;
}

void capture_break(struct capture *c)
{
    if (c == NULL)
        return;
    c->broken = 1;
    if (c->pcap != NULL)
        pcap_breakloop(c->pcap);
}

int capture_stats(struct capture *c, uint64_t *received, uint64_t *dropped)
{
    struct pcap_stat st;
    if (!c->live || pcap_stats(c->pcap, &st) < 0)
        return -1;
    *received = st.ps_recv;
    *dropped = st.ps_drop + st.ps_ifdrop;
    return 0;
}

void capture_close(struct capture *c)
{
    if (c == NULL)
        return;
    if (c->dump)
        pcap_dump_close(c->dump);
    if (c->pcap)
        pcap_close(c->pcap);
    free(c);
}

/* Parses a decimal id from the environment; returns false when absent or bad. */
static bool env_id(const char *name, unsigned long *out)
{
    const char *s = getenv(name);
    uint64_t v = 0;
    if (s == NULL || cli_parse_digits(s, strlen(s), 0x7fffffff, &v) != 0 || v == 0)
        return false;
    *out = (unsigned long)v;
    return true;
}

int capture_drop_privileges(char *msg, size_t msg_len)
{
    if (geteuid() == 0 || getuid() == 0) {
        unsigned long uid = 0, gid = 0;
        const char *who = "the sudo user";
        if (!env_id("SUDO_UID", &uid) || !env_id("SUDO_GID", &gid)) {
            struct passwd *pw = getpwnam("nobody");
            if (pw == NULL) {
                snprintf(msg, msg_len, "kept root: no user 'nobody' to drop to");
                return -ENOENT;
            }
            uid = pw->pw_uid;
            gid = pw->pw_gid;
            who = "nobody";
        }
        if (setgroups(0, NULL) < 0 || setgid((gid_t)gid) < 0 || setuid((uid_t)uid) < 0) {
            int e = errno;
            snprintf(msg, msg_len, "cannot drop root privileges: %s", strerror(e));
            return -e;
        }
        if (setuid(0) == 0) {
            snprintf(msg, msg_len, "privileges could be regained after dropping them");
            return -EPERM;
        }
        snprintf(msg, msg_len, "dropped root: now uid %lu gid %lu (%s)", uid, gid, who);
    } else {
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct data[2];
        memset(data, 0, sizeof(data));
        if (syscall(SYS_capset, &hdr, data) < 0) {
            int e = errno;
            snprintf(msg, msg_len, "cannot drop capabilities: %s", strerror(e));
            return -e;
        }
        snprintf(msg, msg_len, "dropped every capability");
    }
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    return 0;
}

char *capture_filter_for(uint16_t lb_port, const uint16_t *backend_ports, size_t n, char *buf,
                         size_t len)
{
    size_t off = 0;
    int w = snprintf(buf, len, "tcp and (");
    bool first = true;
    if (w < 0 || (size_t)w >= len)
        goto out_truncated;
    off = (size_t)w;
    if (lb_port != 0) {
        w = snprintf(buf + off, len - off, "port %u", (unsigned)lb_port);
        if (w < 0 || (size_t)w >= len - off)
            goto out_truncated;
        off += (size_t)w;
        first = false;
    }
    for (size_t i = 0; i < n; i++) {
        w = snprintf(buf + off, len - off, "%sport %u", first ? "" : " or ",
                     (unsigned)backend_ports[i]);
        if (w < 0 || (size_t)w >= len - off)
            goto out_truncated;
        off += (size_t)w;
        first = false;
    }
    if (first) {
        snprintf(buf, len, "tcp");
        return buf;
    }
    if (off + 2 > len)
        goto out_truncated;
    buf[off++] = ')';
    buf[off] = '\0';
    return buf;
out_truncated:
    return NULL;
}
