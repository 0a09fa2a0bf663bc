/*
 * harness.h - what every end-to-end test needs: free loopback ports, starting the real programs
 * and stopping them by PID, raw sockets with timeouts, and reading one HTTP response off a socket
 * with the shared parser. Every wait is bounded; nothing here waits forever.
 *
 * Programs are found in $LBLAB_BIN (set by `make check`), else in ./bin. Under a slow checker
 * (`make test-valgrind`), $LBLAB_WRAP is a command prefix put before the programs named in
 * $LBLAB_WRAP_PROGRAMS (default "lb backend-sim") when they are started, and $LBLAB_TIMEOUT_SCALE
 * (a whole number, default 1) multiplies the harness's own timeouts.
 */
#ifndef LBLAB_HARNESS_H
#define LBLAB_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A loopback TCP port nobody listens on now (never 3000-3003). */
uint16_t harness_free_port(void);
/* Fills ports[0..n) with free loopback ports, no two alike. Returns 0, or -1. */
int harness_free_ports(uint16_t *ports, size_t n);

/* The path of program name in the binary directory; it stays valid until the process exits. */
const char *harness_bin(const char *name);

/* printf into a malloc'd string (caller frees), however long: commands and paths are built with
 * it so that no checkout path is too long. Out of memory aborts the test program. */
char *harness_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "out of memory" and aborts. */
void harness_oom(void) __attribute__((noreturn));

/* timeout_ms multiplied by $LBLAB_TIMEOUT_SCALE (for programs run under valgrind). */
int harness_timeout_ms(int timeout_ms);

/* Starts argv[0] (a path) with argv; stdout and stderr go to log_path (appended), or to this
 * process's stderr when log_path is NULL. Returns the pid, or -1. */
pid_t harness_spawn(char *const argv[], const char *log_path);

/* Waits until something accepts TCP connections on 127.0.0.1:port. Returns true if in time. */
bool harness_wait_port(uint16_t port, int timeout_ms);

/* Sends SIGTERM to pid and waits up to timeout_ms, then SIGKILL. Returns the wait status, or -1. */
int harness_stop(pid_t pid, int timeout_ms);

/* True when pid has not exited (reaps it if it has; *status gets the wait status then). */
bool harness_alive(pid_t pid, int *status);
/* SIGSTOPs child pid and waits (at most timeout_ms) until the kernel reports every thread of it
 * stopped, so nothing it does can overlap what the caller does next. 0, or -1. */
int harness_freeze(pid_t pid, int timeout_ms);
/* The whole file at path (malloc'd, NUL-terminated; "" when it is missing or unreadable). */
char *harness_read_file(const char *path);
/* Waits up to timeout_ms for needle to appear in the file at path (a log another process
 * writes). */
bool harness_wait_for_text(const char *path, const char *needle, int timeout_ms);

/* Connects to 127.0.0.1:port with send and receive timeouts of timeout_ms. Returns fd or -1. */
int harness_connect(uint16_t port, int timeout_ms);

/* Writes all n bytes. Returns 0 or -1. */
int harness_send_all(int fd, const void *buf, size_t n);

/* Reads until the peer closes, an error, a timeout or max bytes. Returns a malloc'd buffer (NUL
 * terminated, caller frees) and its length in *len. */
char *harness_recv_all(int fd, size_t max, size_t *len);

/* One HTTP response read off a socket. */
struct harness_response {
    int status;
    int minor_version;
    char *head;      /* the header block as received, NUL terminated */
    size_t head_len;
    char *body;      /* decoded body (chunked framing removed), NUL terminated */
    size_t body_len;
    bool complete;   /* the body ended where its framing said (false: connection cut short) */
    bool chunked;
    bool closed;     /* the server closed the connection after this response */
};

/* A client connection with the bytes read past the last response (pipelining). */
struct harness_conn {
    int fd;
    char *buf;
    size_t len, cap;
};

/* Connects c to 127.0.0.1:port (timeouts as harness_connect). Returns 0 or -1. */
int harness_conn_open(struct harness_conn *c, uint16_t port, int timeout_ms);
void harness_conn_close(struct harness_conn *c);

/* Reads one response from c. head_request: the request was HEAD. Interim 1xx responses other
 * than 101 are skipped unless keep_interim. Returns 0, or -1 if no status line could be read
 * (timeout, close, or a malformed response). */
int harness_read_response(struct harness_conn *c, bool head_request, bool keep_interim,
                          struct harness_response *resp);

void harness_response_free(struct harness_response *resp);

/* The value of header name in resp->head (case-insensitive), copied into a static buffer, or
 * NULL. Returns the n-th (0-based) occurrence with harness_header_nth. */
