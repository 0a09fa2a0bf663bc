/*
 * privdrop.h - lb --user NAME: run as an unprivileged user once what needs root is done.
 *
 * Started as root (to listen on a port below 1024, say), lb opens its listening sockets, its
 * access log, its TLS keys and its statistics segment first, then becomes NAME for good: its
 * supplementary groups become NAME's primary group alone, then its group, then its user
 * (in that order: once the user is changed, the groups could not be), and the change is checked
 * (getting root back must fail). lbtrace does the same after opening its capture.
 */
#ifndef LB_PRIVDROP_H
#define LB_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

/* Finds user name: fills *uid and *gid (its primary group). Returns 0, -ENOENT for an unknown
 * user, or -errno; err gets a message naming the user. */
int privdrop_lookup(const char *name, uid_t *uid, gid_t *gid, char *err, size_t err_len);

/* Checks that this process may change user at all (it runs as root). Returns 0 or -EPERM with a
 * message in err. */
int privdrop_check_root(const char *name, char *err, size_t err_len);

/* Becomes uid/gid for good (setgroups, setgid, setuid, each checked). Every thread of the process
 * changes (glibc). Returns 0 or -errno with a message in err. */
int privdrop_to(uid_t uid, gid_t gid, char *err, size_t err_len);

#endif
