/* weft_getaddrinfo: getaddrinfo(3) on the loop's thread pool.
 *
 * The request (copies of the arguments, and the answer) is one allocation
 * that the job owns from submission: the waiting task frees it when it gets
 * the answer, and the pool's drop hook frees it (and the answer) when the
 * task was cancelled and nobody will read it. So the caller's strings and
 * hints need not outlive the call, and a cancelled lookup leaks nothing. */
#include "core_iface.h"

#include "weft/dns.h"
#include "weft/thread.h"

#include <stdlib.h>
#include <string.h>

/* The resolver, through a pointer so that tests can put a slow one in. */
int (*weft__getaddrinfo)(const char *, const char *, const struct addrinfo *,
                         struct addrinfo **) = getaddrinfo;

typedef struct request {
    const char *host, *port;     /* point into buf, or NULL */
    struct addrinfo hints;
    bool has_hints;
    struct addrinfo *res;
    int rc, err;                 /* getaddrinfo's return, errno after it */
    char buf[];
} request;

int weft_gai_error(int eai) {
    switch (eai) {
    case 0: return 0;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        return WEFT_ENOTFOUND;
    case EAI_AGAIN: return WEFT_EDNSAGAIN;
    case EAI_FAIL: return WEFT_EDNSFAIL;
    case EAI_MEMORY: return WEFT_ENOMEM;
    case EAI_SYSTEM: return errno ? -errno : WEFT_EDNSFAIL;
    default: return WEFT_EINVAL;  /* BADFLAGS, FAMILY, SOCKTYPE, SERVICE, OVERFLOW */
    }
}

static void *lookup(void *arg) {
    request *r = arg;
    errno = 0;
    r->rc = weft__getaddrinfo(r->host, r->port, r->has_hints ? &r->hints : NULL, &r->res);
    r->err = errno;
    return NULL;
}

/* The pool's drop hook: the task was cancelled, nobody will read the
 * answer. Runs on the loop's thread, or while it closes. */
static void drop(void *arg, void *result) {
    (void)result;
    request *r = arg;
    if (r->res) freeaddrinfo(r->res);
    free(r);
}

static char *copy(char **p, const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = memcpy(*p, s, n);
    *p += n;
    return d;
}

int weft_getaddrinfo(const char *host, const char *port, const struct addrinfo *hints,
                     struct addrinfo **out) {
    int err = weft__point(NULL);
    if (err) return err;
    if ((!host && !port) || !out) return WEFT_EINVAL;
    size_t len = (host ? strlen(host) + 1 : 0) + (port ? strlen(port) + 1 : 0);
    /* calloc, not the loop's allocator: a pool thread writes into it, and
     * it needs no loop to be freed. */
    request *r = calloc(1, sizeof *r + len);
    if (!r) return WEFT_ENOMEM;
    char *p = r->buf;
    r->host = copy(&p, host);
    r->port = copy(&p, port);
    if (hints) {
        /* Only the input fields: the list pointers of a hint are ignored. */
        r->hints = (struct addrinfo){ .ai_flags = hints->ai_flags, .ai_family = hints->ai_family,
                                      .ai_socktype = hints->ai_socktype,
                                      .ai_protocol = hints->ai_protocol };
        r->has_hints = true;
    }
    err = weft_to_thread(lookup, r, drop, NULL);
    if (err) {
        /* Before the job was queued (no drop coming) r is still ours. */
        if (err != WEFT_ECANCELED && err != WEFT_ETIMEDOUT) free(r);
        return err;
    }
    if (r->rc == 0) *out = r->res;
    else err = r->rc == EAI_SYSTEM ? (r->err ? -r->err : WEFT_EDNSFAIL) : weft_gai_error(r->rc);
    free(r);
    return err;
}
