/* test_net.c - unit tests of the shared socket helpers (common/net.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

static void test_parse_port_accepts_1_to_65535(void **state)
{
    uint16_t port = 0;
    (void)state;
    assert_int_equal(net_parse_port("1", &port), 0);
    assert_int_equal(port, 1);
    assert_int_equal(net_parse_port("65535", &port), 0);
    assert_int_equal(port, 65535);
    assert_int_equal(net_parse_port("0", &port), -EINVAL);
    assert_int_equal(net_parse_port("65536", &port), -EINVAL);
    assert_int_equal(net_parse_port("", &port), -EINVAL);
    assert_int_equal(net_parse_port("80x", &port), -EINVAL);
    assert_int_equal(net_parse_port("-1", &port), -EINVAL);
    assert_int_equal(net_parse_port("000080", &port), -EINVAL);
}

static void test_split_hostport_forms(void **state)
{
    char host[NET_HOST_LEN];
    uint16_t port = 0;
    (void)state;
    assert_int_equal(net_split_hostport("localhost:3001", host, sizeof(host), &port, false), 0);
    assert_string_equal(host, "localhost");
    assert_int_equal(port, 3001);
    assert_int_equal(net_split_hostport("[::1]:8080", host, sizeof(host), &port, false), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8080);
    assert_int_equal(net_split_hostport("3000", host, sizeof(host), &port, true), 0);
    assert_string_equal(host, "");
    assert_int_equal(port, 3000);
    assert_int_equal(net_split_hostport("127.0.0.1:0", host, sizeof(host), &port, false), -EINVAL);
    assert_int_equal(net_split_hostport("localhost", host, sizeof(host), &port, false), -EINVAL);
    assert_int_equal(net_split_hostport("::1:80", host, sizeof(host), &port, false), -EINVAL);
    assert_int_equal(net_split_hostport(":80", host, sizeof(host), &port, false), -EINVAL);
    assert_int_equal(net_split_hostport("a b:80", host, sizeof(host), &port, false), -EINVAL);
    assert_int_equal(net_split_hostport("[::1]x", host, sizeof(host), &port, false), -EINVAL);
}

static void test_format_addr_brackets_ipv6(void **state)
{
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(443),
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(80),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char buf[NET_ADDRSTR_LEN];
    (void)state;
    assert_string_equal(net_format_addr((struct sockaddr *)&a6, buf, sizeof(buf)), "[::1]:443");
    assert_string_equal(net_format_addr((struct sockaddr *)&a4, buf, sizeof(buf)), "127.0.0.1:80");
}

/* A loopback port that was free a moment ago. */
static uint16_t free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_listen_reports_busy_port_and_bad_host(void **state)
{
    char err[256] = "", want[64];
    uint16_t port = free_port();
    (void)state;
    int fd = net_listen_tcp("127.0.0.1", port, 16, true, err, sizeof(err));
    assert_true(fd >= 0);
    int again = net_listen_tcp("127.0.0.1", port, 16, true, err, sizeof(err));
    assert_true(again < 0);
    snprintf(want, sizeof(want), "127.0.0.1:%u", port);
    assert_non_null(strstr(err, want));
    close(fd);

    fd = net_listen_tcp("not-an-address", port, 16, true, err, sizeof(err));
    assert_true(fd < 0);
    assert_non_null(strstr(err, "not-an-address"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_port_accepts_1_to_65535),
        cmocka_unit_test(test_split_hostport_forms),
        cmocka_unit_test(test_format_addr_brackets_ipv6),
        cmocka_unit_test(test_listen_reports_busy_port_and_bad_host),
    };
    return cmocka_run_group_tests_name("net", tests, NULL, NULL);
}
