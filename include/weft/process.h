/* weft processes: child programs that only the calling task waits for
 * (asyncio's create_subprocess_exec / create_subprocess_shell and its
 * Process, libuv's uv_spawn).
 *
 * A child's stdin, stdout and stderr are each inherited, /dev/null, or a
 * pipe whose other end the parent holds as a weft_stream (weft/stream.h).
 * Waiting for the exit is a suspension point: the loop watches a pidfd
 * (pidfd_open, Linux 5.3), so no SIGCHLD handler is installed and no other
 * child of the program is touched. Where pidfds are missing the wait polls
 * the child (waitpid with WNOHANG) with a backoff from 1 ms to 50 ms, so an
 * exit is seen up to 50 ms late there.
 *
 * No zombie, ever: every child is reaped by weft. A cancelled wait
 * terminates the child (SIGTERM, then SIGKILL after the grace period) and
 * reaps it before it returns; weft_process_free kills (SIGKILL) a child
 * still running and reaps it. So the program must leave weft's children to
 * weft: no SIGCHLD set to SIG_IGN, no waitpid(-1) elsewhere (the wait would
 * then report -ECHILD).
 *
 * No fd leaks into children: weft's pipes are close-on-exec, and by default
 * the child starts with only 0, 1 and 2 open (asyncio's close_fds=True).
 * The child starts with every signal unblocked and at its default action
 * (a loop's thread may block some, and a program may ignore SIGPIPE).
 *
 * Everything follows weft.h's conventions; none of it is thread-safe: a
 * process belongs to the loop it was spawned on.
 */
#ifndef WEFT_PROCESS_H
#define WEFT_PROCESS_H

#include <weft.h>
#include <weft/stream.h>

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a child's stdin, stdout or stderr is. */
enum {
    WEFT_STDIO_INHERIT = 0,  /* the parent's own fd 0, 1 or 2 */
    WEFT_STDIO_DEVNULL,      /* /dev/null */
    WEFT_STDIO_PIPE,         /* a pipe: weft_process_stdin/stdout/stderr */
    WEFT_STDIO_STDOUT,       /* stderr only: wherever stdout goes (2>&1) */
};

/* How long a cancelled wait gives the child between SIGTERM and SIGKILL:
 * Trio's run_process waits 5 s too; Docker's stop 10 s. */
#define WEFT_PROCESS_GRACE (5 * WEFT_SECOND)
/* communicate's default cap on each of stdout and stderr. */
#define WEFT_PROCESS_LIMIT ((size_t)64 << 20)

typedef struct weft_process weft_process;

/* Options for a child; zero-initialise: every zero field is the default. */
typedef struct weft_process_opts {
    int stdin_mode, stdout_mode, stderr_mode;  /* WEFT_STDIO_*; 0 = inherit */
    char *const *env;   /* the child's environment, "NAME=value" strings ending
                           with NULL (copied by the spawn); NULL = the
                           calling process's (environ) */
    const char *cwd;    /* the child's working directory; NULL = ours */
    int64_t kill_grace; /* ns between SIGTERM and SIGKILL when a wait is
                           cancelled; 0 = WEFT_PROCESS_GRACE; negative:
                           SIGKILL at once */
    int keep_fds;       /* nonzero: the caller's fds that are not
                           close-on-exec stay open in the child; 0: the
                           child gets only 0, 1 and 2 */
} weft_process_opts;

/* Starts the program argv[0] with arguments argv (ending with NULL), as
 * asyncio's create_subprocess_exec: a name without a slash is searched for
 * in the calling process's PATH (not opts->env's). Not a suspension point (posix_spawn returns once the child has
 * exec'd), but needs a loop on this thread, whose tasks may then wait for
 * the child. On success *out is the caller's, released with
 * weft_process_free (which also reaps the child). Returns 0; WEFT_ENOTASK
 * (no loop on this thread); WEFT_EINVAL (argv or argv[0] NULL, a bad mode,
 * WEFT_STDIO_STDOUT for stdin or stdout); WEFT_ENOMEM; -EMFILE / -ENFILE
 * (no fds for the pipes); or the exec's error as posix_spawn reports it:
 * -ENOENT (no such program, or cwd does not exist), -EACCES, -ENOEXEC,
 * -E2BIG... On an error no child runs and nothing is left open. */
WEFT_EXTERN int weft_process_exec(weft_process **out, const char *const *argv,
                                  const weft_process_opts *opts);
/* Starts `/bin/sh -c cmd` (asyncio's create_subprocess_shell); as
 * weft_process_exec. A command the shell cannot find is the shell's exit
 * status 127, not an error here. WEFT_EINVAL if cmd is NULL. */
WEFT_EXTERN int weft_process_shell(weft_process **out, const char *cmd,
                                   const weft_process_opts *opts);

/* Reaps the child if it has not been reaped yet, killing it first
 * (SIGKILL) if it still runs, so no zombie is left; then closes the pipes
 * (unsent bytes are dropped) and frees p. Not a suspension point (usable
 * outside any task, after the loop ended): the reap blocks the thread for
 * as long as the kernel takes to end a killed process, normally well under
 * a millisecond; to give a child time to finish, wait for it first.
 * Returns 0, or WEFT_EBUSY (nothing done) while a task is inside a call on
 * p. NULL is a no-op. */
