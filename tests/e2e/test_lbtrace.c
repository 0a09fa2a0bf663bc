/* test_lbtrace.c - end-to-end tests of bin/lbtrace: the command line, reading a saved capture
 * without privileges, the permission message, dropping root, and the real thing: lb and
 * backend-sim on free loopback ports, lbtrace capturing live on lo, requests through lb, and
 * every request printed once with its client leg and its backend leg paired. The capture it
 * saved (-w) is then decoded again and cross-checked against tshark.
 *
 * Live capture needs root (CI runs as root); without it those cases are skipped with a message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "harness.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static char *run(const char *fmt, int *status, ...)
{
    char *cmd, *out;
    va_list ap;
    va_start(ap, status);
    int n = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    if (n < 0)
        harness_oom();
    out = harness_run(cmd, status);
    free(cmd);
    return out;
}

static bool is_root(void)
{
    return geteuid() == 0;
}

static bool have_program(const char *name)
{
    return access(harness_bin(name), X_OK) == 0;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    size_t nl = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += nl)
        n++;
    return n;
}

/* The line of s containing needle (copied into buf), or NULL. */
static const char *line_with(const char *s, const char *needle, char *buf, size_t len)
{
    const char *p = strstr(s, needle);
    if (p == NULL)
        return NULL;
    const char *start = p;
    while (start > s && start[-1] != '\n')
        start--;
    const char *end = strchr(p, '\n');
    size_t n = end ? (size_t)(end - start) : strlen(start);
    if (n >= len)
        n = len - 1;
    memcpy(buf, start, n);
    buf[n] = '\0';
    return buf;
}

/* Waits up to timeout_ms for pid to exit; returns its wait status, or -1 if still running. */
static int wait_exit(pid_t pid, int timeout_ms)
{
    uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
    int status = 0;
    do {
        if (!harness_alive(pid, &status))
            return status;
        sleep_ms(50);
    } while (clock_mono_ms() < deadline);
    return -1;
}

/* --- the command line ------------------------------------------------------------------------ */

