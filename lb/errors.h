/*
 * errors.h - the responses lb writes itself when it cannot relay one (400, 408, 414, 431, 501,
 * 502, 503, 504): a short HTML body saying what happened, Content-Length, the request id, and
 * "Connection: close" when lb closes the connection afterwards (it always does after an error).
 */
#ifndef LB_ERRORS_H
#define LB_ERRORS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Writes the whole response for status into out. detail (may be NULL) is a short static text
 * for the body ("backend refused the connection"). head_only: the request was HEAD (same
 * headers, no body). retry_after_s > 0 adds "Retry-After: N" (a 503 says when to come back).
 * Returns its length, or -ENOSPC. */
ssize_t errors_response(char *out, size_t cap, int status, const char *detail,
                        const char *request_id, size_t request_id_len, bool head_only,
                        unsigned retry_after_s);

#endif
