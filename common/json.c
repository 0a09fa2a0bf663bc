/*
 * json.c - JSON string escaping (see json.h). Runs of bytes that need no escape go to the sink in
 * one call, so escaping an ordinary header value costs little more than a copy.
 */
#include "json.h"

#include <stdint.h>
#include <string.h>

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

void json_escape(const char *s, size_t n, json_sink_fn *sink, void *ctx)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t start = 0, i = 0;

    while (i < n) {
        unsigned char c = u[i];
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        size_t esc_len = 6;

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
        /* two-character escapes where JSON has them, \u00XX for the rest */
        switch (c) {
        case '"': esc[1] = '"'; esc_len = 2; break;
        case '\\': esc[1] = '\\'; esc_len = 2; break;
        case '\n': esc[1] = 'n'; esc_len = 2; break;
        case '\r': esc[1] = 'r'; esc_len = 2; break;
        case '\t': esc[1] = 't'; esc_len = 2; break;
        default: break;
        }
        sink(ctx, s + start, i - start);
        sink(ctx, esc, esc_len);
        i++;
        start = i;
    }
    sink(ctx, s + start, n - start);
}

static void file_sink(void *ctx, const char *p, size_t len)
{
    if (len > 0)
        fwrite(p, 1, len, ctx);
}

void json_write_string(FILE *out, const char *s)
{
    if (s == NULL)
        s = "";
    fputc('"', out);
    json_escape(s, strlen(s), file_sink, out);
    fputc('"', out);
}

void json_write_member(FILE *out, const char *lead, const char *s)
{
    fputs(lead, out);
    json_write_string(out, s);
}
