/* test_stats_json.c - unit tests of the JSON document of a statistics snapshot
 * (common/stats_json.c), the one lbtop --json and lb's GET /stats both write: valid JSON by a
 * strict little parser in every shape (with and without rates, http and tcp, with and without an
 * HTTPS listener or an admin endpoint, odd strings), the producer's key first, rates only when
 * asked for, each backend's pool, and percentiles since a base snapshot when one is given. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats_json.h"

/* ---- a strict JSON parser (RFC 8259), enough to say valid or not ------------------------- */

static const char *ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

static const char *value(const char *p, int depth);

static const char *string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p != '"') {
        if ((unsigned char)*p < 0x20)
            return NULL; /* control characters must be escaped */
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (strchr("0123456789abcdefABCDEF", p[i]) == NULL || p[i] == '\0')
                        return NULL;
                p += 4;
            } else if (strchr("\"\\/bfnrt", *p) == NULL || *p == '\0') {
                return NULL;
            }
        }
        p++;
    }
    return p + 1;
}

static const char *number(const char *p)
{
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p;
}

static const char *members(const char *p, int depth, bool object)
{
    char close = object ? '}' : ']';
    p = ws(p + 1);
    if (*p == close)
        return p + 1;
    for (;;) {
        if (object) {
            p = string(p);
            if (p == NULL || *(p = ws(p)) != ':')
                return NULL;
            p = ws(p + 1);
        }
        p = value(p, depth + 1);
        if (p == NULL)
            return NULL;
        p = ws(p);
        if (*p == close)
            return p + 1;
        if (*p != ',')
            return NULL;
        p = ws(p + 1);
    }
}

static const char *value(const char *p, int depth)
{
    if (depth > 32)
        return NULL;
    switch (*p) {
    case '{':
        return members(p, depth, true);
    case '[':
        return members(p, depth, false);
    case '"':
        return string(p);
    case 't':
        return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f':
        return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n':
        return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default:
        return number(p);
    }
}

static bool valid_json(const char *text)
{
    const char *end = value(ws(text), 0);
    return end != NULL && *ws(end) == '\0';
}

/* ---- documents ----------------------------------------------------------------------------- */

static struct stats_snapshot *snapshot(uint32_t mode)
{
    struct stats_snapshot *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->mode = mode;
    s->nbackends = 2;
    s->nworkers = 2;
    s->requests = 10;
    s->responses[2] = 10;
    snprintf(s->shm_name, sizeof(s->shm_name), "/lblab-3000");
    snprintf(s->policy, sizeof(s->policy), "rr");
    snprintf(s->backends[0].name, sizeof(s->backends[0].name), "a\"b\\c\x01");
    snprintf(s->backends[0].pool, sizeof(s->backends[0].pool), "api");
    snprintf(s->backends[1].name, sizeof(s->backends[1].name), "b");
    snprintf(s->backends[1].pool, sizeof(s->backends[1].pool), "static");
    for (unsigned i = 0; i < 10; i++) {
        s->backends[1].total.buckets[stats_hist_bucket(1000 * (i + 1))]++;
        s->backends[1].total.count++;
        s->backends[1].total.sum_ns += 1000000ull * (i + 1);
        s->backends[1].total.max_ns = 1000000ull * (i + 1);
    }
    s->nrecent = 2;
    s->recent[0].backend_index = 1;
    s->recent[0].kind = mode == STATS_MODE_TCP ? STATS_ENTRY_TCP : STATS_ENTRY_HTTP;
    snprintf(s->recent[0].path, sizeof(s->recent[0].path), "/p?q=\"x\"");
    s->recent[1].backend_index = -1;
    return s;
}

static char *write_doc(const struct stats_json_doc *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(stats_json_write(f, d), 0);
    assert_int_equal(fclose(f), 0);
    if (!valid_json(buf))
        fail_msg("not valid JSON:\n%s", buf);
    return buf;
}