static void test_version_help_and_bad_flags(void **state)
{
    int st;
    char *out;
    (void)state;
    out = run("%s -V", &st, harness_bin("lbtrace"));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_string_equal(out, "lbtrace (lblab) 0.1.0\n");
    free(out);
    out = run("%s -h", &st, harness_bin("lbtrace"));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_non_null(strstr(out, "usage: lbtrace"));
    assert_non_null(strstr(out, "--view"));
    free(out);
    const char *bad[][2] = {
        {"-c abc", "invalid -c 'abc'"},   {"--view l5", "invalid --view 'l5'"},
        {"-B 3001,x", "invalid -B '3001,x'"}, {"-p 70000", "invalid -p '70000'"},
        {"-p 3000,3443,", "invalid -p '3000,3443,'"}, {"-p 3000,https", "invalid -p '3000,https'"},
        {"--frobnicate", "unknown option '--frobnicate'"}, {"-i lo -r x.pcap", "exclude each other"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        out = run("%s %s 2>&1", &st, harness_bin("lbtrace"), bad[i][0]);
        assert_int_equal(WEXITSTATUS(st), 2);
        if (strstr(out, bad[i][1]) == NULL)
            fail_msg("lbtrace %s said: %s", bad[i][0], out);
        free(out);
    }
    out = run("%s -r /nonexistent.pcap 2>&1", &st, harness_bin("lbtrace"));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_non_null(strstr(out, "/nonexistent.pcap"));
    free(out);
}

static void test_reads_a_saved_capture_without_privileges(void **state)
{
    int st;
    (void)state;
    /* as nobody when we are root, so that reading a file is shown to need nothing */
    char *out = run("%s %s -r tests/fixtures/pcap/lb-at-work-sll.pcap -p 8000 -B 9001,9002,9003 "
                    "--json 2>/dev/null",
                    &st, is_root() ? "setpriv --reuid=65534 --regid=65534 --clear-groups" : "",
                    harness_bin("lbtrace"));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(count_of(out, "\n"), 6);
    assert_int_equal(count_of(out, "\"paired_by\":\"request_id\""), 4);
    free(out);
    out = run("%s -r tests/fixtures/pcap/lb-at-work-sll.pcap -p 8000 -B 9001,9002,9003 "
              "--view l7 2>&1 >/dev/null", &st, harness_bin("lbtrace"));
    assert_non_null(strstr(out, "6 connections, 10 HTTP requests"));
    free(out);
}

static void test_without_permission_it_names_the_fixes(void **state)
{
    int st;
    char *out;
    (void)state;
    if (is_root())
        out = run("setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "
                  "%s -i lo -c 1 2>&1", &st, harness_bin("lbtrace"));
    else
        out = run("%s -i lo -c 1 2>&1", &st, harness_bin("lbtrace"));
    if (WEXITSTATUS(st) == 0) {
        free(out);
        fprintf(stderr, "SKIP: this user may capture (file capabilities?)\n");
        skip();
    }
    assert_int_equal(WEXITSTATUS(st), 1);
    if (strstr(out, "no permission to capture on lo") == NULL || strstr(out, "setcap cap_net_raw") == NULL ||
        strstr(out, "run it as root") == NULL || strstr(out, "-r FILE.pcap") == NULL)
        fail_msg("unexpected message: %s", out);
    free(out);
}

static void test_drops_root_once_the_capture_is_open(void **state)
{
    char log[] = "/tmp/lbtrace-e2e-drop-XXXXXX";
    char status_path[64];
    int fd;
    (void)state;
    if (!is_root()) {
        fprintf(stderr, "SKIP: live capture needs root (CI runs as root)\n");
        skip();
    }
    fd = mkstemp(log);
    assert_true(fd >= 0);
    close(fd);
    uint16_t port = harness_free_port();
    char pstr[16];
    snprintf(pstr, sizeof(pstr), "%u", port);
    char *argv[] = {(char *)harness_bin("lbtrace"), "-i", "lo", "-p", pstr, "-B", pstr, NULL};
    char *copy = strdup(argv[0]);
    argv[0] = copy;
    pid_t pid = harness_spawn(argv, log);
    assert_true(pid > 0);
    assert_true(harness_wait_for_text(log, "capturing on lo", 10000));
    snprintf(status_path, sizeof(status_path), "/proc/%d/status", (int)pid);
    char *status = harness_read_file(status_path);
    char line[256];
    assert_non_null(line_with(status, "Uid:", line, sizeof(line)));
    assert_null(strstr(line, "\t0\t")); /* no uid is root any more */
    assert_non_null(line_with(status, "CapEff:", line, sizeof(line)));
    assert_non_null(strstr(line, "0000000000000000"));
    free(status);
    harness_stop(pid, 5000);
    char *text = harness_read_file(log);
    assert_non_null(strstr(text, "dropped root"));
    free(text);
    unlink(log);
    free(copy);
}

/* setcap cap_net_raw,cap_net_admin+ep on a copy, run as nobody: it captures, then drops them. */
static void test_file_capabilities_work_and_are_dropped(void **state)
{
    char dir[] = "/tmp/lbtrace-e2e-cap-XXXXXX", bin[128], log[160], status_path[64], line[256];
    int st;
    (void)state;
    if (!is_root()) {
        fprintf(stderr, "SKIP: setting file capabilities needs root\n");
        skip();
    }
    char *have = run("command -v setcap >/dev/null && command -v setpriv >/dev/null && echo yes", &st);
    bool tools = strncmp(have, "yes", 3) == 0;
    free(have);
    if (!tools) {
        fprintf(stderr, "SKIP: setcap or setpriv is missing\n");
        skip();
    }
    assert_non_null(mkdtemp(dir));
    chmod(dir, 0755);
    snprintf(bin, sizeof(bin), "%s/lbtrace", dir);
    snprintf(log, sizeof(log), "%s/log", dir);
    free(run("cp %s %s && chmod 755 %s && setcap cap_net_raw,cap_net_admin+ep %s", &st,
             harness_bin("lbtrace"), bin, bin, bin));
    assert_int_equal(WEXITSTATUS(st), 0);
    char pstr[16];
    snprintf(pstr, sizeof(pstr), "%u", harness_free_port());
    char *argv[] = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin,
                    "-i", "lo", "-p", pstr, "-B", pstr, NULL};
    pid_t pid = harness_spawn(argv, log);
    assert_true(pid > 0);
    bool up = harness_wait_for_text(log, "capturing on lo", 10000);
    char *text = harness_read_file(log);
    if (!up && strstr(text, "no permission") != NULL) {
        /* a nosuid /tmp or a container that ignores file capabilities */
        fprintf(stderr, "SKIP: file capabilities are not honoured here: %s\n", text);
        free(text);
        harness_stop(pid, 5000);
        free(run("rm -rf %s", &st, dir));
        skip();
    }
    free(text);
    assert_true(up);
    snprintf(status_path, sizeof(status_path), "/proc/%d/status", (int)pid);
    char *status = harness_read_file(status_path);
    assert_non_null(line_with(status, "CapEff:", line, sizeof(line)));
    assert_non_null(strstr(line, "0000000000000000"));
    assert_non_null(line_with(status, "CapPrm:", line, sizeof(line)));
    assert_non_null(strstr(line, "0000000000000000"));
    free(status);
    harness_stop(pid, 5000);
    text = harness_read_file(log);
    assert_non_null(strstr(text, "dropped every capability"));
    free(text);
    free(run("rm -rf %s", &st, dir));
}

/* --- live: lb + backend-sim + lbtrace ------------------------------------------------------- */

