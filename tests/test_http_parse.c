/* The HTTP/1.1 parser (src/http/parse.h): request and response heads of
 * every shape, every framing the parser must refuse with the status it must
 * answer, limits passed before the head is complete, and the chunked
 * decoder split at every byte.
 *
 * Every input is parsed from the end of a mapping followed by a PROT_NONE
 * page (picohttpparser's trick), so a read past the bytes given crashes; and
 * every head is also parsed at each of its prefixes, which must give 0 or
 * exactly the answer the whole gives. */
#include "test.h"

#include "parse.h"

#include <sys/mman.h>
#include <unistd.h>

/* ------------------------------------------------------------- harness */

#define AREA (128 * 1024)
static char *area_end;

/* A copy of s[0, n) whose last byte sits just before an inaccessible page. */
static const char *guarded(const char *s, size_t n) {
    if (!area_end) {
        long page = sysconf(_SC_PAGESIZE);
        char *m = mmap(NULL, AREA + (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ASSERT(m != MAP_FAILED);
        ASSERT(mprotect(m + AREA, (size_t)page, PROT_NONE) == 0);
        area_end = m + AREA;
    }
    ASSERT(n <= AREA);
    memcpy(area_end - n, s, n);
    return area_end - n;
}

static const weft__http_limits defaults = { 8192, 32768, 100 };
static weft__http_limits lim;       /* the limits of the next parse; defaults unless a case sets them */
static weft__hdr hdrs[128];
static weft__http_head H;           /* the last whole parse, pointing into the guarded area */
static const char *B;               /* its buffer */

static ssize_t parse_once(const char *s, size_t n, bool request, const char *method, weft__http_head *h,
                          weft__hdr *fields, size_t cap) {
    const char *b = guarded(s, n);
    *h = (weft__http_head){ .hdrs = fields, .hdrs_cap = cap, .status = -1 };
    return request ? weft__http_parse_request(b, n, h, &lim) : weft__http_parse_response(b, n, h, method, &lim);
}

/* Parses s whole into H, then each prefix, checking each gives 0 or what
 * the whole gave. Returns the whole's result. */
static ssize_t parse_all(const char *s, size_t n, bool request, const char *method) {
    static weft__hdr other[128];
    size_t cap = lim.max_headers && lim.max_headers < 128 ? lim.max_headers + 1 : 128;
    weft__http_head w;
    ssize_t whole = parse_once(s, n, request, method, &w, hdrs, cap);
    for (size_t k = 0; k < n; k++) {
        weft__http_head p;
        ssize_t r = parse_once(s, k, request, method, &p, other, cap);
        if (r == 0) continue;
        ASSERT_EQ(r, whole);
        ASSERT_EQ(p.status, w.status);
        ASSERT_EQ(p.nhdrs, w.nhdrs);
        ASSERT_EQ(p.body, w.body);
        ASSERT_EQ(p.content_length, w.content_length);
        ASSERT_EQ(p.keep_alive, w.keep_alive);
    }
    ssize_t r = parse_once(s, n, request, method, &H, hdrs, cap);
    B = area_end - n;
    return r;
}

static ssize_t req(const char *s) { return parse_all(s, strlen(s), true, NULL); }
static ssize_t resp(const char *s, const char *method) { return parse_all(s, strlen(s), false, method); }

/* The request s is refused with `status`. */
static void refused(const char *s, int status) {
    ssize_t r = req(s);
    ASSERT_ERR(r, status == 414 || status == 431 ? WEFT_ETOOBIG : WEFT_EHTTP);
    ASSERT_EQ(H.status, status);
}
static void resp_refused(const char *s) { ASSERT_ERR(resp(s, "GET"), WEFT_EHTTP); }

/* H's view v (of length n) equals the literal. */
#define ASSERT_VIEW(v, n, lit) do { ASSERT_EQ((n), strlen(lit)); ASSERT(!memcmp((v), (lit), (n))); } while (0)

__attribute__((constructor)) static void set_defaults(void) { lim = defaults; }

/* ------------------------------------------------------ valid requests */

TEST(request_minimal_get_gives_method_target_and_version) {
    const char *s = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";
    ASSERT_EQ(req(s), strlen(s));
    ASSERT_VIEW(H.method, H.method_len, "GET");
    ASSERT_VIEW(H.target, H.target_len, "/index.html?q=1");
    ASSERT_EQ(H.minor, 1);
    ASSERT_EQ(H.nhdrs, 1);
    ASSERT_VIEW(H.hdrs[0].name, H.hdrs[0].name_len, "Host");
    ASSERT_VIEW(H.hdrs[0].value, H.hdrs[0].value_len, "example.com");
    ASSERT_EQ(H.body, WEFT__BODY_NONE);
    ASSERT(H.keep_alive);
    ASSERT(!H.expect_continue && !H.upgrade);
    ASSERT(H.method >= B && H.target + H.target_len <= B + strlen(s));
}

TEST(request_head_length_excludes_the_body_that_follows) {
    const char *s = "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
    ASSERT_EQ(req(s), strlen(s) - 5);
    ASSERT_EQ(H.body, WEFT__BODY_LENGTH);
    ASSERT_EQ(H.content_length, 5);
}

TEST(request_field_values_lose_surrounding_whitespace_only) {
    ASSERT(req("GET / HTTP/1.1\r\nHost:h\r\nX-A: \t a b \t\r\nX-Empty:\r\nX-Sp:   \r\n\r\n") > 0);
    ASSERT_EQ(H.nhdrs, 4);
    ASSERT_VIEW(H.hdrs[0].value, H.hdrs[0].value_len, "h");
    ASSERT_VIEW(H.hdrs[1].value, H.hdrs[1].value_len, "a b");
    ASSERT_EQ(H.hdrs[2].value_len, 0);
    ASSERT_EQ(H.hdrs[3].value_len, 0);
}

TEST(request_field_values_allow_htab_and_obs_text) {
    ASSERT(req("GET / HTTP/1.1\r\nHost: h\r\nX: a\tb\xe9\xff\x80\r\n\r\n") > 0);
    ASSERT_VIEW(H.hdrs[1].value, H.hdrs[1].value_len, "a\tb\xe9\xff\x80");
}

TEST(request_leading_empty_lines_are_skipped_and_counted) {
    const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    ASSERT_EQ(req(s), strlen(s));
    ASSERT_VIEW(H.method, H.method_len, "GET");
}

TEST(request_http10_needs_no_host_and_closes_by_default) {
    ASSERT(req("GET / HTTP/1.0\r\n\r\n") > 0);
    ASSERT_EQ(H.minor, 0);
    ASSERT(!H.keep_alive);
}

TEST(request_http10_keep_alive_asked_for_is_kept) {
    ASSERT(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") > 0);
    ASSERT(H.keep_alive);
}

TEST(request_connection_close_ends_http11_keep_alive) {
    ASSERT(req("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, CLOSE\r\n\r\n") > 0);
    ASSERT(!H.keep_alive);
    ASSERT(req("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n") > 0);
    ASSERT(!H.keep_alive);
    ASSERT(req("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed, ,x\r\n\r\n") > 0);
    ASSERT(H.keep_alive);
}

TEST(request_expect_100_continue_is_seen_in_any_case) {
    ASSERT(req("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n") > 0);
    ASSERT(H.expect_continue);
    ASSERT(req("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue-not\r\n\r\n") > 0);
    ASSERT(!H.expect_continue);
}

TEST(request_expect_is_ignored_in_http10) {
    ASSERT(req("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n") > 0);
    ASSERT(!H.expect_continue);
}

TEST(request_upgrade_needs_connection_upgrade_and_upgrade_field) {
    ASSERT(req("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n") > 0);
    ASSERT(H.upgrade);
    ASSERT(req("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n") > 0);
    ASSERT(!H.upgrade);
    ASSERT(req("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n") > 0);
    ASSERT(!H.upgrade);
}

TEST(request_chunked_is_framed_chunked) {
    ASSERT(req("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n") > 0);
    ASSERT_EQ(H.body, WEFT__BODY_CHUNKED);
}

TEST(request_chunked_with_surrounding_whitespace_is_chunked) {
    ASSERT(req("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \tchunked \t\r\n\r\n") > 0);
    ASSERT_EQ(H.body, WEFT__BODY_CHUNKED);
}

/* RFC 9110 section 8.6 lets a recipient refuse them; a server does (the
 * response-side case below keeps them). */
TEST(request_repeated_content_lengths_are_refused_even_when_identical) {
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7 , 07\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000,1000\r\n\r\n", 400);
}

TEST(response_identical_content_lengths_are_accepted) {
    ASSERT(resp("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n", "GET") > 0);
    ASSERT_EQ(H.content_length, 7);
    ASSERT(resp("HTTP/1.1 200 OK\r\nContent-Length: 7 , 07\r\n\r\n", "GET") > 0);
    ASSERT_EQ(H.content_length, 7);
    resp_refused("HTTP/1.1 200 OK\r\nContent-Length: 7, 8\r\n\r\n");
    resp_refused("HTTP/1.1 200 OK\r\nContent-Length: 7,\r\n\r\n");
}

TEST(request_content_length_zero_and_largest) {
    ASSERT(req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n") > 0);
    ASSERT_EQ(H.body, WEFT__BODY_LENGTH);
    ASSERT_EQ(H.content_length, 0);
    ASSERT(req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n") > 0);
    ASSERT_EQ(H.content_length, INT64_MAX);
}

TEST(request_targets_of_every_form_an_origin_server_takes) {
    ASSERT(req("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n") > 0);
    ASSERT_VIEW(H.target, H.target_len, "*");
    ASSERT(req("GET http://[::1]:8/a%20b?x HTTP/1.1\r\nHost: [::1]:8\r\n\r\n") > 0);
    ASSERT_VIEW(H.target, H.target_len, "http://[::1]:8/a%20b?x");
    ASSERT(req("GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n") > 0);
    ASSERT(req("GET //a//b? HTTP/1.1\r\nHost: h\r\n\r\n") > 0);
}

/* RFC 9112 section 3.2: each form belongs to its methods. */
TEST(request_targets_in_a_form_their_method_may_not_use_are_refused) {
    refused("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused("OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused("options * HTTP/1.1\r\nHost: h\r\n\r\n", 400);  /* methods are case-sensitive */
    refused("GET example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused("GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused("GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused("GET http:/h HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused("GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n", 400);   /* no host */
    refused("GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);  /* userinfo */
    refused("GET http://h:8x/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused("GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400);          /* a fragment */
    /* A tunnel: this server makes none (RFC 9110 section 9.1: 501). */
    refused("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501);
}

TEST(request_empty_host_is_refused) {
    refused("GET / HTTP/1.1\r\nHost:\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost:  \r\n\r\n", 400);
    refused("GET / HTTP/1.0\r\nHost:\r\n\r\n", 400);
}

TEST(request_host_is_an_authority) {
    ASSERT(req("GET / HTTP/1.1\r\nHost: a.b-c_d~e%41!$&'()*+,;=:8080\r\n\r\n") > 0);
    ASSERT(req("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n") > 0);
    ASSERT(req("GET / HTTP/1.1\r\nHost: [v1.x]:1\r\n\r\n") > 0);
    ASSERT(req("GET / HTTP/1.1\r\nHost: h:\r\n\r\n") > 0);   /* port = *DIGIT */
    refused("GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: h:8a\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: h:1:2\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: ::1\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: []\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: a]\r\n\r\n", 400);
}

TEST(request_fields_up_to_the_limit_and_head_of_exactly_max_head) {
    lim.max_headers = 3;
    ASSERT(req("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n") > 0);
    const char *s = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    lim = defaults;
    lim.max_head = strlen(s);
    ASSERT_EQ(req(s), strlen(s));
    lim.max_line = strlen("GET / HTTP/1.1\r\n");
    ASSERT_EQ(req(s), strlen(s));
}

TEST(request_zero_limits_mean_no_limit) {
    lim = (weft__http_limits){ 0, 0, 0 };
    ASSERT(req("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n") > 0);
    ASSERT_EQ(H.nhdrs, 3);
}

TEST(request_incomplete_head_needs_more) {
    ASSERT_EQ(req(""), 0);
    ASSERT_EQ(req("GET / HTTP/1.1\r\nHost: h\r\n"), 0);
    ASSERT_EQ(req("GET / HTTP/1.1\r\nHost: h\r\n\r"), 0);
    ASSERT_EQ(req("\r\n\r"), 0);
}

/* ------------------------------------------------------- refused requests */

TEST(request_bare_lf_line_ends_are_refused) {
    refused("GET / HTTP/1.1\nHost: h\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: h\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: h\r\n\n", 400);
    refused("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

TEST(request_bare_cr_is_refused) {
    refused("GET / HTTP/1.1\rHost: h\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", 400);
    refused("\r\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

TEST(request_obs_fold_is_refused) {
    refused("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", 400);
}

TEST(request_whitespace_before_first_field_is_refused) {
    refused("GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400);
}

TEST(request_whitespace_before_colon_is_refused) {
    refused("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\nhello", 400);
}

TEST(request_field_names_must_be_tokens) {
    refused("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: h\r\nX Y: v\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: h\r\nX(Y): v\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: h\r\nX\xe9: v\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: h\r\nNo colon\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: h\r\nNocolon\r\n\r\n", 400);
}

TEST(request_control_characters_in_values_are_refused) {
    refused("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01" "b\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: h\r\nX: \x1b[0m\r\n\r\n", 400);
}

/* A request with one field whose 40-byte value has byte c at position p. */
static ssize_t with_value_byte(size_t p, char c) {
    char s[128];
    int n = snprintf(s, sizeof s, "GET / HTTP/1.1\r\nHost: h\r\nX: %s\r\n\r\n", "0123456789012345678901234567890123456789");
    s[strlen("GET / HTTP/1.1\r\nHost: h\r\nX: ") + p] = c;
    return parse_all(s, (size_t)n, true, NULL);
}

TEST(request_value_bytes_are_checked_at_every_position_of_a_long_value) {
    static const char bad[] = { 0, 1, 8, 0x0a, 0x0b, 0x0d, 0x1f, 0x7f };
    static const char good[] = { 0x09, 0x20, 0x21, 0x7e, (char)0x80, (char)0xfe, (char)0xff };
    for (size_t p = 1; p < 39; p++) {
        for (size_t k = 0; k < sizeof bad; k++) {
            ASSERT_ERR(with_value_byte(p, bad[k]), WEFT_EHTTP);
            ASSERT_EQ(H.status, 400);
        }
        for (size_t k = 0; k < sizeof good; k++) {
            ASSERT(with_value_byte(p, good[k]) > 0);
            ASSERT_EQ(H.hdrs[1].value_len, 40);
        }
    }
}

TEST(request_nul_anywhere_is_refused) {
    static const char v[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n";
    ASSERT_ERR(parse_all(v, sizeof v - 1, true, NULL), WEFT_EHTTP);
    ASSERT_EQ(H.status, 400);
    static const char t[] = "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n";
    ASSERT_ERR(parse_all(t, sizeof t - 1, true, NULL), WEFT_EHTTP);
    static const char m[] = "G\0T / HTTP/1.1\r\nHost: h\r\n\r\n";
    ASSERT_ERR(parse_all(m, sizeof m - 1, true, NULL), WEFT_EHTTP);
}

TEST(request_methods_must_be_tokens) {
    refused("GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused(" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused("/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

TEST(request_line_shape_is_exact) {
    refused("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400);
    refused("GET /\r\nHost: h\r\n\r\n", 400);
    refused("GET / a HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused("GET /\xe9 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    refused("GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

/* RFC 9110 section 2.5: a higher minor version is processed as the
 * highest the recipient conforms to. */
TEST(request_versions_past_11_are_read_as_11) {
    ASSERT(req("GET / HTTP/1.2\r\nHost: h\r\n\r\n") > 0);
    ASSERT_EQ(H.minor, 1);
    ASSERT(H.keep_alive);
    ASSERT(req("POST / HTTP/1.9\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n") > 0);
    ASSERT_EQ(H.body, WEFT__BODY_CHUNKED);
    refused("GET / HTTP/1.2\r\n\r\n", 400);  /* without Host, as 1.1 */
}

TEST(request_major_versions_other_than_1_get_505) {
    refused("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
    refused("GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505);
    refused("GET / HTTP/0.9\r\n\r\n", 505);
    refused("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
}

TEST(request_malformed_versions_get_400) {
    refused("GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400);
    refused("GET / HTTP/1\r\nHost: h\r\n\r\n", 400);
    refused("GET / http/1.1\r\nHost: h\r\n\r\n", 400);
    refused("GET / HTTP/11\r\nHost: h\r\n\r\n", 400);
    refused("GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400);
    refused("GET / HTTPS/1.1\r\nHost: h\r\n\r\n", 400);
}

TEST(request_http11_without_host_is_refused) {
    refused("GET / HTTP/1.1\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHosts: h\r\n\r\n", 400);
}

TEST(request_two_hosts_are_refused) {
    refused("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    refused("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400);
}

TEST(request_host_with_characters_outside_an_authority_is_refused) {
    refused("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400);
}

TEST(request_different_content_lengths_are_refused) {
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,5,0\r\n\r\n", 400);
}

TEST(request_content_length_must_be_digits) {
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12a\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ,5\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1.0\r\n\r\n", 400);
}

TEST(request_overflowing_content_length_is_refused) {
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 400);
}

TEST(request_content_length_with_chunked_is_refused) {
    refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400);
}

/* RFC 9112 section 6.1: a coding the server does not know, 501; but
 * section 6.3: a request whose final coding is not chunked has no length
 * a server can know, 400. */
TEST(request_unknown_transfer_coding_gets_501_and_no_final_chunked_400) {
    refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
    refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
    refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 400);
}

TEST(request_repeated_chunked_is_refused) {
    refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

TEST(request_empty_transfer_coding_elements_are_refused) {
    refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked,\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , chunked\r\n\r\n", 400);
}

TEST(request_transfer_encoding_in_http10_is_refused) {
    refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400);
}

/* ------------------------------------------------------------ limits */

/* A request whose line is `n` bytes long, CRLF included. */
static char *long_line(size_t n, const char *rest) {
    static char buf[AREA];
    size_t fixed = strlen("GET / HTTP/1.1\r\n");
    ASSERT(n >= fixed && n + strlen(rest) < sizeof buf);
    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'a', n - fixed);
    strcpy(buf + 5 + n - fixed, " HTTP/1.1\r\n");
    strcat(buf, rest);
    return buf;
}

TEST(request_line_of_max_line_bytes_is_accepted) {
    lim.max_line = 200;
    ASSERT(req(long_line(200, "Host: h\r\n\r\n")) > 0);
    ASSERT_EQ(H.target_len, 200 - strlen("GET  HTTP/1.1\r\n"));
}

TEST(request_line_over_max_line_gets_414) {
    lim.max_line = 200;
    refused(long_line(201, "Host: h\r\n\r\n"), 414);
}

TEST(request_line_over_max_line_is_refused_before_it_ends) {
    lim.max_line = 200;
    char *s = long_line(1000, "");
    ASSERT_ERR(parse_once(s, 200, true, NULL, &H, hdrs, 128), WEFT_ETOOBIG);
    ASSERT_EQ(H.status, 414);
    ASSERT_EQ(parse_once(s, 199, true, NULL, &H, hdrs, 128), 0);
}

TEST(request_line_limit_does_not_count_skipped_empty_lines) {
    lim.max_line = 16;
    ASSERT(req("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n") > 0);
}

TEST(request_line_passing_a_max_head_below_max_line_gets_431) {
    lim.max_line = 200, lim.max_head = 100;
    refused(long_line(150, "Host: h\r\n\r\n"), 431);
    refused(long_line(250, "Host: h\r\n\r\n"), 431);
}

TEST(request_fields_over_max_headers_get_431) {
    lim.max_headers = 3;
    refused("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431);
}

TEST(request_field_over_max_headers_is_refused_at_its_first_byte) {
    lim.max_headers = 1;
    const char *s = "GET / HTTP/1.1\r\nHost: h\r\nA";
    ASSERT_EQ(parse_once(s, strlen(s) - 1, true, NULL, &H, hdrs, 128), 0);
    ASSERT_ERR(parse_once(s, strlen(s), true, NULL, &H, hdrs, 128), WEFT_ETOOBIG);
    ASSERT_EQ(H.status, 431);
}

TEST(request_fields_over_the_callers_array_get_431) {
    lim.max_headers = 0;
    const char *s = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n";
    ASSERT_ERR(parse_once(s, strlen(s), true, NULL, &H, hdrs, 1), WEFT_ETOOBIG);
    ASSERT_EQ(H.status, 431);
    ASSERT_EQ(parse_once(s, strlen(s), true, NULL, &H, hdrs, 2), strlen(s));
}

TEST(request_fields_are_never_written_past_hdrs_cap) {
    weft__hdr few[3];
    memset(few, 0xa5, sizeof few);
    lim.max_headers = 0;
    const char *s = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
    weft__http_head h = { .hdrs = few, .hdrs_cap = 2 };
    ASSERT_ERR(weft__http_parse_request(s, strlen(s), &h, &lim), WEFT_ETOOBIG);
    for (size_t i = 0; i < sizeof few[2]; i++) ASSERT_EQ(((unsigned char *)&few[2])[i], 0xa5);
}

TEST(request_head_over_max_head_gets_431) {
    const char *s = "GET / HTTP/1.1\r\nHost: h\r\nX: 0123456789\r\n\r\n";
    lim.max_head = strlen(s) - 1;
    refused(s, 431);
}

TEST(request_head_over_max_head_is_refused_before_it_ends) {
    lim.max_head = 100;
    static char s[4096];
    strcpy(s, "GET / HTTP/1.1\r\nHost: h\r\nX: ");
    memset(s + strlen(s), 'v', 1000);
    ASSERT_EQ(parse_once(s, 99, true, NULL, &H, hdrs, 128), 0);
    ASSERT_ERR(parse_once(s, 100, true, NULL, &H, hdrs, 128), WEFT_ETOOBIG);
    ASSERT_EQ(H.status, 431);
    ASSERT_ERR(parse_once(s, 1000, true, NULL, &H, hdrs, 128), WEFT_ETOOBIG);
}

TEST(request_empty_lines_alone_pass_max_head) {
    lim.max_head = 64;
    static char s[200];
    for (int i = 0; i < 100; i += 2) memcpy(s + i, "\r\n", 2);
    ASSERT_ERR(parse_once(s, 100, true, NULL, &H, hdrs, 128), WEFT_ETOOBIG);
    ASSERT_EQ(H.status, 431);
}

TEST(request_syntax_error_before_a_limit_wins) {
    lim.max_line = 20;
    refused("GET /\x01 HTTP/1.1 and a long tail beyond the limit\r\n\r\n", 400);
}

/* ------------------------------------------------------------ responses */

TEST(response_with_content_length) {
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world!";
    ASSERT_EQ(resp(s, "GET"), strlen(s) - 12);
    ASSERT_EQ(H.status, 200);
    ASSERT_VIEW(H.reason, H.reason_len, "OK");
    ASSERT_EQ(H.minor, 1);
    ASSERT_EQ(H.body, WEFT__BODY_LENGTH);
    ASSERT_EQ(H.content_length, 12);
    ASSERT(H.keep_alive);
}

TEST(response_chunked) {
    ASSERT(resp("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n", "POST") > 0);
    ASSERT_EQ(H.status, 201);
    ASSERT_EQ(H.body, WEFT__BODY_CHUNKED);
}

TEST(response_without_framing_reads_until_close) {
    ASSERT(resp("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", "GET") > 0);
    ASSERT_EQ(H.body, WEFT__BODY_CLOSE);
    ASSERT(!H.keep_alive);
}

TEST(response_to_head_has_no_body_whatever_its_headers) {
    ASSERT(resp("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", "HEAD") > 0);
    ASSERT_EQ(H.body, WEFT__BODY_NONE);
    ASSERT_EQ(H.content_length, 1234);
    ASSERT(H.keep_alive);
    ASSERT(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "HEAD") > 0);
    ASSERT_EQ(H.body, WEFT__BODY_NONE);
}

TEST(response_1xx_204_304_have_no_body) {
    ASSERT(resp("HTTP/1.1 100 Continue\r\n\r\n", "POST") > 0);
    ASSERT_EQ(H.body, WEFT__BODY_NONE);
    ASSERT_EQ(H.status, 100);
    ASSERT(resp("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", "GET") > 0);
    ASSERT_EQ(H.body, WEFT__BODY_NONE);
    ASSERT(H.upgrade);
    ASSERT(resp("HTTP/1.1 204 No Content\r\n\r\n", "DELETE") > 0);
    ASSERT_EQ(H.body, WEFT__BODY_NONE);
    ASSERT(H.keep_alive);
    ASSERT(resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n", "GET") > 0);
    ASSERT_EQ(H.body, WEFT__BODY_NONE);
}

TEST(response_2xx_to_connect_has_no_body) {
    ASSERT(resp("HTTP/1.1 200 Connection established\r\n\r\n", "CONNECT") > 0);
    ASSERT_EQ(H.body, WEFT__BODY_NONE);
    ASSERT(resp("HTTP/1.1 407 Proxy Auth\r\nContent-Length: 0\r\n\r\n", "CONNECT") > 0);
    ASSERT_EQ(H.body, WEFT__BODY_LENGTH);
}

TEST(response_reason_may_be_empty_or_missing) {
    ASSERT(resp("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", "GET") > 0);
    ASSERT_EQ(H.reason_len, 0);
    ASSERT(resp("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "GET") > 0);
    ASSERT_EQ(H.reason_len, 0);
    ASSERT(resp("HTTP/1.1 404 Not \tFound \xe9\r\nContent-Length: 0\r\n\r\n", "GET") > 0);
    ASSERT_VIEW(H.reason, H.reason_len, "Not \tFound \xe9");
    ASSERT_EQ(H.status, 404);
}

TEST(response_http10_closes_unless_keep_alive) {
    ASSERT(resp("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "GET") > 0);
    ASSERT(!H.keep_alive);
    ASSERT_EQ(H.minor, 0);
    ASSERT(resp("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", "GET") > 0);
    ASSERT(H.keep_alive);
}

TEST(response_with_null_method_is_read_as_get) {
    ASSERT(resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", NULL) > 0);
    ASSERT_EQ(H.body, WEFT__BODY_LENGTH);
}

TEST(response_status_must_be_three_digits) {
    resp_refused("HTTP/1.1 20 OK\r\n\r\n");
    resp_refused("HTTP/1.1 2000 OK\r\n\r\n");
    resp_refused("HTTP/1.1 099 OK\r\n\r\n");
    resp_refused("HTTP/1.1 2x0 OK\r\n\r\n");
    resp_refused("HTTP/1.1  200 OK\r\n\r\n");
    resp_refused("HTTP/1.1 -20 OK\r\n\r\n");
}

TEST(response_versions_other_than_1x_are_refused_and_past_11_read_as_11) {
    ASSERT(resp("HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", "GET") > 0);
    ASSERT_EQ(H.minor, 1);
    resp_refused("HTTP/2.0 200 OK\r\n\r\n");
    resp_refused("HTTP/1.1\r\n\r\n");
    resp_refused("ICY 200 OK\r\n\r\n");
    resp_refused("HTTP/1.1\t200 OK\r\n\r\n");
}

TEST(response_line_ends_must_be_crlf) {
    resp_refused("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n");
    resp_refused("HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n");
    resp_refused("HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n");
    resp_refused("HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n");
    resp_refused("HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n");
}

TEST(response_framing_ambiguities_are_refused) {
    resp_refused("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
    resp_refused("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
    resp_refused("HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n");
    resp_refused("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n");
    resp_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
    resp_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
    resp_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n");
    resp_refused("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    resp_refused("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n");
}

TEST(response_status_line_over_max_line_is_too_big) {
    lim.max_line = 20;
    ASSERT_ERR(resp("HTTP/1.1 200 A very long reason\r\n\r\n", "GET"), WEFT_ETOOBIG);
    ASSERT(resp("HTTP/1.1 200 Short\r\n\r\n", "GET") > 0);
}

TEST(response_head_over_max_head_or_max_headers_is_too_big) {
    lim.max_head = 40;
    ASSERT_ERR(resp("HTTP/1.1 200 OK\r\nX: 01234567890123456789\r\n\r\n", "GET"), WEFT_ETOOBIG);
    lim = defaults;
    lim.max_headers = 1;
    ASSERT_ERR(resp("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", "GET"), WEFT_ETOOBIG);
}

/* -------------------------------------------------------------- helpers */

TEST(find_returns_the_first_value_ignoring_case) {
    ASSERT(req("GET / HTTP/1.1\r\nHost: h\r\nX-Thing: one\r\nx-thing: two\r\n\r\n") > 0);
    size_t n = 99;
    const char *v = weft__http_find(&H, "x-THING", &n);
    ASSERT(v);
    ASSERT_VIEW(v, n, "one");
    ASSERT(weft__http_find(&H, "X-Thin", &n) == NULL);
    ASSERT(weft__http_find(&H, "X-Things", &n) == NULL);
}

TEST(token_eq_compares_whole_tokens_ignoring_case) {
    ASSERT(weft__http_token_eq("ChUnKeD", 7, "chunked"));
    ASSERT(!weft__http_token_eq("chunke", 6, "chunked"));
    ASSERT(!weft__http_token_eq("chunkedx", 8, "chunked"));
    ASSERT(weft__http_token_eq("", 0, ""));
    ASSERT(!weft__http_token_eq("[", 1, "{"));  /* '[' + 32 is '{': not a letter */
}

/* RFC 9110 section 5.6.2's tchar and 5.5's field-vchar / SP / HTAB,
 * written out again here from the RFC's words. */
static bool rfc_tchar(int c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}
static bool rfc_value_byte(int c) { return (c >= 0x21 && c <= 0x7e) || c >= 0x80 || c == ' ' || c == '\t'; }

TEST(token_and_value_checks_take_exactly_rfc9110s_bytes_at_every_position) {
    for (int c = 0; c < 256; c++) {
        for (size_t p = 0; p < 20; p++) {   /* the value check reads 8 bytes at a time */
            char s[20];
            memset(s, 'a', sizeof s);
            s[p] = (char)c;
            ASSERT_EQ(weft__http_token_ok(guarded(s, 20), 20), rfc_tchar(c));
            ASSERT_EQ(weft__http_value_ok(guarded(s, 20), 20), rfc_value_byte(c));
        }
    }
    ASSERT(!weft__http_token_ok("", 0));
    ASSERT(weft__http_value_ok("", 0));
}

/* ------------------------------------------------------------- chunked */

typedef struct decoded {
    char data[8192];
    size_t len, consumed;
    int err;
    bool done;
} decoded;

/* Decodes s[0, n) fed in pieces of `piece` bytes (the last smaller), at most
 * max_data bytes of body per step. */
static decoded decode(const char *s, size_t n, size_t piece, size_t max_data) {
    decoded d = { .len = 0 };
    weft__chunked c = { 0 };
    char pending[8192];
    size_t have = 0, fed = 0;
    while (!c.done) {
        size_t add = n - fed < piece ? n - fed : piece;
        ASSERT(have + add <= sizeof pending);
        memcpy(pending + have, s + fed, add);
        have += add, fed += add;
        const char *in = guarded(pending, have);
        const char *data;
        size_t dlen;
        ssize_t r = weft__chunked_step(&c, in, have, max_data, &data, &dlen);
        if (r < 0) { d.err = (int)r; break; }
        ASSERT((size_t)r <= have && dlen <= max_data && dlen <= (size_t)r);
        if (dlen) {
            ASSERT(data >= in && data + dlen <= in + r);
            memcpy(d.data + d.len, data, dlen), d.len += dlen;
        }
        d.consumed += (size_t)r;
        memmove(pending, pending + r, have - (size_t)r), have -= (size_t)r;
        if (r == 0 && !dlen && fed == n) break;  /* stuck: needs more than there is */
    }
    d.done = c.done;
    return d;
}

/* Decoding s gives `body` and ends after `consumed` bytes, however it is
 * split and however little is taken per step. */
static void decodes_to(const char *s, size_t n, const char *body, size_t consumed) {
    static const size_t maxes[] = { 1, 2, 3, 7, 8192 };
    for (size_t piece = 1; piece <= n; piece++) {
        for (size_t m = 0; m < sizeof maxes / sizeof *maxes; m++) {
            decoded d = decode(s, n, piece, maxes[m]);
            ASSERT_ERR(d.err, 0);
            ASSERT(d.done);
            ASSERT_EQ(d.consumed, consumed);
            ASSERT_EQ(d.len, strlen(body));
            ASSERT(!memcmp(d.data, body, d.len));
        }
    }
}

/* Decoding s fails, however it is split. */
static void fails_to_decode(const char *s) {
    size_t n = strlen(s);
    for (size_t piece = 1; piece <= n; piece++)
        ASSERT_ERR(decode(s, n, piece, 8192).err, WEFT_EHTTP);
}

static void chunked_ok(const char *s, const char *body) { decodes_to(s, strlen(s), body, strlen(s)); }

TEST(chunked_decodes_chunks_at_every_split) {
    chunked_ok("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
    chunked_ok("0\r\n\r\n", "");
    chunked_ok("1\r\nx\r\n0\r\n\r\n", "x");
}

TEST(chunked_sizes_are_hex_in_either_case_with_leading_zeros) {
    chunked_ok("A\r\n0123456789\r\n00b\r\nabcdefghijk\r\n000\r\n\r\n", "0123456789abcdefghijk");
    chunked_ok("a\r\n0123456789\r\n0\r\n\r\n", "0123456789");
}

TEST(chunked_extensions_are_skipped) {
    chunked_ok("5;name=val\r\nhello\r\n3;a;b=\"q; x\"\r\nabc\r\n0;last\r\n\r\n", "helloabc");
    /* BWS around ";" and "=", which a recipient must parse (RFC 9110 5.6.3),
     * and quoted-pairs in a quoted value. */
    chunked_ok("5 ;x\r\nhello\r\n0\r\n\r\n", "hello");
    chunked_ok("5\t; a = b ;c\t=\t\"\\\"q\\\\\" ;d\r\nhello\r\n0;e=\"\"\r\n\r\n", "hello");
}

/* RFC 9112 section 7.1.1's grammar, and nothing looser. */
TEST(chunked_extensions_off_the_grammar_are_refused) {
    fails_to_decode("5;\r\nhello\r\n0\r\n\r\n");           /* a bare ";" */
    fails_to_decode("5; \r\nhello\r\n0\r\n\r\n");
    fails_to_decode("5;;a\r\nhello\r\n0\r\n\r\n");
    fails_to_decode("5;a[b]\r\nhello\r\n0\r\n\r\n");       /* not a token */
    fails_to_decode("5;=b\r\nhello\r\n0\r\n\r\n");          /* no name */
    fails_to_decode("5;a=\r\nhello\r\n0\r\n\r\n");          /* no value */
    fails_to_decode("5;a b\r\nhello\r\n0\r\n\r\n");         /* two names */
    fails_to_decode("5;a=b c\r\nhello\r\n0\r\n\r\n");       /* two values */
    fails_to_decode("5;a=b \r\nhello\r\n0\r\n\r\n");        /* BWS before CRLF */
    fails_to_decode("5;a=b/c\r\nhello\r\n0\r\n\r\n");
    fails_to_decode("5;a=\"b\r\nhello\r\n0\r\n\r\n");       /* unclosed */
    fails_to_decode("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n");    /* after the quote */
    fails_to_decode("5;a=\"\\\x01\"\r\nhello\r\n0\r\n\r\n");  /* quoted control */
    fails_to_decode("5 x\r\nhello\r\n0\r\n\r\n");
}

TEST(chunked_trailers_are_read_and_discarded) {
    chunked_ok("3\r\nabc\r\n0\r\nX-Sum: 1\r\nY:\r\nZ: a\tb\r\n\r\n", "abc");
}

TEST(chunked_stops_after_the_end_leaving_what_follows) {
    const char *s = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    decodes_to(s, strlen(s), "abc", strlen("3\r\nabc\r\n0\r\n\r\n"));
}

TEST(chunked_step_stops_at_the_end_of_a_data_run) {
    weft__chunked c = { 0 };
    const char *in = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", *data;
    size_t dlen;
    ASSERT_EQ(weft__chunked_step(&c, in, strlen(in), 100, &data, &dlen), 6);
    ASSERT_EQ(dlen, 3);
    ASSERT(data == in + 3);
    ASSERT_EQ(weft__chunked_step(&c, in + 6, strlen(in) - 6, 1, &data, &dlen), 6);
    ASSERT_EQ(dlen, 1);
    ASSERT(data == in + 11);
    ASSERT(!c.done);
}

TEST(chunked_step_after_the_end_consumes_nothing) {
    weft__chunked c = { 0 };
    const char *in = "0\r\n\r\nxyz", *data;
    size_t dlen;
    ASSERT_EQ(weft__chunked_step(&c, in, strlen(in), 100, &data, &dlen), 5);
    ASSERT(c.done);
    ASSERT_EQ(weft__chunked_step(&c, in + 5, 3, 100, &data, &dlen), 0);
    ASSERT_EQ(dlen, 0);
}

TEST(chunked_failed_step_changes_nothing) {
    weft__chunked c = { 0 };
    const char *data;
    size_t dlen;
    ASSERT_EQ(weft__chunked_step(&c, "5\r\nab", 5, 100, &data, &dlen), 5);
    ASSERT_EQ(weft__chunked_step(&c, "cdeXY", 5, 100, &data, &dlen), 3);
    weft__chunked before = c;
    ASSERT_ERR(weft__chunked_step(&c, "\rY", 2, 100, &data, &dlen), WEFT_EHTTP);
    ASSERT(!memcmp(&c, &before, sizeof c));
}

TEST(chunked_size_past_2_63_is_refused) {
    fails_to_decode("8000000000000000\r\n");
    fails_to_decode("10000000000000000\r\n");
    fails_to_decode("ffffffffffffffffffff\r\n");
    /* The largest size is a size, waiting for its data. */
    decoded d = decode("7fffffffffffffff\r\nab", 20, 20, 100);
    ASSERT_ERR(d.err, 0);
    ASSERT_EQ(d.len, 2);
    ASSERT(!d.done);
}

TEST(chunked_size_without_digits_or_with_junk_is_refused) {
    fails_to_decode("\r\n");
    fails_to_decode(";x\r\n");
    fails_to_decode("-5\r\nhello\r\n0\r\n\r\n");
    fails_to_decode("+5\r\nhello\r\n0\r\n\r\n");
    fails_to_decode("0x5\r\nhello\r\n0\r\n\r\n");
    fails_to_decode(" 5\r\nhello\r\n0\r\n\r\n");
    fails_to_decode("5 \r\nhello\r\n0\r\n\r\n");
    fails_to_decode("5g\r\nhello\r\n0\r\n\r\n");
}

TEST(chunked_bare_lf_or_cr_is_refused) {
    fails_to_decode("5\nhello\r\n0\r\n\r\n");
    fails_to_decode("5\rhello\r\n0\r\n\r\n");
    fails_to_decode("5;a\nhello\r\n0\r\n\r\n");
    fails_to_decode("5\r\nhello\n0\r\n\r\n");
    fails_to_decode("5\r\nhello\r0\r\n\r\n");
    fails_to_decode("0\r\n\n");
    fails_to_decode("0\r\nX: 1\n\r\n");
    fails_to_decode("0\r\nX: 1\r\n\r\r\n");
}

TEST(chunked_missing_crlf_after_data_is_refused) {
    fails_to_decode("5\r\nhelloX\r\n0\r\n\r\n");
    fails_to_decode("5\r\nhello0\r\n\r\n");
    fails_to_decode("3\r\nhello\r\n0\r\n\r\n");
}

TEST(chunked_extension_control_characters_are_refused) {
    fails_to_decode("5;a\x01\r\nhello\r\n0\r\n\r\n");
    ASSERT_ERR(decode("5;\0\r\nhello\r\n0\r\n\r\n", 16, 1, 100).err, WEFT_EHTTP);
}

TEST(chunked_bad_trailers_are_refused) {
    fails_to_decode("0\r\n X: 1\r\n\r\n");
    fails_to_decode("0\r\nX : 1\r\n\r\n");
    fails_to_decode("0\r\nX\r\n\r\n");
    fails_to_decode("0\r\n: 1\r\n\r\n");
    fails_to_decode("0\r\nX: 1\r\n y\r\n\r\n");
    fails_to_decode("0\r\nX: \x01\r\n\r\n");
}

/* A size line of n bytes: leading zeros, then "5", ";x" optional, CRLF. */
static void size_line_of(char *s, size_t n) {
    memset(s, '0', n - 3);
    strcpy(s + n - 3, "5\r\nhello\r\n0\r\n\r\n");
}

TEST(chunked_size_line_of_4_kib_is_the_limit) {
    static char s[5000];
    size_line_of(s, 4096);
    decoded d = decode(s, strlen(s), strlen(s), 100);
    ASSERT_ERR(d.err, 0);
    ASSERT(d.done && d.len == 5);
    size_line_of(s, 4097);
    ASSERT_ERR(decode(s, strlen(s), strlen(s), 100).err, WEFT_EHTTP);
    /* Refused once the 4097th byte arrives, without waiting for the line's end. */
    ASSERT_ERR(decode(s, 4097, 4097, 100).err, WEFT_EHTTP);
    ASSERT_ERR(decode(s, 4096, 4096, 100).err, 0);
}

TEST(chunked_extensions_count_in_the_size_line_limit) {
    static char s[5000];
    strcpy(s, "5;");
    memset(s + 2, 'x', 4200);
    strcpy(s + 4202, "\r\nhello\r\n0\r\n\r\n");
    ASSERT_ERR(decode(s, strlen(s), 700, 100).err, WEFT_EHTTP);
}

TEST(chunked_trailers_over_4_kib_are_refused) {
    static char s[9000];
    strcpy(s, "0\r\n");
    for (int i = 0; i < 100; i++) strcat(s, "X-Trailer: 0123456789012345678901234567890123\r\n");
    strcat(s, "\r\n");
    ASSERT_ERR(decode(s, strlen(s), 1000, 100).err, WEFT_EHTTP);
    strcpy(s, "0\r\n");
    for (int i = 0; i < 80; i++) strcat(s, "X-Trailer: 0123456789012345678901234567890123\r\n");
    strcat(s, "\r\n");
    decoded d = decode(s, strlen(s), 1000, 100);
    ASSERT_ERR(d.err, 0);
    ASSERT(d.done);
}

TEST(chunked_long_body_in_small_steps) {
    static char s[6000], body[5000];
    for (int i = 0; i < 4000; i++) body[i] = (char)('a' + i % 26);
    body[4000] = 0;
    snprintf(s, sizeof s, "fa0\r\n%s\r\n0\r\n\r\n", body);
    decoded d = decode(s, strlen(s), 97, 13);
    ASSERT_ERR(d.err, 0);
    ASSERT(d.done);
    ASSERT_EQ(d.len, 4000);
    ASSERT(!memcmp(d.data, body, 4000));
}