static void test_every_shape_is_valid_json(void **state)
{
    (void)state;
    for (int tcp = 0; tcp <= 1; tcp++)
        for (int rates = 0; rates <= 1; rates++)
            for (int extras = 0; extras <= 1; extras++) {
                struct stats_snapshot *s = snapshot(tcp ? STATS_MODE_TCP : STATS_MODE_HTTP);
                struct stats_json_doc *d = calloc(1, sizeof(*d));
                assert_non_null(d);
                s->loop.wakeups = 7;
                s->loop.events = 70;
                s->loop.held_writes = 50;
                s->loop.uring_calls = 4;
                s->loop.sendmsg_calls = 1;
                s->splice.bytes = 1048576;
                s->splice.transfers = 3;
                s->splice.pipes_made = 1;
                if (extras) {
                    s->splice_on = true;
                    s->recent[0].flags |= STATS_ENTRY_SPLICED;
                    s->tls = true;
                    snprintf(s->tls_listen_text, sizeof(s->tls_listen_text), "0.0.0.0:3443");
                    s->checks = true;
                    s->admin_addr.family = 4;
                    s->admin_addr.port = 9100;
                    s->admin_addr.addr[0] = 127;
                    s->admin_addr.addr[3] = 1;
                }
                d->producer = rates ? "lbtop" : "lb_admin";
                d->cur = s;
                d->with_rates = rates;
                d->rate.req_s = 1.5;
                d->recent = 20;
                char *out = write_doc(d);
                const char *first = rates ? "{\n  \"lbtop\": \"" : "{\n  \"lb_admin\": \"";
                assert_non_null(strstr(out, first));
                assert_true((strstr(out, "\"rates\"") != NULL) == (rates != 0));
                assert_non_null(strstr(out, "\"pool\": \"api\""));
                assert_non_null(strstr(out, "\"pool\": \"static\""));
                assert_non_null(strstr(out, extras ? "\"admin\": \"127.0.0.1:9100\""
                                                   : "\"admin\": null"));
                assert_non_null(strstr(out, extras ? "\"https\": {" : "\"https\": null"));
                assert_non_null(strstr(out, "\"event_loop\": {\"wakeups\": 7, \"events\": 70, "
                                            "\"held_writes\": 50, \"io_uring_enter_calls\": 4, "
                                            "\"sendmsg_calls\": 1}"));
                assert_non_null(strstr(out, extras ? "\"splice\": {\"on\": true, \"bytes\": 1048576, "
                                                     "\"transfers\": 3, \"pipes_made\": 1}"
                                                   : "\"splice\": {\"on\": false, \"bytes\": "
                                                     "1048576, \"transfers\": 3, \"pipes_made\": 1}"));
                assert_non_null(strstr(out, "\"per_worker\": [\n    {\"worker\": 0, "));
                /* each recent entry says whether its body was spliced */
                assert_non_null(strstr(out, "\"spliced\": false}\n"));
                assert_true((strstr(out, "\"spliced\": true},\n") != NULL) == (extras != 0));
                free(out);
                free(d);
                free(s);
            }
}

static void test_percentiles_cover_the_time_since_the_base(void **state)
{
    (void)state;
    struct stats_snapshot *s = snapshot(STATS_MODE_HTTP), *base = snapshot(STATS_MODE_HTTP);
    struct stats_json_doc d = {.producer = "lb_admin", .cur = s, .recent = 0};
    char *out = write_doc(&d);
    /* since lb's start: backend b's ten requests of 1..10 ms */
    const char *b = strstr(out, "\"name\": \"b\"");
    assert_non_null(b);
    assert_non_null(strstr(b, "\"total\": {\"count\": 10"));
    free(out);
    d.base = base; /* the same counts: nothing since */
    out = write_doc(&d);
    b = strstr(out, "\"name\": \"b\"");
    assert_non_null(b);
    assert_non_null(strstr(b, "\"total\": {\"count\": 0"));
    assert_non_null(strstr(out, "\"recent\": [\n  ]"));
    free(out);
    free(s);
    free(base);
}

static void test_the_checker_refuses_broken_json(void **state)
{
    static const char *const bad[] = {"{", "{\"a\" 1}", "{\"a\": 1,}", "[1 2]", "\"a\nb\"",
                                      "01", "1.", "{\"a\": nul}", "\"\\x\"", "{} {}"};
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (valid_json(bad[i]))
            fail_msg("accepted %s", bad[i]);
    assert_true(valid_json("{\"a\": [1, -2.5e3, true, null, \"\\u00e9\"]}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_shape_is_valid_json),
        cmocka_unit_test(test_percentiles_cover_the_time_since_the_base),
        cmocka_unit_test(test_the_checker_refuses_broken_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
