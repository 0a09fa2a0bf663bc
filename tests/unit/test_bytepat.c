/* test_bytepat.c - unit tests of the /bytes pattern (backend-sim/bytepat.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../backend-sim/bytepat.h"

/* The definition from bytepat.h, written out independently. */
static char reference_byte(uint64_t n, uint64_t i)
{
    uint64_t z = n * 0x9E3779B97F4A7C15ull + i / 8;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return BYTEPAT_ALPHABET[(z >> (8 * (i % 8))) & 63];
}

static void test_fill_matches_the_documented_definition(void **state)
{
    char buf[1000];
    (void)state;
    bytepat_fill(1000, 0, buf, sizeof(buf));
    for (uint64_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], reference_byte(1000, i));
}

static void test_fill_from_any_offset_matches_the_whole(void **state)
{
    char whole[257], part[100];
    (void)state;
    bytepat_fill(257, 0, whole, sizeof(whole));
    for (size_t off = 0; off < 150; off++) {
        for (size_t len = 0; len < 100 && off + len <= sizeof(whole); len += 7) {
            memset(part, 0, sizeof(part));
            bytepat_fill(257, off, part, len);
            assert_memory_equal(part, whole + off, len);
        }
    }
}

static void test_bytes_are_printable_and_seeded_by_n(void **state)
{
    char a[64], b[64];
    (void)state;
    bytepat_fill(64, 0, a, sizeof(a));
    bytepat_fill(65, 0, b, sizeof(b));
    assert_memory_not_equal(a, b, sizeof(a));
    for (size_t i = 0; i < sizeof(a); i++)
        assert_non_null(strchr(BYTEPAT_ALPHABET, a[i]));
}

static void test_known_prefix_is_stable(void **state)
{
    /* the first bytes of /bytes/100, as curl shows them: a change here breaks every lab that
     * recorded a body */
    char buf[16];
    (void)state;
    bytepat_fill(100, 0, buf, sizeof(buf));
    assert_memory_equal(buf, "GlRr53F1R5D13wFP", 16);
}

static void test_byte_agrees_with_fill(void **state)
{
    char buf[40];
    (void)state;
    bytepat_fill(1ull << 30, (1ull << 30) - 40, buf, sizeof(buf));
    for (uint64_t i = 0; i < 40; i++)
        assert_int_equal(buf[i], bytepat_byte(1ull << 30, (1ull << 30) - 40 + i));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill_matches_the_documented_definition),
        cmocka_unit_test(test_fill_from_any_offset_matches_the_whole),
        cmocka_unit_test(test_bytes_are_printable_and_seeded_by_n),
        cmocka_unit_test(test_known_prefix_is_stable),
        cmocka_unit_test(test_byte_agrees_with_fill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
