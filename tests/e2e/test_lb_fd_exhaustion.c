/*
 * test_lb_fd_exhaustion.c - end-to-end: lb out of file descriptors. lb runs with a low hard
 * descriptor limit (set in the child before exec, so lb cannot raise it) and one worker; the test
 * fills every descriptor lb has with idle client connections, counting them in /proc/PID/fd.
 *
 * Then: the connection lb cannot accept makes it pause accepting and say so, but its
 * "accept: Too many open files" line is rate-limited (about one a second, with "(N similar
 * suppressed)"), not one per retry; a request that gets accepted with lb's last descriptor, so
 * that no socket is left for the backend, gets a 503 naming lb's shortage, and lb's log says
 * "lb: out of file descriptors" without blaming or resting the backend; once the idle clients go,
 * lb serves again as before.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 20000
#define LB_NOFILE 64 /* lb's soft and hard limit */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Descriptors process pid has open, or -1. */
static int open_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Waits until pid has exactly want descriptors open (bounded). */
static bool wait_fds(pid_t pid, int want, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        if (open_fds(pid) == want)
            return true;
        harness_sleep_ms(20);
    }
    return false;
}

/* Starts lb with RLIMIT_NOFILE lowered to nofile (soft and hard) before exec, standard error to
 * log_path. Returns its pid once it accepts on *port. */
static pid_t start_lb_limited(uint16_t *port, uint16_t backend, rlim_t nofile,
                              const char *log_path, const char *access_log)
{
    char listen_arg[32], backend_arg[32];
    *port = harness_free_port();
    snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%u", (unsigned)*port);
    snprintf(backend_arg, sizeof(backend_arg), "127.0.0.1:%u", (unsigned)backend);
    char *argv[] = {(char *)harness_bin("lb"), "-l", listen_arg, "-b", backend_arg, "-w", "1",
                    "--client-timeout", "60000", "--access-log", (char *)access_log, NULL};
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        struct rlimit rl = {.rlim_cur = nofile, .rlim_max = nofile};
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || setrlimit(RLIMIT_NOFILE, &rl) != 0)
            _exit(126);
        close(fd);
        /* only what lb opens itself counts against its limit */
        for (int i = 3; i < 1024; i++)
            close(i);
        execv(argv[0], argv);
        _exit(127);
    }
    harness_track(pid);
    if (!harness_wait_port(*port, TIMEOUT_MS))
        return -1;
    return pid;
}

/* Occurrences of needle in the file at path. */
static int count_in_file(const char *path, const char *needle)
{
    int status, n = 0;
    char *text = harness_runf(&status, "cat %s", path);
    assert_non_null(text);
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(text);
    return n;
}

static bool file_has(const char *path, const char *needle)
{
    return count_in_file(path, needle) > 0;
}

static void get_ok(uint16_t port)
{
    struct harness_response r;
    static const char req[] = "GET /bytes/1000 HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n";
    assert_int_equal(harness_exchange(port, req, sizeof(req) - 1, TIMEOUT_MS, &r), 0);
    if (r.status != 200)
        fail_msg("got %d: %s", r.status, r.body ? r.body : "");
    assert_int_equal(r.body_len, 1000);
    harness_response_free(&r);
}

static void test_out_of_descriptors_is_lbs_own_and_logged_boundedly(void **state)
{
    char dir[] = "/tmp/lblab-fds-XXXXXX", log[64], access[64];
    uint16_t sim_port, lb_port;
    int idle[LB_NOFILE];
    int n_idle = 0, status;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(log, sizeof(log), "%s/lb.err", dir);
    snprintf(access, sizeof(access), "%s/access.log", dir);
    pid_t sim = harness_start_backend_sim("s1", &sim_port, NULL);
    assert_true(sim > 0);
    pid_t lb = start_lb_limited(&lb_port, sim_port, LB_NOFILE, log, access);
    assert_true(lb > 0);
    /* no request yet, so no pooled backend connection lb could reuse later: let the probe
     * connection of harness_wait_port go, then count */
    harness_sleep_ms(200);
    int base = open_fds(lb);
    assert_true(base > 0 && base < LB_NOFILE - 4);

    /* fill lb's every descriptor with idle clients */
    while (base + n_idle < LB_NOFILE) {
        idle[n_idle] = harness_connect(lb_port, TIMEOUT_MS);
        assert_true(idle[n_idle] >= 0);
        n_idle++;
    }
    assert_true(wait_fds(lb, LB_NOFILE, TIMEOUT_MS));
    /* one more: lb cannot accept it, pauses accepts, retries; hold that for 2.5 s */
    uint64_t t0 = mono_ms();
    int pending = harness_connect(lb_port, TIMEOUT_MS);
    assert_true(pending >= 0);
    harness_sleep_ms(2500);
    assert_true(harness_alive(lb, NULL));
    int lines = count_in_file(log, "accept: Too many open files");
    uint64_t held_s = (mono_ms() - t0) / 1000;
    if (lines < 1 || (uint64_t)lines > held_s + 2)
        fail_msg("%d accept lines in %llu s", lines, (unsigned long long)held_s);
    assert_true(file_has(log, "similar suppressed)"));

    /* let one descriptor free: the waiting connection (closed, so lb drops it when it takes it)
     * and one idle client go; a request accepted with the last descriptor finds none left for
     * the backend */
    close(pending);
    close(idle[--n_idle]);
    struct harness_response r;
    static const char req[] = "GET /bytes/1000 HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n";
    assert_int_equal(harness_exchange(lb_port, req, sizeof(req) - 1, TIMEOUT_MS, &r), 0);
    if (r.status != 503)
        fail_msg("got %d, not 503", r.status);
    if (r.body == NULL || strstr(r.body, "lb ran out of file descriptors") == NULL)
        fail_msg("503 body: %s", r.body ? r.body : "(none)");
    harness_response_free(&r);
    assert_true(file_has(log, "lb: out of file descriptors"));

    /* the clients go: lb serves again, the backend was never blamed */
    while (n_idle > 0)
        close(idle[--n_idle]);
    for (int i = 0; i < 5; i++)
        get_ok(lb_port);
    assert_false(file_has(log, "DOWN"));
    assert_false(file_has(log, "lb: backend ")); /* no line about the backend itself */
    assert_true(file_has(access, "status=503"));

    assert_int_equal(harness_stop(lb, 15000), 0);
    assert_int_equal(harness_stop(sim, 15000), 0);
    free(harness_runf(&status, "rm -rf %s", dir));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_out_of_descriptors_is_lbs_own_and_logged_boundedly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
