/*
 * fuzz_hashkey.c - libFuzzer target for lb's hash-key module (lb/hashkey.c).
 *
 * The input's first line is a --hash-key value for hashkey_parse(); the rest is a request head
 * parsed by common/http.c, whose key hashkey_get() finds. Asserts the contract: a parse error
 * leaves the spec unchanged; an accepted name is a token of 1..HASHKEY_NAME_MAX characters; the
 * key points inside the request's buffer (or the path's static "/") when it came from the
 * request, else it is the client address exactly; a path key never contains '?'.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz_check.h"
#include "hashkey.h"
#include "http.h"

#define NH 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char client[] = "192.0.2.7";
    const uint8_t *nl = memchr(data, '\n', size);
    size_t spec_len = nl ? (size_t)(nl - data) : size;
    char *text = fuzz_alloc(spec_len + 1);
    struct hashkey_spec spec = {.kind = HASHKEY_COOKIE, .name = "sentinel"}, before = spec;

    memcpy(text, data, spec_len);
    text[spec_len] = '\0';
    int rc = hashkey_parse(text, &spec);
    CHECK(rc == 0 || rc == -EINVAL);
    if (rc < 0) {
        CHECK(memcmp(&spec, &before, sizeof(spec)) == 0);
        /* still exercise hashkey_get with a spec the input picks */
        spec.kind = (enum hashkey_kind)(spec_len % 4);
        snprintf(spec.name, sizeof(spec.name), "%.*s", (int)(spec_len < 20 ? spec_len : 20), text);
    } else if (spec.kind == HASHKEY_HEADER || spec.kind == HASHKEY_COOKIE) {
        size_t n = strnlen(spec.name, sizeof(spec.name));
        CHECK(n >= 1 && n <= HASHKEY_NAME_MAX);
    }
    free(text);

    size_t off = nl ? spec_len + 1 : size;
    size_t len = size - off;
    char *buf = fuzz_dup(data + off, len);
    struct http_header hdrs[NH];
    struct http_request req = {.headers = hdrs, .num_headers = NH};
    if (http_parse_request(buf, len, &req, NULL) > 0) {
        const char *key = NULL;
        size_t key_len = 0;
        bool from_req = hashkey_get(&spec, &req, client, sizeof(client) - 1, &key, &key_len);
        if (from_req) {
            CHECK(spec.kind != HASHKEY_CLIENT);
            CHECK(key_len > 0 || spec.kind == HASHKEY_PATH);
            bool in_buf = key >= buf && key + key_len <= buf + len;
            CHECK(in_buf || (spec.kind == HASHKEY_PATH && key == req.path));
            if (spec.kind == HASHKEY_PATH)
                CHECK(memchr(key, '?', key_len) == NULL);
        } else {
            CHECK(key == client && key_len == sizeof(client) - 1);
        }
    }
    free(buf);
    return 0;
}
