/* weft streams: buffered reading and writing over a byte transport, like
 * asyncio's StreamReader and StreamWriter in one object.
 *
 * A stream sits on a *transport*: four functions and a context pointer that
 * move bytes (weft_transport below). weft_stream_new_fd wraps a non-blocking
 * file descriptor (a socket, a pipe); a TLS layer, a test double or anything
 * else that can read and write plugs in through weft_stream_new. The stream
 * adds what the transport lacks: a read buffer with delimited and exact
 * reads, and an output buffer that collects writes until weft_stream_drain
 * sends them.
 *
 * Buffers. Reads fill a buffer that starts at 4 KiB, grows by doubling while
 * a read needs more, and holds at most the stream's limit (default
 * WEFT_STREAM_LIMIT, 64 KiB, asyncio's default) on its own initiative: only
 * weft_stream_read_exactly and weft_stream_read_to_eof, whose caller names a
 * larger size, buffer beyond it, and the buffer shrinks back once they have
 * taken their bytes. A 4 KiB buffer that has been read empty goes back to
 * the loop, for the next stream that needs one: with a transport that can
 * wait before reading (weft_transport.wait_readable, as the fd transport
 * does), a stream that waits for input holds no read buffer. Writes are
 * copied into an output buffer and never wait.
 *
 * Draining. weft_stream_drain hands everything buffered to the transport,
 * waiting while the transport has no room; that wait is the backpressure. It
 * does not stop at asyncio's water marks: asyncio's transport keeps sending
 * in the background after drain returns, but here no one sends unless a task
 * does, so bytes left below a low-water mark would sit there until the next
 * drain (a request whose tail never leaves while its writer waits for the
 * reply). Memory is bounded by what a writer appends between drains.
 *
 * Tasks. One task may read while another writes (full duplex). A second task
 * that starts a read while a read is under way gets WEFT_EBUSY, and so does a
 * second drain; appending with weft_stream_write is allowed at any time.
 *
 * Everything follows weft.h's conventions: suspension points must be called
 * from a task of the loop the stream was made on (else WEFT_ENOTASK or
 * WEFT_EWRONGLOOP), check cancellation first, honour the task's scopes
 * (cancellation, deadlines) at every wait, and a call that fails changes
 * nothing, unless its comment says what it did. Cancelled means it did not
 * happen: a cancelled read consumed nothing (bytes that arrived meanwhile
 * stay buffered for the next read); a cancelled drain leaves unsent bytes
 * buffered (those the transport already took are gone, as with any write).
 *
 * Errors from the transport other than cancellation, WEFT_ENOMEM and
 * WEFT_EBUSY (a reset, a broken pipe) stick: every later read that needs the
 * transport reports the same code (bytes already buffered are still
 * delivered first), and every later write or drain reports the write side's.
 */
#ifndef WEFT_STREAM_H
#define WEFT_STREAM_H

#include <weft.h>

#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The read buffer's default limit (asyncio's `limit`). */
#define WEFT_STREAM_LIMIT (64 * 1024)

/* ------------------------------------------------------------- transports
 *
 * The contract a transport implements. `ctx` is the pointer given to
 * weft_stream_new, passed back on every call. The stream calls these from
 * one task at a time per direction (a read and a write may overlap, in two
 * tasks), never with a length of 0.
 *
 * read_some, writev_some and shutdown_write are suspension points: they may
 * wait (weft_wait_readable, a lock, ...), and must honour the task's scopes,
 * returning WEFT_ECANCELED or WEFT_ETIMEDOUT only when they did nothing.
 */
