/*
 * simpage.h - the bodies backend-sim renders about itself and the request it received: the HTML
 * test page (/), the plain-text /whoami and the /headers JSON. Rendering is apart from the
 * sockets, so a unit test can check that every echoed byte is escaped.
 */
#ifndef LBLAB_SIMPAGE_H
#define LBLAB_SIMPAGE_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "simbuf.h"

/* What a page shows. Strings need not be NUL-terminated where a length is given. */
struct simpage_view {
    const char *name; /* instance name */
    uint16_t port;    /* instance port */
    size_t index;     /* instance number from 0: picks the page colour */
    long pid;
    const char *health;         /* "up", "down" or "slow" */
    uint64_t instance_requests; /* served by this instance, this request included */
    uint64_t conn_requests;     /* served on this connection, this request included */
    const char *client;         /* the peer address "ip:port" as the instance saw it (with
                                   --accept-proxy: as the PROXY header named it) */
    const char *proxy;          /* "v1" or "v2" when client came from a PROXY header, else NULL */
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    int minor_version;
    const struct http_header *headers;
    size_t n_headers;
};

/* The background colour of instance index (a CSS colour), distinct for the first eight. */
const char *simpage_colour(size_t index);

/* Appends the HTML test page. */
void simpage_html(struct simbuf *b, const struct simpage_view *v);

/* Appends the /whoami text (a "Proxy: v1" or "v2" line after "Client:" when v->proxy). */
void simpage_whoami(struct simbuf *b, const struct simpage_view *v);

/* Appends the /headers JSON object:
 * {"backend":NAME,"port":PORT,"method":..,"path":..,"client":..,"headers":{"Name":"value",...}}
 * with "proxy":"v1" (or "v2") after "client" when the client came from a PROXY header.
 * Repeated header names are joined with ", " in one member (RFC 9110 5.3). */
void simpage_headers_json(struct simbuf *b, const struct simpage_view *v);

#endif
