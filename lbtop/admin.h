/*
 * admin.h - lbtop's client of lb's admin endpoint (lb --admin, see lb(1) ADMIN ENDPOINT): the
 * keys D and E drain and enable the selected backend with POST /backends/NAME/drain|enable.
 *
 * lb publishes the endpoint's address in its statistics header (stats_snapshot.admin_addr); an
 * address of every host (0.0.0.0, ::) is reached on loopback. One request per key press, on a
 * blocking socket bounded by a timeout: the screen waits at most that long for lb's answer.
 */
#ifndef LBTOP_ADMIN_H
#define LBTOP_ADMIN_H

#include <stddef.h>

#include "stats.h"

#define LBTOP_ADMIN_TIMEOUT_MS 2000

/* Sends POST /backends/NAME/ACTION (action "drain", "enable" or "disable"; name percent-encoded)
 * to the endpoint at admin (family 0: none), waiting at most timeout_ms. Returns 0 when lb
 * answered 200, with its word in msg ("backend b2: DRAINING"); -1 otherwise, with why in msg
 * ("lb runs without --admin", "connect to 127.0.0.1:9100: Connection refused", lb's own error
 * for a 404 ...). */
int lbtop_admin_post(const struct stats_addr *admin, const char *name, const char *action,
                     int timeout_ms, char *msg, size_t msg_len);

#endif
