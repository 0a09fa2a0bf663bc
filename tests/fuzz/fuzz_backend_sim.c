/*
 * fuzz_backend_sim.c - libFuzzer target for backend-sim's request handling that needs no
 * socket: the request parsed by common/http.c, its path routed to an endpoint with its arguments
 * checked against caps (backend-sim/endpoint.c), the query parameters read, and for a static
 * file the URL path mapped under the docroot (backend-sim/docroot.c) and given a Content-Type.
 * simresp_request() itself writes into a live connection (struct simconn of a running server),
 * so it is reached by the end-to-end tests, not here.
 *
 * The input's first byte picks the caps (small ones reach the "beyond a cap" refusals); the rest
 * is the request head. Asserts the contract: a route of the documented kinds whose arguments
 * are within the caps, a message on every refusal, a path pointing into the input, and a mapped
 * file path that is relative and never climbs out ("..", leading '/', backslash, NUL).
 */
#include <errno.h>
#include <string.h>

#include "docroot.h"
#include "endpoint.h"
#include "fuzz_check.h"
#include "http.h"

#define NH 32

static void check_route(const char *path, size_t len, const struct endpoint_caps *caps)
{
    struct endpoint_route rt;
    enum endpoint_kind k = endpoint_route(path, len, caps, &rt);
    CHECK(k == rt.kind && k >= ENDPOINT_BAD && k <= ENDPOINT_FILE);
    CHECK(endpoint_name(k) != NULL);
    switch (k) {
    case ENDPOINT_BAD:
        CHECK(memchr(rt.message, '\0', sizeof(rt.message)) != NULL && rt.message[0] != '\0');
        break;
    case ENDPOINT_BYTES:
    case ENDPOINT_CHUNKED:
    case ENDPOINT_CLOSE:
        /* a plain /close sends its default size whatever the cap: the cap bounds what a
         * request asks for (--max-size documents /bytes/N and /chunked/N) */
        CHECK(rt.n <= caps->max_size || (k == ENDPOINT_CLOSE && rt.n == ENDPOINT_CLOSE_DEFAULT_N));
        if (k == ENDPOINT_CHUNKED)
            CHECK(rt.chunk >= 1 && rt.chunk <= ENDPOINT_CHUNK_MAX);
        break;
    case ENDPOINT_DELAY:
        CHECK(rt.ms <= caps->max_delay_ms);
        break;
    case ENDPOINT_STATUS:
        CHECK(rt.status >= 100 && rt.status <= 999);
        break;
    case ENDPOINT_FLAKY:
        CHECK(rt.p >= 0.0 && rt.p <= 1.0);
        break;
    default:
        break;
    }
    if (k != ENDPOINT_BAD) {
        CHECK(rt.path == path && rt.path_len <= len);
        CHECK(memchr(rt.path, '?', rt.path_len) == NULL);
    }
    if (k == ENDPOINT_FILE) {
        char file[256];
        int rc = docroot_map_path(rt.path, rt.path_len, file, sizeof(file));
        CHECK(rc == 0 || rc == -EINVAL || rc == -ENAMETOOLONG);
        if (rc == 0) {
            size_t n = strnlen(file, sizeof(file));
            CHECK(n < sizeof(file));
            CHECK(file[0] != '/' && strchr(file, '\\') == NULL);
            CHECK(strcmp(file, "..") != 0 && strncmp(file, "../", 3) != 0 &&
                  strstr(file, "/../") == NULL && (n < 3 || strcmp(file + n - 3, "/..") != 0));
            CHECK(docroot_content_type(file, n) != NULL);
        }
    }
    const char *q = memchr(path, '?', len);
    if (q != NULL) {
        static const char *const names[] = {"p", "gap", "chunk", "x"};
        for (size_t i = 0; i < 4; i++) {
            const char *v;
            size_t vl;
            size_t ql = len - (size_t)(q + 1 - path);
            if (endpoint_query_param(q + 1, ql, names[i], &v, &vl))
                CHECK(v >= q + 1 && v + vl <= q + 1 + ql);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct endpoint_caps caps = data[0] & 1 ? (struct endpoint_caps){100, 50}
                                            : (struct endpoint_caps){UINT64_C(1) << 40, 60000};
    char *buf = fuzz_dup(data + 1, size - 1);
    struct http_header hdrs[NH];
    struct http_request req = {.headers = hdrs, .num_headers = NH};
    if (http_parse_request(buf, size - 1, &req, NULL) > 0) {
        /* as simresp_request() picks it */
        const char *path = req.path != NULL && req.path_len > 0 ? req.path : req.target;
        size_t path_len = req.path != NULL && req.path_len > 0 ? req.path_len : req.target_len;
        check_route(path, path_len, &caps);
    }
    if (data[0] & 2) /* the router alone, over raw bytes */
        check_route(buf, size - 1, &caps);
    free(buf);
    return 0;
}
