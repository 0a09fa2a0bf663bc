/*
 * harness.h - what every end-to-end test needs: free loopback ports, starting the real programs
 * and stopping them by PID, raw sockets with timeouts, and reading one HTTP response off a socket
 * with the shared parser. Every wait is bounded; nothing here waits forever.
 *
 * Programs are found in $LBLAB_BIN (set by `make check`), else in ./bin.
 */
#ifndef LBLAB_HARNESS_H
#define LBLAB_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A loopback TCP port nobody listens on now (never 3000-3003). */
uint16_t harness_free_port(void);

/* The path of program name in the binary directory, in a static buffer. */
const char *harness_bin(const char *name);

/* Starts argv[0] (a path) with argv; stdout and stderr go to log_path (appended), or to this
 * process's stderr when log_path is NULL. Returns the pid, or -1. */
pid_t harness_spawn(char *const argv[], const char *log_path);

/* Waits until something accepts TCP connections on 127.0.0.1:port. Returns true if in time. */
bool harness_wait_port(uint16_t port, int timeout_ms);

/* Sends SIGTERM to pid and waits up to timeout_ms, then SIGKILL. Returns the wait status, or -1. */
int harness_stop(pid_t pid, int timeout_ms);

/* True when pid has not exited (reaps it if it has; *status gets the wait status then). */
bool harness_alive(pid_t pid, int *status);

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

#endif