struct lab {
    uint16_t lb, b1, b2;
    pid_t lb_pid, sim_pid, trace_pid;
    char log[64], trace_log[64], pcap[64];
};

static void lab_stop(struct lab *lab)
{
    if (lab->trace_pid > 0)
        harness_stop(lab->trace_pid, 5000);
    if (lab->lb_pid > 0)
        harness_stop(lab->lb_pid, 5000);
    if (lab->sim_pid > 0)
        harness_stop(lab->sim_pid, 5000);
    lab->trace_pid = lab->lb_pid = lab->sim_pid = 0;
}

/* Starts backend-sim with two backends and lb in front of them, in tcp mode when tcp. */
static bool lab_start(struct lab *lab, bool tcp)
{
    char p1[32], p2[32], pl[32], be1[48], be2[48];
    uint16_t ports[3];
    memset(lab, 0, sizeof(*lab));
    if (harness_free_ports(ports, 3) < 0)
        return false;
    lab->lb = ports[0];
    lab->b1 = ports[1];
    lab->b2 = ports[2];
    snprintf(lab->log, sizeof(lab->log), "/tmp/lbtrace-e2e-%d.log", (int)getpid());
    snprintf(p1, sizeof(p1), "127.0.0.1:%u", lab->b1);
    snprintf(p2, sizeof(p2), "127.0.0.1:%u", lab->b2);
    snprintf(pl, sizeof(pl), "127.0.0.1:%u", lab->lb);
    snprintf(be1, sizeof(be1), "127.0.0.1:%u,name=one", lab->b1);
    snprintf(be2, sizeof(be2), "127.0.0.1:%u,name=two", lab->b2);

    char *sim_argv[] = {(char *)harness_bin("backend-sim"), "-p", p1, "-p", p2, NULL};
    lab->sim_pid = harness_spawn_listening_ports(sim_argv, &ports[1], 2, lab->log);
    char *lb_argv[] = {(char *)harness_bin("lb"), "-l", pl, "-b", be1, "-b", be2, "-w", "2",
                       tcp ? "-m" : NULL, "tcp", NULL};
    if (lab->sim_pid > 0)
        lab->lb_pid = harness_spawn_listening(lb_argv, lab->lb, lab->log);
    if (lab->sim_pid <= 0 || lab->lb_pid <= 0) {
        lab_stop(lab);
        return false;
    }
    return true;
}

/* Starts lbtrace live on lo for the lab's ports, printing JSON, stopping after count requests,
 * saving the capture. Returns once it captures. */
static bool trace_start(struct lab *lab, int count)
{
    char pl[16], bl[32], cnt[16];
    int fd;
    snprintf(lab->trace_log, sizeof(lab->trace_log), "/tmp/lbtrace-e2e-out-XXXXXX");
    fd = mkstemp(lab->trace_log);
    if (fd < 0)
        return false;
    close(fd);
    snprintf(lab->pcap, sizeof(lab->pcap), "/tmp/lbtrace-e2e-%d.pcap", (int)getpid());
    snprintf(pl, sizeof(pl), "%u", lab->lb);
    snprintf(bl, sizeof(bl), "%u,%u", lab->b1, lab->b2);
    snprintf(cnt, sizeof(cnt), "%d", count);
    char *argv[] = {(char *)harness_bin("lbtrace"), "-i", "lo", "-p", pl, "-B", bl, "--json", "-c", cnt, "-w", lab->pcap, NULL};
    lab->trace_pid = harness_spawn(argv, lab->trace_log);
    return lab->trace_pid > 0 && harness_wait_for_text(lab->trace_log, "capturing on lo", 10000);
}

