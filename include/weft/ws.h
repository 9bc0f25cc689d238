/* weft WebSocket (RFC 6455): a connection read and written by tasks as a
 * stream of whole messages, client and server.
 *
 *     // server: in a weft_httpd handler
 *     weft_ws *ws;
 *     int err = weft_ws_accept(&ws, req, res, NULL);
 *     if (err) return err;                  // a refusal was answered
 *     const void *msg;
 *     int type;
 *     ssize_t n;
 *     while ((n = weft_ws_recv(ws, &msg, &type)) >= 0)
 *         if (weft_ws_send(ws, type, msg, (size_t)n)) break;
 *     return weft_ws_close(ws, 1000, NULL);
 *
 *     // client
 *     weft_ws_connect(&ws, "ws://127.0.0.1:8080/ws/echo", NULL);
 *
 * The model. A weft_ws is made by a handshake, weft_ws_accept in an HTTP
 * server's handler or weft_ws_connect, and lives until weft_ws_close. On the
 * server the connection leaves HTTP for good: the WebSocket runs inside the
 * handler (or in tasks the handler joins before it returns), the server's
 * HTTP timeouts no longer apply to it, and the connection is closed when
 * the handler returns. A server shutting down cancels the handler after its
 * grace period, as any other: to tell the client (1001, going away), call
 * weft_ws_close inside a shielded scope (weft_scope_enter_ex with
 * WEFT_SCOPE_SHIELD; close_timeout bounds it).
 *
 * The framing is weft's own: client frames masked and server frames not
 * (an unmasked client frame, or a masked server frame, fails the connection
 * with 1002); reserved bits, unknown opcodes, fragmented or oversized
 * (> 125 bytes) control frames, continuations out of place and bad close
 * codes are refused with 1002; text that is not UTF-8 (checked across
 * fragments, as each arrives) and close reasons that are not fail with
 * 1007; a message over max_message with 1009. No extension is offered or
 * accepted (permessage-deflate: none). Pings are answered by weft_ws_recv
 * with a pong; pongs are dropped.
 *
 * Tasks. One task may receive while others send: frames from weft_ws_send,
 * weft_ws_ping and the pongs and closes that weft_ws_recv answers go out
 * whole, one at a time, under a write lock. Two tasks receiving at once:
 * the second gets WEFT_EBUSY.
 *
 * Everything follows weft.h's conventions: each call that may wait is a
 * suspension point, checks cancellation first and honours the task's scopes;
 * the object belongs to the loop that made it.
 */
#ifndef WEFT_WS_H
#define WEFT_WS_H

#include <weft.h>
#include <weft/httpd.h>
#include <weft/tls.h>

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_ws weft_ws;

/* Message types (RFC 6455's opcodes). */
enum {
    WEFT_WS_TEXT = 1,     /* UTF-8 text */
    WEFT_WS_BINARY = 2,
    /* weft_ws_send: OR'ed into the type, sends a fragment that does not end
     * the message; the sends that follow continue it (with the same type)
     * until one without WEFT_WS_MORE ends it. */
    WEFT_WS_MORE = 0x100,
};

/* The largest message received by default: 1 MiB, as Python websockets'
 * max_size (gorilla has none, and a peer could make it buffer anything). */
#define WEFT_WS_MAX_MESSAGE (1024 * 1024)

/* Options; zero-initialise: every zero field means the default. */
typedef struct weft_ws_opts {
    size_t max_message;          /* bytes of one received message, all its
                                    fragments: 0 = WEFT_WS_MAX_MESSAGE; more
                                    fails the connection with 1009 */
    int64_t close_timeout;       /* how long weft_ws_close waits for the
                                    peer's close (and a client for the
                                    server's TCP close): 0 = 10 s (websockets'
                                    close_timeout) */
    int64_t open_timeout;        /* weft_ws_connect: connect, TLS and the
                                    handshake: 0 = 10 s (websockets'
                                    open_timeout) */
    const char *const *protocols; /* subprotocols, NULL-terminated (NULL:
                                    none). A client offers them in order; a
                                    server picks the first of its list the
                                    client offers (none in common: the
                                    connection goes on without one) */
    const char *origin;          /* weft_ws_connect: the Origin header; NULL:
                                    none sent */
    weft_tls_ctx *tls;           /* weft_ws_connect to wss://: the client
                                    context (borrowed for the call); NULL:
                                    one with the defaults (the system's CAs),
                                    made for the call */
} weft_ws_opts;

/* Suspension point. Called from a weft_httpd handler with its req and res:
 * checks that the request is a WebSocket opening handshake (GET, HTTP/1.1,
 * Connection: upgrade, Upgrade: websocket, Sec-WebSocket-Version: 13, a
 * Sec-WebSocket-Key of 16 bytes in base64, no body) and answers 101 with
 * the headers the handler added (weft_httpd_res_header) and the
 * subprotocol picked. `opts` may be NULL; it is copied (protocols are only
 * read during the call). On success *out is the handler's, to be closed
 * with weft_ws_close before the handler returns; the connection is closed
 * after it (no other request follows a WebSocket).
 * Returns 0 or, with no WebSocket made:
 *  - WEFT_EHTTP: not a WebSocket handshake; it was answered 400 (426 with
 *    Sec-WebSocket-Version: 13 for another version), so return it from the
 *    handler (the connection then closes);
 *  - WEFT_EINVAL: the response was started already;
 *  - WEFT_ENOMEM, a write error (-EPIPE...), a cancellation code. */
