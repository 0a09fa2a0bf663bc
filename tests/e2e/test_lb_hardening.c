/*
 * test_lb_hardening.c - end-to-end: how lblab's programs are built and how lb gives up root.
 *
 * Every program is a position-independent executable with full RELRO (GNU_RELRO and BIND_NOW),
 * stack canaries (__stack_chk_fail) and fortified calls (__*_chk), as the Makefile builds them
 * (readelf reads the binaries under test). lb --user NAME: an unknown user, or lb not started
 * as root, is refused with a message; started as root, lb serves as NAME (uid, gid and groups
 * all NAME's, checked in /proc), its statistics segment is NAME's with mode 0644 (lb alone
 * writes it, everyone reads it), lbtop reads it, and lb still removes it when it stops. The
 * tests that need root skip without it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 20000

static const char *const programs[] = {"lb", "backend-sim", "lbtop", "lbtrace"};

/* readelf's output for flags on program name. */
static char *readelf(const char *flags, const char *name)
{
    int status;
    char *out = harness_runf(&status, "readelf %s '%s' 2>&1", flags, harness_bin(name));
    assert_non_null(out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("readelf %s %s failed: %s", flags, name, out);
    return out;
}

static void expect(const char *name, const char *what, char *text, const char *needle)
{
    if (strstr(text, needle) == NULL)
        fail_msg("%s is not hardened: no %s (%s)", name, what, needle);
    free(text);
}

static void test_every_program_is_pie_full_relro_with_canaries_and_fortify(void **state)
{
    int status;
    (void)state;
    char *have = harness_runf(&status, "command -v readelf");
    free(have);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        skip(); /* binutils missing */
    for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++) {
        const char *p = programs[i];
        expect(p, "PIE", readelf("-hW", p), "DYN (Position-Independent Executable");
        expect(p, "RELRO", readelf("-lW", p), "GNU_RELRO");
        expect(p, "BIND_NOW (full RELRO)", readelf("-dW", p), "NOW");
        expect(p, "stack protector", readelf("-sW --dyn-syms", p), "__stack_chk_fail");
        expect(p, "_FORTIFY_SOURCE", readelf("-sW --dyn-syms", p), "_chk@");
    }
}

/* Runs lb with args as uid (when root and uid is not 0: dropped in the child before exec).
 * Returns its exit status; *out gets what it printed. */
static int run_lb_as(uid_t uid, const char *args, char **out)
{
    int status;
    if (uid != 0 && geteuid() == 0)
        *out = harness_runf(&status, "setpriv --reuid=%u --regid=%u --clear-groups %s %s 2>&1",
                            (unsigned)uid, (unsigned)uid, harness_bin("lb"), args);
    else
        *out = harness_runf(&status, "%s %s 2>&1", harness_bin("lb"), args);
    assert_non_null(*out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_unknown_user_is_refused(void **state)
{
    char *out;
    (void)state;
    assert_int_equal(run_lb_as(0, "-l 127.0.0.1:1 --user no-such-user-lblab", &out), 2);
    if (strstr(out, "--user no-such-user-lblab: no such user") == NULL)
        fail_msg("lb said: %s", out);
    free(out);
}

static void test_user_without_root_is_refused(void **state)
{
    char *out;
    struct passwd *pw = getpwnam("nobody");
    (void)state;
    if (pw == NULL)
        skip();
    int status;
    char *have = harness_runf(&status, "command -v setpriv");
    free(have);
    if (geteuid() == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
        skip(); /* root, and no way to run lb as someone else */
    assert_int_equal(run_lb_as(pw->pw_uid, "-l 127.0.0.1:1 --user nobody", &out), 2);
    if (strstr(out, "only root can change user") == NULL)
        fail_msg("lb said: %s", out);
    free(out);
}

/* The value of field ("Uid:", "Gid:", "Groups:") in /proc/pid/status, whitespace squeezed. */
static char *proc_status(pid_t pid, const char *field)
{
    int status;
    char *out = harness_runf(&status, "awk '$1 == \"%s\" { $1 = \"\"; print substr($0, 2) }' "
                                      "/proc/%d/status",
                             field, (int)pid);
    assert_non_null(out);
    size_t n = strlen(out);
    if (n > 0 && out[n - 1] == '\n')
        out[n - 1] = '\0';
    return out;
}

static void test_user_drops_root_after_opening_what_needs_it(void **state)
{
    struct passwd *pw = getpwnam("nobody");
    uint16_t sim_port, lb_port;
    char want[64], shm[64];
    struct stat st;
    (void)state;
    if (geteuid() != 0 || pw == NULL)
        skip();
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    pid_t sim = harness_start_backend_sim("s1", &sim_port, NULL);
    assert_true(sim > 0);
    const char *args[] = {"--user", "nobody", NULL};
    pid_t lb = harness_start_lb(&lb_port, &sim_port, 1, args, NULL);
    assert_true(lb > 0);

    /* lb listens before it changes user, and starts its workers after: an answer means the
     * change is done */
    struct harness_response r;
    static const char req[] = "GET /bytes/10 HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n";
    assert_int_equal(harness_exchange(lb_port, req, sizeof(req) - 1, TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);

    char *ids = proc_status(lb, "Uid:");
    snprintf(want, sizeof(want), "%u %u %u %u", (unsigned)uid, (unsigned)uid, (unsigned)uid,
             (unsigned)uid);
    assert_string_equal(ids, want);
    free(ids);
    ids = proc_status(lb, "Gid:");
    snprintf(want, sizeof(want), "%u %u %u %u", (unsigned)gid, (unsigned)gid, (unsigned)gid,
             (unsigned)gid);
    assert_string_equal(ids, want);
    free(ids);
    ids = proc_status(lb, "Groups:");
    snprintf(want, sizeof(want), "%u", (unsigned)gid);
    assert_string_equal(ids, want);
    free(ids);

    snprintf(shm, sizeof(shm), "/dev/shm/lblab-%u", (unsigned)lb_port);
    assert_int_equal(stat(shm, &st), 0);
    assert_int_equal(st.st_uid, uid);
    assert_int_equal(st.st_mode & 07777, 0644);
    int status;
    char *json = harness_runf(&status, "%s -p %u --json 2>&1", harness_bin("lbtop"),
                              (unsigned)lb_port);
    assert_non_null(json);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("lbtop: %s", json);
    free(json);

    assert_int_equal(harness_stop(lb, 15000), 0); /* exit 0: nothing went wrong as nobody */
    assert_int_equal(stat(shm, &st), -1);          /* and it could remove its segment */
    assert_int_equal(errno, ENOENT);
    assert_int_equal(harness_stop(sim, 15000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_every_program_is_pie_full_relro_with_canaries_and_fortify),
        LB_TEST(test_unknown_user_is_refused),
        LB_TEST(test_user_without_root_is_refused),
        LB_TEST(test_user_drops_root_after_opening_what_needs_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
