/* The WebSocket's internals, shared by ws.c (frames, messages, the closing
 * handshake) and ws_open.c (the opening handshakes, which make a weft_ws
 * over a stream). Calls run one way: ws_open.c -> ws.c.
 */
#ifndef WEFT_HTTP_WS_H
#define WEFT_HTTP_WS_H

#include "core_iface.h"

#include <weft/ws.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An incremental UTF-8 check (RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF). Zero-initialise; `need` is 0 between characters. */
typedef struct weft__utf8 {
    unsigned char need, lo, hi;   /* continuation bytes due; the next one's range */
} weft__utf8;

/* Feeds n bytes: false as soon as they cannot be part of UTF-8. */
bool weft__utf8_feed(weft__utf8 *u, const unsigned char *p, size_t n);

/* Makes a WebSocket over `st` (owned when own_stream: freed by
 * weft_ws_close, else the server connection's); `client` says which side
 * masks. `protocol` (may be NULL) is copied. Returns 0 or WEFT_ENOMEM
 * (nothing taken). */
int weft__ws_new(weft_ws **out, weft_stream *st, bool own_stream, bool client,
                 const weft_ws_opts *o, const char *protocol);

#endif