WEFT_EXTERN int weft_ws_accept(weft_ws **out, weft_httpd_req *req, weft_httpd_res *res,
                               const weft_ws_opts *opts);

/* Suspension point. Connects to `url` ("ws://host[:port]/path?query" or
 * "wss://...", port 80 and 443 by default) and runs the opening handshake,
 * within opts->open_timeout: a random Sec-WebSocket-Key, the answer's
 * Sec-WebSocket-Accept, Upgrade and Connection checked, and a subprotocol
 * only if offered. `opts` may be NULL. On success *out is the caller's
 * (weft_ws_close). Returns 0 or, leaving nothing behind:
 *  - WEFT_EURL: not a ws or wss URL (userinfo and fragments refused too);
 *  - weft_tcp_connect's and weft_tls_connect's errors (WEFT_ENOTFOUND,
 *    -ECONNREFUSED, WEFT_ECERT...), WEFT_ECONNTIMEOUT when open_timeout
 *    passed;
 *  - WEFT_EHTTPSTATUS: the server answered with a status other than 101;
 *  - WEFT_EHTTP: a malformed answer, or a 101 whose Upgrade, Connection or
 *    Sec-WebSocket-Accept is wrong, that names a subprotocol not offered
 *    or an extension;
 *  - WEFT_EOF: the server closed the connection before answering;
 *  - WEFT_EINVAL: a protocol name that is not a token, an origin with a
 *    control character; WEFT_ENOMEM; a cancellation code. */
WEFT_EXTERN int weft_ws_connect(weft_ws **out, const char *url, const weft_ws_opts *opts);

/* The subprotocol agreed on, or NULL. Borrowed: valid until weft_ws_close. */
WEFT_EXTERN const char *weft_ws_protocol(const weft_ws *ws);

/* Suspension point. Receives the next whole message, its fragments joined:
 * *data points to its bytes, with a NUL after them (not counted), owned by
 * the WebSocket and valid until the next weft_ws_recv or weft_ws_close;
 * *type is WEFT_WS_TEXT (valid UTF-8) or WEFT_WS_BINARY. Pings that come
 * meanwhile are answered, pongs dropped. Returns the message's length, or:
 *  - WEFT_EOF: the peer closed (weft_ws_close_code says how; its close was
 *    answered), or the connection ended without a close (1006);
 *  - -EPROTO: the peer broke the protocol (1002 was sent); -EILSEQ: text or
 *    a close reason that is not UTF-8 (1007 sent); WEFT_ETOOBIG: a message
 *    over max_message (1009 sent);
 *  - the transport's error (-ECONNRESET...);
 *    these and WEFT_EOF stick: every later call returns the same;
 *  - WEFT_EBUSY: another task is receiving; WEFT_ENOMEM;
 *  - a cancellation code: nothing is lost, the message being received
 *    (part of it may have come) is delivered whole by the next call. */
WEFT_EXTERN ssize_t weft_ws_recv(weft_ws *ws, const void **data, int *type);

/* Suspension point. Sends a message (or a fragment, with WEFT_WS_MORE) of
 * `len` bytes of `data` (borrowed for the call) as one frame, and waits
 * until it is handed to the connection (the backpressure). Returns 0, or:
 *  - WEFT_EINVAL: type not TEXT or BINARY (with or without MORE), a type
 *    other than the fragmented message's, text that is not UTF-8 (as far
 *    as the fragments go: a character may span two);
 *  - WEFT_ECLOSED: a close was sent (weft_ws_close, or an answered close);
 *  - a write error (-EPIPE...), which sticks;
 *  - a cancellation code: while waiting for the write lock, nothing was
 *    sent; while waiting for the peer to take the bytes, the frame stays
 *    queued whole and leaves with the next frame sent (a frame is never cut
 *    short). */
WEFT_EXTERN int weft_ws_send(weft_ws *ws, int type, const void *data, size_t len);

/* Suspension point. Sends a ping with `len` <= 125 bytes of `data` (NULL
 * for none). The peer's pong is dropped by weft_ws_recv. Returns as
 * weft_ws_send; WEFT_EINVAL for len > 125. */
WEFT_EXTERN int weft_ws_ping(weft_ws *ws, const void *data, size_t len);

/* The close code the peer sent (1000...), 1005 for a close without one,
 * 1006 for a connection that ended without a close, or 0 before either.
 * If reason is not NULL, *reason is the close's reason (UTF-8, NUL-ended,
 * maybe ""), valid until weft_ws_close. */
WEFT_EXTERN int weft_ws_close_code(const weft_ws *ws, const char **reason);

/* Suspension point. The closing handshake, then frees the WebSocket: sends
 * a close with `code` and `reason` (NULL: none) unless one was sent, waits
 * (within close_timeout) for the peer's close, dropping messages that come
 * first, and, on a client, for the server to close the TCP connection; a
 * client then closes its connection, a server's is closed when the handler
 * returns. After a protocol error only the connection is closed.
 * `code`: 1000-1003, 1007-1014 or 3000-4999 (1005, 1006, 1015 are never
 * sent); `reason` at most 123 bytes of UTF-8.
 * Returns 0 after a clean closing handshake, or the first error (the
 * WebSocket is freed all the same): WEFT_ETIMEDOUT (the peer did not
 * answer in time), a sticky error of the WebSocket, a write error, a
 * cancellation code. WEFT_EINVAL for a bad code or reason, and WEFT_EBUSY
 * while another task receives: then nothing is done and the WebSocket stays
 * the caller's. NULL is a no-op. */
WEFT_EXTERN int weft_ws_close(weft_ws *ws, int code, const char *reason);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_WS_H */
