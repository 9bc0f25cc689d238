/* What the io layer shows the layers built on it (src/tls, src/http) and
 * nothing else: the public headers say the rest. Kept apart from
 * src/core/internal.h, which the io files include by the same short name. */
#ifndef WEFT_IO_INTERNAL_H
#define WEFT_IO_INTERNAL_H

#include "weft/stream.h"

/* The transport context of `s` if its transport is `ops`, else NULL: how a
 * transport finds its own state behind a public weft_stream (weft_tls_alpn). */
void *weft__stream_ctx(const weft_stream *s, const weft_transport *ops);

#endif