static void test_live_every_request_appears_once_with_both_legs(void **state)
{
    struct lab lab;
    char ids[8][128];
    int nids = 0;
    (void)state;
    if (!is_root()) {
        fprintf(stderr, "SKIP: live capture needs root (CI runs as root); the offline cases ran\n");
        skip();
    }
    if (!have_program("lb") || !have_program("backend-sim")) {
        fprintf(stderr, "SKIP: bin/lb or bin/backend-sim is not built\n");
        skip();
    }
    assert_true(lab_start(&lab, false));
    /* lb's statistics segment: when lb publishes one, every pair must be confirmed by its ring */
    char shm_path[64];
    struct stat sb;
    snprintf(shm_path, sizeof(shm_path), "/dev/shm/lblab-%u", lab.lb);
    for (int i = 0; i < 20 && stat(shm_path, &sb) != 0; i++)
        sleep_ms(50);
    bool have_ring = stat(shm_path, &sb) == 0;
    assert_true(trace_start(&lab, 6));

    /* four requests on their own connections */
    const char *paths[] = {"/whoami", "/bytes/5000", "/chunked/3", "/status/404"};
    for (int i = 0; i < 4; i++) {
        char req[256];
        struct harness_response resp;
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n\r\n",
                 paths[i], lab.lb);
        assert_int_equal(harness_exchange(lab.lb, req, strlen(req), 10000, &resp), 0);
        const char *id = harness_header(&resp, "X-Request-ID");
        assert_non_null(id);
        snprintf(ids[nids++], sizeof(ids[0]), "%s", id);
        harness_response_free(&resp);
    }
    /* two on one keep-alive connection, the second a POST with a body */
    struct harness_conn c;
    assert_int_equal(harness_conn_open(&c, lab.lb, 10000), 0);
    for (int i = 0; i < 2; i++) {
        char req[512];
        struct harness_response resp;
        if (i == 0)
            snprintf(req, sizeof(req), "GET /whoami?keepalive HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        else
            snprintf(req, sizeof(req), "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 11\r\n\r\nhello world");
        assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
        assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
        const char *id = harness_header(&resp, "X-Request-ID");
        assert_non_null(id);
        snprintf(ids[nids++], sizeof(ids[0]), "%s", id);
        harness_response_free(&resp);
    }
    harness_conn_close(&c);

    int st = wait_exit(lab.trace_pid, 20000);
    if (st == -1) {
        harness_stop(lab.trace_pid, 5000);
        lab.trace_pid = 0;
    } else {
        lab.trace_pid = 0;
    }
    char *out = harness_read_file(lab.trace_log);
    if (st == -1)
        fail_msg("lbtrace did not stop after 6 requests; it printed:\n%s", out);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    for (int i = 0; i < nids; i++) {
        char want[2048], line[16384];
        snprintf(want, sizeof(want), "\"request_id\":\"%s\",\"paired_by\"", ids[i]);
        if (count_of(out, want) != 1)
            fail_msg("request id %s appears %d times in:\n%s", ids[i], count_of(out, want), out);
        assert_non_null(line_with(out, want, line, sizeof(line)));
        if (strstr(line, "\"paired_by\":\"request_id\"") == NULL || strstr(line, "\"backend\":null"))
            fail_msg("request %s not paired: %s", ids[i], line);
        char lbdst[64];
        snprintf(lbdst, sizeof(lbdst), "\"dst\":\"127.0.0.1:%u\"", lab.lb);
        assert_non_null(strstr(line, lbdst));
        assert_int_equal(count_of(line, "\"complete\":true"), 2);
        if (have_ring && strstr(line, "\"confirmed\":true") == NULL)
            fail_msg("lb publishes %s but the pair of %s was not confirmed by its ring: %s",
                     shm_path, ids[i], line);
        assert_null(strstr(line, "\"confirmed\":false"));
        /* the backend leg carries the name lb gives its backend (lb's ring says which) */
        if (have_ring && strstr(line, "\"backend_name\":\"one\"") == NULL &&
            strstr(line, "\"backend_name\":\"two\"") == NULL)
            fail_msg("request %s's backend leg is not named one or two: %s", ids[i], line);
    }
    if (!have_ring)
        fprintf(stderr, "note: lb published no statistics segment; pairs were not checked "
                        "against its ring\n");
    assert_int_equal(count_of(out, "\"paired_by\":\"request_id\""), 6);
    free(out);
    lab_stop(&lab);

    /* the saved capture decodes to the same requests, and tshark counts what lbtrace counts */
    char *again = run("%s -r %s -p %u -B %u,%u --json 2>&1", &st, harness_bin("lbtrace"), lab.pcap,
                      lab.lb, lab.b1, lab.b2);
    for (int i = 0; i < nids; i++) {
        char want[2048];
        snprintf(want, sizeof(want), "\"request_id\":\"%s\",\"paired_by\":\"request_id\"", ids[i]);
        if (count_of(again, want) != 1)
            fail_msg("in the saved capture, %s appears %d times:\n%s", ids[i], count_of(again, want), again);
    }
    /* read back without lb's ring, a backend is known by its address */
    char be1_name[64];
    snprintf(be1_name, sizeof(be1_name), "\"backend_name\":\"127.0.0.1:%u\"", lab.b1);
    assert_non_null(strstr(again, be1_name));
    assert_null(strstr(again, "\"backend_name\":\"one\""));
    unsigned long long conns = 0, reqs = 0;
    const char *summary = strstr(again, "lbtrace: ");
    assert_non_null(summary);
    assert_int_equal(sscanf(strstr(summary, "segments, ") + 10, "%llu connections, %llu HTTP requests", &conns, &reqs), 2);
    free(again);
    char *tconv = run("tshark -n -r %s -q -z conv,tcp 2>/dev/null | grep -c '<->'", &st, lab.pcap);
    char *treq = run("tshark -n -r %s -o tcp.reassemble_out_of_order:TRUE -d tcp.port==%u,http "
                     "-d tcp.port==%u,http -d tcp.port==%u,http -Y http.request -T fields "
                     "-e frame.number 2>/dev/null | wc -l", &st, lab.pcap, lab.lb, lab.b1, lab.b2);
    if ((unsigned long long)atoll(tconv) != conns || (unsigned long long)atoll(treq) != reqs)
        fail_msg("tshark counts %s connections and %s requests, lbtrace %llu and %llu", tconv, treq,
                 conns, reqs);
    assert_true(reqs >= 12); /* each request on both legs */
    free(tconv);
    free(treq);
    unlink(lab.pcap);
    unlink(lab.trace_log);
    unlink(lab.log);
}

