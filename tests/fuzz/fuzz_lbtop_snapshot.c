/*
 * fuzz_lbtop_snapshot.c - libFuzzer target for lbtop's reading of a corrupt statistics segment:
 * common/stats_shm.c's attach-time validation, then common/stats_snapshot.c copying it out.
 *
 * At start-up the target creates a real segment (2 workers, 8 backends) as lb does, and keeps a
 * pristine copy. Each input is two lists of patches, each patch a region (header, backends,
 * ring, worker blocks), an offset in it, a length and the bytes to write there. The first list
 * is applied before stats_shm_attach(), so the validation sees lying counts, sizes, offsets and
 * versions; when it accepts the segment, stats_snapshot_take() reads it, then the second list is
 * written while it stays attached (a writer scribbling after validation, which the reader must
 * survive because it keeps its own validated counts, and takes a grown backend count only up to
 * the array's size) and the snapshot is taken again. Asserts that attach gives 0 or one of its
 * documented errors, that a snapshot stays within its bounds with every string terminated, and
 * that what lbtop computes from two snapshots (percentiles against the earlier one, merged
 * histograms, requests per connection, unique names) is finite and in order.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "stats_snapshot.h"
#include "stats_shm.h"

#define NWORKERS 2
#define NBACKENDS 8

static struct stats_shm writer;
static uint8_t *pristine;
static size_t seg_size;
static char name[64];

static void cleanup(void)
{
    stats_shm_destroy(&writer);
    free(pristine);
}

static void setup(void)
{
    char err[256];
    snprintf(name, sizeof(name), "/lblab-fuzz-%ld", (long)getpid());
    int rc = stats_shm_create(&writer, name, NWORKERS, NBACKENDS, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "fuzz_lbtop_snapshot: %s\n", err);
    CHECK(rc == 0);
    struct stats_header *h = &writer.seg->header;
    h->nbackends = NBACKENDS;
    for (uint32_t b = 0; b < NBACKENDS; b++) {
        stats_text_put(writer.seg->backends[b].name, sizeof(writer.seg->backends[b].name), "b", 1);
        writer.seg->backends[b].port = (uint16_t)(9001 + b);
    }
    stats_shm_publish(&writer);
    seg_size = writer.size;
    pristine = (uint8_t *)fuzz_dup(writer.seg, seg_size);
    atexit(cleanup);
}

/* Applies patches from the input until a zero region byte or the end. */
static void patch(struct fuzz_in *in)
{
    uint8_t *seg = (uint8_t *)writer.seg;
    const size_t starts[] = {0, offsetof(struct stats_segment, backends),
                             offsetof(struct stats_segment, ring),
                             offsetof(struct stats_segment, workers),
                             offsetof(struct stats_segment, workers) + sizeof(struct stats_worker)};
    for (;;) {
        uint8_t r = fuzz_u8(in);
        if (r == 0)
            return;
        size_t start = starts[r % 5];
        size_t end = r % 5 == 4 ? seg_size : start + 65536;
        if (end > seg_size)
            end = seg_size;
        size_t off = start + fuzz_u16(in) % (end - start), n;
        const uint8_t *p = fuzz_bytes(in, fuzz_u8(in) % 64, &n);
        if (n > seg_size - off)
            n = seg_size - off;
        memcpy(seg + off, p, n);
    }
}

static bool terminated(const char *s, size_t n)
{
    return memchr(s, '\0', n) != NULL;
}

/* What lbtop computes from two snapshots of a corrupt segment: percentiles of each histogram
 * against the earlier one (whose counts may be larger: a scribbling writer), merged ones,
 * requests per connection, names made unique. Only finite numbers, in order, may come out. */
