/* proxyproto_vectors.h - PROXY protocol headers with their exact bytes, shared by the tests of
 * lb's builder (test_proxyproto.c) and backend-sim's parser (test_proxyhdr.c), so the two
 * sides are held to the same bytes. */
#ifndef TESTS_PROXYPROTO_VECTORS_H
#define TESTS_PROXYPROTO_VECTORS_H

#define PPV_SIG "\r\n\r\n\0\r\nQUIT\n"

/* IPv4: the client 192.0.2.10:51234 connected to lb at 198.51.100.1:8080. */
#define PPV_V4_CLIENT "192.0.2.10"
#define PPV_V4_CLIENT_PORT 51234
#define PPV_V4_LB "198.51.100.1"
#define PPV_V4_LB_PORT 8080
#define PPV_V1_V4 "PROXY TCP4 192.0.2.10 198.51.100.1 51234 8080\r\n"
#define PPV_V2_V4                                                                                \
    PPV_SIG "\x21\x11\x00\x0c"                                                                   \
            "\xc0\x00\x02\x0a"                                                                   \
            "\xc6\x33\x64\x01"                                                                   \
            "\xc8\x22\x1f\x90"
#define PPV_V2_V4_LEN 28

/* IPv6: the client [2001:db8::1]:40000 connected to lb at [2001:db8::2]:8443. */
#define PPV_V6_CLIENT "2001:db8::1"
#define PPV_V6_CLIENT_PORT 40000
#define PPV_V6_LB "2001:db8::2"
#define PPV_V6_LB_PORT 8443
#define PPV_V1_V6 "PROXY TCP6 2001:db8::1 2001:db8::2 40000 8443\r\n"
#define PPV_V2_V6                                                                                \
    PPV_SIG "\x21\x21\x00\x24"                                                                   \
            "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"                   \
            "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"                   \
            "\x9c\x40\x20\xfb"
#define PPV_V2_V6_LEN 52

/* Neither address an IP one (a Unix socket, say): no addresses. */
#define PPV_V1_UNKNOWN "PROXY UNKNOWN\r\n"
#define PPV_V2_LOCAL PPV_SIG "\x20\x00\x00\x00"
#define PPV_V2_LOCAL_LEN 16

#endif