typedef struct weft_transport {
    /* Reads 1..len bytes into buf, waiting while none are available.
     * Returns the count, 0 at end of stream (the stream then calls it no
     * more), or a negative code; on a negative code nothing was consumed. */
    ssize_t (*read_some)(void *ctx, void *buf, size_t len);
    /* Writes at least 1 byte of the iovcnt (>= 1) buffers, in order, waiting
     * for room as needed; it may write fewer than all of them (a short
     * write: the stream calls again with the rest). Returns the count or a
     * negative code (-EPIPE, -ECONNRESET...); on a negative code nothing was
     * written. Must not raise SIGPIPE. The buffers are borrowed for the
     * call. */
    ssize_t (*writev_some)(void *ctx, const struct iovec *iov, int iovcnt);
    /* Tells the peer nothing more will be written (TCP's FIN, TLS's
     * close_notify) after everything writev_some took. Returns 0 or a
     * negative code. Called at most once. NULL: the transport cannot
     * half-close, and weft_stream_shutdown reports -ENOTSUP. */
    int (*shutdown_write)(void *ctx);
    /* Releases the transport and everything ctx owns (closes the fd). NOT a
     * suspension point: it must not wait, since it may run outside a task
     * (weft_stream_free). Called exactly once, when the stream is freed.
     * Returns 0 or a negative code (reported by weft_stream_close/free). */
    int (*close)(void *ctx);
    /* Optional. Suspends until read_some would likely find bytes (or the end
     * of the stream, or an error) without waiting, consuming nothing; it may
     * return 0 early (read_some then waits as usual). Returns 0 or a
     * negative code (a cancellation code when it did nothing). With it, a
     * stream with nothing buffered waits holding no read buffer, so an idle
     * connection costs no buffer memory; NULL: read_some waits with the
     * buffer lent to it. */
    int (*wait_readable)(void *ctx);
} weft_transport;

/* ---------------------------------------------------------- making streams */

typedef struct weft_stream weft_stream;

/* Options for a stream; zero-initialise: every zero field means the
 * default. */
typedef struct weft_stream_opts {
    size_t limit;   /* most bytes buffered for reading on the stream's own
                       initiative, and the longest line read_until accepts;
                       0 = WEFT_STREAM_LIMIT */
    int borrow_fd;  /* weft_stream_new_fd: nonzero leaves the fd open when the
                       stream is closed or freed (e.g. a connection that
                       weft_serve owns and closes) */
} weft_stream_opts;

/* Makes a stream over the transport `ops` with context `ctx`. `opts` may be
 * NULL. Needs a loop on this thread (its allocator is used, and kept: the
 * stream may outlive the loop, but only weft_stream_free and the non-waiting
 * calls work then). On success *out is the caller's, released with
 * weft_stream_close or weft_stream_free, and the stream owns ctx: it calls
 * ops->close(ctx) exactly once, when freed. `ops` is borrowed and must
 * outlive the stream (a static const table). On failure ctx is still the
 * caller's. Returns 0, WEFT_ENOTASK (no loop on this thread), WEFT_EINVAL
 * (ops, read_some, writev_some or close NULL) or WEFT_ENOMEM. */
WEFT_EXTERN int weft_stream_new(weft_stream **out, const weft_transport *ops, void *ctx,
                                const weft_stream_opts *opts);
/* Makes a stream over the file descriptor `fd` (a socket or a pipe, or
 * anything epoll can watch), which it makes non-blocking and close-on-exec.
 * Reads use weft_read; writes use sendmsg with MSG_NOSIGNAL, so a gone peer
 * is -EPIPE and never SIGPIPE on a socket; on a pipe, writev with SIGPIPE
 * held off in the calling thread for the call, so a gone reader is -EPIPE
 * there too; shutdown_write is shutdown(SHUT_WR) on a socket, and a pipe
 * cannot half-close (weft_stream_shutdown: -ENOTSUP).
 * On success the stream owns fd and closes it with weft_close when freed
 * (unless opts->borrow_fd: then it only stops watching it); on failure fd is
 * untouched and still the caller's. Returns 0, WEFT_ENOTASK,
 * WEFT_EINVAL (fd < 0), WEFT_ENOMEM, or -EBADF (fd is not open). */
WEFT_EXTERN int weft_stream_new_fd(weft_stream **out, int fd, const weft_stream_opts *opts);

/* Suspension point if bytes are buffered for writing. Flushes the output
 * buffer (weft_stream_drain), then closes the transport and frees the
 * stream, whatever the flush did, as close(2) does. Returns 0; or the error
 * that made it drop unsent bytes: the drain's (e.g. -EPIPE, or a
 * cancellation code: shield the close to flush even when cancelled) or the
 * write side's sticky error from an earlier drain; else the transport
 * close's error. WEFT_EBUSY if another task is in a read or drain on the
 * stream: nothing is done then (cancel and join that task first). NULL is a
 * no-op. */
