/* What the core shows the layers built on it (src/io, src/tls, src/http) and
 * nothing else: the loop and task structs stay core's own (src/core/
 * internal.h), so a higher layer reaches the loop only through the calls
 * below. The build gives each higher layer this folder, never src/core
 * itself, and `make check` fails if one of core's objects references a
 * symbol of a higher layer (scripts/layers.py).
 *
 * A suspension point in a higher layer is written:
 *
 *     weft_task *t; int err = weft__point(&t);        // a task, not cancelled
 *     if (err) return err;
 *     ... try the work; when it must wait, for a thread or an fd:
 *     err = weft__park_for(t, WEFT_AWAIT_THREAD, obj, deadline);
 *
 * and whoever finishes the work calls weft__wake(t, 0).
 */
#ifndef WEFT_CORE_IFACE_H
#define WEFT_CORE_IFACE_H

#include "weft.h"
#include "weft/debug.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define WEFT_LIKELY(x) __builtin_expect(!!(x), 1)
#define WEFT_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------ memory
 *
 * One allocator handle, weft__mem, for everything a layer allocates. An
 * object that may be freed after its loop's weft_run has returned (a call-
 * later handle, a stream, a TLS connection, an HTTP client, server, router,
 * response) captures the handle when it is made and frees through that copy,
 * never through the loop: so the rule weft.h states for
 * weft_loop_opts.realloc holds, that the hook must stay usable until the
 * last such object is freed, and nothing else is asked of the program. */
typedef struct weft__mem {
    weft_realloc_fn fn;
    void *ud;
} weft__mem;

/* The calling thread's loop's allocator, or the C library's outside a loop. */
weft__mem weft__mem_here(void);
static inline void *weft__mem_alloc(weft__mem m, size_t n) { return m.fn(m.ud, NULL, n ? n : 1); }
static inline void *weft__mem_grow(weft__mem m, void *p, size_t n) { return m.fn(m.ud, p, n ? n : 1); }
static inline void weft__mem_free(weft__mem m, void *p) { if (p) m.fn(m.ud, p, 0); }
/* A copy of s[0, len) with a NUL after it, or NULL. */
char *weft__mem_strndup(weft__mem m, const char *s, size_t len);

/* ------------------------------------------------------------- tasks */

/* weft__park_for's result when its own deadline (not a scope's) passed. */
#define WEFT__EXPIRED 1

/* The entry of every suspension point: is the caller a task of this
 * thread's loop (else WEFT_ENOTASK, with a debug-mode message naming `fn`,
 * the public call), and has it been cancelled (the cancellation code)? 0
 * and *t (if t is not NULL) when it may go on. */
int weft__enter_point(weft_task **t, const char *fn);
#define weft__point(t) weft__enter_point((t), __func__)
/* weft__enter_point for an object bound to loop L (a stream): between the
 * two checks, WEFT_EWRONGLOOP if the caller is a task of another loop. */
int weft__enter_on(weft_loop *L, const char *fn);

/* Parks the running task t until weft__wake, recording what it waits for
 * (WEFT_AWAIT_*, and the object) for the dump. The wait ends at `deadline`
 * (absolute, or WEFT_FOREVER) or its scopes' deadline, whichever is first.
 * Returns 0 if woken by the work being done, a negative code the waker
 * delivered, WEFT__EXPIRED if `deadline` passed, or the cancellation code. */
int weft__park_for(weft_task *t, int kind, const void *obj, int64_t deadline);
/* weft__park_for, except that a cancellation code it returns leaves the
 * scope that catches it unmarked (weft_scope_leave): for a caller that may
 * yet report success, its work having been done in a race with the cancel.
 * If it does report the code, weft_check_cancel() marks the scope. */
int weft__park_unmarked(weft_task *t, int kind, const void *obj, int64_t deadline);
/* Makes a parked task ready with `status` (0: the work was done). A no-op on
 * a task that is not waiting. */
void weft__wake(weft_task *t, int status);

/* Says, for the dump and the trace, what the calling task's next waits are
 * for, in a higher layer's words: `what` (a static string) and `on` (a
 * string that outlives the call to clear it), shown as "what on"; NULL
 * clears it. Two stores: cheap enough to stay on outside debug mode. */
void weft__await_context(const char *what, const char *on);
/* The running task's arg if that task runs fn, else NULL: how a layer
 * finds its own record from inside a callback it called on that task. */
void *weft__current_arg(weft_task_fn fn);
/* The same for t, a task that waits to start (weft_spawn_when_readable):
 * its words until it starts; `on` must outlive that. */
void weft__await_context_of(weft_task *t, const char *what, const char *on);

/* Runs as nobody's task, for callbacks a higher layer calls itself (a
 * thread job's drop hook): weft_current() is NULL in between, and
 * suspension points return WEFT_ENOTASK. end takes what begin returned. */
weft_task *weft__nobody_begin(weft_loop *L);
void weft__nobody_end(weft_loop *L, weft_task *saved);

/* -------------------------------------------------------------- loop */

/* A reference says something outside the loop's tasks (another thread, the
 * kernel) will wake one of them: while any is held the loop sleeps in its
 * poller rather than call the tasks deadlocked. Counts; loop thread only. */
void weft__loop_ref(weft_loop *L);
void weft__loop_unref(weft_loop *L);

/* A higher layer's state per loop, made when first needed (the thread pool
 * is one): found by the address of the layer's own key, and closed by
 * key->close when the loop closes, after its last task ended and before
 * the work other threads queued is dropped, last set first closed. */
