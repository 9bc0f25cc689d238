/* weft DNS: name resolution that suspends only the calling task.
 *
 * getaddrinfo(3) blocks, so weft_getaddrinfo runs it on the loop's thread
 * pool (weft/thread.h): it is the C library's resolver, with everything it
 * honours (/etc/hosts, nsswitch.conf, resolv.conf), and one lookup occupies
 * one pool thread while it runs.
 */
#ifndef WEFT_DNS_H
#define WEFT_DNS_H

#include <weft.h>

#include <netdb.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Suspension point. Resolves `host` and `port` (either may be NULL, not
 * both; a service name or a decimal port) with getaddrinfo(3) on a pool
 * thread. `hints` may be NULL (any family, any socket type) and is copied,
 * as are the strings: nothing needs to outlive the call.
 *
 * On success stores the list in *out (the caller's: free it with
 * freeaddrinfo) and returns 0. On any error *out is untouched.
 *
 * Cancellable: a cancelled (or timed-out) lookup returns at once; the
 * lookup itself cannot be stopped and finishes on its thread, and its
 * result is freed then (or when the loop closes, which waits for it).
 *
 * Returns 0, or:
 *  - WEFT_ENOTFOUND: the name does not exist, or has no address of the
 *    family asked for (EAI_NONAME, EAI_NODATA, EAI_ADDRFAMILY);
 *  - WEFT_EDNSAGAIN: a temporary failure, such as no answer from the name
 *    server (EAI_AGAIN): try again later;
 *  - WEFT_EDNSFAIL: the resolver failed for good (EAI_FAIL);
 *  - WEFT_EINVAL: both host and port NULL, out NULL, or hints getaddrinfo refuses
 *    (EAI_BADFLAGS, EAI_FAMILY, EAI_SOCKTYPE), or a service not available
 *    for the socket type (EAI_SERVICE);
 *  - WEFT_ENOMEM (EAI_MEMORY, or the request's own memory);
 *  - -errno for EAI_SYSTEM; or
 *  - WEFT_ECANCELED / WEFT_ETIMEDOUT, or weft_to_thread's other errors. */
WEFT_EXTERN int weft_getaddrinfo(const char *host, const char *port,
                                 const struct addrinfo *hints, struct addrinfo **out);

/* The WEFT_E* code for a getaddrinfo(3) return value (EAI_*; 0 gives 0), as
 * weft_getaddrinfo maps them. For EAI_SYSTEM, read errno straight after the
 * failed call. */
WEFT_EXTERN int weft_gai_error(int eai);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_DNS_H */
