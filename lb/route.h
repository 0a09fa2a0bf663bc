/*
 * route.h - which pool a request goes to: the routes of the configuration (config.h), tried in
 * order, the first that matches wins; none matches: the default pool, or none at all (lb answers
 * 404).
 *
 * A pure function of the routes and the parsed request: no clock, no I/O, no state.
 *   path-prefix P   the request's path (query included) starts with P, byte for byte
 *   host H          the Host (or the absolute-form authority) without its port is H, in any
 *                   case; "*.example.org" matches every name that ends in ".example.org"
 *   header N: V     a header field named N (any case) has exactly the value V
 */
#ifndef LB_ROUTE_H
#define LB_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "http.h"

/* The index of the pool r goes to: the pool of the first of routes[0..n) that matches, else
 * default_pool (-1: none). */
int route_pick(const struct config_route *routes, size_t n, int default_pool,
               const struct http_request *r);

/* True when route matches r. */
bool route_matches(const struct config_route *route, const struct http_request *r);

#endif
