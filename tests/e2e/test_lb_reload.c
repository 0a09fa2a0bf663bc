/*
 * test_lb_reload.c - end-to-end: lb -c FILE reads its file again on SIGHUP without a failed
 * request. Four backend-sim processes (b1..b4); lb starts on one version of the file, then the
 * file changes ten times (backends added to and removed from pools, a backend moving between
 * pools, routes and policies changed) with a SIGHUP each time, while two client threads keep
 * sending requests, one on a keep-alive connection and one on a new connection each time. Every
 * request must be answered by a backend (no 5xx of lb's own, no connection error), and after
 * each reload requests must reach the pools the new file says. A file with an error is refused
 * and the running configuration stays. POST /reload on the admin port answers with the outcome,
 * and lbtop shows the backends a reload adds and removes. A request in flight when a reload
 * removes its backend finishes there, and a relayed -m tcp connection stays with its backend.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "harness.h"
#include "lb_fixture.h"

#define TIMEOUT_MS 15000
#define NSIMS 4
#define RELOADS 10

struct lab {
    pid_t sims[NSIMS];
    uint16_t ports[NSIMS]; /* b1..b4 */
    char path[64];         /* the configuration file */
    char log[80];          /* lb's standard error */
    pid_t lb;
    uint16_t lb_port;
};

