/*
 * fuzz_lbtrace_decode.c - libFuzzer target for lbtrace's frame decoder (lbtrace/decode.c).
 *
 * The input's first byte picks one of the link types lbtrace knows (and, past them, an unknown
 * one); the rest is one captured frame, in a heap copy of exactly its size so any read past the
 * capture is caught. Asserts the contract: a status of the documented set, a reason on every
 * failure, and on success a payload inside the frame, no longer than the IP header says was
 * sent, with a 4- or 16-byte address family.
 */
#include <string.h>
#include <sys/socket.h>

#include "decode.h"
#include "fuzz_check.h"

static const int links[] = {DECODE_LINK_NULL,   DECODE_LINK_ETHERNET,   DECODE_LINK_RAW,
                            DECODE_LINK_RAW_BSD, DECODE_LINK_RAW_LT,    DECODE_LINK_LOOP,
                            DECODE_LINK_LINUX_SLL, DECODE_LINK_IPV4,    DECODE_LINK_IPV6,
                            DECODE_LINK_LINUX_SLL2, 999};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int link = links[data[0] % (sizeof(links) / sizeof(links[0]))];
    size_t caplen = size - 1;
    uint8_t *frame = (uint8_t *)fuzz_dup(data + 1, caplen);
    struct decode_packet p;
    char err[128] = "";
    char flags[16];

    enum decode_status st = decode_frame(link, frame, caplen, &p, err, sizeof(err));
    CHECK(st == DECODE_OK || st == DECODE_NOT_TCP || st == DECODE_FRAGMENT ||
          st == DECODE_UNSUPPORTED || st == DECODE_MALFORMED);
    CHECK(decode_link_supported(link) == (link != 999));
    CHECK(decode_link_name(link) != NULL);
    if (st == DECODE_OK) {
        CHECK(p.family == AF_INET || p.family == AF_INET6);
        CHECK(p.payload_len <= p.wire_payload_len);
        CHECK(p.payload_len == 0 ||
              (p.payload >= frame && p.payload + p.payload_len <= frame + caplen));
        CHECK(p.vlan >= -1 && p.vlan < 4096);
        CHECK(strlen(decode_flags_str(p.flags, flags, sizeof(flags))) < sizeof(flags));
        /* with no error buffer too */
        struct decode_packet q;
        CHECK(decode_frame(link, frame, caplen, &q, NULL, 0) == DECODE_OK);
        CHECK(q.payload == p.payload && q.payload_len == p.payload_len);
    } else {
        CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
    }
    free(frame);
    return 0;
}
