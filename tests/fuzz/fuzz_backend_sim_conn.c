/*
 * fuzz_backend_sim_conn.c - libFuzzer target for backend-sim's request handling on a real
 * connection: the connection state machine (backend-sim/simconn.c) and the responses
 * (simresp.c), which write into a live connection and so cannot be called alone.
 *
 * At start-up the target runs one backend-sim instance in this process (its own thread, as
 * backend-sim does) on a free loopback port, with small caps (--max-size 64K, --max-delay 20 ms,
 * keep-alive 50 ms) and a docroot of two files. Each input is sent as the bytes of one client
 * connection, which then half-closes and reads what comes back until the instance closes or goes
 * quiet. Coverage is counted in the instance's thread as well, and the sanitizers watch it.
 * Asserts that every answer starts with an HTTP/1.x status line and that the instance keeps
 * answering after every input (it never stalls or dies on one): a probe on a new connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "fuzz_check.h"
#include "simconn.h"
#include "simsrv.h"

#define QUIET_MS 100  /* after an input: the instance said nothing for this long, stop reading */
#define PROBE_MS 3000 /* the probe's answer may wait this long (two cores shared with others) */
#define TOTAL_MS 5000 /* at most this long reading one connection */

static struct simcfg cfg;
static struct simsrv_shared shared;
static struct simsrv *srv;
static char docroot[] = "/tmp/lblab-fuzz-docroot-XXXXXX";

static void write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", docroot, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    CHECK(fputs(text, f) >= 0 && fclose(f) == 0);
}

static void remove_docroot(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/index.html", docroot);
    unlink(path);
    snprintf(path, sizeof(path), "%s/a.txt", docroot);
    unlink(path);
    rmdir(docroot);
}

static void cleanup(void)
{
    simsrv_stop(srv);
    simsrv_join(srv);
    simsrv_destroy(srv);
    close(shared.docroot_fd);
    remove_docroot();
}

static void setup(void)
{
    char err[512];
    /* OpenSSL (the /echo hash) frees its per-thread state at exit in a handler of its own: set
     * it up first, so that its handler runs after ours has stopped the instance's thread */
    CHECK(OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) == 1);
    CHECK(mkdtemp(docroot) != NULL);
    write_file("index.html", "<html><body>index</body></html>\n");
    write_file("a.txt", "a small text file\n");
    char *argv[] = {"backend-sim", "-p", "127.0.0.1:1", "--name", "fz", "--max-size", "65536",
                    "--max-delay", "20", "--keepalive-timeout", "0.05", "--docroot", docroot,
                    NULL};
    int rc = simcfg_parse((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv, &cfg, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "fuzz_backend_sim_conn: %s\n", err);
    CHECK(rc == 0);
    cfg.inst[0].port = 0; /* the command line wants 1-65535; 0 lets the kernel pick a free one */
    shared.cfg = &cfg;
    shared.log = NULL;
    shared.pid = (long)getpid();
    shared.docroot_fd = open(docroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(shared.docroot_fd >= 0);
    srv = simsrv_create(&shared, 0, err, sizeof(err));
    if (srv == NULL)
        fprintf(stderr, "fuzz_backend_sim_conn: %s\n", err);
    CHECK(srv != NULL && simsrv_start(srv) == 0);
    atexit(cleanup);
}

static int connect_instance(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(srv->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (rc != 0 && errno == EINTR) {
        /* libFuzzer's timers send signals: the connection goes on being made, so wait for it */
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t len = sizeof(err);
        while (poll(&p, 1, TOTAL_MS) < 0 && errno == EINTR)
            ;
        rc = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0 ? 0 : -1;
        errno = err;
    }
    if (rc != 0)
        fprintf(stderr, "fuzz_backend_sim_conn: connect: %s\n", strerror(errno));
    CHECK(rc == 0);
    return fd;
}

/* Closes with a reset: thousands of connections a second would otherwise fill the loopback's
 * ports with TIME_WAIT ones until connect() fails. */
static void close_now(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    CHECK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
    close(fd);
}

/* Reads what the instance sends until it closes, says nothing for quiet_ms or TOTAL_MS pass;
 * keeps the start. */
static size_t read_answer(int fd, int quiet_ms, char *start, size_t start_cap)
{
    uint64_t deadline = clock_mono_ms() + TOTAL_MS;
    size_t got = 0;
    char buf[16384];

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, quiet_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || clock_mono_ms() > deadline)
            return got;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return got;
        if (got < start_cap) {
            size_t keep = start_cap - got < (size_t)n ? start_cap - got : (size_t)n;
            memcpy(start + got, buf, keep);
        }
        got += (size_t)n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char start[8];

    if (srv == NULL)
        setup();
    int fd = connect_instance();
    /* the instance may answer and close before taking everything: a failed send is fine */
    for (size_t sent = 0; sent < size;) {
        ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    size_t got = read_answer(fd, QUIET_MS, start, sizeof(start));
    CHECK(got == 0 || (got >= 7 && memcmp(start, "HTTP/1.", 7) == 0) ||
          (got < 7 && memcmp(start, "HTTP/1.", got) == 0));
    close_now(fd);
    /* the instance still accepts and answers; the probe also sets its health back to up (an
     * input may have made it down or slow) so that every input starts from the same state */
    fd = connect_instance();
    static const char probe[] = "POST /admin/health HTTP/1.1\r\nHost: f\r\nContent-Length: 2\r\n"
                                "Connection: close\r\n\r\nup";
    ssize_t sent;
    while ((sent = send(fd, probe, sizeof(probe) - 1, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    CHECK(sent == (ssize_t)(sizeof(probe) - 1));
    got = read_answer(fd, PROBE_MS, start, sizeof(start));
    if (got < 7 || memcmp(start, "HTTP/1.", 7) != 0)
        fprintf(stderr, "fuzz_backend_sim_conn: the probe got %zu bytes\n", got);
    CHECK(got >= 7 && memcmp(start, "HTTP/1.", 7) == 0);
    close_now(fd);
    return 0;
}