typedef struct weft__local_key {
    void (*close)(weft_loop *L, void *state);
} weft__local_key;
void *weft__local_get(weft_loop *L, const weft__local_key *key);
/* 0, or WEFT_ENOMEM when the loop's few slots are all taken. */
int weft__local_set(weft_loop *L, const weft__local_key *key, void *state);

/* The options the loop was made with (zeroes for defaults). */
const weft_loop_opts *weft__loop_opts(weft_loop *L);

/* Work another thread hands a loop: `run` is called on the loop's thread,
 * as nobody's task, at the loop's next upkeep; with closing = true instead
 * when the loop closes before it could (then only to release the node and
 * what it holds). The node is the poster's until then: weft__post never
 * allocates, so a worker reporting a finished job cannot fail. */
typedef struct weft__post_node weft__post_node;
struct weft__post_node {
    weft__post_node *next;
    void (*run)(weft_loop *L, weft__post_node *n, bool closing);
};
/* Queues n for L and wakes L if it sleeps. Any thread; not a signal
 * handler. The loop must not have closed yet (see weft__local_key: a
 * layer's close runs first, and joins its threads). */
void weft__post(weft_loop *L, weft__post_node *n);

/* ------------------------------------------------------------ readiness
 *
 * The core owns every fd a task waits on (src/core/watch.c): the poller
 * watches it, edge-triggered, from the first wait until weft__fd_forget. */

/* Suspends t until `fd` is readable (dir 0) or writable (dir 1), or
 * `deadline`: 0, WEFT_ETIMEDOUT, a cancellation code, WEFT_ECLOSED (the fd
 * was forgotten meanwhile), WEFT_EBUSY (another task waits in that
 * direction), -EBADF, WEFT_ENOMEM or the poller's error. `fn` names the
 * public call for WEFT_ENOTASK's message. */
int weft__fd_wait(int fd, int dir, int64_t deadline, const char *fn);
/* weft_spawn_when_readable (weft/io.h), and the same for a child of group
 * g (g non-NULL; out is then unused and the task detached, as
 * weft_group_spawn's). */
int weft__spawn_when_readable(weft_task **out, const weft_spawn_opts *opts, int fd,
                              int64_t deadline, weft_task_fn fn, void *arg, weft_group *g);
/* The completion engine, where the loop's poller has one (io_uring; epoll
 * has none and these change nothing). weft__fd_capture(fd) says that fd,
 * a stream socket, is read only through weft__fd_take from now on: the
 * kernel then receives its input into the loop's buffers as it comes, with
 * no system call per read, and sends are queued to the kernel with the
 * loop's next wait. Until weft__fd_forget. Returns 0 (also when the poller
 * cannot capture: then nothing changes) or WEFT_ENOMEM. */
int weft__fd_capture(int fd);
/* Has the loop captured input of fd (bytes, its end or an error) that the
 * socket itself no longer shows? */
bool weft__fd_captured(int fd);
/* What weft__fd_take and weft__fd_send return when the caller must make
 * the system call itself: fd not captured, or the poller fell back (out
 * of buffers, a kernel without the operation). */
#define WEFT__DIRECT (-5000)
/* Copies up to len captured bytes of fd into buf, waiting while none are
 * there: the count; 0 at end of stream; the receive's error (sticky); a
 * cancellation code, WEFT_ECLOSED, WEFT_EBUSY as weft__fd_wait; or
 * WEFT__DIRECT. `fn` names the public call. */
ssize_t weft__fd_take(int fd, void *buf, size_t len, const char *fn);
/* Sends iov (n >= 1, borrowed until it returns) on captured fd with
 * MSG_NOSIGNAL as one submitted operation, suspending until it completes:
 * the count (perhaps short), -errno, or WEFT__DIRECT. Cancelled meanwhile,
 * it cancels the operation and waits for its end: then either nothing was
 * sent (the cancellation code) or the bytes it sent are reported as sent,
 * and the cancellation waits for the next suspension point. */
ssize_t weft__fd_send(int fd, const struct iovec *iov, int n);
/* Wakes the fd's waiters with WEFT_ECLOSED and stops watching it. */
void weft__fd_forget(int fd);
/* A stream socket whose last read came up short, with no readable edge
 * since: its queue is known empty, and a read would only say EAGAIN. */
bool weft__fd_known_empty(int fd);
/* Is nothing known to be there to read on a socket: never waited on (a new
 * connection), or known empty (which a socket is from its first wait until
 * the poller reports input)? A stream waits for input before it takes a
 * buffer when this says so; false once an edge or a full read says bytes
 * (or the end) are there. */
bool weft__fd_input_unknown(int fd);
/* Tells the table a read of `len` bytes returned n (-EAGAIN: found
 * nothing). */
void weft__fd_note_read(int fd, ssize_t n, size_t len);

/* ------------------------------------------------------------ debugging */

/* A note to debug mode's report (WEFT_LOOP_DEBUG only). */
void weft__debug(weft_loop *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Debug mode's leak records: an object the program must free, with the
 * stack that made it, reported if still open when the loop closes as
 * "WHAT 0x..., never freed (HOW); made at:". weft__leak_watch puts the
 * record's address in *slot (NULL when debug mode is off, the only cost
 * then being that branch); the loop clears *slot if it closes first, so
 * weft__leak_unwatch is always safe. `what` and `how` are static strings. */
typedef struct weft__track weft__track;
void weft__leak_watch(weft__track **slot, const char *what, const char *how, const void *obj);
void weft__leak_unwatch(weft__track **slot);

#endif
