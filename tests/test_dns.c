/* Name resolution on the thread pool: answers, errors, cancellation. */
#include "test.h"

#include <weft/dns.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

static int localhost(void *arg) {
    (void)arg;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    ASSERT_ERR(weft_getaddrinfo("localhost", "80", &hints, &res), 0);
    int loopback = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)ai->ai_addr;
            loopback += sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(sin->sin_port) == 80;
        } else if (ai->ai_family == AF_INET6) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ai->ai_addr;
            loopback += IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
        }
    }
    freeaddrinfo(res);
    ASSERT(loopback > 0);
    return 0;
}
TEST(localhost_resolves_to_a_loopback_address) { ASSERT_EQ(wt_run_real(localhost, NULL), 0); }

static int no_such_host(void *arg) {
    (void)arg;
    struct addrinfo *res = (struct addrinfo *)&res;  /* must stay untouched */
    int err = weft_getaddrinfo("no-such-host.invalid", "80", NULL, &res);
    if (err == WEFT_EDNSAGAIN) return 77;  /* no resolver reachable here */
    ASSERT_ERR(err, WEFT_ENOTFOUND);
    ASSERT(res == (struct addrinfo *)&res);
    ASSERT_STR(weft_err_name(err), "WEFT_ENOTFOUND");
    ASSERT_STR(weft_strerror(err), "name not found");
    return 0;
}
TEST(a_name_that_does_not_exist_is_enotfound) {
    int r = wt_run_real(no_such_host, NULL);
    if (r == 77) wt_skip("the resolver is unreachable (EAI_AGAIN)");
    ASSERT_EQ(r, 0);
}

static int bad_args(void *arg) {
    (void)arg;
    struct addrinfo *res;
    ASSERT_ERR(weft_getaddrinfo(NULL, NULL, NULL, &res), WEFT_EINVAL);
    struct addrinfo hints = { .ai_family = 12345 };
    ASSERT_ERR(weft_getaddrinfo("localhost", NULL, &hints, &res), WEFT_EINVAL);
    /* A numeric host never needs the resolver. */
    hints = (struct addrinfo){ .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
    ASSERT_ERR(weft_getaddrinfo("127.0.0.1", "8080", &hints, &res), 0);
    ASSERT_EQ(res->ai_family, AF_INET);
    freeaddrinfo(res);
    ASSERT_ERR(weft_getaddrinfo("not-a-number", NULL, &hints, &res), WEFT_ENOTFOUND);
    ASSERT_ERR(weft_gai_error(EAI_AGAIN), WEFT_EDNSAGAIN);
    ASSERT_ERR(weft_gai_error(EAI_FAIL), WEFT_EDNSFAIL);
    ASSERT_ERR(weft_gai_error(EAI_MEMORY), WEFT_ENOMEM);
    return 0;
}
TEST(bad_arguments_are_einval_and_numeric_hosts_resolve) { ASSERT_EQ(wt_run_real(bad_args, NULL), 0); }

/* A resolver that takes its time, through the seam dns.c leaves for tests. */
extern int (*weft__getaddrinfo)(const char *, const char *, const struct addrinfo *,
                                struct addrinfo **);
static int slow_getaddrinfo(const char *h, const char *p, const struct addrinfo *hi,
                            struct addrinfo **out) {
    usleep(300 * 1000);
    return getaddrinfo(h, p, hi, out);
}
static void *lookup_task(void *arg) {
    (void)arg;
    struct addrinfo *res;
    int err = weft_getaddrinfo("localhost", "http", NULL, &res);
    if (!err) freeaddrinfo(res);
    return weft_error(err);
}
static int cancel_lookup(void *arg) {
    (void)arg;
    weft_task *t = weft_spawn(lookup_task, NULL);
    ASSERT_ERR(weft_sleep(20 * WEFT_MILLISECOND), 0);  /* the lookup runs */
    int64_t t0 = weft_now();
    weft_cancel(t);
    void *res;
    ASSERT_ERR(weft_join(t, &res), 0);
    ASSERT_ERR(weft_error_code(res), WEFT_ECANCELED);
    ASSERT(weft_now() - t0 < 100 * WEFT_MILLISECOND);  /* at once, not in 300 ms */
    return 0;
}
TEST(a_cancelled_lookup_returns_at_once_and_its_answer_is_freed) {
    weft__getaddrinfo = slow_getaddrinfo;
    /* The loop's close waits for the lookup and frees its answer: ASan
     * (and the fd count) see nothing left. */
    ASSERT_EQ(wt_run_real(cancel_lookup, NULL), 0);
}

static int timeout_lookup(void *arg) {
    (void)arg;
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, 20 * WEFT_MILLISECOND), 0);
    struct addrinfo *res;
    ASSERT_ERR(weft_getaddrinfo("localhost", NULL, NULL, &res), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
    /* The pool thread is busy until the first lookup ends; a second still
     * gets an answer. */
    ASSERT_ERR(weft_getaddrinfo("localhost", NULL, NULL, &res), 0);
    freeaddrinfo(res);
    return 0;
}
TEST(a_lookup_ends_at_a_scope_deadline) {
    weft__getaddrinfo = slow_getaddrinfo;
    ASSERT_EQ(wt_run_real(timeout_lookup, NULL), 0);
}
