/* The io_uring poller backend: not built yet (see the I/O issue). Its ops
 * are all NULL, which choose_poller reads as "not available". */
#include "internal.h"

const weft__poller weft__poller_uring = { "uring", 0, 0, 0, 0, 0, 0, 0 };
