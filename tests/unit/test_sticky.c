/* test_sticky.c - unit tests of sticky-session cookie ids (lb/sticky.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <string.h>

#include "../../lb/sticky.h"

static struct backend_table *three(void)
{
    const char *hosts[] = {"127.0.0.1", "127.0.0.1", "10.1.2.3"};
    uint16_t ports[] = {3001, 3002, 3001};
    struct backend_table *t = backend_table_create(hosts, ports, 3);
    assert_non_null(t);
    return t;
}

static void test_ids_are_hex_distinct_and_reveal_no_address(void **state)
{
    struct sticky st;
    struct backend_table *t = three();
    (void)state;
    assert_int_equal(sticky_init_with_key(&st, t, "lbsrv", 42), 0);
    assert_true(sticky_enabled(&st));
    for (size_t i = 0; i < 3; i++) {
        const char *id = sticky_id(&st, i);
        assert_int_equal(strlen(id), STICKY_ID_LEN);
        for (size_t k = 0; k < STICKY_ID_LEN; k++)
            assert_true(isxdigit((unsigned char)id[k]));
        assert_null(strstr(id, "3001"));
        assert_int_equal(sticky_lookup(&st, id, STICKY_ID_LEN), (int)i);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(id, sticky_id(&st, j));
    }
    sticky_fini(&st);
    backend_table_destroy(t);
}

static void test_another_key_gives_other_ids_and_old_ones_name_nothing(void **state)
{
    struct sticky a, b;
    struct backend_table *t = three();
    (void)state;
    assert_int_equal(sticky_init_with_key(&a, t, "lbsrv", 1), 0);
    assert_int_equal(sticky_init_with_key(&b, t, "lbsrv", 2), 0);
    for (size_t i = 0; i < 3; i++) {
        assert_string_not_equal(sticky_id(&a, i), sticky_id(&b, i));
        assert_int_equal(sticky_lookup(&b, sticky_id(&a, i), STICKY_ID_LEN), -1);
    }
    assert_int_equal(sticky_lookup(&a, "short", 5), -1);
    assert_int_equal(sticky_lookup(&a, "zzzzzzzzzzzzzzzz", 16), -1);
    sticky_fini(&a);
    sticky_fini(&b);
    backend_table_destroy(t);
}

static void test_no_cookie_name_means_off(void **state)
{
    struct sticky st;
    struct backend_table *t = three();
    (void)state;
    assert_int_equal(sticky_init(&st, t, NULL), 0);
    assert_false(sticky_enabled(&st));
    assert_int_equal(sticky_init(&st, t, ""), 0);
    assert_false(sticky_enabled(&st));
    assert_int_equal(sticky_init(&st, t, "lbsrv"), 0); /* a random key */
    assert_true(sticky_enabled(&st));
    sticky_fini(&st);
    backend_table_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_are_hex_distinct_and_reveal_no_address),
        cmocka_unit_test(test_another_key_gives_other_ids_and_old_ones_name_nothing),
        cmocka_unit_test(test_no_cookie_name_means_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