/* Replaces the file at once (a reader never sees half of it). */
static void write_file(const char *path, const char *text)
{
    char *tmp = harness_fmt("%s.new", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
    free(tmp);
}

/* Version k of the file: which backends each pool has, which routes, which policy.
 *   even k: api = b1 b2 (rr),        web = b3;     /api/ -> api, default web
 *   odd k:  api = b2 b4 (leastconn), web = b3 b1;  X-Pool: api -> api, /api/ -> api,
 *           /web/ -> web, default api */
static char *version(const struct lab *lab, int k)
{
    unsigned p1 = lab->ports[0], p2 = lab->ports[1], p3 = lab->ports[2], p4 = lab->ports[3];
    if (k % 2 == 0)
        return harness_fmt("# version %d\n"
                           "pool api { backend 127.0.0.1:%u name=b1; backend 127.0.0.1:%u name=b2 }\n"
                           "pool web { backend 127.0.0.1:%u name=b3 }\n"
                           "route path-prefix /api/ -> api\n"
                           "default -> web\n",
                           k, p1, p2, p3);
    return harness_fmt("# version %d\n"
                       "pool api {\n"
                       "    backend 127.0.0.1:%u name=b2\n"
                       "    backend 127.0.0.1:%u name=b4 weight=2\n"
                       "    policy leastconn\n"
                       "}\n"
                       "pool web { backend 127.0.0.1:%u name=b3; backend 127.0.0.1:%u name=b1 }\n"
                       "route header X-Pool: api -> api\n"
                       "route path-prefix /api/ -> api\n"
                       "route path-prefix /web/ -> web\n"
                       "default -> api\n",
                       k, p2, p4, p3, p1);
}

static void lab_start_with(struct lab *lab, const char *const *extra);

static void lab_start(struct lab *lab)
{
    lab_start_with(lab, NULL);
}

static void lab_start_with(struct lab *lab, const char *const *extra)
{
    static const char *names[NSIMS] = {"b1", "b2", "b3", "b4"};
    for (int i = 0; i < NSIMS; i++) {
        lab->sims[i] = harness_start_backend_sim(names[i], &lab->ports[i], NULL);
        assert_true(lab->sims[i] > 0);
    }
    snprintf(lab->path, sizeof(lab->path), "/tmp/test_lb_reload_XXXXXX");
    int fd = mkstemp(lab->path);
    assert_true(fd >= 0);
    close(fd);
    snprintf(lab->log, sizeof(lab->log), "%s.log", lab->path);
    char *text = version(lab, 0);
    write_file(lab->path, text);
    free(text);
    const char *args[16] = {"-c", lab->path, "-w", "2"};
    for (size_t i = 0, k = 4; extra != NULL && extra[i] != NULL && k < 15; i++)
        args[k++] = extra[i];
    lab->lb = harness_start_lb(&lab->lb_port, NULL, 0, args, lab->log);
    assert_true(lab->lb > 0);
}

static void lab_stop(struct lab *lab)
{
    assert_true(harness_alive(lab->lb, NULL));
    assert_int_equal(harness_stop(lab->lb, TIMEOUT_MS), 0);
    for (int i = 0; i < NSIMS; i++)
        harness_stop(lab->sims[i], TIMEOUT_MS);
    unlink(lab->path);
    unlink(lab->log);
}

static int last_status; /* of backend_for()'s request */
static char last_id[64];

/* The backend that answered "GET path" with the extra header lines, or "" (lb answered). */
static const char *backend_for(const struct lab *lab, const char *path, const char *headers)
{
    static char backend[32];
    struct harness_response resp;
    char *req = harness_fmt("GET %s HTTP/1.1\r\nHost: lab\r\n%sConnection: close\r\n\r\n", path,
                            headers);
    assert_int_equal(harness_exchange(lab->lb_port, req, strlen(req), TIMEOUT_MS, &resp), 0);
    free(req);
    const char *b = harness_header(&resp, "X-Backend");
    snprintf(backend, sizeof(backend), "%s", b ? b : "");
    last_status = resp.status;
    const char *id = harness_header(&resp, "X-Request-ID");
    snprintf(last_id, sizeof(last_id), "%s", id ? id : "?");
    if (resp.status >= 500)
        fprintf(stderr, "GET %s: %d %s\n", path, resp.status, resp.body ? resp.body : "");
    harness_response_free(&resp);
    return backend;
}

/* Requests reach the pools of version k. */
static void assert_version_routes(const struct lab *lab, int k)
{
    for (int i = 0; i < 4; i++) {
        const char *api = backend_for(lab, "/api/bytes/1", "");
        const char *other = k % 2 == 0 ? "b3" : "b2 b4";
        bool ok = k % 2 == 0 ? strcmp(api, "b1") == 0 || strcmp(api, "b2") == 0
                             : strcmp(api, "b2") == 0 || strcmp(api, "b4") == 0;
        if (!ok) {
            char *log = harness_read_file(lab->log);
            fputs(log, stderr);
            free(log);
            fail_msg("version %d: /api/ went to '%s' (status %d, X-Request-ID %s)", k, api,
                     last_status, last_id);
        }
        const char *def = backend_for(lab, "/bytes/1", "");
        assert_non_null(strstr(other, def));
        assert_string_not_equal(def, "");
        if (k % 2 == 1) {
            const char *web = backend_for(lab, "/web/x", "");
            if (strcmp(web, "b3") != 0 && strcmp(web, "b1") != 0) {
                char *log = harness_read_file(lab->log);
                fputs(log, stderr);
                free(log);
                fail_msg("version %d: /web/x went to '%s', not pool web (b3 b1) (X-Request-ID %s)",
                         k, web, last_id);
            }
            const char *hdr = backend_for(lab, "/web/x", "X-Pool: api\r\n");
            assert_true(strcmp(hdr, "b2") == 0 || strcmp(hdr, "b4") == 0);
        }
    }
}

/* --- the clients running during the reloads ------------------------------------------------ */

struct client {
    pthread_t thread;
    const struct lab *lab;
    bool keep_alive;
    atomic_bool stop;
    long requests, failures;
    char last_failure[256];
};

/* One answer is good when a backend sent it complete (X-Backend, no 5xx). (Not with
 * harness_header(): its static buffer is the test thread's.) */
static bool good(const struct harness_response *resp)
{
    return resp->complete && resp->status < 500 && resp->head != NULL &&
           strstr(resp->head, "\r\nX-Backend: ") != NULL;
}

static void note_failure(struct client *c, const char *what, int status)
{
    c->failures++;
    snprintf(c->last_failure, sizeof(c->last_failure), "%s (status %d)", what, status);
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    struct harness_conn conn = {.fd = -1};
    const char *paths[] = {"/api/bytes/100", "/bytes/100", "/web/bytes/100"};

    for (long i = 0; !atomic_load(&c->stop); i++) {
        char *req = harness_fmt("GET %s HTTP/1.1\r\nHost: lab\r\n%s\r\n", paths[i % 3],
                                c->keep_alive ? "" : "Connection: close\r\n");
        struct harness_response resp;
        c->requests++;
        if (!c->keep_alive) {
            if (harness_exchange(c->lab->lb_port, req, strlen(req), TIMEOUT_MS, &resp) != 0)
                note_failure(c, "new connection: no response", 0);
            else {
                if (!good(&resp))
                    note_failure(c, "new connection: bad response", resp.status);
                harness_response_free(&resp);
            }
            free(req);
            continue;
        }
        if (conn.fd < 0 && harness_conn_open(&conn, c->lab->lb_port, TIMEOUT_MS) != 0) {
            note_failure(c, "keep-alive: connect failed", 0);
            free(req);
            continue;
        }
        if (harness_send_all(conn.fd, req, strlen(req)) != 0 ||
            harness_read_response(&conn, false, false, &resp) != 0) {
            note_failure(c, "keep-alive: no response", 0);
            harness_conn_close(&conn);
            conn.fd = -1;
        } else {
            if (!good(&resp))
                note_failure(c, "keep-alive: bad response", resp.status);
            if (resp.closed) { /* lb may close a keep-alive connection after an answer */
                harness_conn_close(&conn);
                conn.fd = -1;
            }
            harness_response_free(&resp);
        }
        free(req);
    }
    if (conn.fd >= 0)
        harness_conn_close(&conn);
    return NULL;
}

static void test_ten_reloads_under_load_fail_no_request(void **state)
{
    (void)state;
    static struct lab lab;
    static struct client clients[2];
    lab_start(&lab);
    assert_version_routes(&lab, 0);

    for (int i = 0; i < 2; i++) {
        clients[i] = (struct client){.lab = &lab, .keep_alive = i == 0};
        atomic_init(&clients[i].stop, false);
        assert_int_equal(pthread_create(&clients[i].thread, NULL, client_main, &clients[i]), 0);
    }
    for (int k = 1; k <= RELOADS; k++) {
        harness_sleep_ms(100); /* requests in flight across the change */
        char *text = version(&lab, k);
        write_file(lab.path, text);
        free(text);
        assert_int_equal(kill(lab.lb, SIGHUP), 0);
        char *done = harness_fmt("(generation %d)", k + 1);
        assert_true(harness_wait_for_text(lab.log, done, TIMEOUT_MS));
        free(done);
        assert_version_routes(&lab, k);
    }
    harness_sleep_ms(100);
    for (int i = 0; i < 2; i++) {
        atomic_store(&clients[i].stop, true);
        pthread_join(clients[i].thread, NULL);
    }
    for (int i = 0; i < 2; i++) {
        fprintf(stderr, "client %s: %ld requests, %ld failed%s%s\n",
                clients[i].keep_alive ? "keep-alive" : "new connections", clients[i].requests,
                clients[i].failures, clients[i].failures ? ", last: " : "",
                clients[i].last_failure);
        assert_true(clients[i].requests > 0);
        assert_int_equal(clients[i].failures, 0);
    }
    char *log = harness_read_file(lab.log);
    assert_null(strstr(log, "reload refused"));
    free(log);
    lab_stop(&lab);
}

static void test_a_bad_file_is_refused_and_the_running_configuration_stays(void **state)
{
    (void)state;
    static struct lab lab;
    lab_start(&lab);
    char *good_text = version(&lab, 1);
    write_file(lab.path, good_text);
    assert_int_equal(kill(lab.lb, SIGHUP), 0);
    assert_true(harness_wait_for_text(lab.log, "(generation 2)", TIMEOUT_MS));
    assert_version_routes(&lab, 1);

    char *bad = harness_fmt("%spool api { backend 127.0.0.1:1 }\nroute host x -> nowhere\n",
                            good_text);
    write_file(lab.path, bad);
    free(bad);
    assert_int_equal(kill(lab.lb, SIGHUP), 0);
    assert_true(harness_wait_for_text(lab.log, "reload refused", TIMEOUT_MS));
    char *log = harness_read_file(lab.log);
    assert_non_null(strstr(log, "duplicate pool 'api'"));
    assert_non_null(strstr(log, "route to a missing pool 'nowhere'"));
    free(log);
    assert_version_routes(&lab, 1); /* as before */

    write_file(lab.path, good_text); /* and a good file is taken again */
    assert_int_equal(kill(lab.lb, SIGHUP), 0);
    assert_true(harness_wait_for_text(lab.log, "(generation 3)", TIMEOUT_MS));
    free(good_text);
    lab_stop(&lab);
}

/* A request in flight when a reload removes its backend finishes there; a relayed connection
 * (-m tcp) stays with its backend; new ones go where the new file says. */
static void test_what_is_in_flight_finishes_on_the_configuration_it_began_on(void **state)
{
    (void)state;
    static struct lab lab;
    lab_start(&lab); /* version 0: the default pool web is b3 */
    struct harness_conn slow;
    assert_int_equal(harness_conn_open(&slow, lab.lb_port, TIMEOUT_MS), 0);
    const char req[] = "GET /delay/1500 HTTP/1.1\r\nHost: lab\r\n\r\n";
    assert_int_equal(harness_send_all(slow.fd, req, strlen(req)), 0);
    /* wait until it is at its backend: a backend's in_flight in lbtop --json (6 spaces in) */
    bool at_backend = false;
    for (int i = 0; i < 300 && !at_backend; i++) {
        int status;
        char *json = harness_runf(&status, "'%s' -p %u --json 2>&1", harness_bin("lbtop"),
                                  (unsigned)lab.lb_port);
        at_backend = strstr(json, "\"in_flight\": 1,\n      \"responses\"") != NULL;
        free(json);
        if (!at_backend)
            harness_sleep_ms(10);
    }
    assert_true(at_backend);

    char *text = harness_fmt("pool web { backend 127.0.0.1:%u name=b1 }\ndefault -> web\n",
                             (unsigned)lab.ports[0]);
    write_file(lab.path, text);
    free(text);
    assert_int_equal(kill(lab.lb, SIGHUP), 0);
    assert_true(harness_wait_for_text(lab.log, "(generation 2)", TIMEOUT_MS));
    assert_string_equal(backend_for(&lab, "/bytes/1", ""), "b1"); /* new requests: b1 */

    struct harness_response resp;
    assert_int_equal(harness_read_response(&slow, false, false, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_true(good(&resp));
    assert_non_null(strstr(resp.head, "\r\nX-Backend: b3\r\n")); /* finished where it began */
    harness_response_free(&resp);
    /* the next request on that connection starts on the new configuration */
    const char next[] = "GET /bytes/1 HTTP/1.1\r\nHost: lab\r\n\r\n";
    assert_int_equal(harness_send_all(slow.fd, next, strlen(next)), 0);
    assert_int_equal(harness_read_response(&slow, false, false, &resp), 0);
    assert_non_null(strstr(resp.head, "\r\nX-Backend: b1\r\n"));
    harness_response_free(&resp);
    harness_conn_close(&slow);
    /* its connection to b3, which the reload removed, was not kept for another request */
    bool closed = false;
    for (int i = 0; i < 300 && !closed; i++) {
        int status;
        char *json = harness_runf(&status, "'%s' -p %u --json 2>&1", harness_bin("lbtop"),
                                  (unsigned)lab.lb_port);
        const char *b3 = strstr(json, "\"name\": \"b3\"");
        const char *conns = b3 != NULL ? strstr(b3, "\"connections\": {\"active\": ") : NULL;
        closed = conns != NULL && strncmp(conns + 26, "0,", 2) == 0;
        free(json);
        if (!closed)
            harness_sleep_ms(10);
    }
    assert_true(closed);

    /* -m tcp: a relayed connection stays with its backend for its whole life */
    char *tpath = harness_fmt("%s.tcp", lab.path), *tlog = harness_fmt("%s.tcp.log", lab.path);
    text = harness_fmt("backend 127.0.0.1:%u name=b1\n", (unsigned)lab.ports[0]);
    write_file(tpath, text);
    free(text);
    const char *args[] = {"-m", "tcp", "-c", tpath, NULL};
    uint16_t tport;
    pid_t tlb = harness_start_lb(&tport, NULL, 0, args, tlog);
    assert_true(tlb > 0);
    struct harness_conn relayed;
    assert_int_equal(harness_conn_open(&relayed, tport, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(relayed.fd, next, strlen(next)), 0);
    assert_int_equal(harness_read_response(&relayed, false, false, &resp), 0);
    assert_non_null(strstr(resp.head, "\r\nX-Backend: b1\r\n"));
    harness_response_free(&resp);
    text = harness_fmt("backend 127.0.0.1:%u name=b2\n", (unsigned)lab.ports[1]);
    write_file(tpath, text);
    free(text);
    assert_int_equal(kill(tlb, SIGHUP), 0);
    assert_true(harness_wait_for_text(tlog, "(generation 2)", TIMEOUT_MS));
    assert_int_equal(harness_send_all(relayed.fd, next, strlen(next)), 0);
    assert_int_equal(harness_read_response(&relayed, false, false, &resp), 0);
    assert_non_null(strstr(resp.head, "\r\nX-Backend: b1\r\n")); /* the same connection */
    harness_response_free(&resp);
    harness_conn_close(&relayed);
    struct harness_conn fresh;
    assert_int_equal(harness_conn_open(&fresh, tport, TIMEOUT_MS), 0);
    assert_int_equal(harness_send_all(fresh.fd, next, strlen(next)), 0);
    assert_int_equal(harness_read_response(&fresh, false, false, &resp), 0);
    assert_non_null(strstr(resp.head, "\r\nX-Backend: b2\r\n")); /* a new one: b2 */
    harness_response_free(&resp);
    harness_conn_close(&fresh);
    assert_int_equal(harness_stop(tlb, TIMEOUT_MS), 0);
    unlink(tpath);
    unlink(tlog);
    free(tpath);
    free(tlog);
    lab_stop(&lab);
}

/* POST /reload on the admin port: the answer tells the outcome. */
static void test_post_reload_on_the_admin_port_answers_with_the_outcome(void **state)
{
    (void)state;
    static struct lab lab;
    uint16_t admin = harness_free_port();
    char *admin_arg = harness_fmt("127.0.0.1:%u", (unsigned)admin);
    const char *extra[] = {"--admin", admin_arg, NULL};
    lab_start_with(&lab, extra);
    /* lb opens its admin listener after the main one: wait for it too */
    assert_true(harness_wait_port(admin, TIMEOUT_MS));
    struct harness_response resp;
    const char post[] = "POST /reload HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";

    char *text = version(&lab, 1);
    write_file(lab.path, text);
    free(text);
    assert_int_equal(harness_exchange(admin, post, strlen(post), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_non_null(strstr(resp.body, "\"reloaded\": true, \"generation\": 2"));
    harness_response_free(&resp);
    assert_version_routes(&lab, 1);

    /* the statistics follow: b4, which the reload added, is there with its pool */
    int status;
    char *json = harness_runf(&status, "'%s' -p %u --json 2>&1", harness_bin("lbtop"),
                              (unsigned)lab.lb_port);
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(json, "\"b4\""));
    assert_non_null(strstr(json, "\"api\""));
    free(json);

    write_file(lab.path, "pool api { backend 127.0.0.1:1 }\nbogus\n");
    assert_int_equal(harness_exchange(admin, post, strlen(post), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 422);
    char *where = harness_fmt("\"errors\": \"%s:2:1: unknown directive 'bogus'", lab.path);
    assert_non_null(strstr(resp.body, where));
    free(where);
    harness_response_free(&resp);
    assert_version_routes(&lab, 1); /* still */

    /* a reload that removes b4: lbtop shows it DOWN, and why */
    text = version(&lab, 2);
    write_file(lab.path, text);
    free(text);
    assert_int_equal(harness_exchange(admin, post, strlen(post), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 200);
    harness_response_free(&resp);
    json = harness_runf(&status, "'%s' -p %u --json 2>&1", harness_bin("lbtop"),
                        (unsigned)lab.lb_port);
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(json, "removed from the configuration by a reload"));
    free(json);

    const char get[] = "GET /reload HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(harness_exchange(admin, get, strlen(get), TIMEOUT_MS, &resp), 0);
    assert_int_equal(resp.status, 405);
    harness_response_free(&resp);
    free(admin_arg);
    lab_stop(&lab);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LB_TEST(test_ten_reloads_under_load_fail_no_request),
        LB_TEST(test_a_bad_file_is_refused_and_the_running_configuration_stays),
        LB_TEST(test_post_reload_on_the_admin_port_answers_with_the_outcome),
        LB_TEST(test_what_is_in_flight_finishes_on_the_configuration_it_began_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
