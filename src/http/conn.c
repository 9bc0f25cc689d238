/* A server connection's own services, for the frame (server.c) and the
 * exchange (exchange.c) above it: the peer's name, the Date header, the
 * access log's line, flushing within send_timeout, the short error
 * response and the lingering close. It calls neither of them: server.c
 * calls exchange.c, both call this file.
 */
#include "server.h"
#include "timed.h"

#include <weft/http.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Lingering close after an error response (nginx lingering_time 30 s,
 * lingering_timeout 5 s): read and drop what the client still sends, so
 * that its unread bytes do not make our close a reset that destroys the
 * response before the client reads it. */
#define LINGER_TOTAL (30 * WEFT_SECOND)
#define LINGER_IDLE (5 * WEFT_SECOND)
#define LINGER_BYTES (256 * 1024)

/* ------------------------------------------------------ names, date, log */

/* The Date header's value, made at most once a second (RFC 9110's
 * IMF-fixdate, always GMT). */
const char *weft__httpd_date(weft_httpd *s) {
    time_t now = time(NULL);
    if ((long)now != s->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_sec = (long)now;
    }
    return s->date;
}

static void peer_text(const weft__httpd_conn *c, char *buf, size_t cap) {
    const struct sockaddr *sa = (const struct sockaddr *)&c->peer;
    buf[0] = '-', buf[1] = 0;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)cap);
}

/* One Common Log Format line: host ident authuser [date] "request" status
 * bytes (body bytes sent, "-" for none, as Apache's %b). */
void weft__httpd_log(weft__httpd_conn *c, const weft_httpd_req *r, int status, uint64_t bytes) {
    FILE *f = c->srv->o.access_log;
    if (!f) return;
    char host[64], when[40];
    peer_text(c, host, sizeof host);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    if (r)
        fprintf(f, "%s - - [%s] \"%s %s HTTP/%s\" %d ", host, when, r->h.method,
                r->h.target, r->h2 ? "2.0" : r->h.minor ? "1.1" : "1.0", status);
    else
        fprintf(f, "%s - - [%s] \"-\" %d ", host, when, status);
    if (bytes) fprintf(f, "%llu\n", (unsigned long long)bytes);
    else fputs("-\n", f);
    fflush(f);
}

/* "host:port" of the peer (just "-" for a Unix socket's). */
void weft__httpd_name_peer(weft__httpd_conn *c) {
    char host[INET6_ADDRSTRLEN];
    peer_text(c, host, sizeof host);
    const struct sockaddr *sa = (const struct sockaddr *)&c->peer;
    int port = sa->sa_family == AF_INET ? ntohs(((const struct sockaddr_in *)sa)->sin_port)
             : sa->sa_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)sa)->sin6_port) : -1;
    if (port < 0) snprintf(c->peer_name, sizeof c->peer_name, "%s", host);
    else snprintf(c->peer_name, sizeof c->peer_name, sa->sa_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
}

/* ------------------------------------------------------ writing */

/* Sends everything buffered, within send_timeout. */
int weft__httpd_drain(weft__httpd_conn *c) {
    weft_scope sc;
    weft__timed_begin(&sc, weft_deadline_after(c->srv->o.send_timeout));
    int err = weft_stream_drain(c->st);
    return (int)weft__timed_end(&sc, err, WEFT_ETIMEDOUT);
}

const char *weft__httpd_error_body(int status) {
    switch (status) {
    case 400: return "Bad Request\n";
    case 408: return "Request Timeout\n";
    case 413: return "Content Too Large\n";
    case 414: return "URI Too Long\n";
    case 431: return "Request Header Fields Too Large\n";
    case 501: return "Not Implemented\n";
    case 503: return "Service Unavailable\n";
    case 505: return "HTTP Version Not Supported\n";
    default: return "Internal Server Error\n";
    }
}

/* A response to a request that got no handler (or whose handler failed
 * before starting one): a short text body and Connection: close. To a HEAD
 * request (is_head) the same head goes without the body: a client reading
 * a HEAD response takes no body whatever Content-Length says, and would
 * read the body's bytes as the next response. */
void weft__httpd_send_error(weft__httpd_conn *c, int status, bool is_head) {
    const char *body = weft__httpd_error_body(status);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, weft_http_reason(status), weft__httpd_date(c->srv), strlen(body));
    struct iovec iov[2] = { { head, (size_t)n }, { (void *)body, strlen(body) } };
    weft_stream_writev(c->st, iov, is_head ? 1 : 2);
    weft__httpd_drain(c);
}

/* nginx's lingering close: half-close, then read and drop what the client
 * still sends for a while, so the response is read before the close. */
void weft__httpd_linger(weft__httpd_conn *c) {
    c->idle = true;  /* nothing more to answer: a shutdown may cut it short */
    weft_scope total;
    weft_scope_enter(&total, weft_deadline_after(LINGER_TOTAL));
    if (weft_stream_shutdown(c->st) == 0) {
        char buf[512];
        for (size_t got = 0; got < LINGER_BYTES;) {
            weft_scope idle;
            weft__timed_begin(&idle, weft_deadline_after(LINGER_IDLE));
            ssize_t n = weft_stream_read(c->st, buf, sizeof buf);
            n = weft__timed_end(&idle, n, WEFT_ETIMEDOUT);
            if (n <= 0) break;
            got += (size_t)n;
        }
    }
    weft_scope_leave(&total);
}
