/* The HTTP/1.1 server against the requirements RFC 9110 and RFC 9112 put
 * on servers, one table row per statement: the raw bytes a client sends,
 * the statuses that must come back, and whether the connection must then
 * close or stay open for another request. Each row cites the statement it
 * checks ("RFC 9112 6.3 (5)" is section 6.3, the fifth item of its list), and
 * where the RFC leaves a choice (MAY, SHOULD) the row says which one weft
 * made. The rows come from reading the RFCs, not from any other test
 * suite. The last case holds the client's side where it is cheap: the
 * message length rules of RFC 9112 section 6.3, on the response parser.
 *
 * The server runs a small app (conf_app): it reads the body whole and
 * answers "METHOD PATH HOST BODY", with "[value]" for an X-Echo field;
 * /204, /304 and /stream and /noread answer as their names say. Every row
 * runs on a fresh loopback connection; "kept" is checked by sending one
 * more request on it and getting its answer, "closed" by reading EOF with
 * no byte before it. The limits are set low (a 1 KiB request line, 4 KiB
 * head, 32 fields, 1 KiB body) so that rows passing them stay small. */
#include "test.h"

#include "parse.h"

#include <weft/httpd.h>
#include <weft/io.h>
#include <weft/net.h>

#include <stdbool.h>
#include <sys/socket.h>

/* ------------------------------------------------------------- the app */

static int conf_app(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)arg;
    const char *path = weft_httpd_req_path(req);
    if (!strcmp(path, "/204")) return weft_httpd_res_send(res, 204, NULL, "x", 1);
    if (!strcmp(path, "/304")) return weft_httpd_res_send(res, 304, NULL, "x", 1);
    if (!strcmp(path, "/noread")) return weft_httpd_res_send(res, 200, "text/plain", "noread", 6);
    if (!strcmp(path, "/stream")) {
        int err = weft_httpd_res_write(res, "ab", 2);
        if (!err) err = weft_httpd_res_write(res, "c", 1);
        return err ? err : weft_httpd_res_end(res);
    }
    const void *body;
    size_t len;
    int err = weft_httpd_req_body(req, &body, &len);
    if (err) return err;
    const char *host = weft_httpd_req_host(req), *echo = weft_httpd_req_header(req, "X-Echo");
    char out[2048];
    int n = snprintf(out, sizeof out, "%s %s %s %.*s%s%s%s", weft_httpd_req_method(req), path,
                     host ? host : "-", (int)len, (const char *)body, echo ? "[" : "",
                     echo ? echo : "", echo ? "]" : "");
    return weft_httpd_res_send(res, 200, "text/plain", out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
}

/* ------------------------------------------------------------ the table */

enum { KEPT = 1, CLOSED };

typedef struct rule {
    const char *group;   /* the case (TEST) that runs it */
    const char *cite;    /* the statement checked, and the choice made */
    const char *req;     /* the bytes sent, at once */
    size_t req_len;      /* 0: strlen(req) (set it for bytes with a NUL) */
    const char *expect;  /* the statuses that must come, in order ("100 200") */
    int after;           /* KEPT or CLOSED */
    const char *body;    /* the last response's body, or NULL: not checked */
    const char *has;     /* text its head must hold ("Connection: close"), or NULL */
    const char *lacks;   /* field names its head must not hold, "|"-separated */
    const char *then;    /* bytes sent once an interim (1xx) response came */
} rule;

#define H "Host: x\r\n"
#define G1 "GET / HTTP/1.1\r\n" H

/* Rows that need long or odd bytes point at these, filled by fill(). */
static char long_target[1200], long_method[1200], long_field[4200], many_fields[1400];
static char long_ext[4300], big_chunk[2300];
static const char nul_value[] = "GET /n HTTP/1.1\r\n" H "X-A: a\0b\r\n\r\n";
static const char nul_target[] = "GET /a\0b HTTP/1.1\r\n" H "\r\n";

static void fill(void) {
    char pad[1100];
    memset(pad, 'a', sizeof pad - 1);
    pad[sizeof pad - 1] = 0;
    snprintf(long_target, sizeof long_target, "GET /%s HTTP/1.1\r\n" H "\r\n", pad);
    snprintf(long_method, sizeof long_method, "%s / HTTP/1.1\r\n" H "\r\n", pad);
    char big[4100];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = 0;
    snprintf(long_field, sizeof long_field, "GET / HTTP/1.1\r\n" H "X-Big: %s\r\n\r\n", big);
    strcpy(many_fields, "GET / HTTP/1.1\r\n" H);
    for (int i = 0; i < 40; i++)
        snprintf(many_fields + strlen(many_fields), sizeof many_fields - strlen(many_fields), "X-%d: y\r\n", i);
    strcat(many_fields, "\r\n");
    /* 0x7d0 = 2000 bytes of data: past the 1 KiB max_body. */
    memset(pad, 'x', 1000);
    pad[1000] = 0;
    snprintf(big_chunk, sizeof big_chunk, "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
             "7d0\r\n%s%s\r\n0\r\n\r\n", pad, pad);
    memset(big, 'e', sizeof big - 1);
    snprintf(long_ext, sizeof long_ext, "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
             "1;%s\r\nx\r\n0\r\n\r\n", big);
}

