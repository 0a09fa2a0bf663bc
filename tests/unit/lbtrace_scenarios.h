/*
 * lbtrace_scenarios.h - hand-made captures of lb at work, shared by lbtrace's tests and by the
 * generator of the committed fixtures in tests/fixtures/pcap/ (test_lbtrace_fixtures.c).
 */
#ifndef LBTRACE_SCENARIOS_H
#define LBTRACE_SCENARIOS_H

#include <stdio.h>
#include <string.h>

#include "lbtrace_pcapgen.h"
#include "lbtrace_tlsgen.h"

/* One proxied request: client asks lb, lb asks a backend with the id, both answer. */
static inline void scenario_proxied_request(struct pg_conn *cl, struct pg_conn *be, const char *path, const char *id,
                    const char *body)
{
    char req[512], breq[512], bres[512], cres[512];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: lb:8000\r\n\r\n", path);
    snprintf(breq, sizeof(breq),
             "GET %s HTTP/1.1\r\nHost: lb:8000\r\nX-Forwarded-For: 127.0.0.1\r\nX-Request-ID: %s\r\n\r\n",
             path, id);
    snprintf(bres, sizeof(bres), "HTTP/1.1 200 OK\r\nX-Backend: b\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    snprintf(cres, sizeof(cres),
             "HTTP/1.1 200 OK\r\nX-Backend: b\r\nX-Request-ID: %s\r\nContent-Length: %zu\r\n\r\n%s", id,
             strlen(body), body);
    pg_sends(cl, true, req);
    pg_sends(be, true, breq);
    pg_sends(be, false, bres);
    pg_sends(cl, false, cres);
}

/* lb on 8000 and backends 9001-9003 at work: keep-alive, interleaved clients, a 503 lb answers
 * itself, a health check. Writes it to path with link type link. */
