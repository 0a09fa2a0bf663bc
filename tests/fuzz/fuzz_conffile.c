/*
 * fuzz_conffile.c - libFuzzer target for lb's configuration file parser (lb/conffile.c).
 *
 * The input is a file's text. Besides the sanitizers' checks it asserts the contract: 0 or
 * -EINVAL; an error count and a report of "t.conf..." lines on every error; on success a
 * configuration whose references hold: every backend and route names an existing pool, every
 * pool has a backend, the default pool (if any) exists, every string is terminated.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "conffile.h"
#include "fuzz_check.h"

static bool terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config cfg;
    static struct conffile_errors errs;
    char *text = fuzz_alloc(size + 1);

    memcpy(text, data, size);
    text[size] = '\0';
    config_defaults(&cfg);
    int rc = conffile_parse(&cfg, "t.conf", text, size, &errs);
    CHECK(rc == 0 || rc == -EINVAL);
    CHECK(errs.len < sizeof(errs.text) && errs.text[errs.len] == '\0');
    if (rc < 0) {
        CHECK(errs.count > 0);
        CHECK(strncmp(errs.text, "t.conf", 6) == 0 || errs.len == 0);
    } else {
        CHECK(errs.count == 0 && errs.len == 0);
        CHECK(cfg.num_pools >= 1 && cfg.num_pools <= CONFIG_MAX_POOLS);
        CHECK(cfg.num_backends >= 1 && cfg.num_backends <= CONFIG_MAX_BACKENDS);
        CHECK(cfg.num_routes <= CONFIG_MAX_ROUTES);
        for (size_t i = 0; i < cfg.num_backends; i++) {
            CHECK(cfg.backends[i].pool < cfg.num_pools);
            CHECK(terminated(cfg.backends[i].host, sizeof(cfg.backends[i].host)));
            CHECK(cfg.backends[i].weight >= 1 && cfg.backends[i].weight <= CONFIG_MAX_WEIGHT);
        }
        for (size_t p = 0; p < cfg.num_pools; p++) {
            bool any = false;
            for (size_t i = 0; i < cfg.num_backends; i++)
                any = any || cfg.backends[i].pool == p;
            CHECK(any);
            CHECK(terminated(cfg.pools[p].name, sizeof(cfg.pools[p].name)));
            CHECK(config_valid_name(cfg.pools[p].name, strlen(cfg.pools[p].name)));
        }
        for (size_t r = 0; r < cfg.num_routes; r++) {
            CHECK(cfg.routes[r].pool < cfg.num_pools);
            CHECK(terminated(cfg.routes[r].value, sizeof(cfg.routes[r].value)));
            CHECK(cfg.routes[r].value[0] != '\0');
        }
        CHECK(cfg.default_pool[0] == '\0' || config_default_pool(&cfg) >= 0);
    }
    free(text);
    return 0;
}