/* lb -m tcp: one record per client connection, its backend connection found through lb's ring,
 * the bytes identical on both legs, and the requests of one keep-alive connection all on the one
 * backend; a saved capture read back with -m tcp pairs them by timing. */
static void test_live_tcp_mode_pairs_whole_connections(void **state)
{
    struct lab lab;
    char line[16384];
    (void)state;
    if (!is_root()) {
        fprintf(stderr, "SKIP: live capture needs root (CI runs as root); the offline cases ran\n");
        skip();
    }
    if (!have_program("lb") || !have_program("backend-sim")) {
        fprintf(stderr, "SKIP: bin/lb or bin/backend-sim is not built\n");
        skip();
    }
    assert_true(lab_start(&lab, true));
    char shm_path[64];
    struct stat sb;
    snprintf(shm_path, sizeof(shm_path), "/dev/shm/lblab-%u", lab.lb);
    for (int i = 0; i < 20 && stat(shm_path, &sb) != 0; i++)
        sleep_ms(50);
    assert_int_equal(stat(shm_path, &sb), 0); /* lbtrace learns lb's mode from it */
    assert_true(trace_start(&lab, 2));

    /* three requests on one keep-alive connection, then one on a connection of its own */
    struct harness_conn c;
    assert_int_equal(harness_conn_open(&c, lab.lb, 10000), 0);
    for (int i = 0; i < 3; i++) {
        char req[256];
        struct harness_response resp;
        snprintf(req, sizeof(req), "GET /whoami?n=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", i);
        assert_int_equal(harness_send_all(c.fd, req, strlen(req)), 0);
        assert_int_equal(harness_read_response(&c, false, false, &resp), 0);
        assert_int_equal(resp.status, 200);
        harness_response_free(&resp);
    }
    harness_conn_close(&c);
    struct harness_response resp;
    const char *req = "GET /bytes/3000 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    assert_int_equal(harness_exchange(lab.lb, req, strlen(req), 10000, &resp), 0);
    harness_response_free(&resp);

    int st = wait_exit(lab.trace_pid, 20000);
    if (st == -1)
        harness_stop(lab.trace_pid, 5000);
    lab.trace_pid = 0;
    char *out = harness_read_file(lab.trace_log);
    if (st == -1)
        fail_msg("lbtrace did not stop after 2 connections; it printed:\n%s", out);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (count_of(out, "\"type\":\"tcp_connection\"") != 2)
        fail_msg("want 2 connection records:\n%s", out);
    assert_null(strstr(out, "\"paired_by\":\"request_id\""));
    assert_non_null(line_with(out, "/whoami?n=0", line, sizeof(line)));
    if (strstr(line, "\"paired_by\":\"lb_ring\",\"confirmed\":true,\"bytes_identical\":true") == NULL)
        fail_msg("the keep-alive connection was not paired by lb's ring with identical bytes: %s", line);
    assert_int_equal(count_of(line, "\"on_backend\":true"), 3);
    assert_non_null(strstr(line, "\"one_backend\":true"));
    assert_true(strstr(line, "\"backend_name\":\"one\"") || strstr(line, "\"backend_name\":\"two\""));
    assert_non_null(strstr(line, "\"lb\":{\"conn_id\":"));
    assert_non_null(line_with(out, "/bytes/3000", line, sizeof(line)));
    assert_non_null(strstr(line, "\"bytes_identical\":true"));
    assert_non_null(strstr(out, "relayed connections (lb -m tcp)"));
    free(out);
    lab_stop(&lab);

    /* offline: no ring, -m tcp pairs by timing; the text view says what lb did */
    char *again = run("%s -r %s -p %u -B %u,%u -m tcp 2>&1", &st, harness_bin("lbtrace"), lab.pcap,
                      lab.lb, lab.b1, lab.b2);
    assert_non_null(strstr(again, "lb relays whole connections here (-m tcp): one backend per "
                                  "connection; it did not read these requests"));
    assert_int_equal(count_of(again, "paired by timing, bytes carried unchanged both ways"), 2);
    assert_non_null(strstr(again, "3 on the client connection, all to 127.0.0.1:"));
    free(again);
    unlink(lab.pcap);
    unlink(lab.trace_log);
    unlink(lab.log);
}