static inline void scenario_lb_at_work_vlan(const char *path, int link, int vlan)
{
    struct pg *pg = pg_open(path, link);
    pg->vlan = vlan;
    struct pg_endpoint lb = pg_v4("127.0.0.1", 8000);
    /* client A: keep-alive, two requests, going to two backends */
    struct pg_conn a = pg_connect(pg, pg_v4("127.0.0.1", 40000), lb, 1000, 2000);
    struct pg_conn b1 = pg_connect(pg, pg_v4("127.0.0.1", 50001), pg_v4("127.0.0.1", 9001), 3000, 4000);
    scenario_proxied_request(&a, &b1, "/one", "id-0001", "first");
    struct pg_conn b2 = pg_connect(pg, pg_v4("127.0.0.1", 50002), pg_v4("127.0.0.1", 9002), 5000, 6000);
    scenario_proxied_request(&a, &b2, "/two", "id-0002", "second");
    /* client B interleaved with client C: responses finish in the other order */
    struct pg_conn c2 = pg_connect(pg, pg_v4("127.0.0.1", 40001), lb, 7000, 8000);
    struct pg_conn c3 = pg_connect(pg, pg_v4("127.0.0.1", 40002), lb, 9000, 10000);
    pg_sends(&c2, true, "GET /b HTTP/1.1\r\nHost: lb\r\n\r\n");
    pg_sends(&c3, true, "GET /c HTTP/1.1\r\nHost: lb\r\n\r\n");
    pg_sends(&b1, true, "GET /b HTTP/1.1\r\nHost: lb\r\nX-Request-ID: id-b\r\n\r\n");
    pg_sends(&b2, true, "GET /c HTTP/1.1\r\nHost: lb\r\nX-Request-ID: id-c\r\n\r\n");
    pg_sends(&b2, false, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc");
    pg_sends(&c3, false, "HTTP/1.1 200 OK\r\nX-Request-ID: id-c\r\nContent-Length: 1\r\n\r\nc");
    pg_sends(&b1, false, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb");
    pg_sends(&c2, false, "HTTP/1.1 200 OK\r\nX-Request-ID: id-b\r\nContent-Length: 1\r\n\r\nb");
    /* lb answers a request itself (no backend available) */
    pg_sends(&c2, true, "GET /nobody HTTP/1.1\r\nHost: lb\r\n\r\n");
    pg_sends(&c2, false, "HTTP/1.1 503 Service Unavailable\r\nX-Request-ID: id-503\r\nContent-Length: 0\r\n\r\n");
    /* lb's own health check on a backend: no client leg */
    struct pg_conn hc = pg_connect(pg, pg_v4("127.0.0.1", 50009), pg_v4("127.0.0.1", 9003), 11000, 12000);
    pg_sends(&hc, true, "GET /health HTTP/1.1\r\nHost: localhost:9003\r\n\r\n");
    pg_sends(&hc, false, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    pg_close_conn(&hc);
    pg_close_conn(&a);
    pg_close_conn(&c2);
    pg_close_conn(&c3);
    pg_close_conn(&b1);
    pg_close_conn(&b2);
    pg_close(pg);
}


static inline void scenario_lb_at_work(const char *path, int link)
{
    scenario_lb_at_work_vlan(path, link, -1);
}

/* lb's tcp mode: no request ids, one backend connection per client connection, bytes relayed
 * unchanged; two requests on it. */
static inline void scenario_tcp_mode(const char *path, int link)
{
    struct pg *pg = pg_open(path, link);
    const char *req = "GET /raw HTTP/1.1\r\nHost: lb\r\n\r\n";
    const char *res = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndata";
    struct pg_conn c = pg_connect(pg, pg_v4("127.0.0.1", 40100), pg_v4("127.0.0.1", 8000), 1, 2);
    struct pg_conn b = pg_connect(pg, pg_v4("127.0.0.1", 50100), pg_v4("127.0.0.1", 9001), 3, 4);
    for (int i = 0; i < 2; i++) {
        pg_sends(&c, true, req);
        pg_sends(&b, true, req);
        pg_sends(&b, false, res);
        pg_sends(&c, false, res);
    }
    pg_close_conn(&b);
    pg_close_conn(&c);
    pg_close(pg);
}

/* TCP at its worst on one client leg: a header block split over segments, a segment that
 * arrives before the one it follows, a retransmission, an overlapping resend; then a keep-alive
 * request whose response is cut by a RST mid-body. */
static inline void scenario_messy_tcp(const char *path, int link)
{
    struct pg *pg = pg_open(path, link);
    const char *req = "GET /messy HTTP/1.1\r\nHost: lb\r\nX-Request-ID: m-1\r\n\r\n";
    size_t n = strlen(req);
    struct pg_conn k = pg_connect(pg, pg_v6("::1", 40200), pg_v6("::1", 8000), 0xfffffff0u, 77);
    pg_send_at(&k, true, 30, req + 30, n - 30); /* out of order */
    pg_send_at(&k, true, 0, req, 12);
    pg_send_at(&k, true, 0, req, 12);           /* retransmitted */
    pg_send_at(&k, true, 8, req + 8, 22);       /* overlapping */
    k.cseq += (uint32_t)n;
    pg_sends(&k, false, "HTTP/1.1 200 OK\r\nX-Request-ID: m-1\r\nTransfer-Encoding: chunked\r\n\r\n");
    pg_sends(&k, false, "4\r\nabcd\r\n");
    pg_sends(&k, false, "0\r\n\r\n");
    pg_sends(&k, true, "GET /cut HTTP/1.1\r\nHost: lb\r\n\r\n");
    pg_sends(&k, false, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nonly this");
    pg_reset(&k, false);
    pg_close(pg);
}

/* Frames a hostile capture might hold, around one good exchange: cut headers, lying lengths,
 * non-TCP, random bytes, and a payload cut by a small snapshot length. */
static inline void scenario_garbage(const char *path)
{
    struct pg *pg = pg_open(path, PG_LINK_EN10MB);
    uint8_t junk[64];
    uint32_t x = 12345;
    for (int i = 0; i < 20; i++) { /* random frames of every length up to 64 */
        for (size_t j = 0; j < sizeof(junk); j++) {
            x = x * 1103515245u + 12345u;
            junk[j] = (uint8_t)(x >> 16);
        }
        pg_raw(pg, junk, (size_t)(i * 3 + 1));
    }
    static const uint8_t short_ip[] = {0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0};
    pg_raw(pg, short_ip, sizeof(short_ip));
    struct pg_conn k = pg_connect(pg, pg_v4("127.0.0.1", 40300), pg_v4("127.0.0.1", 8000), 5, 6);
    pg_sends(&k, true, "GET /survivor HTTP/1.1\r\nHost: lb\r\n\r\n");
    pg_sends(&k, false, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    pg->snaplen = 70; /* from here on, payloads are cut short */
    pg_sends(&k, true, "GET /truncated-by-snaplen HTTP/1.1\r\nHost: lb\r\n\r\n");
    pg_sends(&k, false, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    pg->snaplen = 0;
    pg_close_conn(&k);
    pg_close(pg);
}

/* One request over TLS on client leg cl (a flight of req_len bytes of ciphertext, the response
 * in one record of res_len) carried in clear to backend leg be with request id id. */
static inline void scenario_tls_client_request(struct pg_conn *cl, struct pg_conn *be, const char *path,
                                               const char *id, size_t req_len, size_t res_len)
{
    uint8_t rec[4096];
    char breq[512], bres[512];
    snprintf(breq, sizeof(breq),
             "GET %s HTTP/1.1\r\nHost: lb\r\nX-Forwarded-Proto: https\r\nX-Request-ID: %s\r\n\r\n",
             path, id);
    snprintf(bres, sizeof(bres), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    pg_send(cl, true, rec, tg_opaque(rec, sizeof(rec), 23, req_len));
    pg_sends(be, true, breq);
    pg_sends(be, false, bres);
    pg_send(cl, false, rec, tg_opaque(rec, sizeof(rec), 23, res_len));
}

/* lb terminating TLS, lb on 8000 (its HTTPS listener here), backends 9001-9003:
 *  - client A speaks TLS 1.3 (SNI shop.example, ALPN h2,http/1.1), two requests on one
 *    connection, each relayed in clear to 9001 with its X-Request-ID;
 *  - client B speaks plain HTTP, to 8000 as well (lbtrace tells TLS from HTTP by the first
 *    bytes, not by the port), and lb reaches backend 9002 over TLS 1.2 (ALPN http/1.1
 *    chosen): the request is readable on the client leg only;
 *  - client C offers only TLS 1.1 and gets a protocol_version alert: no request. */
static inline void scenario_tls_legs(const char *path, int link)
{
    struct pg *pg = pg_open(path, link);
    uint8_t c[4096], s[4096], r[4096];
    size_t cl, sl, n;
    struct pg_endpoint lb = pg_v4("127.0.0.1", 8000);

    struct pg_conn a = pg_connect(pg, pg_v4("127.0.0.1", 41000), lb, 100, 200);
    tg_tls13_handshake(c, sizeof(c), &cl, s, sizeof(s), &sl, "shop.example", "h2,http/1.1");
    pg_send(&a, true, c, cl);
    pg_send(&a, false, s, sl);
    n = tg_ccs(r, sizeof(r));
    n += tg_opaque(r + n, sizeof(r) - n, 23, 53); /* Finished */
    pg_send(&a, true, r, n);
    struct pg_conn b1 = pg_connect(pg, pg_v4("127.0.0.1", 51000), pg_v4("127.0.0.1", 9001), 300, 400);
    scenario_tls_client_request(&a, &b1, "/cart", "tls-1", 120, 600);
    scenario_tls_client_request(&a, &b1, "/pay", "tls-2", 140, 650);
    pg_send(&a, true, r, tg_opaque(r, sizeof(r), 23, 19)); /* close_notify */
    pg_close_conn(&a);

    struct pg_conn pb = pg_connect(pg, pg_v4("127.0.0.1", 41001), lb, 500, 600);
    pg_sends(&pb, true, "GET /plain HTTP/1.1\r\nHost: lb\r\n\r\n");
    struct pg_conn b2 = pg_connect(pg, pg_v4("127.0.0.1", 51001), pg_v4("127.0.0.1", 9002), 700, 800);
    pg_send(&b2, true, c, tg_client_hello(c, sizeof(c), "backend.internal", "http/1.1", false));
    n = tg_server_hello(s, sizeof(s), 0x0303, 0xc030, "http/1.1", false, false);
    n += tg_opaque(s + n, sizeof(s) - n, 22, 800);
    pg_send(&b2, false, s, n);
    n = tg_opaque(r, sizeof(r), 22, 37);
    n += tg_ccs(r + n, sizeof(r) - n);
    n += tg_opaque(r + n, sizeof(r) - n, 22, 40);
    pg_send(&b2, true, r, n);
    n = tg_ccs(r, sizeof(r));
    n += tg_opaque(r + n, sizeof(r) - n, 22, 40);
    pg_send(&b2, false, r, n);
    pg_send(&b2, true, r, tg_opaque(r, sizeof(r), 23, 180));
    pg_send(&b2, false, r, tg_opaque(r, sizeof(r), 23, 90));
    pg_sends(&pb, false, "HTTP/1.1 200 OK\r\nX-Request-ID: plain-1\r\nContent-Length: 5\r\n\r\nhello");
    pg_close_conn(&pb);

    struct pg_conn old = pg_connect(pg, pg_v4("127.0.0.1", 41002), lb, 900, 1000);
    n = tg_client_hello(c, sizeof(c), "", "", false);
    c[9] = 0x03; /* ClientHello.legacy_version 3.2: TLS 1.1 */
    c[10] = 0x02;
    pg_send(&old, true, c, n);
    pg_send(&old, false, r, tg_alert(r, sizeof(r), 2, 70));
    pg_close_conn(&old);
    pg_close_conn(&b1);
    pg_close_conn(&b2);
    pg_close(pg);
}

/* lb -m tcp passing TLS through: the client's TLS 1.3 bytes relayed unchanged to 9001, which
 * terminates it. */
static inline void scenario_tls_passthrough(const char *path, int link)
{
    struct pg *pg = pg_open(path, link);
    uint8_t c[4096], s[4096], r[4096];
    size_t cl, sl, n;
    struct pg_conn k = pg_connect(pg, pg_v4("127.0.0.1", 42000), pg_v4("127.0.0.1", 8000), 1, 2);
    struct pg_conn b = pg_connect(pg, pg_v4("127.0.0.1", 52000), pg_v4("127.0.0.1", 9001), 3, 4);
    tg_tls13_handshake(c, sizeof(c), &cl, s, sizeof(s), &sl, "direct.example", "http/1.1");
    pg_send(&k, true, c, cl);
    pg_send(&b, true, c, cl);
    pg_send(&b, false, s, sl);
    pg_send(&k, false, s, sl);
    n = tg_ccs(r, sizeof(r));
    n += tg_opaque(r + n, sizeof(r) - n, 23, 53);
    n += tg_opaque(r + n, sizeof(r) - n, 23, 110);
    pg_send(&k, true, r, n);
    pg_send(&b, true, r, n);
    n = tg_opaque(r, sizeof(r), 23, 700);
    pg_send(&b, false, r, n);
    pg_send(&k, false, r, n);
    pg_close_conn(&b);
    pg_close_conn(&k);
    pg_close(pg);
}

#endif
