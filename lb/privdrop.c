/*
 * privdrop.c - changing user for good (privdrop.h). getpwnam_r with a buffer on the stack: no
 * static storage, so the lookup is safe whatever other threads do.
 */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int privdrop_lookup(const char *name, uid_t *uid, gid_t *gid, char *err, size_t err_len)
{
    struct passwd pw, *found = NULL;
    char buf[4096];
    int rc = getpwnam_r(name, &pw, buf, sizeof(buf), &found);
    if (rc != 0) {
        snprintf(err, err_len, "--user %s: looking the user up: %s", name, strerror(rc));
        return -rc;
    }
    if (found == NULL) {
        snprintf(err, err_len, "--user %s: no such user", name);
        return -ENOENT;
    }
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    return 0;
}

int privdrop_check_root(const char *name, char *err, size_t err_len)
{
    if (geteuid() == 0)
        return 0;
    snprintf(err, err_len,
             "--user %s: only root can change user, and lb runs as uid %u (start it as root, "
             "or leave --user out)",
             name, (unsigned)geteuid());
    return -EPERM;
}

int privdrop_to(uid_t uid, gid_t gid, char *err, size_t err_len)
{
    if (setgroups(1, &gid) != 0) {
        snprintf(err, err_len, "setgroups: %s", strerror(errno));
        return -errno;
    }
    if (setgid(gid) != 0) {
        snprintf(err, err_len, "setgid %u: %s", (unsigned)gid, strerror(errno));
        return -errno;
    }
    if (setuid(uid) != 0) {
        snprintf(err, err_len, "setuid %u: %s", (unsigned)uid, strerror(errno));
        return -errno;
    }
    /* for good: neither id may be root again, and root must be out of reach */
    if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid ||
        (uid != 0 && setuid(0) == 0)) {
        snprintf(err, err_len, "the user did not change for good (uid %u, euid %u)",
                 (unsigned)getuid(), (unsigned)geteuid());
        return -EPERM;
    }
    return 0;
}
