/*
 * textesc.c - HTML and JSON escaping (see textesc.h). Runs of safe bytes are copied in one
 * append, so escaping costs little more than a copy for ordinary header values.
 */
#include "textesc.h"

#include <stdbool.h>
#include <stdint.h>

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

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;

    if (s[0] < 0xc2 || s[0] > 0xf4)
        return 0;
    len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
    if (n < len)
        return 0;
    cp = s[0] & (0xff >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void textesc_json(struct simbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t start = 0, i = 0;

    while (i < n) {
        unsigned char c = u[i];
        char esc[8];
        size_t esc_len = 0;

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x7f) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = utf8_seq_len(u + i, n - i);
            if (l > 0) {
                i += l;
                continue;
            }
        }
        simbuf_append(b, s + start, i - start);
        /* two-character escapes where JSON has them, \u00XX for the rest */
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default: esc[1] = 'u'; break;
        }
        esc[0] = '\\';
        esc_len = 2;
        if (esc[1] == 'u') {
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            esc_len = 6;
        }
        simbuf_append(b, esc, esc_len);
        i++;
        start = i;
    }
    simbuf_append(b, s + start, n - start);
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
