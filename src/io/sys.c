/* The system calls of the I/O data path and of connection setup, called
 * through one table (STYLE.md item 10) so that tests can put a fault in
 * front of any of them: EINTR, spurious EAGAIN, short transfers, resets,
 * EMFILE, ENOMEM. Everything defaults to the C library; the cost when no
 * test is injecting is one indirect call, next to a system call.
 *
 * Reads of files (resolver, signal pipe, thread pool wake-ups) and poller
 * calls stay direct: they are not where a peer or the kernel's buffers can
 * misbehave, and a fault there tests the test more than weft.
 */
#include "io_iface.h"

#include <sys/sendfile.h>
#include <unistd.h>

#define LIBC { .read = read, .write = write, .writev = writev, .recv = recv, .send = send, \
               .sendmsg = sendmsg, .accept4 = accept4, .connect = connect, .socket = socket, \
               .sendfile = sendfile }

const weft__sys_table weft__sys_default = LIBC;
weft__sys_table weft__sys = LIBC;
