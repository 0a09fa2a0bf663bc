/* test_stats_shm_access.c - who may do what with the statistics segment (common/stats_shm.c):
 * lb's mapping is the only writable one; a reader (lbtop, lbtrace) maps it read-only, so a
 * stray write in a reader faults instead of corrupting what lb publishes; the segment can be
 * given to the user lb becomes (--user), keeping its mode. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stats.h"
#include "stats_shm.h"

static void make_segment(struct stats_shm *w, char *name, size_t len, const char *tag)
{
    char err[256];
    snprintf(name, len, "/lblab-test-%s-%d", tag, (int)getpid());
    assert_int_equal(stats_shm_create(w, name, 1, 1, err, sizeof(err)), 0);
    stats_shm_publish(w);
}

/* The permissions /proc/self/maps shows for the mapping that starts at addr ("rw-s"...). */
static void mapping_perms(const void *addr, char perms[5])
{
    char line[512];
    unsigned long want = (unsigned long)(uintptr_t)addr;
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    perms[0] = '\0';
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long start, end;
        char p[5];
        if (sscanf(line, "%lx-%lx %4s", &start, &end, p) == 3 && start == want) {
            memcpy(perms, p, 5);
            break;
        }
    }
    fclose(f);
    assert_true(perms[0] != '\0');
}

static void test_only_the_writer_maps_it_writable(void **state)
{
    char name[64], err[256], perms[5];
    struct stats_shm w, r;
    (void)state;
    make_segment(&w, name, sizeof(name), "perms");
    assert_int_equal(stats_shm_attach(&r, name, NULL, err, sizeof(err)), 0);
    mapping_perms(w.seg, perms);
    assert_string_equal(perms, "rw-s");
    mapping_perms(r.seg, perms);
    assert_string_equal(perms, "r--s");
    assert_false(r.writable);
    stats_shm_detach(&r);
    stats_shm_destroy(&w);
}

static void test_a_write_through_the_readers_mapping_faults(void **state)
{
    char name[64], err[256];
    struct stats_shm w, r;
    int status;
    (void)state;
    make_segment(&w, name, sizeof(name), "fault");
    assert_int_equal(stats_shm_attach(&r, name, NULL, err, sizeof(err)), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        *(volatile uint16_t *)&r.seg->header.listen_port = 1; /* must fault */
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS));
    assert_int_not_equal(r.seg->header.listen_port, 1);
    stats_shm_detach(&r);
    stats_shm_destroy(&w);
}

static void test_chown_gives_the_segment_away_and_keeps_its_mode(void **state)
{
    char name[64], err[256], path[96];
    struct stats_shm w;
    struct stat st;
    (void)state;
    make_segment(&w, name, sizeof(name), "chown");
    /* root gives it to nobody (65534); anyone else can give it to themselves */
    uid_t uid = geteuid() == 0 ? 65534 : geteuid();
    gid_t gid = geteuid() == 0 ? 65534 : getegid();
    assert_int_equal(stats_shm_chown(&w, uid, gid, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "/dev/shm%s", name);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_uid, uid);
    assert_int_equal(st.st_gid, gid);
    assert_int_equal(st.st_mode & 07777, 0644);
    stats_shm_destroy(&w);
    assert_int_equal(stat(path, &st), -1);
}

static void test_chown_refuses_a_segment_that_was_replaced(void **state)
{
    char name[64], err[256];
    struct stats_shm w;
    (void)state;
    make_segment(&w, name, sizeof(name), "replaced");
    assert_int_equal(shm_unlink(name), 0);
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600); /* a stranger's, same name */
    assert_true(fd >= 0);
    close(fd);
    assert_true(stats_shm_chown(&w, geteuid(), getegid(), err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "no longer"));
    shm_unlink(name);
    stats_shm_detach(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_only_the_writer_maps_it_writable),
        cmocka_unit_test(test_a_write_through_the_readers_mapping_faults),
        cmocka_unit_test(test_chown_gives_the_segment_away_and_keeps_its_mode),
        cmocka_unit_test(test_chown_refuses_a_segment_that_was_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
