/* test_docroot.c - unit tests of static-file path mapping (backend-sim/docroot.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../backend-sim/docroot.h"

static int map(const char *p, char *out)
{
    return docroot_map_path(p, strlen(p), out, 256);
}

static void test_paths_map_to_relative_names(void **state)
{
    char out[256];
    (void)state;
    assert_int_equal(map("/", out), 0);
    assert_string_equal(out, "");
    assert_int_equal(map("/a/b.html", out), 0);
    assert_string_equal(out, "a/b.html");
    assert_int_equal(map("/dir/", out), 0);
    assert_string_equal(out, "dir/");
    assert_int_equal(map("/with%20space.txt", out), 0);
    assert_string_equal(out, "with space.txt");
    assert_int_equal(map("/..hidden", out), 0);
    assert_string_equal(out, "..hidden");
}

static void test_traversal_and_junk_are_refused(void **state)
{
    char out[256];
    (void)state;
    assert_int_equal(map("/../etc/passwd", out), -EINVAL);
    assert_int_equal(map("/a/../../etc/passwd", out), -EINVAL);
    assert_int_equal(map("/a/..", out), -EINVAL);
    assert_int_equal(map("/%2e%2e/etc/passwd", out), -EINVAL);
    assert_int_equal(map("/.%2E/x", out), -EINVAL);
    assert_int_equal(map("/a%2f..%2f..%2fetc", out), -EINVAL);
    assert_int_equal(map("/./a", out), -EINVAL);
    assert_int_equal(map("//etc/passwd", out), -EINVAL);
    assert_int_equal(map("/a\\..\\b", out), -EINVAL);
    assert_int_equal(map("/a%00b", out), -EINVAL);
    assert_int_equal(map("/a%zz", out), -EINVAL);
    assert_int_equal(map("/a%4", out), -EINVAL);
    assert_int_equal(map("relative", out), -EINVAL);
}

static void test_content_types_follow_the_extension(void **state)
{
    (void)state;
    assert_string_equal(docroot_content_type("a/index.html", 12), "text/html; charset=utf-8");
    assert_string_equal(docroot_content_type("x.CSS", 5), "text/css; charset=utf-8");
    assert_string_equal(docroot_content_type("pic.png", 7), "image/png");
    assert_string_equal(docroot_content_type("noext", 5), "application/octet-stream");
    assert_string_equal(docroot_content_type("dir.d/noext", 11), "application/octet-stream");
}

static void test_open_serves_files_and_index_but_not_outside(void **state)
{
    char dir[] = "/tmp/test_docroot.XXXXXX";
    char path[512];
    const char *ctype = NULL;
    uint64_t size = 0;
    int root, fd;
    FILE *f;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/hello.txt", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("hello\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/sub", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/sub/index.html", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("<p>index</p>\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/escape", dir);
    assert_int_equal(symlink("/etc", path), 0);

    root = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(root >= 0);
    fd = docroot_open(root, "/hello.txt", 10, &size, &ctype);
    assert_true(fd >= 0);
    assert_int_equal(size, 6);
    assert_string_equal(ctype, "text/plain; charset=utf-8");
    close(fd);
    fd = docroot_open(root, "/sub", 4, &size, &ctype);
    assert_true(fd >= 0);
    assert_int_equal(size, 13);
    assert_string_equal(ctype, "text/html; charset=utf-8");
    close(fd);
    assert_int_equal(docroot_open(root, "/missing", 8, &size, &ctype), -ENOENT);
    assert_int_equal(docroot_open(root, "/", 1, &size, &ctype), -ENOENT); /* no index.html */
    assert_int_equal(docroot_open(root, "/../etc/passwd", 14, &size, &ctype), -EINVAL);
    /* a symlink out of the docroot is not followed where openat2() exists; where it does not,
     * this at least must not crash */
    fd = docroot_open(root, "/escape/hostname", 16, &size, &ctype);
    if (fd >= 0)
        close(fd);
    close(root);

    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths_map_to_relative_names),
        cmocka_unit_test(test_traversal_and_junk_are_refused),
        cmocka_unit_test(test_content_types_follow_the_extension),
        cmocka_unit_test(test_open_serves_files_and_index_but_not_outside),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
