/* Helpers shared by the tests of primitives that wake tasks in order
 * (test_sync.c, test_queue.c): a log of who did what when, small casts
 * between ints and task arguments, and ways to let spawned tasks settle. */
#ifndef WEFT_TEST_ORDER_H
#define WEFT_TEST_ORDER_H

#include "test.h"

static int order[256], norder;
static inline void note(int id) { order[norder++] = id; }
#define ASSERT_ORDER(...) do { \
    int want_[] = { __VA_ARGS__ }; \
    ASSERT_EQ(norder, (int)(sizeof want_ / sizeof *want_)); \
    for (int i_ = 0; i_ < norder; i_++) ASSERT_EQ(order[i_], want_[i_]); \
} while (0)

#define ID(arg) ((int)(intptr_t)(arg))
#define AS_ARG(i) ((void *)(intptr_t)(i))
#define RESULT(code) ((void *)(intptr_t)(code))

/* Joins t and returns the code it ended with. */
static inline int joined(weft_task *t) {
    void *r = (void *)1;
    ASSERT(t);
    ASSERT_ERR(weft_join(t, &r), 0);
    return (int)(intptr_t)r;
}

/* Lets every spawned task run until it parks (each round runs every ready
 * task once; a few rounds cover tasks that wake one another). */
static inline void settle(void) {
    for (int i = 0; i < 4; i++) ASSERT_ERR(weft_yield(), 0);
}

#endif
