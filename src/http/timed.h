/* One stream operation under its own deadline, for the client and the
 * server (internal): the one shape every HTTP timeout takes.
 *
 *     weft_scope sc;
 *     weft__timed_begin(&sc, deadline);
 *     ssize_t n = weft_stream_peek(s, want, &data);
 *     n = weft__timed_end(&sc, n, WEFT_EREADTIMEOUT);
 *
 * Only this scope's own deadline becomes `code`; an enclosing scope's
 * deadline or cancel passes through as the operation reported it, so a
 * caller's weft_timeout_enter around a request still reads WEFT_ETIMEDOUT.
 */
#ifndef WEFT_HTTP_TIMED_H
#define WEFT_HTTP_TIMED_H

#include <weft.h>

#include <sys/types.h>

static inline void weft__timed_begin(weft_scope *sc, int64_t deadline) {
    weft_scope_enter(sc, deadline);
}

/* Leaves `sc`: `code` if its deadline stopped the operation, else the
 * operation's `result` (a count or a negative code) unchanged. */
static inline ssize_t weft__timed_end(weft_scope *sc, ssize_t result, int code) {
    return weft_scope_leave(sc) == WEFT_ETIMEDOUT ? code : result;
}

#endif
