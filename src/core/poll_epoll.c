/* The epoll poller backend. Every fd a task waits on is added once, for both
 * directions, edge-triggered: a wait then costs no epoll_ctl, and a readiness
 * edge is never lost because src/core/watch.c remembers edges nobody was
 * waiting for. Sources (eventfd, signalfd) are added level-triggered, tagged in the
 * event data by their low bit (fds are stored shifted left by one).
 *
 * epoll_pwait2 takes a nanosecond timeout; kernels before 5.11 lack it, and
 * there the timeout is rounded up to whole milliseconds, never down, so a
 * sleep never ends early. */
#include "internal.h"

#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

/* Events taken per wait. Their array lives with the loop, not on the stack:
 * the wait runs on whichever task's stack is current, and 1.5 KiB there is
 * one page more for a task that sleeps at the bottom of a deep call. */
#define EVENTS 128

static int epoll_init(weft_loop *L) {
    if (!(L->epoll_ev = weft__alloc(L, EVENTS * sizeof(struct epoll_event)))) return WEFT_ENOMEM;
    if ((L->epfd = epoll_create1(EPOLL_CLOEXEC)) >= 0) return 0;
    int err = -errno;
    weft__free(L, L->epoll_ev);
    L->epoll_ev = NULL;
    return err;
}

static void epoll_close_(weft_loop *L) {
    if (L->epfd >= 0) close(L->epfd);
    L->epfd = -1;
    weft__free(L, L->epoll_ev);
    L->epoll_ev = NULL;
}

static int epoll_watch(weft_loop *L, int fd) {
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                              .data.u64 = (uint64_t)fd << 1 };
    if (epoll_ctl(L->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) return 0;
    return -errno;
}

static void epoll_unwatch(weft_loop *L, int fd) {
    epoll_ctl(L->epfd, EPOLL_CTL_DEL, fd, NULL);  /* ENOENT if closed: fine */
}

static int epoll_add_source(weft_loop *L, weft__source *src) {
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)(uintptr_t)src | 1 };
    return epoll_ctl(L->epfd, EPOLL_CTL_ADD, src->fd, &ev) == 0 ? 0 : -errno;
}

static void epoll_del_source(weft_loop *L, weft__source *src) {
    epoll_ctl(L->epfd, EPOLL_CTL_DEL, src->fd, NULL);
}

static void dispatch(weft_loop *L, const struct epoll_event *ev) {
    uint64_t u = ev->data.u64;
    if (u & 1) {
        weft__source *src = (weft__source *)(uintptr_t)(u & ~(uint64_t)1);
        src->ready(L, src);
        return;
    }
    unsigned bits = 0;
    if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) bits |= WEFT__IN;
    if (ev->events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) bits |= WEFT__OUT;
    if (ev->events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) bits |= WEFT__HUP;
    weft__fd_event(L, (int)(u >> 1), bits);
}

static void epoll_wait_(weft_loop *L, int64_t timeout) {
    struct epoll_event *ev = L->epoll_ev;
    static int no_pwait2;   /* process-wide, set by any loop's thread: atomic */
    int n = -1;
    bool pwait2 = !__atomic_load_n(&no_pwait2, __ATOMIC_RELAXED);
    if (pwait2) {
        struct timespec ts = { (time_t)(timeout / WEFT_SECOND), (long)(timeout % WEFT_SECOND) };
        n = epoll_pwait2(L->epfd, ev, EVENTS, timeout < 0 ? NULL : &ts, NULL);
        if (n < 0 && errno == ENOSYS) {
            __atomic_store_n(&no_pwait2, 1, __ATOMIC_RELAXED);
            pwait2 = false;
        }
    }
    if (!pwait2) {
        int ms = timeout < 0 ? -1 : (int)((timeout + WEFT_MILLISECOND - 1) / WEFT_MILLISECOND);
        if (timeout > (int64_t)INT32_MAX * WEFT_MILLISECOND) ms = INT32_MAX;
        n = epoll_wait(L->epfd, ev, EVENTS, ms);
    }
    for (int i = 0; i < n; i++) dispatch(L, &ev[i]);
}

const weft__poller weft__poller_epoll = {
    "epoll", epoll_init, epoll_close_, epoll_watch, epoll_unwatch,
    epoll_add_source, epoll_del_source, epoll_wait_,
    NULL, NULL, NULL, NULL,  /* no completion engine */
};