/* lb terminating TLS and speaking TLS to one backend: lbtrace learns lb's HTTPS port from its
 * shared memory, shows each TLS leg by its records (SNI, version, encrypted) and pairs it with
 * the other leg through lb's ring: HTTPS to a plain backend, HTTPS to a TLS backend, plain HTTP
 * to a TLS backend. Read back from the saved capture, without the ring, the pairs come by
 * timing. */
static void test_live_tls_legs_paired_through_lbs_ring(void **state)
{
    char dir[] = "/tmp/lbtrace-e2e-tls-XXXXXX";
    char line[32768];
    int st;
    (void)state;
    if (!is_root()) {
        fprintf(stderr, "SKIP: live capture needs root (CI runs as root); the offline cases ran\n");
        skip();
    }
    if (!have_program("lb") || !have_program("backend-sim")) {
        fprintf(stderr, "SKIP: bin/lb or bin/backend-sim is not built\n");
        skip();
    }
    char *have = run("command -v openssl >/dev/null && command -v curl >/dev/null && echo yes", &st);
    bool tools = strncmp(have, "yes", 3) == 0;
    free(have);
    if (!tools) {
        fprintf(stderr, "SKIP: openssl or curl is missing\n");
        skip();
    }
    assert_non_null(mkdtemp(dir));
    char *cert = harness_fmt("%s/cert.pem", dir), *key = harness_fmt("%s/key.pem", dir);
    free(run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s "
             "-out %s -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null",
             &st, key, cert));
    assert_int_equal(WEXITSTATUS(st), 0);

    struct lab lab;
    memset(&lab, 0, sizeof(lab));
    uint16_t ports[4];
    assert_int_equal(harness_free_ports(ports, 4), 0);
    lab.lb = ports[0];
    lab.b1 = ports[1];
    lab.b2 = ports[2];
    uint16_t tls = ports[3];
    snprintf(lab.log, sizeof(lab.log), "/tmp/lbtrace-e2e-tls-%d.log", (int)getpid());
    char *p1 = harness_fmt("127.0.0.1:%u", lab.b1), *p2 = harness_fmt("127.0.0.1:%u", lab.b2);
    char *pl = harness_fmt("127.0.0.1:%u", lab.lb), *pt = harness_fmt("127.0.0.1:%u", tls);
    char *be1 = harness_fmt("127.0.0.1:%u,name=one", lab.b1);
    char *be2 = harness_fmt("127.0.0.1:%u,tls,name=two", lab.b2);
    char *plain_argv[] = {(char *)harness_bin("backend-sim"), "-p", p1, NULL};
    char *tls_argv[] = {(char *)harness_bin("backend-sim"), "-p", p2, "--tls-cert", cert,
                        "--tls-key", key, NULL};
    char *lb_argv[] = {(char *)harness_bin("lb"), "-l", pl, "-b", be1, "-b", be2, "-w", "1",
                       "--tls-cert", cert, "--tls-key", key, "--tls-listen", pt, NULL};
    const uint16_t lb_ports[] = {lab.lb, tls};
    pid_t tls_sim = harness_spawn_listening(tls_argv, lab.b2, lab.log);
    if (tls_sim > 0)
        lab.sim_pid = harness_spawn_listening(plain_argv, lab.b1, lab.log);
    if (lab.sim_pid > 0)
        lab.lb_pid = harness_spawn_listening_ports(lb_argv, lb_ports, 2, lab.log);
    bool up = tls_sim > 0 && lab.sim_pid > 0 && lab.lb_pid > 0;
    char shm_path[64];
    struct stat sb;
    snprintf(shm_path, sizeof(shm_path), "/dev/shm/lblab-%u", lab.lb);
    for (int i = 0; up && i < 40 && stat(shm_path, &sb) != 0; i++)
        sleep_ms(50);
    if (!up || stat(shm_path, &sb) != 0) {
        char *log = harness_read_file(lab.log);
        lab_stop(&lab);
        harness_stop(tls_sim, 5000);
        fail_msg("lb with TLS did not start: %s", log);
    }

    /* lbtrace told only lb's plain port: the HTTPS port and the backends come from lb */
    snprintf(lab.trace_log, sizeof(lab.trace_log), "/tmp/lbtrace-e2e-out-XXXXXX");
    int fd = mkstemp(lab.trace_log);
    assert_true(fd >= 0);
    close(fd);
    snprintf(lab.pcap, sizeof(lab.pcap), "/tmp/lbtrace-e2e-tls-%d.pcap", (int)getpid());
    char lbp[16];
    snprintf(lbp, sizeof(lbp), "%u", lab.lb);
    char *targv[] = {(char *)harness_bin("lbtrace"), "-i", "lo", "-p", lbp, "--json", "-c", "4",
                     "-w", lab.pcap, NULL};
    lab.trace_pid = harness_spawn(targv, lab.trace_log);
    assert_true(lab.trace_pid > 0 && harness_wait_for_text(lab.trace_log, "capturing on lo", 10000));
    char *log = harness_read_file(lab.trace_log);
    char want[64];
    snprintf(want, sizeof(want), "lb's HTTPS port %u from its shared memory", tls);
    if (strstr(log, want) == NULL)
        fail_msg("lbtrace did not learn lb's HTTPS port: %s", log);
    free(log);

    /* two requests over HTTPS on one connection, two in clear: round robin sends one of each
     * pair to the TLS backend */
    char *out = run("curl -sk --http1.1 -o /dev/null -o /dev/null -w '%%{http_code} ' "
                    "https://localhost:%u/whoami https://localhost:%u/whoami && "
                    "curl -s -o /dev/null -o /dev/null -w '%%{http_code} ' "
                    "http://127.0.0.1:%u/whoami http://127.0.0.1:%u/whoami",
                    &st, tls, tls, lab.lb, lab.lb);
    if (strcmp(out, "200 200 200 200 ") != 0)
        fail_msg("curl through lb said: %s", out);
    free(out);

    st = wait_exit(lab.trace_pid, 20000);
    if (st == -1)
        harness_stop(lab.trace_pid, 5000);
    lab.trace_pid = 0;
    out = harness_read_file(lab.trace_log);
    if (st == -1)
        fail_msg("lbtrace did not stop after 4 requests; it printed:\n%s", out);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (count_of(out, "\"paired_by\":\"lb_ring\",\"confirmed\":true") != 3 ||
        count_of(out, "\"paired_by\":\"request_id\",\"confirmed\":true") != 1)
        fail_msg("want 3 pairs through lb's ring and 1 by request id:\n%s", out);
    char tls_dst[64];
    snprintf(tls_dst, sizeof(tls_dst), "\"dst\":\"127.0.0.1:%u\"", tls);
    int https = 0, to_two = 0, records = 0;
    for (const char *rec = out; rec != NULL && *rec != '\0';) {
        const char *end = strchr(rec, '\n');
        size_t n = end ? (size_t)(end - rec) : strlen(rec);
        assert_true(n < sizeof(line));
        memcpy(line, rec, n);
        line[n] = '\0';
        rec = end ? end + 1 : NULL;
        if (strstr(line, "\"paired_by\"") == NULL)
            continue; /* lbtrace's own lines (stderr shares the log) */
        records++;
        if (strstr(line, tls_dst) != NULL) {
            https++;
            if (strstr(line, "\"sni\":\"localhost\"") == NULL || strstr(line, "\"readable\":false") == NULL ||
                strstr(line, "\"encrypted\":true") == NULL)
                fail_msg("an HTTPS client leg not shown as TLS: %s", line);
        }
        if (strstr(line, "\"backend_name\":\"two\"") != NULL) {
            to_two++;
            if (count_of(line, "\"tls\":{") < 1 || strstr(line, "\"paired_by\":\"lb_ring\"") == NULL)
                fail_msg("a request to the TLS backend not shown as TLS on its backend leg: %s", line);
        }
        if (strstr(line, "\"backend_name\":\"one\"") != NULL && strstr(line, "\"path\":\"/whoami\"") == NULL)
            fail_msg("the plain backend leg is not readable: %s", line);
    }
    assert_int_equal(records, 4);
    assert_int_equal(https, 2);
    assert_int_equal(to_two, 2);
    free(out);
    lab_stop(&lab);
    harness_stop(tls_sim, 5000);

    /* the saved capture, without lb's ring: paired by timing (and by id where both are plain) */
    char *again = run("%s -r %s -p %u,%u -B %u,%u --json 2>&1", &st, harness_bin("lbtrace"), lab.pcap,
                      lab.lb, tls, lab.b1, lab.b2);
    if (count_of(again, "\"paired_by\":\"timing\"") != 3 || count_of(again, "\"paired_by\":\"request_id\"") != 1)
        fail_msg("read back without the ring:\n%s", again);
    assert_non_null(strstr(again, "2 TLS connections"));
    free(again);
    unlink(lab.pcap);
    unlink(lab.trace_log);
    unlink(lab.log);
    free(run("rm -rf %s", &st, dir));
    free(cert);
    free(key);
    free(p1);
    free(p2);
    free(pl);
    free(pt);
    free(be1);
    free(be2);
}

