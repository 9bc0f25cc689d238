/* The epoll poller backend. For now the core only sleeps in it until the
 * next timer; the I/O layer registers file descriptors on the same epoll
 * instance. epoll_pwait2 takes a nanosecond timeout; kernels before 5.11
 * lack it, and there the timeout is rounded up to whole milliseconds, never
 * down, so a sleep never ends early. */
#include "internal.h"

#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

int weft__poll_init(weft_loop *L) {
    L->epfd = epoll_create1(EPOLL_CLOEXEC);
    return L->epfd < 0 ? -errno : 0;
}

void weft__poll_close(weft_loop *L) {
    if (L->epfd >= 0) close(L->epfd);
    L->epfd = -1;
}

void weft__poll_wait(weft_loop *L, int64_t timeout) {
    struct epoll_event ev[64];
    static int no_pwait2;
    int n;
    if (!no_pwait2) {
        struct timespec ts = { (time_t)(timeout / WEFT_SECOND), (long)(timeout % WEFT_SECOND) };
        n = epoll_pwait2(L->epfd, ev, 64, timeout < 0 ? NULL : &ts, NULL);
        if (n < 0 && errno == ENOSYS) no_pwait2 = 1;
    }
    if (no_pwait2) {
        int ms = timeout < 0 ? -1 : (int)((timeout + WEFT_MILLISECOND - 1) / WEFT_MILLISECOND);
        if (timeout > (int64_t)INT32_MAX * WEFT_MILLISECOND) ms = INT32_MAX;
        n = epoll_wait(L->epfd, ev, 64, ms);
    }
    (void)n; /* no sources are registered by the core yet */
}