WEFT_EXTERN int weft_process_free(weft_process *p);

/* The child's process id (valid until the child is reaped: after that
 * another process may get it). */
WEFT_EXTERN pid_t weft_process_pid(const weft_process *p);

/* The parent's end of the child's stdin, stdout or stderr pipe, or NULL if
 * that one is not a pipe (or stdin was closed). Borrowed: the stream is
 * p's, freed by weft_process_free; never close or free it yourself (use
 * weft_process_close_stdin). Writes to a stdin whose reader has gone are
 * -EPIPE, never SIGPIPE. */
WEFT_EXTERN weft_stream *weft_process_stdin(weft_process *p);
WEFT_EXTERN weft_stream *weft_process_stdout(weft_process *p);
WEFT_EXTERN weft_stream *weft_process_stderr(weft_process *p);

/* Suspension point if bytes are buffered. Flushes and closes the stdin
 * pipe, so the child reads end of file (a pipe cannot half-close, so this
 * is how a child such as `sort` learns the input is complete). Returns what
 * weft_stream_close returns (e.g. -EPIPE: the child stopped reading before
 * taking everything; the pipe is closed anyway), WEFT_EBUSY (another task
 * is draining it: nothing done), or 0, also when stdin is not a pipe or is
 * closed already. */
WEFT_EXTERN int weft_process_close_stdin(weft_process *p);

/* Suspension point (asyncio's Process.wait). Waits for the child to end,
 * reaps it and stores its return code in *returncode (if not NULL): the
 * exit status (0..255), or -N if signal N killed it (asyncio's
 * returncode). Once reaped, every call returns the same at once.
 *
 * A wait that is cancelled (or whose scope's deadline passes), also one
 * called already cancelled, terminates the child: SIGTERM, then SIGKILL if it has not ended after
 * opts.kill_grace; it waits for the end (shielded: a second cancel cannot
 * cut it short), reaps the child and then returns the cancellation code,
 * with the return code stored as above (usually -SIGTERM).
 *
 * Does not read the pipes: a child that writes more than a pipe holds
 * waits for a reader, so read stdout and stderr first (or use
 * weft_process_communicate). Returns 0, a cancellation code, WEFT_ENOTASK,
 * WEFT_EWRONGLOOP, WEFT_EBUSY (another task waits on p), or
 * -ECHILD (someone else reaped the child: see above). */
WEFT_EXTERN int weft_process_wait(weft_process *p, int *returncode);
/* Not a suspension point. Reaps the child if it has ended: returns 0 and
 * stores the return code as weft_process_wait; WEFT_EAGAIN if it still
 * runs; -ECHILD as weft_process_wait. */
WEFT_EXTERN int weft_process_try_wait(weft_process *p, int *returncode);

/* Sends signal `sig` to the child (asyncio's send_signal; SIGTERM is its
 * terminate, SIGKILL its kill). Race-free where pidfds exist: the signal
 * can never reach another process that took the child's id. Returns 0,
 * -ESRCH once the child has been reaped (weft signals no reaped id), or
 * -EINVAL for a bad signal number. (A child that has exited but is not yet
 * reaped takes the signal without effect: 0.) */
WEFT_EXTERN int weft_process_kill(weft_process *p, int sig);

/* What weft_process_communicate collected. The buffers are p's, valid
 * until weft_process_free (or the next communicate), each followed by a
 * NUL byte that the lengths leave out; NULL (length 0) for a stream that is
 * not a pipe. */
typedef struct weft_process_output {
    const char *out, *err;
    size_t out_len, err_len;
    int returncode;      /* as weft_process_wait's */
} weft_process_output;

/* Suspension point (asyncio's Process.communicate). Concurrently writes
 * `input` (len bytes, borrowed for the call) to the child's stdin and then
 * closes it, and reads its stdout and stderr pipes to their ends, then
 * waits for the child to exit. Pipes the caller read from before keep only
 * what was left in them. With len 0 stdin is just closed (if it is a pipe).
 * A child that stops reading stdin early is no error (its -EPIPE is
 * dropped, as asyncio does). `limit` caps each of stdout and stderr (0 =
 * WEFT_PROCESS_LIMIT).
 *
 * Returns 0 with *res filled; or, with the child terminated as a cancelled
 * wait does (SIGTERM, grace, SIGKILL) and reaped, and *res filled with what
 * was read (the first `limit` bytes of an overflowing stream):
 *  - WEFT_EOVERFLOW: stdout or stderr passed `limit`;
 *  - a cancellation code;
 *  - WEFT_ENOMEM or a pipe's read error.
 * Fails without doing anything with WEFT_EINVAL (res NULL, or len > 0 and
 * stdin not a pipe or closed), WEFT_ENOTASK, WEFT_EWRONGLOOP or WEFT_EBUSY
 * (another task is inside a wait or communicate on p). As with a wait, a
 * call made already cancelled ends the child. */
WEFT_EXTERN int weft_process_communicate(weft_process *p, const void *input, size_t len,
                                         size_t limit, weft_process_output *res);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_PROCESS_H */
