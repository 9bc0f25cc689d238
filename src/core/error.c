/* Error names and messages, and the version. */
#include "internal.h"

#include <string.h>

static const struct { int code; const char *name, *msg; } errors[] = {
    { WEFT_ENOTASK, "WEFT_ENOTASK", "not called from a weft task" },
    { WEFT_EWRONGLOOP, "WEFT_EWRONGLOOP", "object belongs to another thread's loop" },
    { WEFT_ECLOSED, "WEFT_ECLOSED", "closed or shut down" },
    { WEFT_EOF, "WEFT_EOF", "end of file" },
    { WEFT_EINTR, "WEFT_EINTR", "interrupted" },
    { WEFT_ENOTFOUND, "WEFT_ENOTFOUND", "name not found" },
    { WEFT_EDNSAGAIN, "WEFT_EDNSAGAIN", "temporary failure in name resolution" },
    { WEFT_EDNSFAIL, "WEFT_EDNSFAIL", "name resolution failed" },
    { WEFT_ETLS, "WEFT_ETLS", "TLS failure" },
    { WEFT_ECERT, "WEFT_ECERT", "certificate verification failed" },
    { WEFT_ECERTEXPIRED, "WEFT_ECERTEXPIRED", "certificate expired or not yet valid" },
    { WEFT_ECERTHOST, "WEFT_ECERTHOST", "certificate does not match the host name" },
    { WEFT_ECERTSELFSIGNED, "WEFT_ECERTSELFSIGNED", "self-signed certificate" },
    { WEFT_ECERTUNTRUSTED, "WEFT_ECERTUNTRUSTED", "certificate issued by an unknown authority" },
    { WEFT_EHTTP, "WEFT_EHTTP", "malformed HTTP message" },
    { WEFT_EURL, "WEFT_EURL", "malformed or unsupported URL" },
    { WEFT_ETOOBIG, "WEFT_ETOOBIG", "size limit exceeded" },
    { WEFT_EHTTPSTATUS, "WEFT_EHTTPSTATUS", "HTTP error status (4xx or 5xx)" },
    { WEFT_EREDIRECTS, "WEFT_EREDIRECTS", "too many redirects" },
    { WEFT_ECONNTIMEOUT, "WEFT_ECONNTIMEOUT", "connect timed out" },
    { WEFT_EREADTIMEOUT, "WEFT_EREADTIMEOUT", "read timed out" },
    { WEFT_EWRITETIMEOUT, "WEFT_EWRITETIMEOUT", "write timed out" },
    { WEFT_EPOOLTIMEOUT, "WEFT_EPOOLTIMEOUT", "timed out waiting for a pooled connection" },
    { WEFT_EDECODE, "WEFT_EDECODE", "corrupt content encoding" },
    { WEFT_ENOMEM, "WEFT_ENOMEM", "out of memory" },
    { WEFT_EINVAL, "WEFT_EINVAL", "invalid argument" },
    { WEFT_EAGAIN, "WEFT_EAGAIN", "would have to wait" },
    { WEFT_EBUSY, "WEFT_EBUSY", "resource busy" },
    { WEFT_EPERM, "WEFT_EPERM", "operation not permitted" },
    { WEFT_EDEADLK, "WEFT_EDEADLK", "deadlock: every task waits and nothing can wake one" },
    { WEFT_EOVERFLOW, "WEFT_EOVERFLOW", "value would pass its bound" },
    { WEFT_ECANCELED, "WEFT_ECANCELED", "cancelled" },
    { WEFT_ETIMEDOUT, "WEFT_ETIMEDOUT", "timed out" },
};

const char *weft_strerror(int err) {
    if (err == 0) return "success";
    for (size_t i = 0; i < sizeof errors / sizeof *errors; i++)
        if (errors[i].code == err) return errors[i].msg;
    if (err < 0 && err > -4000) {
        const char *s = strerrordesc_np(-err);
        if (s) return s;
    }
    return "unknown error";
}

const char *weft_err_name(int err) {
    if (err == 0) return "0";
    for (size_t i = 0; i < sizeof errors / sizeof *errors; i++)
        if (errors[i].code == err) return errors[i].name;
    if (err < 0 && err > -4000) {
        const char *s = strerrorname_np(-err);
        if (s) return s;
    }
    return "WEFT_EUNKNOWN";
}

unsigned weft_version(void) { return WEFT_VERSION; }

#define STR2(x) #x
#define STR(x) STR2(x)
const char *weft_version_string(void) {
    return STR(WEFT_VERSION_MAJOR) "." STR(WEFT_VERSION_MINOR) "." STR(WEFT_VERSION_PATCH);
}
