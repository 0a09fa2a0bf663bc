/*
 * docroot.h - static files under --docroot, without escaping it. A request path is
 * percent-decoded and split into segments; "..", ".", empty segments, NUL, backslashes and
 * control bytes are refused before the file system is asked, and the file is then opened
 * relative to the docroot's directory descriptor with RESOLVE_BENEATH where the kernel has
 * openat2(), so not even a symlink leads outside. Directories serve their index.html.
 */
#ifndef LBLAB_DOCROOT_H
#define LBLAB_DOCROOT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Turns the URL path p[0..n) (no query) into a relative file path in out ("a/b.html"; "" for
 * the root). Returns 0, -EINVAL for a path that tries to leave the docroot or is malformed, or
 * -ENAMETOOLONG. */
int docroot_map_path(const char *p, size_t n, char *out, size_t out_len);

/* Opens the regular file for URL path p[0..n) under the directory root_fd. Returns an fd
 * (O_RDONLY, close-on-exec) with its size in *size and its type in *content_type, or -EINVAL
 * (bad path), -ENOENT, -EACCES. */
int docroot_open(int root_fd, const char *p, size_t n, uint64_t *size, const char **content_type);

/* The Content-Type for a file name, by extension (application/octet-stream if unknown). */
const char *docroot_content_type(const char *p, size_t n);

#endif
