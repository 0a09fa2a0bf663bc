/*
 * fuzz_config.c - libFuzzer target for lb's command-line parser (lb/config.c config_parse).
 *
 * The input is an argument vector, one argument per line (a NUL ends an argument early), after
 * argv[0] = "lb". Besides the sanitizers' checks it asserts the contract: 0 or -EINVAL, a
 * message on every error that fits err, and on success a configuration within its documented
 * bounds (1..CONFIG_MAX_BACKENDS backends, weights 1..CONFIG_MAX_WEIGHT, names short and made
 * of the allowed characters, retries at most CONFIG_MAX_RETRIES, every string terminated).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "config.h"
#include "fuzz_check.h"

#define MAX_ARGS 64

static bool terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config cfg;
    char *argv[MAX_ARGS + 2];
    char err[256];
    int argc = 0;
    char *buf = fuzz_alloc(size + 1);

    memcpy(buf, data, size);
    buf[size] = '\0';
    argv[argc++] = "lb";
    for (char *p = buf; argc < MAX_ARGS + 1;) {
        char *nl = memchr(p, '\n', (size_t)(buf + size - p));
        argv[argc++] = p;
        if (nl == NULL)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    argv[argc] = NULL;

    config_defaults(&cfg);
    memset(err, 0x5a, sizeof(err));
    err[0] = '\0';
    int rc = config_parse(&cfg, argc, argv, err, sizeof(err));
    CHECK(rc == 0 || rc == -EINVAL);
    if (rc < 0) {
        CHECK(terminated(err, sizeof(err)) && err[0] != '\0');
    } else {
        CHECK(cfg.num_backends >= 1 && cfg.num_backends <= CONFIG_MAX_BACKENDS);
        for (size_t i = 0; i < cfg.num_backends; i++) {
            const struct config_backend *b = &cfg.backends[i];
            CHECK(terminated(b->host, sizeof(b->host)) && b->host[0] != '\0');
            CHECK(terminated(b->name, sizeof(b->name)));
            CHECK(strlen(b->name) <= CONFIG_MAX_NAME_LEN);
            for (const char *c = b->name; *c; c++)
                CHECK((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                      (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-');
            CHECK(b->weight >= 1 && b->weight <= CONFIG_MAX_WEIGHT);
        }
        CHECK(cfg.workers <= CONFIG_MAX_WORKERS);
        CHECK(cfg.retries <= CONFIG_MAX_RETRIES);
        CHECK(cfg.mode == CONFIG_MODE_HTTP || cfg.mode == CONFIG_MODE_TCP);
        CHECK(terminated(cfg.listen_host, sizeof(cfg.listen_host)));
        CHECK(terminated(cfg.access_log, sizeof(cfg.access_log)));
        CHECK(terminated(cfg.policy, sizeof(cfg.policy)) && cfg.policy[0] != '\0');
        CHECK(terminated(cfg.sticky_cookie, sizeof(cfg.sticky_cookie)));
        CHECK(terminated(cfg.hash_key.name, sizeof(cfg.hash_key.name)));
    }
    free(buf);
    return 0;
}