const char *harness_header(const struct harness_response *resp, const char *name);
const char *harness_header_nth(const struct harness_response *resp, const char *name, int nth);
int harness_header_count(const struct harness_response *resp, const char *name);

/* Connects, sends request (raw bytes), reads one response, closes. Returns 0 or -1. */
int harness_exchange(uint16_t port, const char *request, size_t request_len, int timeout_ms,
                     struct harness_response *resp);

/* Runs a shell command, returns its stdout (malloc'd, NUL-terminated) and sets *exit_status. */
char *harness_run(const char *command, int *exit_status);
/* harness_run of the command printf makes of fmt and the arguments. */
char *harness_runf(int *exit_status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What lb on port says it spliced (the "splice" object of lbtop --json, lb/pipebuf.h). */
struct harness_spliced {
    bool on; /* lb may splice (no --no-splice) */
    unsigned long long bytes, transfers, pipes_made;
};
/* Reads it into *out. Returns 0, or -1 when lbtop gave no such object. */
int harness_lb_spliced(uint16_t port, struct harness_spliced *out);
/* How many of the recent requests (or -m tcp connections) lbtop --json lists for lb on port had
 * bytes spliced ("spliced": true), or -1 when lbtop failed. */
int harness_lb_spliced_records(uint16_t port);
/* Reads it until it counts at least transfers and bytes (bounded: 5 s; a worker publishes its
 * counts at the end of the round of events that moved the last bytes). Returns 0 or -1, with
 * what it read last in *out either way. */
int harness_lb_wait_spliced(uint16_t port, unsigned long long transfers, unsigned long long bytes,
                            struct harness_spliced *out);

/* --- Starting the real programs ------------------------------------------------------------ */

/* Starts argv, a server that will listen on 127.0.0.1:port, tied to the test (it gets SIGTERM if
 * the test dies) and tracked for the teardown, and waits until it accepts. Output goes to
 * log_path (NULL: stderr). Returns the pid, or -1 (then it is stopped). */
pid_t harness_spawn_listening(char *const argv[], uint16_t port, const char *log_path);
/* The same for a server that listens on each of the n ports: waits until all of them accept. */
pid_t harness_spawn_listening_ports(char *const argv[], const uint16_t *ports, size_t n,
                                    const char *log_path);

/* Starts one bin/backend-sim serving a free port (written to *port) named name, and waits until
 * it accepts. Output goes to log_path (NULL: stderr). Returns the pid, or -1. */
pid_t harness_start_backend_sim(const char *name, uint16_t *port, const char *log_path);
/* The same with more backend-sim arguments after those (extra: NULL-terminated, at most 16). */
pid_t harness_start_backend_sim_args(const char *name, uint16_t *port, const char *log_path,
                                     const char *const *extra);

/* Starts bin/lb on a free loopback port (written to *port) with "-b 127.0.0.1:P" for each of the
 * n backend ports, then the NULL-terminated extra arguments (extra may be NULL), and waits until
 * it accepts. Returns the pid, or -1. */
pid_t harness_start_lb(uint16_t *port, const uint16_t *backends, size_t n,
                       const char *const *extra, const char *log_path);

/* Like harness_header_nth / harness_header_count over a raw header block (a request head a
 * scripted backend recorded, say). */
const char *harness_head_header_nth(const char *head, const char *name, int nth);
int harness_head_header_count(const char *head, const char *name);

/* Sleeps ms milliseconds (EINTR-safe). */
void harness_sleep_ms(int ms);

/* --- Scripted backend ------------------------------------------------------------------------
 * A backend inside the test process: a thread listening on a free loopback port, one thread per
 * accepted connection (at most HARNESS_SB_MAX_CONNS), each reading requests with the shared
 * parser and answering per a script, and recording every request head and body it received so a
 * test can assert exactly what lb forwarded. Request i (counted over all connections, from 0)
 * follows steps[min(i, n-1)]. harness_sb_stop() wakes every thread, joins them and frees all.
 * A request the parser refuses is recorded (with its error status) and answered 400, then closed.
 */
#define HARNESS_SB_MAX_CONNS 256
#define HARNESS_SB_MAX_RECORDS 4096

enum harness_sb_mode {
    HARNESS_SB_REPLY,  /* read the request (head and body), write the reply bytes */
    HARNESS_SB_ECHO,   /* read the request, answer 200 with its body (Content-Length) */
    HARNESS_SB_HANG,   /* read the request, never answer (until the peer closes or the stop) */
    HARNESS_SB_CLOSE,  /* read the request head, close without answering */
    HARNESS_SB_TUNNEL, /* read the request, write the reply (a 101), then echo bytes until EOF */
    HARNESS_SB_STALL,  /* read the request head, then read nothing more and never answer */
};

struct harness_sb_step {
    enum harness_sb_mode mode;
    const char *reply;  /* REPLY/TUNNEL: raw bytes to send; NULL: a 200 with "X-Backend: NAME" and
                           the body NAME (a 101 for TUNNEL) */
    size_t reply_len;   /* 0: strlen(reply) */
    int delay_ms;       /* wait after reading the request before answering */
    bool send_continue; /* a request with Expect: 100-continue gets "100 Continue" before its body
                           is read */
    bool close_after;   /* close the connection after the answer */
    bool reset;         /* close with a TCP RST (SO_LINGER 0) instead of a FIN */
    bool hang_after;    /* after the reply, send nothing more until the peer closes or the stop */
    bool dribble;       /* send the reply one byte per send() (TCP_NODELAY), 1 ms apart */
    bool fin_with_reply; /* REPLY with reply bytes: send them and the FIN in one TCP segment
                            (corked, then shutdown()), then close: the peer gets both at once */
    bool skip_body;     /* answer right after the head, without reading the request body (then
                           the connection is closed: its framing is lost) */
};

struct harness_sb;

/* Starts a scripted backend named name (for X-Backend) with steps[0..n) (NULL/0: every request
 * gets the default 200). Returns it, or NULL. */
struct harness_sb *harness_sb_start(const char *name, const struct harness_sb_step *steps, size_t n);
uint16_t harness_sb_port(const struct harness_sb *sb);
/* Requests received so far (heads read, malformed ones included), connections accepted so far. */
int harness_sb_requests(struct harness_sb *sb);
int harness_sb_connections(struct harness_sb *sb);
/* Connections open now (accepted and not yet closed by either side). */
int harness_sb_open_connections(struct harness_sb *sb);
/* Waits until at most n connections are open. Returns true if in time. */
bool harness_sb_wait_open_at_most(struct harness_sb *sb, int n, int timeout_ms);
/* Waits until at least n requests arrived. Returns true if in time. */
bool harness_sb_wait_requests(struct harness_sb *sb, int n, int timeout_ms);
/* A malloc'd, NUL-terminated copy of request i's head (caller frees), or NULL. */
char *harness_sb_head(struct harness_sb *sb, int i);
/* A malloc'd copy of request i's decoded body (NUL-terminated; length in *len), or NULL. Bodies
 * are kept up to 64 MiB. */
char *harness_sb_body(struct harness_sb *sb, int i, size_t *len);
/* The parser's error status for request i (0 when it parsed). */
int harness_sb_error(struct harness_sb *sb, int i);
/* Stops every thread, closes every socket and frees sb. NULL is fine. */
void harness_sb_stop(struct harness_sb *sb);

/* --- A small lab: N backend-sim processes (b1..bN) and lb in front of them ------------------- */
#define HARNESS_LAB_MAX 8

struct harness_lab {
    size_t n;
    pid_t sim_pid[HARNESS_LAB_MAX];
    uint16_t sim_port[HARNESS_LAB_MAX];
    pid_t lb_pid;
    uint16_t lb_port;
};

/* Starts n backend-sims named b1..bn and lb over them with the NULL-terminated extra lb
 * arguments (may be NULL). Returns 0, or -1 (having stopped whatever it started). */
int harness_lab_start(struct harness_lab *lab, size_t n, const char *const *lb_extra);
/* Stops lb, then the backends, each by PID. Returns lb's wait status (-1 if it was not running). */
int harness_lab_stop(struct harness_lab *lab);

/* Sends the NUL-terminated request on c and reads one response (HEAD requests detected).
 * Returns 0 or -1. */
int harness_conn_request(struct harness_conn *c, const char *request, struct harness_response *resp);

/* True when the peer has closed c (EOF or reset) within timeout_ms, after any bytes still
 * buffered; false when the connection is still open (or more bytes arrived). */
bool harness_conn_closed(struct harness_conn *c, int timeout_ms);

/* --- Cleaning up after a failed test -----------------------------------------------------------
 * harness_start_lb, harness_start_backend_sim (hence harness_lab_start) and harness_sb_start
 * remember what they started. Register tests with
 *     cmocka_unit_test_setup_teardown(test, harness_test_setup, harness_test_teardown)
 * and whatever a test started and did not stop itself (because an assertion ended it early) is
 * stopped by PID, or joined, after it; what a group setup started is left alone. */
int harness_test_setup(void **state);
int harness_test_teardown(void **state);
/* Remembers pid (spawned by the caller) for harness_test_teardown. */
void harness_track(pid_t pid);

#endif
