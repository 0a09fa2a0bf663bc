/* test_simbuf.c - unit tests of the growable byte buffer (backend-sim/simbuf.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../backend-sim/simbuf.h"

static void test_simbuf_grows_and_respects_its_limit(void **state)
{
    struct simbuf b;
    char big[300];
    (void)state;
    memset(big, 'x', sizeof(big));
    simbuf_init(&b, 512);
    simbuf_append(&b, big, sizeof(big));
    simbuf_u64(&b, 18446744073709551615ull);
    assert_int_equal(b.len, 320);
    assert_false(simbuf_failed(&b));
    simbuf_append(&b, big, sizeof(big));
    assert_true(simbuf_failed(&b));
    assert_int_equal(b.len, 320);
    simbuf_reset(&b);
    simbuf_printf(&b, "%s-%d", "n", 42);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "n-42", 4);
    simbuf_consume(&b, 2);
    assert_memory_equal(b.data, "42", 2);
    simbuf_free(&b);
}

static void test_simbuf_reserve_and_commit(void **state)
{
    struct simbuf b;
    char digits[20];
    (void)state;
    simbuf_init(&b, 0);
    char *p = simbuf_reserve(&b, 10);
    assert_non_null(p);
    memcpy(p, "abc", 3);
    simbuf_commit(&b, 3);
    assert_int_equal(b.len, 3);
    assert_int_equal(simbuf_fmt_u64(digits, 0), 1);
    assert_int_equal(simbuf_fmt_u64(digits, 1234567890123ull), 13);
    assert_memory_equal(digits, "1234567890123", 13);
    simbuf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_false(simbuf_failed(&b));
    simbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simbuf_grows_and_respects_its_limit),
        cmocka_unit_test(test_simbuf_reserve_and_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
