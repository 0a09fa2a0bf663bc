/*
 * textesc.c - HTML escaping, and JSON escaping into a simbuf (see textesc.h). Runs of safe bytes
 * are copied in one append, so escaping costs little more than a copy for ordinary header values.
 * The JSON rules themselves live in common/json.c, shared with lbtop and lbtrace.
 */
#include "textesc.h"

#include "json.h"

void textesc_html(struct simbuf *b, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                rep = "&#xFFFD;";
            else
                continue;
        }
        simbuf_append(b, s + start, i - start);
        simbuf_puts(b, rep);
        start = i + 1;
    }
    simbuf_append(b, s + start, n - start);
}

static void simbuf_sink(void *ctx, const char *p, size_t len)
{
    simbuf_append(ctx, p, len);
}

void textesc_json(struct simbuf *b, const char *s, size_t n)
{
    json_escape(s, n, simbuf_sink, b);
}

void textesc_json_string(struct simbuf *b, const char *s, size_t n)
{
    if (s == NULL) {
        simbuf_puts(b, "null");
        return;
    }
    simbuf_putc(b, '"');
    textesc_json(b, s, n);
    simbuf_putc(b, '"');
}

void textesc_json_member(struct simbuf *b, const char *lead, const char *s, size_t n)
{
    simbuf_puts(b, lead);
    textesc_json_string(b, s, n);
}
