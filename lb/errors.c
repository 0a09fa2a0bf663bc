/*
 * errors.c - lb's own error responses. One function, so every error looks the same and carries
 * the request id the access log shows for it.
 */
#include "errors.h"

#include <errno.h>
#include <stdio.h>

#include "http.h"

ssize_t errors_response(char *out, size_t cap, int status, const char *detail,
                        const char *request_id, size_t request_id_len, bool head_only,
                        unsigned retry_after_s)
{
    char body[512], retry[40] = "";
    const char *reason = http_status_reason(status);
    int body_len = snprintf(body, sizeof(body),
                            "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n"
                            "<body><h1>%d %s</h1><p>%s</p><hr><p>lb (lblab)</p></body></html>\n",
                            status, reason, status, reason, detail ? detail : reason);
    if (body_len < 0 || (size_t)body_len >= sizeof(body))
        return -ENOSPC;
    if (retry_after_s > 0)
        snprintf(retry, sizeof(retry), "Retry-After: %u\r\n", retry_after_s);
    int n = snprintf(out, cap,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: text/html; charset=utf-8\r\n"
                     "Content-Length: %d\r\n"
                     "X-Request-ID: %.*s\r\n"
                     "%s"
                     "Connection: close\r\n"
                     "\r\n"
                     "%s",
                     status, reason, body_len, (int)request_id_len, request_id, retry,
                     head_only ? "" : body);
    if (n < 0 || (size_t)n >= cap)
        return -ENOSPC;
    return n;
}
