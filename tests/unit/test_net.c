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

/* lb formats IPv4 addresses itself (no sprintf): it must write what inet_ntop() writes, for
 * every byte value in every position. */
static void test_format_ip_writes_what_inet_ntop_writes(void **state)
{
    (void)state;
    struct sockaddr_in a = {.sin_family = AF_INET};
    char mine[INET6_ADDRSTRLEN], libc[INET_ADDRSTRLEN];
    for (unsigned v = 0; v < 256; v++) {
        for (int pos = 0; pos < 4; pos++) {
            unsigned char b[4] = {1, 22, 133, 4};
            b[pos] = (unsigned char)v;
            memcpy(&a.sin_addr.s_addr, b, 4);
            assert_non_null(inet_ntop(AF_INET, &a.sin_addr, libc, sizeof(libc)));
            assert_string_equal(net_format_ip((struct sockaddr *)&a, mine, sizeof(mine)), libc);
        }
    }
    /* a buffer too small for every address takes the library's way, which says "?" */
    char small[8];
    inet_pton(AF_INET, "255.255.255.255", &a.sin_addr);
    assert_string_equal(net_format_ip((struct sockaddr *)&a, small, sizeof(small)), "?");
}

static void test_unmap_v4_turns_a_mapped_address_into_ipv4(void **state)
{
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(8080)};
    struct sockaddr_storage out;
    char buf[NET_ADDRSTR_LEN];
    (void)state;
    assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.7", &a6.sin6_addr), 1);
    assert_true(net_is_v4mapped(a6.sin6_addr.s6_addr));
    assert_int_equal(net_unmap_v4((struct sockaddr *)&a6, sizeof(a6), &out),
                     sizeof(struct sockaddr_in));
    assert_int_equal(out.ss_family, AF_INET);
    assert_string_equal(net_format_addr((struct sockaddr *)&out, buf, sizeof(buf)),
                        "192.0.2.7:8080");
}

static void test_unmap_v4_works_in_place(void **state)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(9)};
    char buf[NET_ADDRSTR_LEN];
    (void)state;
    assert_int_equal(inet_pton(AF_INET6, "::ffff:10.0.0.1", &a6.sin6_addr), 1);
    memset(&ss, 0xaa, sizeof(ss));
    memcpy(&ss, &a6, sizeof(a6));
    assert_int_equal(net_unmap_v4((struct sockaddr *)&ss, sizeof(ss), &ss),
                     sizeof(struct sockaddr_in));
    assert_string_equal(net_format_addr((struct sockaddr *)&ss, buf, sizeof(buf)), "10.0.0.1:9");
}

static void test_unmap_v4_copies_other_addresses_unchanged(void **state)
{
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(443),
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(80),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_storage out;
    char buf[NET_ADDRSTR_LEN];
    (void)state;
    assert_false(net_is_v4mapped(a6.sin6_addr.s6_addr));
    assert_int_equal(net_unmap_v4((struct sockaddr *)&a6, sizeof(a6), &out), sizeof(a6));
    assert_string_equal(net_format_addr((struct sockaddr *)&out, buf, sizeof(buf)), "[::1]:443");
    assert_int_equal(net_unmap_v4((struct sockaddr *)&a4, sizeof(a4), &out), sizeof(a4));
    assert_string_equal(net_format_addr((struct sockaddr *)&out, buf, sizeof(buf)),
                        "127.0.0.1:80");
    /* too short to be an IPv6 address: copied, not read beyond in_len */
    a6.sin6_addr.s6_addr[10] = a6.sin6_addr.s6_addr[11] = 0xff;
    assert_int_equal(net_unmap_v4((struct sockaddr *)&a6, 8, &out), 8);
    assert_int_equal(out.ss_family, AF_INET6);
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
        cmocka_unit_test(test_format_ip_writes_what_inet_ntop_writes),
        cmocka_unit_test(test_unmap_v4_turns_a_mapped_address_into_ipv4),
        cmocka_unit_test(test_unmap_v4_works_in_place),
        cmocka_unit_test(test_unmap_v4_copies_other_addresses_unchanged),
        cmocka_unit_test(test_listen_reports_busy_port_and_bad_host),
    };
    return cmocka_run_group_tests_name("net", tests, NULL, NULL);
}
