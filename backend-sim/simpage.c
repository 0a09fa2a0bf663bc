/*
 * simpage.c - rendering of the test page, /whoami and /headers (see simpage.h). The HTML page is
 * made for a classroom projector: the instance's name and port fill the top of the screen on the
 * instance's own colour, so the room sees at a glance which backend answered.
 */
#include "simpage.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "textesc.h"

static const char *const colours[] = {
    "#1565c0", /* blue */
    "#2e7d32", /* green */
    "#6a1b9a", /* purple */
    "#ef6c00", /* orange */
    "#00838f", /* teal */
    "#ad1457", /* pink */
    "#4e342e", /* brown */
    "#37474f", /* slate */
};

const char *simpage_colour(size_t index)
{
    return colours[index % (sizeof(colours) / sizeof(colours[0]))];
}

static bool name_is(const struct http_header *h, const char *name)
{
    size_t n = strlen(name);
    return h->name_len == n && strncasecmp(h->name, name, n) == 0;
}

static bool highlighted(const struct http_header *h)
{
    return name_is(h, "X-Forwarded-For") || name_is(h, "X-Request-ID");
}

void simpage_html(struct simbuf *b, const struct simpage_view *v)
{
    const char *colour = simpage_colour(v->index);

    simbuf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                   "<title>");
    textesc_html(b, v->name, strlen(v->name));
    simbuf_printf(b, " :%u - backend-sim</title>\n<style>\n", v->port);
    simbuf_printf(b,
                  "body{margin:0;font-family:system-ui,sans-serif;font-size:1.4rem;"
                  "background:#fafafa;color:#111}\n"
                  ".who{background:%s;color:#fff;padding:2vh 4vw;text-align:center}\n"
                  ".who h1{font-size:14vw;line-height:1;margin:0;letter-spacing:.02em}\n"
                  ".who .port{font-size:6vw;font-weight:bold}\n"
                  ".who .state{font-size:2rem}\n"
                  "main{padding:2vh 4vw}\n"
                  "dl{display:grid;grid-template-columns:max-content 1fr;gap:.3em 1.5em}\n"
                  "dt{font-weight:bold}dd{margin:0;font-family:monospace}\n"
                  "table{border-collapse:collapse;width:100%%;font-family:monospace}\n"
                  "td{border-bottom:1px solid #ccc;padding:.25em .5em;vertical-align:top;"
                  "word-break:break-all}\n"
                  "td.n{white-space:nowrap;font-weight:bold;width:1%%}\n"
                  "tr.hl td{background:#fff59d;font-size:1.3em}\n"
                  "</style>\n</head>\n<body>\n",
                  colour);
    simbuf_puts(b, "<div class=\"who\">\n<h1 id=\"name\">");
    textesc_html(b, v->name, strlen(v->name));
    simbuf_printf(b, "</h1>\n<div class=\"port\" id=\"port\">port %u</div>\n", v->port);
    simbuf_puts(b, "<div class=\"state\">health: ");
    textesc_html(b, v->health, strlen(v->health));
    simbuf_puts(b, "</div>\n</div>\n<main>\n<dl>\n");
    simbuf_printf(b, "<dt>pid</dt><dd id=\"pid\">%ld</dd>\n", v->pid);
    simbuf_puts(b, "<dt>requests served by ");
    textesc_html(b, v->name, strlen(v->name));
    simbuf_printf(b, "</dt><dd id=\"instance-requests\">%llu</dd>\n",
                  (unsigned long long)v->instance_requests);
    simbuf_printf(b, "<dt>requests on this connection</dt><dd id=\"conn-requests\">%llu</dd>\n",
                  (unsigned long long)v->conn_requests);
    simbuf_puts(b, "<dt>client address seen</dt><dd id=\"client\">");
    textesc_html(b, v->client, strlen(v->client));
    simbuf_puts(b, "</dd>\n<dt>request</dt><dd id=\"request\">");
    textesc_html(b, v->method, v->method_len);
    simbuf_putc(b, ' ');
    textesc_html(b, v->target, v->target_len);
    simbuf_printf(b, " HTTP/1.%d</dd>\n</dl>\n", v->minor_version);
    simbuf_puts(b, "<h2>Request headers</h2>\n<table id=\"headers\">\n");
    for (size_t i = 0; i < v->n_headers; i++) {
        const struct http_header *h = &v->headers[i];
        simbuf_puts(b,
                    highlighted(h) ? "<tr class=\"hl\"><td class=\"n\">" : "<tr><td class=\"n\">");
        textesc_html(b, h->name, h->name_len);
        simbuf_puts(b, "</td><td>");
        textesc_html(b, h->value, h->value_len);
        simbuf_puts(b, "</td></tr>\n");
    }
    simbuf_puts(b, "</table>\n</main>\n</body>\n</html>\n");
}