WEFT_EXTERN int weft_stream_close(weft_stream *s);
/* Closes the transport and frees the stream without flushing (unsent bytes
 * are dropped); not a suspension point, so usable outside any task and after
 * the loop ended. Returns 0, the transport close's error (the stream is
 * freed anyway), or WEFT_EBUSY as weft_stream_close. NULL is a no-op. */
WEFT_EXTERN int weft_stream_free(weft_stream *s);

/* ------------------------------------------------------------------ reading
 *
 * Every read below may also return, besides what its comment lists: a
 * cancellation code, WEFT_ENOTASK, WEFT_EWRONGLOOP, WEFT_EBUSY (another task
 * is reading the stream), WEFT_ENOMEM (the buffer could not grow), or the
 * transport's error (e.g. -ECONNRESET). On any of those nothing was
 * consumed: what was buffered, and what arrived meanwhile, stays buffered.
 */

/* Suspension point (asyncio's read(n)). Copies up to `len` bytes into `buf`:
 * those buffered, or, if none are, whatever the transport gives on one read
 * (waiting for at least one byte). Returns the count (> 0), or 0 at end of
 * stream (and for len 0). */
WEFT_EXTERN ssize_t weft_stream_read(weft_stream *s, void *buf, size_t len);

/* Suspension point (asyncio's readexactly). Reads exactly `len` bytes into
 * `buf`, buffering them until all are there (so may buffer up to `len` bytes,
 * beyond the limit). Returns 0 with all of them; *got (if got is not NULL) is
 * set to len. WEFT_EOF if the stream ended first: then the bytes that did
 * come are in buf, *got says how many (< len) and they are consumed. */
WEFT_EXTERN int weft_stream_read_exactly(weft_stream *s, void *buf, size_t len, size_t *got);

/* Suspension point (asyncio's readuntil). Reads up to and including the
 * first occurrence of `delim` (dlen >= 1 bytes) into `buf` and returns its
 * length, delimiter included. The line may be at most min(cap, limit) bytes
 * long. Returns:
 *  - WEFT_EOVERFLOW if it is longer (asyncio's LimitOverrunError): nothing
 *    is consumed, the bytes stay buffered (weft_stream_buffered says how
 *    many; up to min(cap, limit)), and the caller chooses: read them in
 *    pieces with weft_stream_read, drop them with weft_stream_consume, or,
 *    usually, give up on the peer and close.
 *  - WEFT_EOF if the stream ends before a delimiter: the partial line stays
 *    buffered (weft_stream_read returns it, then 0).
 *  - WEFT_EINVAL for dlen 0 or cap 0. */
WEFT_EXTERN ssize_t weft_stream_read_until(weft_stream *s, const void *delim, size_t dlen,
                                           void *buf, size_t cap);
/* weft_stream_read_until(s, "\n", 1, buf, cap): a line, "\n" included. */
WEFT_EXTERN ssize_t weft_stream_read_line(weft_stream *s, void *buf, size_t cap);

/* Suspension point (asyncio's read(-1)). Reads until the stream ends and
 * copies everything into `buf`; returns the count (<= cap; 0 for an empty
 * stream). Buffers up to cap + 1 bytes (beyond the limit if cap is larger).
 * WEFT_EOVERFLOW if more than `cap` bytes come before the end: nothing is
 * consumed, the bytes stay buffered. */
WEFT_EXTERN ssize_t weft_stream_read_to_eof(weft_stream *s, void *buf, size_t cap);

/* Suspension point when want > 0. Waits until at least `want` bytes are
 * buffered, then stores in *data a borrowed view of all the buffered bytes
 * and returns their count (>= want), consuming nothing. The view is valid
 * until the next call on the stream other than weft_stream_buffered,
 * weft_stream_unsent and weft_stream_write(v). With want 0, returns at once
 * what is buffered now (maybe 0; *data is NULL then). WEFT_EOF if the stream
 * ended with fewer than `want` bytes buffered (they stay buffered: peek with
 * want 0 to see them). WEFT_EINVAL if want > the limit. */