static void check_numbers(const struct stats_snapshot *snap, const struct stats_snapshot *base)
{
    static struct stats_snapshot_hist merged;
    struct stats_percentiles pc;
    char name[STATS_TEXT_LEN + 16];

    memset(&merged, 0, sizeof(merged));
    for (uint32_t b = 0; b < snap->nbackends; b++) {
        const struct stats_snapshot_backend *sb = &snap->backends[b];
        const struct stats_snapshot_hist *h[3] = {&sb->connect, &sb->ttfb, &sb->total};
        for (int i = 0; i < 3; i++) {
            const struct stats_snapshot_hist *from = NULL;
            if (base != NULL && b < base->nbackends)
                from = i == 0 ? &base->backends[b].connect
                              : i == 1 ? &base->backends[b].ttfb : &base->backends[b].total;
            stats_hist_percentiles(h[i], from, &pc);
            CHECK(isfinite(pc.p50_ms) && isfinite(pc.p90_ms) && isfinite(pc.p99_ms));
            CHECK(isfinite(pc.max_ms) && isfinite(pc.mean_ms));
            CHECK(pc.p50_ms <= pc.p90_ms && pc.p90_ms <= pc.p99_ms);
            (void)stats_hist_quantile_us(h[i], from, 0.999);
            stats_hist_merge(&merged, h[i]);
        }
        stats_unique_name(name, sizeof(name), sb->name, b + 1);
        CHECK(terminated(name, sizeof(name)));
    }
    stats_hist_percentiles(&merged, NULL, &pc);
    CHECK(isfinite(pc.p99_ms) && isfinite(pc.mean_ms));
    double rpc = stats_requests_per_conn(snap);
    CHECK(isfinite(rpc) && rpc >= 0);
}

/* Takes a snapshot into *snap and checks it (and its numbers against base, if any). */
static void check_snapshot(const struct stats_shm *shm, struct stats_snapshot *snap,
                           const struct stats_snapshot *base)
{
    stats_snapshot_take(shm, snap, 1, 1);
    /* the header's count may grow after attach (a reload adds backends), never below ours */
    CHECK(snap->nworkers == shm->nworkers && snap->nbackends >= shm->nbackends);
    CHECK(snap->nbackends <= STATS_MAX_BACKENDS && snap->nrecent <= STATS_SNAPSHOT_RECENT);
    CHECK(terminated(snap->listen_text, sizeof(snap->listen_text)));
    CHECK(terminated(snap->policy, sizeof(snap->policy)));
    CHECK(terminated(snap->lb_version, sizeof(snap->lb_version)));
    CHECK(terminated(snap->shm_name, sizeof(snap->shm_name)));
    for (uint32_t b = 0; b < snap->nbackends; b++) {
        CHECK(terminated(snap->backends[b].name, sizeof(snap->backends[b].name)));
        CHECK(terminated(snap->backends[b].host, sizeof(snap->backends[b].host)));
        CHECK(stats_state_name(snap->backends[b].state) != NULL);
    }
    CHECK(stats_mode_name(snap->mode) != NULL);
    (void)stats_responses_total(snap->responses);
    check_numbers(snap, base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    struct stats_shm reader;
    char err[512];
    uint32_t version;

    if (pristine == NULL)
        setup();
    memcpy(writer.seg, pristine, seg_size);
    patch(&in);
    int rc = stats_shm_attach(&reader, name, &version, err, sizeof(err));
    CHECK(rc == 0 || rc == -EAGAIN || rc == -EPROTO || rc == -EPROTONOSUPPORT || rc == -EBADMSG);
    if (rc == 0) {
        CHECK(reader.nworkers >= 1 && reader.nworkers <= NWORKERS);
        CHECK(reader.nbackends <= STATS_MAX_BACKENDS);
        static struct stats_snapshot first, second;
        check_snapshot(&reader, &first, NULL);
        patch(&in);
        check_snapshot(&reader, &second, &first);
        stats_shm_detach(&reader);
    } else {
        CHECK(terminated(err, sizeof(err)) && err[0] != '\0');
    }
    return 0;
}
