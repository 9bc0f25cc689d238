/* weft channels: a bounded FIFO queue of void * items between loops.
 *
 * weft runs one loop per thread, and a weft_queue serves the tasks of one
 * loop at a time. A channel is its counterpart for tasks on different loops
 * (threads): put and get may be called from a task of any loop, at the same
 * time, with the same backpressure (put waits while the channel is full) and
 * the same shutdown (weft_chan_close: putters are refused, getters drain
 * what is left and then see WEFT_EOF). Go's channels and Tokio's bounded
 * mpsc are the models; asyncio.Queue's contract is the one kept.
 *
 * Thread safety: every function here may be called from any thread, at the
 * same time as the others, except weft_chan_free (when nothing else uses the
 * channel). The suspension points (put, get) must be called from a task of
 * the calling thread's loop; the try_ calls and close need no task, so a
 * plain thread, a pool job or a loop callback may feed or close a channel.
 *
 * Ordering: items come out in the order they went in (FIFO per channel, so
 * per producer too); blocked putters and getters are served in the order
 * they arrived. A put that finds a getter waiting hands the item straight to
 * it, and a get that makes room takes the first waiting putter's item in:
 * a woken waiter has always been served already, so no newcomer overtakes
 * it, and "cancelled means it did not happen" holds (see weft_chan_get).
 *
 * Items are borrowed pointers: the channel never looks at them nor frees
 * them. Ownership of what an item points to passes with it, as the program
 * decides; weft only moves the pointer.
 *
 * Deadlock detection: a task waiting on a channel keeps its loop from
 * calling its tasks deadlocked (the loop sleeps instead), since a task of
 * another loop, or another thread, may serve it at any time.
 */
#ifndef WEFT_CHAN_H
#define WEFT_CHAN_H

#include <weft.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_chan weft_chan;

/* Makes a channel holding up to `capacity` (>= 1) items. Its memory comes
 * from malloc, not from a loop's allocator (those need not be thread-safe),
 * so it may be made anywhere, in or outside a loop, and outlive any loop.
 * *out is the caller's, released with weft_chan_free. Returns 0,
 * WEFT_EINVAL (capacity 0) or WEFT_ENOMEM; on error *out is untouched. */
WEFT_EXTERN int weft_chan_new(weft_chan **out, size_t capacity);

/* Frees the channel; NULL is a no-op (0). Items still in it are dropped
 * (not freed). WEFT_EBUSY (and nothing is freed) while a task is inside
 * weft_chan_put or weft_chan_get on it, including a task that has been
 * served or woken by close but has not yet returned: close the channel and
 * let its users return first. No other call on the channel may run during
 * or after this one. */
WEFT_EXTERN int weft_chan_free(weft_chan *c);

/* Suspension point: appends `item`, waiting while the channel is full.
 * Returns 0 once the item is in the channel (or in a getter's hands);
 * WEFT_ECLOSED if the channel is closed, or gets closed while the put
 * waits (the item was not added); WEFT_ENOTASK outside a task; or a
 * cancellation code (WEFT_ECANCELED, WEFT_ETIMEDOUT): then the item was not
 * added. A put that was served (a get made room and took its item in) at the
 * moment it was cancelled returns 0: the item is in; the cancellation is
 * reported by the task's next suspension point. */
WEFT_EXTERN int weft_chan_put(weft_chan *c, void *item);

/* Appends `item` without waiting: 0, WEFT_EAGAIN if the channel is full
 * (nothing added), or WEFT_ECLOSED. Any thread; needs no task; never
 * suspends, and is not a cancellation point. */
WEFT_EXTERN int weft_chan_try_put(weft_chan *c, void *item);

/* Suspension point: removes the oldest item into *out, waiting while the
 * channel is empty. Returns 0 and the item; WEFT_EOF once the channel is
 * closed and empty (a closed channel still delivers the items left in it
 * first); WEFT_ENOTASK outside a task; or a cancellation code: then no
 * item was taken, and *out is untouched. A get that was handed an item at
 * the moment it was cancelled (a put and the cancel racing) returns 0 with
 * that item, so no item is ever lost; the cancellation is reported by the
 * task's next suspension point. */
WEFT_EXTERN int weft_chan_get(weft_chan *c, void **out);

/* Removes the oldest item without waiting: 0 and *out; WEFT_EAGAIN if the
 * channel is empty but open; WEFT_EOF if it is empty and closed. *out is
 * untouched on error. Any thread; needs no task; never suspends. */
WEFT_EXTERN int weft_chan_try_get(weft_chan *c, void **out);

/* Closes the channel: from now on puts fail with WEFT_ECLOSED, and gets
 * return the items left, then WEFT_EOF. Wakes every waiter, on every loop:
 * waiting putters return WEFT_ECLOSED (their items were not added), waiting
 * getters WEFT_EOF (a getter waits only while the channel is empty).
 * Idempotent. Any thread, in or outside a task or a loop; never suspends. */
WEFT_EXTERN void weft_chan_close(weft_chan *c);

/* Items in the channel now (a snapshot: other threads may change it at
 * once). Any thread. */
WEFT_EXTERN size_t weft_chan_size(const weft_chan *c);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_CHAN_H */