WEFT_EXTERN ssize_t weft_stream_peek(weft_stream *s, size_t want, const void **data);
/* Drops `n` buffered bytes, as after a peek. Not a suspension point.
 * Returns 0, WEFT_EINVAL if fewer than n are buffered (nothing dropped), or
 * WEFT_EBUSY if another task is reading the stream. */
WEFT_EXTERN int weft_stream_consume(weft_stream *s, size_t n);
/* Bytes buffered for reading now. */
WEFT_EXTERN size_t weft_stream_buffered(const weft_stream *s);
/* Nonzero if the stream has ended and nothing is left buffered
 * (asyncio's at_eof). */
WEFT_EXTERN int weft_stream_at_eof(const weft_stream *s);

/* ------------------------------------------------------------------ writing */

/* Appends `len` bytes of `buf` to the output buffer (copied: buf is only
 * borrowed for the call). Never waits and sends nothing: weft_stream_drain
 * sends. Not a suspension point. Returns 0; WEFT_ENOMEM (nothing appended);
 * WEFT_ECLOSED after weft_stream_shutdown; or the write side's sticky error
 * (e.g. -EPIPE) once a drain has failed with one. */
WEFT_EXTERN int weft_stream_write(weft_stream *s, const void *buf, size_t len);
/* Appends `iovcnt` buffers in order, all or nothing; as weft_stream_write.
 * WEFT_EINVAL if iovcnt < 0. */
WEFT_EXTERN int weft_stream_writev(weft_stream *s, const struct iovec *iov, int iovcnt);

/* Suspension point (asyncio's drain, see "Draining" above). Hands every
 * buffered byte to the transport, waiting for room while there is none, and
 * returns 0 when the output buffer is empty (at once if it is). Returns the
 * transport's error (e.g. -EPIPE, -ECONNRESET: it sticks, and the unsent
 * bytes stay buffered until the stream is freed), a cancellation code (the
 * unsent bytes stay buffered; drain again to send them), WEFT_EBUSY (another
 * task is draining), WEFT_ENOTASK or WEFT_EWRONGLOOP. */
WEFT_EXTERN int weft_stream_drain(weft_stream *s);
/* Bytes appended and not yet handed to the transport. */
WEFT_EXTERN size_t weft_stream_unsent(const weft_stream *s);

/* Suspension point. Sends `len` bytes of the file `fd` from offset `off`
 * (the fd's own offset is neither used nor moved), after whatever the
 * stream has buffered, in order, as weft_stream_drain would send them. On a
 * stream made by weft_stream_new_fd the kernel copies the file to the
 * socket or pipe (sendfile(2)), waiting for room as drain does; on any
 * other transport (TLS, a test double), or where the kernel refuses
 * sendfile for this file, the bytes are read (pread) into the output buffer
 * in pieces and drained. fd is borrowed: a regular file, or anything
 * pread and sendfile accept. Reads of the file are not suspension points: a
 * slow disk stalls the loop, as it would nginx without aio.
 * *sent (if not NULL) is set to the file bytes handed to the transport,
 * on success (len) and on failure alike, so a caller that was cancelled or
 * timed out knows where the file stands. Returns 0; WEFT_EOF if the file
 * ended before `len` bytes; a read error of the file (-EIO, -EISDIR...);
 * WEFT_EINVAL (fd or off negative); drain's errors (a sticky transport
 * error, a cancellation code, WEFT_EBUSY, WEFT_ENOTASK, WEFT_EWRONGLOOP);
 * WEFT_ECLOSED after weft_stream_shutdown; WEFT_ENOMEM. */
WEFT_EXTERN int weft_stream_sendfile(weft_stream *s, int fd, off_t off, size_t len, size_t *sent);

/* Suspension point. Half-closes: drains, then tells the peer that nothing
 * more will come (transport shutdown_write: TCP's FIN); reading goes on.
 * Afterwards writes return WEFT_ECLOSED. Returns 0 (also if already shut
 * down), drain's errors (then nothing is shut), -ENOTSUP (the transport
 * cannot half-close) or the transport's error. */
WEFT_EXTERN int weft_stream_shutdown(weft_stream *s);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_STREAM_H */
