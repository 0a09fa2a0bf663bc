/* test_lbtrace_output.c - unit tests of what lbtrace prints (lbtrace/output.c): colour only
 * when asked, the l4 view in text and JSON, the view names, and problems shown on the L7 line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lbtrace_pcapgen.h"
#include "lbtrace_scenarios.h"
#include "lbtrace_testrun.h"
#include "output.h"

static void test_view_names(void **state)
{
    enum output_view v;
    (void)state;
    assert_int_equal(output_parse_view("l4", &v), 0);
    assert_int_equal(v, OUTPUT_L4);
    assert_int_equal(output_parse_view("l7", &v), 0);
    assert_int_equal(v, OUTPUT_L7);
    assert_int_equal(output_parse_view("both", &v), 0);
    assert_int_equal(v, OUTPUT_BOTH);
    assert_int_equal(output_parse_view("L4", &v), -EINVAL);
    assert_int_equal(output_parse_view("", &v), -EINVAL);
}

/* Runs the lb-at-work scenario with colour on or off. */
static char *run_scenario(enum output_view view, bool json, bool color)
{
    char *path = temp_pcap();
    struct trace_config cfg;
    struct capture_opts co = {.file = path};
    char err[256], *buf = NULL;
    size_t len = 0;
    bool perm;
    scenario_lb_at_work(path, PG_LINK_EN10MB);
    memset(&cfg, 0, sizeof(cfg));
    cfg.flows.lb_port = 8000;
    cfg.flows.num_backend_ports = 3;
    cfg.flows.backend_ports[0] = 9001;
    cfg.flows.backend_ports[1] = 9002;
    cfg.flows.backend_ports[2] = 9003;
    cfg.out.view = view;
    cfg.out.json = json;
    cfg.out.color = color;
    cfg.out.out = open_memstream(&buf, &len);
    struct capture *cap = capture_open(&co, &perm, err, sizeof(err));
    assert_non_null(cap);
    struct trace *t = trace_new(&cfg, capture_link(cap));
    struct run_frame_ctx fc = {t};
    while (capture_next(cap, 64, run_on_frame, &fc, err, sizeof(err)) > 0)
        ;
    trace_finish(t);
    trace_free(t);
    capture_close(cap);
    fclose(cfg.out.out);
    unlink(path);
    free(path);
    return buf;
}

static void test_colour_only_when_asked(void **state)
{
    (void)state;
    char *plain = run_scenario(OUTPUT_BOTH, false, false);
    char *colour = run_scenario(OUTPUT_BOTH, false, true);
    assert_null(strstr(plain, "\033["));
    assert_non_null(strstr(colour, "\033[32m200")); /* 2xx in green */
    assert_non_null(strstr(colour, "\033[31m503")); /* 5xx in red */
    free(plain);
    free(colour);
}

static void test_l4_json_has_segments_and_connections(void **state)
{
    (void)state;
    char *out = run_scenario(OUTPUT_L4, true, false);
    assert_int_equal(count_of(out, "{\"type\":\"connection\""), 6);
    assert_int_equal(count_of(out, "{\"type\":\"segment\""), 56);
    assert_non_null(strstr(out, "\"flags\":\"S.\""));
    assert_non_null(strstr(out, "\"leg\":\"backend\""));
    assert_non_null(strstr(out, "\"close\":\"FIN both\""));
    free(out);
}

static void test_l4_text_shows_relative_numbers(void **state)
{
    (void)state;
    char *out = run_scenario(OUTPUT_L4, false, false);
    /* the first data segment of client A: bytes 1 to 1+len, acknowledging the SYN-ACK */
    assert_non_null(strstr(out, "127.0.0.1:40000 > 127.0.0.1:8000: [P.] seq 1:"));
    assert_non_null(strstr(out, " ack 1 "));
    assert_non_null(strstr(out, "127.0.0.1:8000 > 127.0.0.1:40000: [S.] seq 0 ack 1"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_view_names),
        cmocka_unit_test(test_colour_only_when_asked),
        cmocka_unit_test(test_l4_json_has_segments_and_connections),
        cmocka_unit_test(test_l4_text_shows_relative_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
