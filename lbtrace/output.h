/*
 * output.h - what lbtrace prints: the three views and JSON.
 *
 *   --view l4    one compact line per TCP segment (like tcpdump: time, connection, addresses,
 *                flags, relative seq/ack, length, retransmission and out-of-order marks) and a
 *                summary line when a connection closes;
 *   --view l7    one line per request, like an access log, client leg then backend leg;
 *   --view both  a block per request: the client leg and the backend leg, each with an L4 line
 *                (addresses, handshake, segments, bytes, FIN/RST) and an L7 line (method, path,
 *                Host, status, size, time), in aligned columns so the legs compare at a glance.
 *   --json       one JSON object per line: per request (l7, both) or per segment and per closed
 *                connection (l4).
 * When lb runs in tcp mode (-m tcp) it balances connections, not requests: the l7 and both views
 * then show one relayed connection at a time (connpair.h), both legs, the bytes each way on each
 * and the requests the client sent on it, all carried to the one backend.
 * A backend leg's server is shown with the name lb gives the backend (flow.name, "127.0.0.1:3001
 * (b1)"; JSON: "backend_name") when lbtrace knows it, by its address alone otherwise.
 * A leg carrying TLS (flow.tls) is shown by what its records tell (tlsrec.h): handshake, SNI,
 * ALPN, records and bytes, and that its payload cannot be read; JSON: a "tls" object per leg.
 * Colour (ANSI) only when asked, which main does when stdout is a terminal.
 */
#ifndef LBTRACE_OUTPUT_H
#define LBTRACE_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include "connpair.h"
#include "decode.h"
#include "flow.h"
#include "pair.h"

enum output_view { OUTPUT_L4, OUTPUT_L7, OUTPUT_BOTH };

struct output_opts {
    enum output_view view;
    bool json;
    bool color;
    FILE *out;
};

/* Parses "l4", "l7" or "both". Returns 0 or -EINVAL. */
int output_parse_view(const char *s, enum output_view *view);

/* --view l4: one segment of flow f in direction dir. */
void output_segment(const struct output_opts *o, const struct flow *f, int dir,
                    const struct decode_packet *p, enum reasm_verdict verdict, uint64_t ts);

/* --view l4: the summary of a closed connection; requests is how many HTTP requests it had. */
void output_flow_closed(const struct output_opts *o, const struct flow *f, unsigned requests);

/* --view l7 / both: one request record. */
void output_record(const struct output_opts *o, const struct pair_record *r);

/* lb -m tcp, --view l7 / both: one relayed connection, both legs and the requests on it. */
void output_connection(const struct output_opts *o, const struct connpair_record *r);

/* lb -m tcp, text views: says once that lb did not read the requests shown. */
void output_tcp_mode_note(const struct output_opts *o);

/* Formats a capture time (ns since the epoch) as local "HH:MM:SS.uuuuuu". Returns buf. */
char *output_clock(uint64_t ts, char *buf, size_t len);

#endif