void simpage_whoami(struct simbuf *b, const struct simpage_view *v)
{
    simbuf_puts(b, "Name: ");
    simbuf_puts(b, v->name);
    simbuf_puts(b, "\nPort: ");
    simbuf_u64(b, v->port);
    simbuf_puts(b, "\nPid: ");
    simbuf_u64(b, (uint64_t)v->pid);
    simbuf_puts(b, "\nHealth: ");
    simbuf_puts(b, v->health);
    simbuf_puts(b, "\nRequests: ");
    simbuf_u64(b, v->instance_requests);
    simbuf_puts(b, "\nConnection-Requests: ");
    simbuf_u64(b, v->conn_requests);
    simbuf_puts(b, "\nClient: ");
    simbuf_puts(b, v->client);
    simbuf_putc(b, '\n');
    if (v->proxy != NULL) {
        simbuf_puts(b, "Proxy: ");
        simbuf_puts(b, v->proxy);
        simbuf_putc(b, '\n');
    }
    simbuf_append(b, v->method, v->method_len);
    simbuf_putc(b, ' ');
    simbuf_append(b, v->target, v->target_len);
    simbuf_puts(b, v->minor_version ? " HTTP/1.1\n" : " HTTP/1.0\n");
    for (size_t i = 0; i < v->n_headers; i++) {
        const struct http_header *h = &v->headers[i];
        simbuf_append(b, h->name, h->name_len);
        simbuf_puts(b, ": ");
        simbuf_append(b, h->value, h->value_len);
        simbuf_putc(b, '\n');
    }
}

void simpage_headers_json(struct simbuf *b, const struct simpage_view *v)
{
    textesc_json_member(b, "{\"backend\":", v->name, strlen(v->name));
    simbuf_printf(b, ",\"port\":%u", v->port);
    textesc_json_member(b, ",\"method\":", v->method, v->method_len);
    textesc_json_member(b, ",\"path\":", v->target, v->target_len);
    textesc_json_member(b, ",\"client\":", v->client, strlen(v->client));
    if (v->proxy != NULL)
        textesc_json_member(b, ",\"proxy\":", v->proxy, strlen(v->proxy));
    simbuf_puts(b, ",\"headers\":{");
    bool first = true;
    for (size_t i = 0; i < v->n_headers; i++) {
        const struct http_header *h = &v->headers[i];
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = h->name_len == v->headers[j].name_len &&
                   strncasecmp(h->name, v->headers[j].name, h->name_len) == 0;
        if (seen)
            continue;
        if (!first)
            simbuf_putc(b, ',');
        first = false;
        simbuf_putc(b, '"');
        textesc_json(b, h->name, h->name_len);
        simbuf_puts(b, "\":\"");
        textesc_json(b, h->value, h->value_len);
        for (size_t j = i + 1; j < v->n_headers; j++) {
            const struct http_header *o = &v->headers[j];
            if (o->name_len == h->name_len && strncasecmp(o->name, h->name, h->name_len) == 0) {
                simbuf_puts(b, ", ");
                textesc_json(b, o->value, o->value_len);
            }
        }
        simbuf_putc(b, '"');
    }
    simbuf_puts(b, "}}\n");
}
