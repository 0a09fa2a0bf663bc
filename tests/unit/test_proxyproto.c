/* test_proxyproto.c - unit tests of lb's PROXY protocol header builder (lb/proxyproto.c): the
 * exact bytes of v1 and v2 headers for IPv4, IPv6, mixed and unknown families, and a buffer too
 * small. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "../../lb/proxyproto.h"
#include "proxyproto_vectors.h"

static struct sockaddr_storage addr(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':') != NULL) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
    }
    return ss;
}

/* Builds the header for client -> lb and checks it is exactly want[0..want_len). */
static void check(int version, const char *client, uint16_t cport, const char *lb,
                  uint16_t lport, const char *want, size_t want_len)
{
    struct sockaddr_storage c = addr(client, cport), l = addr(lb, lport);
    char out[PROXYPROTO_MAX_LEN];
    ssize_t n = proxyproto_header(version, (struct sockaddr *)&c, (struct sockaddr *)&l, out,
                                  sizeof(out));
    assert_int_equal(n, (ssize_t)want_len);
    assert_memory_equal(out, want, want_len);
}

static void test_v1_ipv4_and_ipv6(void **state)
{
    (void)state;
    check(1, PPV_V4_CLIENT, PPV_V4_CLIENT_PORT, PPV_V4_LB, PPV_V4_LB_PORT, PPV_V1_V4,
          strlen(PPV_V1_V4));
    check(1, PPV_V6_CLIENT, PPV_V6_CLIENT_PORT, PPV_V6_LB, PPV_V6_LB_PORT, PPV_V1_V6,
          strlen(PPV_V1_V6));
}

static void test_v2_ipv4_and_ipv6(void **state)
{
    (void)state;
    check(2, PPV_V4_CLIENT, PPV_V4_CLIENT_PORT, PPV_V4_LB, PPV_V4_LB_PORT, PPV_V2_V4,
          PPV_V2_V4_LEN);
    check(2, PPV_V6_CLIENT, PPV_V6_CLIENT_PORT, PPV_V6_LB, PPV_V6_LB_PORT, PPV_V2_V6,
          PPV_V2_V6_LEN);
}

static void test_mixed_families_become_one(void **state)
{
    (void)state;
    /* a v4-mapped client on a dual-stack listener: both written as IPv4 */
    const char *v1 = "PROXY TCP4 192.0.2.10 198.51.100.1 51234 8080\r\n";
    check(1, "::ffff:192.0.2.10", 51234, PPV_V4_LB, PPV_V4_LB_PORT, v1, strlen(v1));
    check(1, "::ffff:192.0.2.10", 51234, "::ffff:198.51.100.1", PPV_V4_LB_PORT, v1, strlen(v1));
    check(2, "::ffff:192.0.2.10", 51234, "::ffff:198.51.100.1", PPV_V4_LB_PORT, PPV_V2_V4,
          PPV_V2_V4_LEN);
    /* a real IPv6 client and an IPv4 lb address: both written as IPv6 */
    const char *v1b = "PROXY TCP6 2001:db8::1 ::ffff:198.51.100.1 40000 8080\r\n";
    check(1, PPV_V6_CLIENT, PPV_V6_CLIENT_PORT, PPV_V4_LB, PPV_V4_LB_PORT, v1b, strlen(v1b));
}

static void test_unknown_family_is_unknown_or_local(void **state)
{
    (void)state;
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    struct sockaddr_storage l = addr(PPV_V4_LB, PPV_V4_LB_PORT);
    char out[PROXYPROTO_MAX_LEN];

    ssize_t n = proxyproto_header(1, (struct sockaddr *)&un, (struct sockaddr *)&l, out,
                                  sizeof(out));
    assert_int_equal(n, (ssize_t)strlen(PPV_V1_UNKNOWN));
    assert_memory_equal(out, PPV_V1_UNKNOWN, (size_t)n);
    n = proxyproto_header(2, NULL, (struct sockaddr *)&l, out, sizeof(out));
    assert_int_equal(n, PPV_V2_LOCAL_LEN);
    assert_memory_equal(out, PPV_V2_LOCAL, PPV_V2_LOCAL_LEN);
}

static void test_too_small_buffer_and_bad_version(void **state)
{
    (void)state;
    struct sockaddr_storage c = addr(PPV_V6_CLIENT, PPV_V6_CLIENT_PORT);
    struct sockaddr_storage l = addr(PPV_V6_LB, PPV_V6_LB_PORT);
    char out[PROXYPROTO_MAX_LEN];
    memset(out, 'x', sizeof(out));

    assert_int_equal(proxyproto_header(1, (struct sockaddr *)&c, (struct sockaddr *)&l, out,
                                       strlen(PPV_V1_V6) - 1),
                     -ENOSPC);
    assert_int_equal(out[0], 'x'); /* nothing half-written */
    assert_int_equal(proxyproto_header(2, (struct sockaddr *)&c, (struct sockaddr *)&l, out,
                                       PPV_V2_V6_LEN - 1),
                     -ENOSPC);
    assert_int_equal(proxyproto_header(2, (struct sockaddr *)&c, (struct sockaddr *)&l, out, 0),
                     -ENOSPC);
    /* exactly enough is enough */
    assert_int_equal(proxyproto_header(2, (struct sockaddr *)&c, (struct sockaddr *)&l, out,
                                       PPV_V2_V6_LEN),
                     PPV_V2_V6_LEN);
    assert_int_equal(proxyproto_header(3, (struct sockaddr *)&c, (struct sockaddr *)&l, out,
                                       sizeof(out)),
                     -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_ipv4_and_ipv6),
        cmocka_unit_test(test_v2_ipv4_and_ipv6),
        cmocka_unit_test(test_mixed_families_become_one),
        cmocka_unit_test(test_unknown_family_is_unknown_or_local),
        cmocka_unit_test(test_too_small_buffer_and_bad_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