/* lb -m tcp in front of a backend that terminates TLS itself: lbtrace shows one relayed
 * connection, the same TLS records on both legs (the same server name, the bytes unchanged) and
 * no request, since nothing between the ends can read one. */
static void test_live_tls_passed_through_in_tcp_mode(void **state)
{
    char dir[] = "/tmp/lbtrace-e2e-tlspt-XXXXXX";
    int st;
    (void)state;
    if (!is_root()) {
        fprintf(stderr, "SKIP: live capture needs root (CI runs as root); the offline cases ran\n");
        skip();
    }
    if (!have_program("lb") || !have_program("backend-sim")) {
        fprintf(stderr, "SKIP: bin/lb or bin/backend-sim is not built\n");
        skip();
    }
    char *have = run("command -v openssl >/dev/null && command -v curl >/dev/null && echo yes", &st);
    bool tools = strncmp(have, "yes", 3) == 0;
    free(have);
    if (!tools) {
        fprintf(stderr, "SKIP: openssl or curl is missing\n");
        skip();
    }
    assert_non_null(mkdtemp(dir));
    char *cert = harness_fmt("%s/cert.pem", dir), *key = harness_fmt("%s/key.pem", dir);
    free(run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s "
             "-out %s -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null",
             &st, key, cert));
    assert_int_equal(WEXITSTATUS(st), 0);

    struct lab lab;
    memset(&lab, 0, sizeof(lab));
    uint16_t ports[2];
    assert_int_equal(harness_free_ports(ports, 2), 0);
    lab.lb = ports[0];
    lab.b1 = ports[1];
    snprintf(lab.log, sizeof(lab.log), "/tmp/lbtrace-e2e-tlspt-%d.log", (int)getpid());
    char *pb = harness_fmt("127.0.0.1:%u", lab.b1), *pl = harness_fmt("127.0.0.1:%u", lab.lb);
    char *be = harness_fmt("127.0.0.1:%u,name=tlsend", lab.b1);
    char *sim_argv[] = {(char *)harness_bin("backend-sim"), "-p", pb, "--tls-cert", cert,
                        "--tls-key", key, NULL};
    char *lb_argv[] = {(char *)harness_bin("lb"), "-m", "tcp", "-l", pl, "-b", be, "-w", "1", NULL};
    lab.sim_pid = harness_spawn_listening(sim_argv, lab.b1, lab.log);
    if (lab.sim_pid > 0)
        lab.lb_pid = harness_spawn_listening(lb_argv, lab.lb, lab.log);
    char shm_path[64];
    struct stat sb;
    snprintf(shm_path, sizeof(shm_path), "/dev/shm/lblab-%u", lab.lb);
    bool up = lab.sim_pid > 0 && lab.lb_pid > 0;
    for (int i = 0; up && i < 40 && stat(shm_path, &sb) != 0; i++)
        sleep_ms(50);
    if (!up || stat(shm_path, &sb) != 0) {
        char *log = harness_read_file(lab.log);
        lab_stop(&lab);
        fail_msg("lb -m tcp did not start: %s", log);
    }
    lab.b2 = lab.b1;
    assert_true(trace_start(&lab, 1));

    char *out = run("curl -sk --http1.1 -o /dev/null -o /dev/null -w '%%{http_code} ' "
                    "https://localhost:%u/whoami https://localhost:%u/whoami", &st, lab.lb, lab.lb);
    if (strcmp(out, "200 200 ") != 0)
        fail_msg("curl through lb -m tcp said: %s", out);
    free(out);
    st = wait_exit(lab.trace_pid, 20000);
    if (st == -1)
        harness_stop(lab.trace_pid, 5000);
    lab.trace_pid = 0;
    out = harness_read_file(lab.trace_log);
    if (st == -1)
        fail_msg("lbtrace did not stop after 1 connection; it printed:\n%s", out);
    char line[32768];
    if (line_with(out, "\"type\":\"tcp_connection\"", line, sizeof(line)) == NULL)
        fail_msg("no connection record:\n%s", out);
    if (strstr(line, "\"paired_by\":\"lb_ring\",\"confirmed\":true,\"bytes_identical\":true") == NULL ||
        count_of(line, "\"sni\":\"localhost\"") != 2 || count_of(line, "\"readable\":false") != 2 ||
        strstr(line, "\"requests\":[]") == NULL || strstr(line, "\"backend_name\":\"tlsend\"") == NULL)
        fail_msg("TLS passed through not shown as such: %s", line);
    free(out);
    lab_stop(&lab);
    unlink(lab.pcap);
    unlink(lab.trace_log);
    unlink(lab.log);
    free(run("rm -rf %s", &st, dir));
    free(cert);
    free(key);
    free(pb);
    free(pl);
    free(be);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_help_and_bad_flags),
        cmocka_unit_test(test_reads_a_saved_capture_without_privileges),
        cmocka_unit_test(test_without_permission_it_names_the_fixes),
        cmocka_unit_test(test_drops_root_once_the_capture_is_open),
        cmocka_unit_test(test_file_capabilities_work_and_are_dropped),
        cmocka_unit_test(test_live_every_request_appears_once_with_both_legs),
        cmocka_unit_test(test_live_tcp_mode_pairs_whole_connections),
        cmocka_unit_test(test_live_tls_legs_paired_through_lbs_ring),
        cmocka_unit_test(test_live_tls_passed_through_in_tcp_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
