/* weft's parser against Debian's libhttp-parser (Node's parser before
 * llhttp), message by message: where both accept a message they must agree
 * on method, target, status, version, field count, framing, keep-alive and
 * the body bytes; where they disagree, the corpus says so and why, and the
 * test checks each side does what the corpus says. Then every valid message
 * is mutated one byte at a time, and wherever both still accept they must
 * still agree.
 *
 * The corpus is four lists: messages both accept, messages both refuse,
 * messages weft refuses and http_parser accepts (each with its reason: the
 * places weft is stricter on purpose), and messages weft accepts that
 * http_parser refuses. */
#include "test.h"

#include "parse.h"

#include <http_parser.h>
#include <strings.h>

/* -------------------------------------------------------------- corpus */

typedef struct msg {
    bool request;
    const char *method;  /* responses: the request's method */
    const char *text;
    const char *why;     /* the disagreement lists: why */
} msg;

#define REQ(t) { true, NULL, t, NULL }
#define RESP(m, t) { false, m, t, NULL }
#define REQ_WHY(t, w) { true, NULL, t, w }
#define RESP_WHY(m, t, w) { false, m, t, w }

static const msg both_accept[] = {
    REQ("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    REQ("GET /path/to?q=1&r=%20 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n"),
    REQ("HEAD /x HTTP/1.0\r\n\r\n"),
    REQ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
    REQ("POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"),
    REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
    REQ("PUT /f HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
    REQ("PUT /f HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: yes\r\n\r\n"),
    REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\nb\r\nhello world\r\n0\r\n\r\n"),
    REQ("DELETE /r/1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x.y.z\r\n\r\n"),
    REQ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
    REQ("PATCH /p HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"),
    REQ("GET http://example.com/abs?x HTTP/1.1\r\nHost: example.com\r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Spaces:    \r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nX-Tab:\tv\t\r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nX-Obs: caf\xc3\xa9\r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nhost: a\r\nCONTENT-length: 3\r\n\r\nabc"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nCookie: a=b; c=d\r\nCookie: e=f\r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nabcd"),
    REQ("GET /~user/!$&'()*+,;=:@ HTTP/1.1\r\nHost: a\r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nX-!#$%&'*+-.^_`|~: tchar\r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 000005\r\n\r\nhello"),
    REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n000a\r\n0123456789\r\n0000\r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n"),
    REQ("COPY / HTTP/1.1\r\nHost: a\r\n\r\n"),
    RESP("GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
    RESP("GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    RESP("GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nT: 1\r\n\r\n"),
    RESP("GET", "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nuntil the connection closes"),
    RESP("GET", "HTTP/1.0 200 OK\r\n\r\nold style body"),
    RESP("GET", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"),
    RESP("GET", "HTTP/1.1 204 No Content\r\n\r\n"),
    RESP("GET", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"),
    RESP("HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
    RESP("HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
    RESP("GET", "HTTP/1.1 100 Continue\r\n\r\n"),
    RESP("GET", "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"),
    RESP("GET", "HTTP/1.1 500 \r\nContent-Length: 0\r\n\r\n"),
    RESP("GET", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc"),
    RESP("GET", "HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n"),
    RESP("POST", "HTTP/1.1 201 Created\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\n{}"),
    RESP("GET", "HTTP/1.1 200 Caf\xc3\xa9 \t ok\r\nContent-Length: 0\r\n\r\n"),
    RESP("GET", "HTTP/1.1 999 Whatever\r\nContent-Length: 0\r\n\r\n"),
    RESP("GET", "HTTP/1.1 200 OK\r\nContent-Length: 0000\r\n\r\n"),
};

static const msg both_refuse[] = {
    REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n8000000000000000\r\n"),
    RESP("GET", "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n"),
    REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"),
    REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n0\r\n\r\n"),
    REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"),
    REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5x\r\n\r\nhello"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n"),
    REQ("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"),
    REQ("GET / HTTP/1.1\rHost: a\r\n\r\n"),
    REQ("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
    REQ("GET / HTTP/1.x\r\nHost: a\r\n\r\n"),
    REQ("GET / HTTP/11.1\r\nHost: a\r\n\r\n"),
    REQ("GET / FTP/1.1\r\nHost: a\r\n\r\n"),
    REQ("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n"),
    REQ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"),
    REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
    REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nhello\r\n0\r\n\r\n"),
    REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    RESP("GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
    RESP("GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
    RESP("GET", "HTTP/1.1 2000 OK\r\n\r\n"),
    RESP("GET", "HTTP/1.1 abc OK\r\n\r\n"),
    RESP("GET", "HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\n"),
    RESP("GET", "HTTP/x.1 200 OK\r\n\r\n"),
};

/* http_parser (2.9, built lenient as Debian builds it) accepts these;
 * weft refuses them on purpose. */
static const msg weft_stricter[] = {
    RESP_WHY("GET", "HTTX/1.1 200 OK\r\n\r\n", "a protocol name other than HTTP"),
    RESP_WHY("GET", "HTTP/1.1 200 OK\r\nX : y\r\nContent-Length: 0\r\n\r\n", "whitespace before a colon"),
    RESP_WHY("GET", "HTTP/1.1 20 OK\r\n\r\n", "a two-digit status"),
    REQ_WHY("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", "no CRLF after chunk data"),
    REQ_WHY("GET / HTTP/1.1\r\nHost: a\r\n X: b\r\n\r\n", "a folded line continuing a field"),
    REQ_WHY("GET / HTTP/1.1\r\nHo st: a\r\n\r\n", "a space inside a field name"),
    REQ_WHY("GET / HTTP/1.1\r\nHost : a\r\n\r\n", "whitespace before a colon (the classic smuggling vector)"),
    REQ_WHY("GET / HTTP/1.1\nHost: a\n\n", "bare LF line ends"),
    REQ_WHY("GET / HTTP/1.1\r\nHost: a\n\r\n", "a bare LF after a field"),
    REQ_WHY("GET / HTTP/1.1\r\nHost: a\r\n\n", "a bare LF ending the head"),
    REQ_WHY("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", "obs-fold"),
    REQ_WHY("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", "obs-fold with a tab"),
    REQ_WHY("GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 without Host"),
    REQ_WHY("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "two Hosts"),
    REQ_WHY("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "a Host that is no authority"),
    REQ_WHY("GET / HTTP/1.1\r\nHost: a/b@c\r\n\r\n", "a Host that is no authority"),
    REQ_WHY("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "Transfer-Encoding in HTTP/1.0"),
    REQ_WHY("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "chunked twice, in two fields"),
    REQ_WHY("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "a coding weft does not decode"),
    REQ_WHY("GET / HTTP/2.0\r\nHost: a\r\n\r\n", "HTTP/2.0 in an HTTP/1 request line (505)"),
    REQ_WHY("GET / HTTP/0.9\r\nHost: a\r\n\r\n", "HTTP/0.9 (505)"),
    REQ_WHY("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", "non-ASCII in the target"),
    REQ_WHY("M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n", "\"*\" is for OPTIONS only (RFC 9112 section 3.2.4)"),
    REQ_WHY("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", "a fragment in the target"),
    REQ_WHY("GET / HTTP/1.1\r\nHost:\r\n\r\n", "an empty Host"),
    REQ_WHY("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", "CONNECT: no tunnels here (501)"),
    REQ_WHY("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
            "whitespace after a chunk size"),
    REQ_WHY("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: 1\n\r\n",
            "a bare LF in the trailers"),
    REQ_WHY("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n X: 1\r\n\r\n",
            "obs-fold in the trailers"),
    RESP_WHY("GET", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", "bare LF line ends"),
    RESP_WHY("GET", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", "obs-fold"),
    RESP_WHY("GET", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "Transfer-Encoding in HTTP/1.0"),
    RESP_WHY("GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxyz", "a coding other than chunked"),
    RESP_WHY("GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxyz", "chunked not last"),
    RESP_WHY("GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", "chunked twice"),
    RESP_WHY("GET", "HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n", "a control character in the reason"),
    RESP_WHY("GET", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", "HTTP/2.0 in an HTTP/1 status line"),
    RESP_WHY("GET", "HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n", "a status below 100"),
};

/* weft accepts these; http_parser refuses them. */
static const msg weft_lenient[] = {
    REQ_WHY("FROB / HTTP/1.1\r\nHost: a\r\n\r\n", "any token is a method: the server answers 405 or 501"),
    REQ_WHY("get / HTTP/1.1\r\nHost: a\r\n\r\n", "methods are case-sensitive tokens, so \"get\" is one"),
    RESP_WHY("GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
             "identical repeated Content-Length"),
};

/* ------------------------------------------------------- http_parser side */

/* What a parser made of one message. */
typedef struct view {
    bool ok;
    char method[64], target[1024], reason[256];
    int status, minor, nfields;
    int body;                 /* WEFT__BODY_* */
    uint64_t length;          /* WEFT__BODY_LENGTH */
    bool keep_alive;
    char data[8192];          /* the body */
    size_t dlen;
} view;

typedef struct hp_state {
    view *v;
    bool in_value, head_done, complete, head_response;
} hp_state;

static void append(char *dst, size_t cap, size_t *len, const char *at, size_t n) {
    ASSERT(*len + n < cap);
    memcpy(dst + *len, at, n);
    *len += n;
    dst[*len] = 0;
}

static int hp_url(http_parser *p, const char *at, size_t n) {
    hp_state *s = p->data;
    size_t len = strlen(s->v->target);
    append(s->v->target, sizeof s->v->target, &len, at, n);
    return 0;
}
static int hp_status(http_parser *p, const char *at, size_t n) {
    hp_state *s = p->data;
    size_t len = strlen(s->v->reason);
    append(s->v->reason, sizeof s->v->reason, &len, at, n);
    return 0;
}
static int hp_field(http_parser *p, const char *at, size_t n) {
    (void)at, (void)n;
    hp_state *s = p->data;
    if (s->head_done || (!s->in_value && s->v->nfields)) return 0;  /* trailers; a name continued */  /* the same name, continued */
    s->v->nfields++, s->in_value = false;
    return 0;
}
static int hp_value(http_parser *p, const char *at, size_t n) {
    (void)at, (void)n;
    ((hp_state *)p->data)->in_value = true;
    return 0;
}
static int hp_headers_complete(http_parser *p) {
    hp_state *s = p->data;
    view *v = s->v;
    s->head_done = true;
    if (p->type == HTTP_REQUEST) snprintf(v->method, sizeof v->method, "%s", http_method_str(p->method));
    v->status = p->status_code;
    v->minor = p->http_minor;
    bool no_body = s->head_response || p->status_code / 100 == 1 || p->status_code == 204 || p->status_code == 304;
    if (p->type == HTTP_RESPONSE && no_body) v->body = WEFT__BODY_NONE;
    else if (p->flags & F_CHUNKED) v->body = WEFT__BODY_CHUNKED;
    else if (p->flags & F_CONTENTLENGTH) v->body = WEFT__BODY_LENGTH, v->length = p->content_length;
    else v->body = p->type == HTTP_REQUEST ? WEFT__BODY_NONE : WEFT__BODY_CLOSE;
    if (s->head_response) p->flags |= F_SKIPBODY;  /* what returning 1 below does, for the next line */
    v->keep_alive = http_should_keep_alive(p);
    return s->head_response ? 1 : 0;
}
static int hp_body(http_parser *p, const char *at, size_t n) {
    view *v = ((hp_state *)p->data)->v;
    append(v->data, sizeof v->data, &v->dlen, at, n);
    return 0;
}
static int hp_complete(http_parser *p) {
    ((hp_state *)p->data)->complete = true;
    http_parser_pause(p, 1);  /* one message only */
    return 0;
}

static void hp_parse(const msg *m, view *v) {
    static http_parser_settings cb;
    http_parser_settings_init(&cb);
    cb.on_url = hp_url, cb.on_status = hp_status, cb.on_header_field = hp_field;
    cb.on_header_value = hp_value, cb.on_headers_complete = hp_headers_complete;
    cb.on_body = hp_body, cb.on_message_complete = hp_complete;
    memset(v, 0, sizeof *v);
    hp_state s = { .v = v, .head_response = !m->request && !strcmp(m->method, "HEAD") };
    http_parser p;
    http_parser_init(&p, m->request ? HTTP_REQUEST : HTTP_RESPONSE);
    p.data = &s;
    size_t len = strlen(m->text);
    http_parser_execute(&p, &cb, m->text, len);
    if (HTTP_PARSER_ERRNO(&p) == HPE_OK && !s.complete && !p.upgrade)
        http_parser_execute(&p, &cb, NULL, 0);  /* the end of the stream */
    bool err = HTTP_PARSER_ERRNO(&p) != HPE_OK && HTTP_PARSER_ERRNO(&p) != HPE_PAUSED;
    v->ok = !err && s.head_done && (s.complete || p.upgrade);
}

/* ---------------------------------------------------------------- weft side */

/* Reads the body after the head the way a weft client or server would. */
static bool weft_body(const char *b, size_t n, const weft__http_head *h, view *v) {
    if (h->body == WEFT__BODY_LENGTH) {
        if (h->content_length > n) return false;
        append(v->data, sizeof v->data, &v->dlen, b, (size_t)h->content_length);
    } else if (h->body == WEFT__BODY_CLOSE) {
        append(v->data, sizeof v->data, &v->dlen, b, n);
    } else if (h->body == WEFT__BODY_CHUNKED) {
        weft__chunked c = { 0 };
        while (!c.done) {
            const char *d;
            size_t dn;
            ssize_t r = weft__chunked_step(&c, b, n, 7, &d, &dn);
            if (r <= 0 && !c.done) return false;
            append(v->data, sizeof v->data, &v->dlen, d ? d : "", dn);
            b += r, n -= (size_t)r;
        }
    }
    return true;
}

static void weft_parse(const msg *m, view *v) {
    static weft__hdr fields[100];
    static const weft__http_limits lim = { 8192, 32768, 100 };
    memset(v, 0, sizeof *v);
    weft__http_head h = { .hdrs = fields, .hdrs_cap = 100 };
    size_t len = strlen(m->text);
    ssize_t r = m->request ? weft__http_parse_request(m->text, len, &h, &lim)
                           : weft__http_parse_response(m->text, len, &h, m->method, &lim);
    if (r <= 0) return;
    if (m->request) snprintf(v->method, sizeof v->method, "%.*s", (int)h.method_len, h.method);
    if (m->request) snprintf(v->target, sizeof v->target, "%.*s", (int)h.target_len, h.target);
    else snprintf(v->reason, sizeof v->reason, "%.*s", (int)h.reason_len, h.reason);
    v->status = m->request ? 0 : h.status;
    v->minor = h.minor;
    v->nfields = (int)h.nhdrs;
    v->body = h.body;
    v->length = h.body == WEFT__BODY_LENGTH ? h.content_length : 0;
    v->keep_alive = h.keep_alive;
    v->ok = weft_body(m->text + r, len - (size_t)r, &h, v);
}

/* ---------------------------------------------------------------- comparing */

static void show(const char *what, const msg *m) {
    fprintf(stderr, "%s: %s message:\n", what, m->request ? "request" : "response");
    for (const char *c = m->text; *c; c++)
        fprintf(stderr, *c >= 0x20 && *c < 0x7f ? "%c" : "\\x%02x", (unsigned char)*c);
    fprintf(stderr, "\n");
}

/* Both views of an accepted message agree, or the test fails. Returns
 * whether they agree, for the caller to report. */
static bool agree(const msg *m, const view *a, const view *b, bool keep_alive) {
    /* weft reads HTTP/1.2 and later as 1.1 (RFC 9110 section 2.5);
     * http_parser reports the digit. */
    bool same_version = a->minor == b->minor || (a->minor == 1 && b->minor > 1);
    bool same = !strcmp(a->method, b->method) && !strcmp(a->target, b->target)
        && !strcmp(a->reason, b->reason) && a->status == b->status && same_version
        && a->nfields == b->nfields && a->body == b->body && a->length == b->length
        && a->dlen == b->dlen && !memcmp(a->data, b->data, a->dlen);
    /* http_parser keeps an upgraded or CONNECT connection alive; weft's
     * keep_alive is about the HTTP connection, which ends there. */
    bool upgraded = !strcmp(a->method, "CONNECT") || strstr(m->text, "Upgrade:");
    same = same && (upgraded || !keep_alive || a->keep_alive == b->keep_alive);
    if (!same) {
        show("weft and http_parser disagree", m);
        fprintf(stderr, "weft: %s %s %d %s fields %d body %d/%llu ka %d data %zu\n", a->method, a->target,
                a->status, a->reason, a->nfields, a->body, (unsigned long long)a->length, a->keep_alive, a->dlen);
        fprintf(stderr, "hp:   %s %s %d %s fields %d body %d/%llu ka %d data %zu\n", b->method, b->target,
                b->status, b->reason, b->nfields, b->body, (unsigned long long)b->length, b->keep_alive, b->dlen);
    }
    return same;
}

static view W, P;

#define COUNT(a) (sizeof (a) / sizeof *(a))

/* Runs both parsers over each message of a list and checks each side
 * accepts or refuses as the list says, reporting every miss before failing. */
static void check_list(const msg *list, size_t n, bool weft_ok, bool hp_ok) {
    int misses = 0;
    for (size_t i = 0; i < n; i++) {
        weft_parse(&list[i], &W);
        hp_parse(&list[i], &P);
        bool miss = W.ok != weft_ok || P.ok != hp_ok || (weft_ok && hp_ok && !agree(&list[i], &W, &P, true));
        if (!miss) continue;
        fprintf(stderr, "weft %s, http_parser %s (%s)\n", W.ok ? "accepts" : "refuses",
                P.ok ? "accepts" : "refuses", list[i].why ? list[i].why : "-");
        show("unexpected", &list[i]);
        misses++;
    }
    ASSERT_EQ(misses, 0);
}

TEST(diff_messages_both_accept_agree_in_every_fact) { check_list(both_accept, COUNT(both_accept), true, true); }
TEST(diff_messages_both_refuse_are_refused_by_both) { check_list(both_refuse, COUNT(both_refuse), false, false); }
TEST(diff_weft_is_stricter_where_documented) { check_list(weft_stricter, COUNT(weft_stricter), false, true); }
TEST(diff_weft_is_more_lenient_where_documented) { check_list(weft_lenient, COUNT(weft_lenient), true, false); }

/* Bytes that make or break HTTP framing. */
static const char mutations[] = { ' ', '\t', '\r', '\n', ':', ',', ';', '0', '9', 'a', 'f', 'x', '-', '\x01', '\x7f',
                                  '\x80', '\xff', '"', '/' };

static bool in_field(const char *s, size_t pos, const char *name) {
    size_t l = pos;
    while (l > 0 && s[l - 1] != '\n') l--;
    return !strncasecmp(s + l, name, strlen(name));
}

/* Whether keep-alive verdicts are comparable: http_parser reads a
 * Connection field as one word, not as the list it is ("keep-alive,
 * close"), so where the mutation hit that field, or it holds a list,
 * weft's verdict (the RFC's) may differ. */
static bool keep_alive_comparable(const char *s, size_t pos) {
    if (in_field(s, pos, "connection")) return false;
    for (const char *c = strcasestr(s, "\nconnection:"); c && *c && c[1] != '\n'; c++)
        if (*c == ',') return false;
    return true;
}

/* Where a mutation leaves both parsers accepting, they still agree. Returns
 * how many mutants both accepted. */
static size_t mutants_agree(const msg *m) {
    static char buf[4096];
    size_t n = strlen(m->text), both = 0;
    ASSERT(n + 2 < sizeof buf);
    for (size_t pos = 0; pos < n; pos++) {
        for (size_t k = 0; k <= 2 * sizeof mutations; k++) {
            /* Replace the byte with mutation k, insert mutation k - sizeof
             * before it, or (the last k) delete it. */
            size_t nm = sizeof mutations;
            memcpy(buf, m->text, n + 1);
            if (k < nm) buf[pos] = mutations[k];
            else if (k < 2 * nm) memmove(buf + pos + 1, buf + pos, n - pos + 1), buf[pos] = mutations[k - nm];
            else memmove(buf + pos, buf + pos + 1, n - pos);
            /* http_parser takes "chunked" followed by a space or tab for
             * an unknown coding; the RFC trims it (OWS), as weft does. */
            if (k < 2 * nm && (buf[pos] == ' ' || buf[pos] == '\t') && in_field(buf, pos, "transfer-encoding")) continue;
            msg mut = { m->request, m->method, buf, NULL };
            weft_parse(&mut, &W);
            if (!W.ok) continue;
            hp_parse(&mut, &P);
            if (!P.ok) continue;
            ASSERT(agree(&mut, &W, &P, keep_alive_comparable(buf, pos)));
            both++;
        }
    }
    return both;
}

TEST(diff_single_byte_mutants_both_accept_still_agree) {
    size_t both = 0;
    for (size_t i = 0; i < COUNT(both_accept); i++) both += mutants_agree(&both_accept[i]);
    /* Most mutants of a value byte stay valid for both: a comparison that
     * compared nothing would be no test. */
    fprintf(stderr, "%zu mutants accepted by both\n", both);
    ASSERT(both > 1000);
}