static const rule rules[] = {
    /* ------------------------------------------- messages and request lines */
    { "line", "RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request-line (weft: any number)",
      "\r\n\r\nGET /a HTTP/1.1\r\n" H "\r\n", 0, "200", KEPT, "GET /a x ", 0, 0, 0 },
    { "line", "RFC 9112 2.2: a bare CR MUST be taken as invalid or replaced by SP (weft: invalid, 400)",
      "GET /a HTTP/1.1\r\n" H "X-A: a\rb\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "line", "RFC 9112 2.2: the same for a bare CR in the request-line",
      "GET /a\r HTTP/1.1\r\n" H "\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "line", "RFC 9112 2.2: a recipient MAY take a bare LF for a line end (weft does not: 400)",
      "GET / HTTP/1.1\n" H "\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "line", "RFC 9112 2.2: whitespace between the start-line and the first field MUST be rejected or its line consumed (weft: 400)",
      "GET / HTTP/1.1\r\n " H "\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "line", "RFC 9112 2.2: bytes that do not match the grammar: a server SHOULD answer 400 and close",
      G1 "no colon here\r\n\r\n", 0, "400", CLOSED, 0, "Connection: close", 0, 0 },
    { "line", "RFC 9112 2.3: HTTP-name is case-sensitive",
      "GET / http/1.1\r\n" H "\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "line", "RFC 9112 2.3: HTTP-version is one digit, a dot, one digit",
      "GET / HTTP/1.10\r\n" H "\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "line", "RFC 9110 2.5: a higher minor version SHOULD be processed as the highest the server conforms to (weft: as 1.1, kept alive by default)",
      "GET /v HTTP/1.2\r\n" H "\r\n", 0, "200", KEPT, "GET /v x ", "HTTP/1.1 200", 0, 0 },
    { "line", "RFC 9110 2.5, 15.6.6: a major version the server does not support is 505",
      "GET / HTTP/2.0\r\n" H "\r\n", 0, "505", CLOSED, 0, 0, 0, 0 },
    { "line", "RFC 9110 2.5: a server SHOULD answer with the highest version it conforms to within the request's major version (HTTP/1.1 to 1.0)",
      "GET /o HTTP/1.0\r\n\r\n", 0, "200", CLOSED, "GET /o - ", "HTTP/1.1 200", 0, 0 },
    { "line", "RFC 9112 3: one SP between the parts; RFC 9112 3: an invalid request-line SHOULD get 400",
      "GET  / HTTP/1.1\r\n" H "\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "line", "RFC 9112 3: a recipient MAY take other whitespace for SP (weft does not: 400, the leniency the RFC warns invites smuggling)",
      "GET\t/ HTTP/1.1\r\n" H "\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "line", "RFC 9112 3: nor trailing whitespace",
      "GET / HTTP/1.1 \r\n" H "\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "line", "RFC 9112 3: a target with a space is an invalid request-line: 400, not autocorrected",
      "GET /a b HTTP/1.1\r\n" H "\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "line", "RFC 9112 3.2: a NUL in the target is no request-target",
      nul_target, sizeof nul_target - 1, "400", CLOSED, 0, 0, 0, 0 },
    { "line", "RFC 9112 3.2, RFC 3986 3.5: a fragment is never part of a request-target (400)",
      "GET /a#b HTTP/1.1\r\n" H "\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "line", "RFC 9110 5.6.2, 9.1: the method is a token",
      "GE@T / HTTP/1.1\r\n" H "\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "line", "RFC 9110 9.1: the method is case-sensitive (\"get\" is not GET; the app sees it as sent)",
      "get /m HTTP/1.1\r\n" H "\r\n", 0, "200", KEPT, "get /m x ", 0, 0, 0 },
    { "line", "RFC 9112 3.2.2: a server MUST accept the absolute-form",
      "GET http://x/abs?q=1 HTTP/1.1\r\n" H "\r\n", 0, "200", KEPT, "GET /abs x ", 0, 0, 0 },
    { "line", "RFC 9112 3.2.2: an origin server MUST ignore Host for an absolute-form target and use the target's authority",
      "GET http://a.example:8/p HTTP/1.1\r\nHost: other\r\n\r\n", 0, "200", KEPT, "GET /p a.example:8 ", 0, 0, 0 },
    { "line", "RFC 9112 3.2.2: an empty path in absolute-form is \"/\" (RFC 9110 4.2.3: http://x and http://x/ are one)",
      "GET http://x HTTP/1.1\r\n" H "\r\n", 0, "200", KEPT, "GET / x ", 0, 0, 0 },
    { "line", "RFC 9110 4.2.4: userinfo in an http target SHOULD be treated as an error (400)",
      "GET http://u@x/ HTTP/1.1\r\n" H "\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "line", "RFC 9112 3.2.3: the authority-form is only for CONNECT (400)",
      "GET x:80 HTTP/1.1\r\n" H "\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "line", "RFC 9112 3.2.4: the asterisk-form is only for OPTIONS (400)",
      "GET * HTTP/1.1\r\n" H "\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "line", "RFC 9112 3.2.4, RFC 9110 9.3.7: OPTIONS * reaches the app",
      "OPTIONS * HTTP/1.1\r\n" H "\r\n", 0, "200", KEPT, "OPTIONS * x ", 0, 0, 0 },
    { "line", "RFC 9110 9.1, 9.3.6: a method the server does not implement SHOULD be 501: CONNECT (weft makes no tunnels)",
      "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", 0, "501", CLOSED, 0, 0, 0, 0 },

    /* ------------------------------------------------------ fields, Host */
    { "fields", "RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request without Host",
      "GET / HTTP/1.1\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "fields", "RFC 9112 3.2: ... and to more than one Host field line (the same value too)",
      G1 H "\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "fields", "RFC 9112 3.2: ... and to a Host that is not a valid value (uri-host [\":\" port])",
      "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "fields", "RFC 9112 3.2: ... a port that is not digits",
      "GET / HTTP/1.1\r\nHost: x:8o\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "fields", "RFC 9112 3.2, RFC 9110 4.2.4: ... userinfo",
      "GET / HTTP/1.1\r\nHost: u@x\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "fields", "RFC 9110 4.2.1: an http URI with an empty host MUST be rejected as invalid: an empty Host is 400",
      "GET / HTTP/1.1\r\nHost:\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "fields", "RFC 9112 3.2: Host is required of HTTP/1.1 only: an HTTP/1.0 request may lack it",
      "GET /h HTTP/1.0\r\n\r\n", 0, "200", CLOSED, "GET /h - ", 0, 0, 0 },
    { "fields", "RFC 9110 7.2: an IP literal and a port are a Host",
      "GET /6 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 0, "200", KEPT, "GET /6 [::1]:8080 ", 0, 0, 0 },
    { "fields", "RFC 9112 5.1: a server MUST reject whitespace between a field name and the colon with 400",
      "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "fields", "RFC 9112 5.1: ... a tab too",
      G1 "X-Echo\t: v\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "fields", "RFC 9112 5.2: obs-fold in a request MUST be rejected (400) or replaced by SP (weft: 400)",
      G1 "X-Echo: a\r\n b\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "fields", "RFC 9112 5.2: ... folded with a tab",
      G1 "X-Echo: a\r\n\tb\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "fields", "RFC 9110 5.5: a NUL in a value MUST be rejected or replaced by SP (weft: 400)",
      nul_value, sizeof nul_value - 1, "400", CLOSED, 0, 0, 0, 0 },
    { "fields", "RFC 9110 5.5: other control characters MAY be kept in a safe context (weft rejects them: 400)",
      G1 "X-Echo: a\x01" "b\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "fields", "RFC 9110 5.1, 5.6.2: a field name is a token (RFC 9112 2.2: 400)",
      G1 "X@Y: v\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "fields", "RFC 9110 5.1: ... never empty",
      G1 ": v\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "fields", "RFC 9112 5, RFC 9110 5.5: whitespace around a value is not part of it",
      G1 "X-Echo: \t v a l \t \r\n\r\n", 0, "200", KEPT, "GET / x [v a l]", 0, 0, 0 },
    { "fields", "RFC 9110 5.5: obs-text and HTAB are field-vchars",
      G1 "X-Echo: caf\xc3\xa9\tok\r\n\r\n", 0, "200", KEPT, "GET / x [caf\xc3\xa9\tok]", 0, 0, 0 },
    { "fields", "RFC 9110 5.5: an empty value is a value",
      G1 "X-Echo:\r\n\r\n", 0, "200", KEPT, "GET / x []", 0, 0, 0 },
    { "fields", "RFC 9110 5.1: field names are case-insensitive",
      "GET / HTTP/1.1\r\nhOsT: x\r\nx-ECHO: v\r\n\r\n", 0, "200", KEPT, "GET / x [v]", 0, 0, 0 },

    /* ------------------------------------------------ message body length */
    { "length", "RFC 9112 6.3 (7): a request with neither Content-Length nor Transfer-Encoding has no body",
      "POST /nb HTTP/1.1\r\n" H "\r\nGET /next HTTP/1.1\r\n" H "\r\n", 0, "200 200", KEPT, "GET /next x ", 0, 0, 0 },
    { "length", "RFC 9112 6.3 (6): a valid Content-Length gives the body's length",
      "POST /cl HTTP/1.1\r\n" H "Content-Length: 5\r\n\r\nhello", 0, "200", KEPT, "POST /cl x hello", 0, 0, 0 },
    { "length", "RFC 9112 6.3 (6): Content-Length: 0",
      "POST /z HTTP/1.1\r\n" H "Content-Length: 0\r\n\r\n", 0, "200", KEPT, "POST /z x ", 0, 0, 0 },
    { "length", "RFC 9110 8.6: leading zeros are digits",
      "POST /lz HTTP/1.1\r\n" H "Content-Length: 005\r\n\r\nhello", 0, "200", KEPT, "POST /lz x hello", 0, 0, 0 },
    { "length", "RFC 9112 6.3 (5): an invalid Content-Length in a request MUST be 400, then close",
      "POST / HTTP/1.1\r\n" H "Content-Length: abc\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "length", "RFC 9112 6.3 (5), RFC 9110 8.6: Content-Length = 1*DIGIT: no sign",
      "POST / HTTP/1.1\r\n" H "Content-Length: +5\r\n\r\nhello", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "length", "RFC 9112 6.3 (5): ... not empty",
      "POST / HTTP/1.1\r\n" H "Content-Length:\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "length", "RFC 9112 6.3 (5): ... different values, in a list",
      "POST / HTTP/1.1\r\n" H "Content-Length: 5, 6\r\n\r\nhello!", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "length", "RFC 9112 6.3 (5): ... different values, in two fields",
      "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "length", "RFC 9110 8.6: the same value repeated MAY be rejected or taken once (weft: a request's is 400, as nginx)",
      "POST / HTTP/1.1\r\n" H "Content-Length: 5, 5\r\n\r\nhello", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "length", "RFC 9110 8.6: ... repeated as fields (400)",
      "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "length", "RFC 9110 8.6: a recipient MUST anticipate large numerals and prevent overflow (400)",
      "POST / HTTP/1.1\r\n" H "Content-Length: 99999999999999999999999\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "length", "RFC 9112 6.1: with both Transfer-Encoding and Content-Length a server MAY reject, and MUST close after responding (weft: 400)",
      "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "length", "RFC 9112 6.3 (4): a request whose final coding is not chunked MUST be 400, then close",
      "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "length", "RFC 9112 6.3 (4): ... chunked, then another coding",
      "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, gzip\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "length", "RFC 9112 6.3 (4): ... over two fields, the last one's last coding counts",
      "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "length", "RFC 9112 6.1: a transfer coding the server does not understand SHOULD be 501",
      "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 0, "501", CLOSED, 0, 0, 0, 0 },
    { "length", "RFC 9112 6.1: chunked MUST NOT be applied twice (400)",
      "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "length", "RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 MUST be taken as faulty framing, and the connection closed (weft: 400)",
      "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "length", "RFC 9112 7: transfer-coding names are case-insensitive",
      "POST /ci HTTP/1.1\r\n" H "Transfer-Encoding: Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", 0, "200", KEPT, "POST /ci x x", 0, 0, 0 },
    { "length", "RFC 9112 6.3: a body that stops short of its Content-Length is incomplete: the connection MUST close (weft: 408 at body_timeout)",
      "POST / HTTP/1.1\r\n" H "Content-Length: 10\r\n\r\nabc", 0, "408", CLOSED, 0, 0, 0, 0 },
    { "length", "RFC 9112 6.1: a server MUST NOT send Transfer-Encoding to an HTTP/1.0 request (a streamed body ends at the close)",
      "GET /stream HTTP/1.0\r\n\r\n", 0, "200", CLOSED, "abc", 0, "Transfer-Encoding", 0 },
    { "length", "RFC 9112 7: a streamed response to HTTP/1.1 is chunked, and the connection kept",
      "GET /stream HTTP/1.1\r\n" H "\r\n", 0, "200", KEPT, "abc", "Transfer-Encoding: chunked", 0, 0 },
    { "length", "RFC 9112 9.3: a server MUST read the whole body or close after its response (weft reads a small one)",
      "POST /noread HTTP/1.1\r\n" H "Content-Length: 5\r\n\r\nhello", 0, "200", KEPT, "noread", 0, 0, 0 },

    /* ---------------------------------------------------------- chunked */
    { "chunked", "RFC 9112 7.1: a recipient MUST be able to parse chunked",
      "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 0,
      "200", KEPT, "POST /c x hello world", 0, 0, 0 },
    { "chunked", "RFC 9112 7.1: chunk-size is HEXDIG, either case, leading zeros allowed",
      "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n00A\r\n0123456789\r\nb\r\nabcdefghijk\r\n000\r\n\r\n", 0,
      "200", KEPT, "POST /c x 0123456789abcdefghijk", 0, 0, 0 },
    { "chunked", "RFC 9112 7.1: an empty body is the last-chunk alone",
      "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, "200", KEPT, "POST /c x ", 0, 0, 0 },
    { "chunked", "RFC 9112 7.1: a recipient MUST anticipate large numerals and prevent overflow (400)",
      "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nx\r\n0\r\n\r\n", 0,
      "400", CLOSED, 0, 0, 0, 0 },
    { "chunked", "RFC 9112 7.1: a chunk-size is hex digits only (400)",
      "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "chunked", "RFC 9112 7.1: ... unsigned (400)",
      "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "chunked", "RFC 9112 7.1: chunk-data is followed by CRLF (400 otherwise)",
      "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "chunked", "RFC 9112 7.1, 2.2: a bare LF ending a chunk-size line (weft: 400)",
      "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "chunked", "RFC 9112 7.1.1: a recipient MUST ignore unrecognized chunk extensions",
      "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5;a=b;c\r\nhello\r\n0;d=\"q\\\"x\"\r\n\r\n", 0,
      "200", KEPT, "POST /c x hello", 0, 0, 0 },
    { "chunked", "RFC 9112 7.1.1, RFC 9110 5.6.3: BWS around \";\" and \"=\" MUST be parsed and removed",
      "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5 ; a = b\r\nhello\r\n0\r\n\r\n", 0,
      "200", KEPT, "POST /c x hello", 0, 0, 0 },
    { "chunked", "RFC 9112 7.1.1: an extension is \";\" and a token name: a bare \";\" is 400",
      "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "chunked", "RFC 9112 7.1.1: ... a name that is no token is 400",
      "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5;a[b]\r\nhello\r\n0\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "chunked", "RFC 9112 7.1.1: ... a value is a token or a quoted-string (unclosed: 400)",
      "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n0\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "chunked", "RFC 9112 7.1.1: a server ought to limit extensions' length and answer 4xx past it (weft: 4 KiB a line, 400)",
      long_ext, 0, "400", CLOSED, 0, 0, 0, 0 },
    { "chunked", "RFC 9112 7.1.2, RFC 9110 6.5.1: trailer fields MAY be discarded; one that names framing changes nothing",
      "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\nContent-Length: 99\r\n\r\n", 0,
      "200", KEPT, "POST /c x hello", 0, 0, 0 },
    { "chunked", "RFC 9112 7.1.2, 5.2: a trailer field line is a field line: obs-fold in one is 400",
      "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n 2\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "chunked", "RFC 9112 7.1.2: ... and without a colon is 400",
      "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n0\r\nX-T\r\n\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "chunked", "RFC 9112 6.3 (4), 7.1: a malformed chunked body is a framing error (400) even when the app answers without reading it",
      "POST /noread HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n", 0, "400", CLOSED, 0, 0, 0, 0 },
    { "chunked", "RFC 9110 15.5.14: a chunked body larger than the server will take is 413",
      big_chunk, 0, "413", CLOSED, 0, 0, 0, 0 },

    /* ---------------------------------------------------- connections */
    { "conn", "RFC 9112 9.3: HTTP/1.1 persists by default",
      G1 "\r\n", 0, "200", KEPT, 0, 0, "Connection", 0 },
    { "conn", "RFC 9112 9.6: after a request with \"close\" a server MUST close after its response, and SHOULD say \"close\"",
      G1 "Connection: close\r\n\r\n", 0, "200", CLOSED, 0, "Connection: close", 0, 0 },
    { "conn", "RFC 9112 9.6: ... and MUST NOT process a request that follows it",
      G1 "Connection: close\r\n\r\nGET /after HTTP/1.1\r\n" H "\r\n", 0, "200", CLOSED, "GET / x ", 0, 0, 0 },
    { "conn", "RFC 9110 7.6.1: connection options are case-insensitive, and a list",
      G1 "Connection: keep-alive, CLOSE\r\n\r\n", 0, "200", CLOSED, 0, "Connection: close", 0, 0 },
    { "conn", "RFC 9112 9.3: HTTP/1.0 without keep-alive closes",
      "GET /o HTTP/1.0\r\n\r\n", 0, "200", CLOSED, 0, "Connection: close", 0, 0 },
    { "conn", "RFC 9112 9.3, C.2.2: HTTP/1.0 with keep-alive MAY persist (weft: it does, and says so)",
      "GET /o HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0, "200", KEPT, 0, "Connection: keep-alive", 0, 0 },
    { "conn", "RFC 9112 9.3.2: pipelined requests get their responses in the order they came",
      "GET /1 HTTP/1.1\r\n" H "\r\nPOST /2 HTTP/1.1\r\n" H "Content-Length: 1\r\n\r\nxGET /3 HTTP/1.1\r\n" H "\r\n", 0,
      "200 200 200", KEPT, "GET /3 x ", 0, 0, 0 },
    { "conn", "RFC 9112 9.6: a server that sends \"close\" (an error) MUST close and process nothing after",
      "GET / HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n" H "\r\n", 0, "400", CLOSED, 0, "Connection: close", 0, 0 },

    /* -------------------------------------------------- semantics, limits */
    { "semantics", "RFC 9110 9.3.2: a server MUST NOT send content in a response to HEAD",
      "HEAD /h HTTP/1.1\r\n" H "\r\n", 0, "200", KEPT, "", 0, 0, 0 },
    { "semantics", "RFC 9110 9.3.2: it SHOULD send the header fields a GET would get (Content-Length too)",
      "HEAD /h HTTP/1.1\r\n" H "\r\n", 0, "200", KEPT, "", "Content-Length: 10", 0, 0 },
    { "semantics", "RFC 9110 9.3.2: ... a streamed response's neither",
      "HEAD /stream HTTP/1.1\r\n" H "\r\n", 0, "200", KEPT, "", 0, 0, 0 },
    { "semantics", "RFC 9110 9.3.2: ... nor an error the server answers itself",
      "HEAD / HTTP/1.1\r\n\r\n", 0, "400", CLOSED, "", 0, 0, 0 },
    { "semantics", "RFC 9110 15.3.5: a 204 has no content; RFC 9110 8.6 and RFC 9112 6.1: nor Content-Length or Transfer-Encoding",
      "GET /204 HTTP/1.1\r\n" H "\r\n", 0, "204", KEPT, "", 0, "Content-Length|Transfer-Encoding", 0 },
    { "semantics", "RFC 9110 15.4.5: a 304 has no content",
      "GET /304 HTTP/1.1\r\n" H "\r\n", 0, "304", KEPT, "", 0, "Transfer-Encoding", 0 },
    { "semantics", "RFC 9110 6.6.1: an origin server with a clock MUST send Date in 2xx",
      G1 "\r\n", 0, "200", KEPT, 0, "\r\nDate: ", 0, 0 },
    { "semantics", "RFC 9110 6.6.1: ... and 4xx responses",
      "GET / HTTP/1.1\r\n\r\n", 0, "400", CLOSED, 0, "\r\nDate: ", 0, 0 },
    { "semantics", "RFC 9110 10.1.1: a 100-continue expectation is answered 100 before the body is read",
      "POST /e HTTP/1.1\r\n" H "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n", 0, "100 200", KEPT,
      "POST /e x hello", 0, 0, "hello" },
    { "semantics", "RFC 9110 10.1.1, 15.2: a 100-continue in HTTP/1.0 MUST be ignored: no 1xx to an HTTP/1.0 client",
      "POST /e HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello", 0, "200", CLOSED, "POST /e - hello", 0, 0, 0 },
    { "semantics", "RFC 9110 10.1.1: another expectation MAY be 417 (weft ignores it)",
      "POST /e HTTP/1.1\r\n" H "Content-Length: 5\r\nExpect: other\r\n\r\nhello", 0, "200", KEPT, "POST /e x hello", 0, 0, 0 },
    { "semantics", "RFC 9110 10.1.1: a final status before the body SHOULD say whether the connection closes (weft: close)",
      "POST /noread HTTP/1.1\r\n" H "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n", 0, "200", CLOSED, "noread",
      "Connection: close", 0, 0 },
    { "semantics", "RFC 9110 15.5.14: content larger than the server will take: 413 (and the connection closed)",
      "POST / HTTP/1.1\r\n" H "Content-Length: 2000\r\n\r\n", 0, "413", CLOSED, 0, 0, 0, 0 },
    { "semantics", "RFC 9112 3.2, RFC 9110 15.5.15: a target longer than the server will parse MUST be 414",
      long_target, 0, "414", CLOSED, 0, 0, 0, 0 },
    { "semantics", "RFC 9112 3: a method longer than any implemented SHOULD be 501 (weft: 414, a request line over its limit)",
      long_method, 0, "414", CLOSED, 0, 0, 0, 0 },
    { "semantics", "RFC 9110 5.4: a field line larger than the server will process MUST be a 4xx (431)",
      long_field, 0, "431", CLOSED, 0, 0, 0, 0 },
    { "semantics", "RFC 9110 5.4: ... and so must a set of fields (431)",
      many_fields, 0, "431", CLOSED, 0, 0, 0, 0 },
};

/* ------------------------------------------------------------ the runner */

typedef struct conn {
    int fd;
    char buf[16384];
    size_t len, pos;   /* bytes read; bytes taken by responses */
} conn;

/* Reads more, within 3 s: the count, 0 at EOF or a reset, -1 at the deadline. */
static ssize_t more(conn *c) {
    if (c->len == sizeof c->buf - 1) return -1;
    weft_scope sc;
    weft_timeout_enter(&sc, 3 * WEFT_SECOND);
    ssize_t n = weft_read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
    int err = weft_scope_leave(&sc);
    if (n == -ECONNRESET) n = 0;
    if (err || n < 0) return -1;
    c->len += (size_t)n;
    c->buf[c->len] = 0;
    return n;
}

typedef struct resp {
    int status;
    char head[2048];
    size_t head_len;
    char body[4096];
    size_t body_len;
} resp;

/* The chunked body at the connection's position into r. */
static const char *read_chunked(conn *c, resp *r) {
    weft__chunked ck = { 0 };
    while (!ck.done) {
        const char *d;
        size_t dlen;
        ssize_t k = weft__chunked_step(&ck, c->buf + c->pos, c->len - c->pos, SIZE_MAX, &d, &dlen);
        if (k < 0) return "a malformed chunked body";
        if (dlen && r->body_len + dlen < sizeof r->body) memcpy(r->body + r->body_len, d, dlen), r->body_len += dlen;
        c->pos += (size_t)k;
        if (k == 0 && more(c) <= 0) return "the connection ended inside a chunked body";
    }
    return NULL;
}

/* Reads the next response (interim ones too) into r: NULL, or what went wrong. */
static const char *read_response(conn *c, const char *method, resp *r) {
    static weft__hdr hdrs[64];
    static const weft__http_limits lim = { 8192, 16384, 64 };
    weft__http_head h = { .hdrs = hdrs, .hdrs_cap = 64 };
    ssize_t n;
    while ((n = weft__http_parse_response(c->buf + c->pos, c->len - c->pos, &h, method, &lim)) == 0)
        if (more(c) <= 0) return c->len == c->pos ? "no response (the connection ended or went quiet)"
                                                  : "an incomplete response head";
    if (n < 0) return "a malformed response head";
    r->status = h.status, r->body_len = 0;
    r->head_len = (size_t)n < sizeof r->head ? (size_t)n : sizeof r->head;
    memcpy(r->head, c->buf + c->pos, r->head_len);
    c->pos += (size_t)n;
    if (h.body == WEFT__BODY_CHUNKED) return read_chunked(c, r);
    if (h.body == WEFT__BODY_CLOSE) while (more(c) > 0) {}
    uint64_t want = h.body == WEFT__BODY_LENGTH ? h.content_length : h.body == WEFT__BODY_CLOSE ? c->len - c->pos : 0;
    while (c->len - c->pos < want)
        if (more(c) <= 0) return "the connection ended inside a body";
    r->body_len = want < sizeof r->body ? (size_t)want : sizeof r->body - 1;
    memcpy(r->body, c->buf + c->pos, r->body_len);
    c->pos += (size_t)want;
    return NULL;
}

static bool head_has(const resp *r, const char *text) {
    return memmem(r->head, r->head_len, text, strlen(text)) != NULL;
}

/* Whether the head names any of the "|"-separated fields. */
static bool head_names_any(const resp *r, const char *names) {
    char name[64];
    for (const char *p = names; *p;) {
        size_t n = strcspn(p, "|");
        snprintf(name, sizeof name, "\r\n%.*s:", (int)n, p);
        if (head_has(r, name)) return true;
        p += n + (p[n] == '|');
    }
    return false;
}

/* The method the responses answer, for their framing (HEAD's have no body). */
static const char *method_of(const char *req) {
    while (*req == '\r' || *req == '\n') req++;
    return !strncmp(req, "HEAD ", 5) ? "HEAD" : "GET";
}

/* Checks the connection is closed (nothing but EOF comes) or kept (another
 * request is answered). */
static const char *check_after(conn *c, int after) {
    if (c->pos != c->len) return "bytes after the last response";
    if (after == CLOSED) {
        ssize_t n = more(c);
        return n == 0 ? NULL : n > 0 ? "bytes after the last response" : "the connection stayed open";
    }
    static const char probe[] = "GET /probe HTTP/1.1\r\nHost: x\r\n\r\n";
    if (weft_write(c->fd, probe, sizeof probe - 1) != (ssize_t)sizeof probe - 1) return "the connection was closed";
    resp r;
    const char *why = read_response(c, "GET", &r);
    if (why) return "the connection was not kept: no answer to a next request";
    static const char answer[] = "GET /probe x ";
    return r.status == 200 && r.body_len == sizeof answer - 1 && !memcmp(r.body, answer, r.body_len) ? NULL
           : "a wrong answer to a next request";
}

/* Runs one rule on a fresh connection: NULL, or what went wrong. */
static const char *run_rule(int port, const rule *u, resp *r) {
    conn *c = calloc(1, sizeof *c);
    ASSERT(c);
    char p[8];
    snprintf(p, sizeof p, "%d", port);
    ASSERT_ERR(weft_tcp_connect("127.0.0.1", p, &c->fd), 0);
    size_t len = u->req_len ? u->req_len : strlen(u->req);
    ASSERT_EQ(weft_write(c->fd, u->req, len), (ssize_t)len);
    const char *why = NULL, *method = method_of(u->req);
    static char msg[128];
    r->head_len = 0;
    for (char *e = (char *)u->expect; *e && !why;) {
        int want = (int)strtol(e, &e, 10);
        why = read_response(c, method, r);
        if (!why && r->status != want) {
            snprintf(msg, sizeof msg, "status %d where %d was due", r->status, want);
            why = msg;
        }
        if (!why && want / 100 == 1 && u->then)
            ASSERT_EQ(weft_write(c->fd, u->then, strlen(u->then)), (ssize_t)strlen(u->then));
    }
    if (!why && u->body && (r->body_len != strlen(u->body) || memcmp(r->body, u->body, r->body_len)))
        why = "a wrong body";
    if (!why && u->has && !head_has(r, u->has)) why = "a field (or status line) missing from the head";
    if (!why && u->after == CLOSED && !head_has(r, "Connection: close")) why = "no \"Connection: close\" before the close";
    if (!why && u->lacks && head_names_any(r, u->lacks)) why = "a field the head must not have";
    if (!why) why = check_after(c, u->after);
    weft_close(c->fd);
    free(c);
    return why;
}

static void show(const char *s, size_t n) {
    for (size_t i = 0; i < n && i < 160; i++)
        fprintf(stderr, s[i] >= 0x20 && s[i] < 0x7f ? "%c" : "\\x%02x", (unsigned char)s[i]);
}

static const char *group_now;

static void *serve_main(void *srv) { return weft_error(weft_httpd_serve(srv)); }

static int run_group(void *arg) {
    (void)arg;
    weft_httpd_opts o = { .max_request_line = 1024, .max_header_bytes = 4096, .max_headers = 32,
                          .max_body = 1024, .body_timeout = 300 * WEFT_MILLISECOND,
                          .header_timeout = 2 * WEFT_SECOND };
    weft_httpd *srv;
    ASSERT_ERR(weft_httpd_new(&srv, &o, conf_app, NULL), 0);
    ASSERT_ERR(weft_httpd_listen(srv, "127.0.0.1", "0"), 0);
    weft_task *serve = weft_spawn(serve_main, srv);
    ASSERT(serve);
    int failed = 0, ran = 0;
    static resp r;
    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
        const rule *u = &rules[i];
        if (strcmp(u->group, group_now)) continue;
        ran++;
        const char *why = run_rule(weft_httpd_port(srv), u, &r);
        if (!why) continue;
        failed++;
        fprintf(stderr, "FAIL %s\n  sent: ", u->cite);
        show(u->req, u->req_len ? u->req_len : strlen(u->req));
        fprintf(stderr, "\n  %s; got: ", why);
        show(r.head, r.head_len);
        fprintf(stderr, "\n");
    }
    printf("%s: %d rules, %d failed\n", group_now, ran, failed);
    weft_httpd_shutdown(srv);
    void *res;
    ASSERT_ERR(weft_join(serve, &res), 0);
    weft_httpd_free(srv);
    ASSERT(ran > 0);
    ASSERT_EQ(failed, 0);
    return 0;
}

static void run(const char *group) {
    fill();
    group_now = group;
    ASSERT_EQ(wt_run_real(run_group, NULL), 0);
}

TEST(rfc9112_messages_request_lines_and_targets) { run("line"); }
TEST(rfc9112_field_lines_and_host) { run("fields"); }
TEST(rfc9112_message_body_length) { run("length"); }
TEST(rfc9112_chunked_transfer_coding) { run("chunked"); }
TEST(rfc9112_connection_persistence_and_close) { run("conn"); }
TEST(rfc9110_semantics_head_204_304_expect_date_and_limits) { run("semantics"); }

/* ------------------------------------------------------- the client side */

/* RFC 9112 section 6.3's message length rules for responses, on the
 * parser the client reads them with: the framing it decides, or refusal. */
typedef struct resp_rule {
    const char *cite;
    const char *method;  /* the request's */
    const char *text;
    int body;            /* WEFT__BODY_*, or -1: refused */
    uint64_t length;     /* for WEFT__BODY_LENGTH */
} resp_rule;

static const resp_rule resp_rules[] = {
    { "RFC 9112 6.3 (1): a response to HEAD ends at its head, whatever its fields",
      "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", WEFT__BODY_NONE, 0 },
    { "RFC 9112 6.3 (1): ... so do 1xx", "GET", "HTTP/1.1 100 Continue\r\n\r\n", WEFT__BODY_NONE, 0 },
    { "RFC 9112 6.3 (1): ... 204", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", WEFT__BODY_NONE, 0 },
    { "RFC 9112 6.3 (1): ... and 304", "GET", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
      WEFT__BODY_NONE, 0 },
    { "RFC 9112 6.3 (2): a 2xx to CONNECT is a tunnel: no body", "CONNECT", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
      WEFT__BODY_NONE, 0 },
    { "RFC 9112 6.3 (3): Transfer-Encoding with Content-Length ought to be an error (weft: refused)",
      "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", -1, 0 },
    { "RFC 9112 6.3 (4): a final chunked gives the length", "GET",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", WEFT__BODY_CHUNKED, 0 },
    { "RFC 9112 6.3 (4): another final coding is read until the close (weft refuses it: no guessing where a body ends)",
      "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", -1, 0 },
    { "RFC 9112 6.3 (5): an invalid Content-Length MUST be an unrecoverable error", "GET",
      "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", -1, 0 },
    { "RFC 9112 6.3 (5): ... in two fields too", "GET",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", -1, 0 },
    { "RFC 9112 6.3 (5): ... unless it is one valid value repeated (weft takes it once, as the RFC allows)", "GET",
      "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", WEFT__BODY_LENGTH, 5 },
    { "RFC 9112 6.3 (6): a valid Content-Length gives the length", "GET",
      "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", WEFT__BODY_LENGTH, 7 },
    { "RFC 9112 6.3 (8): otherwise a response's body runs until the close", "GET",
      "HTTP/1.1 200 OK\r\n\r\n", WEFT__BODY_CLOSE, 0 },
    { "RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 MUST be taken as faulty framing (weft: refused)", "GET",
      "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", -1, 0 },
    { "RFC 9110 2.5: a higher minor version is read as 1.1", "GET",
      "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", WEFT__BODY_LENGTH, 0 },
    { "RFC 9112 4: the reason-phrase may be empty", "GET", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
      WEFT__BODY_LENGTH, 0 },
    { "RFC 9112 2.2: a bare CR MUST be invalid or replaced (weft: refused)", "GET",
      "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n", -1, 0 },
    { "RFC 9112 5.1: whitespace before the colon (weft refuses it in responses too)", "GET",
      "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", -1, 0 },
};

TEST(rfc9112_client_response_message_length) {
    static weft__hdr hdrs[16];
    static const weft__http_limits lim = { 8192, 16384, 16 };
    int failed = 0;
    for (size_t i = 0; i < sizeof resp_rules / sizeof *resp_rules; i++) {
        const resp_rule *u = &resp_rules[i];
        weft__http_head h = { .hdrs = hdrs, .hdrs_cap = 16 };
        ssize_t n = weft__http_parse_response(u->text, strlen(u->text), &h, u->method, &lim);
        bool ok = u->body < 0 ? n < 0
                              : n > 0 && h.body == u->body && (u->body != WEFT__BODY_LENGTH || h.content_length == u->length);
        if (ok) continue;
        failed++;
        fprintf(stderr, "FAIL %s\n  parsed: %zd, body %d, length %llu\n", u->cite, n, h.body,
                (unsigned long long)h.content_length);
    }
    printf("client: %zu rules, %d failed\n", sizeof resp_rules / sizeof *resp_rules, failed);
    ASSERT_EQ(failed, 0);
}
