/* The system calls of the I/O data path and of connection setup, called
 * through one table (STYLE.md item 10) so that tests can put a fault in
 * front of any of them: EINTR, spurious EAGAIN, short transfers, resets,
 * EMFILE, ENOMEM. Everything defaults to the C library; the cost when no
 * test is injecting is one indirect call, next to a system call.
 *
 * Reads of files (resolver, signal pipe, thread pool wake-ups) and poller
 * calls stay direct: they are not where a peer or the kernel's buffers can
 * misbehave, and a fault there tests the test more than weft. openat2 is
 * here for another reason: a test takes it away (ENOSYS, as on a kernel
 * before 5.6) to exercise the file handler's fallback.
 */
#include "io_iface.h"

#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

static int sys_openat2(int dir, const char *path, void *how, size_t size) {
    return (int)syscall(SYS_openat2, dir, path, how, size);
}

#define LIBC { .read = read, .write = write, .writev = writev, .recv = recv, .send = send, \
               .sendmsg = sendmsg, .accept4 = accept4, .connect = connect, .socket = socket, \
               .sendfile = sendfile, .openat2 = sys_openat2 }

const weft__sys_table weft__sys_default = LIBC;
weft__sys_table weft__sys = LIBC;
