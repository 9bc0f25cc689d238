/* JSON text from jansson values, as httpbin writes it: what json_dumpb
 * makes with JSON_ENSURE_ASCII | JSON_ENCODE_ANY (and JSON_COMPACT,
 * JSON_SORT_KEYS when asked), byte for byte, at a fraction of its cost.
 *
 * Why not json_dumpb: under callgrind it was 60% of a /get request (29.6k
 * instructions). Asked for the size first, it dumps twice; and for every
 * object and array it formats the value's address with snprintf into a
 * hash table, to catch cycles, which httpbin's trees never have. Reals
 * are rare here and still go through jansson, so their digits stay its.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct out {
    char *p;
    size_t len, cap;
    bool failed;
} out;

static void put(out *o, const char *s, size_t n) {
    if (o->failed) return;
    if (n > o->cap - o->len) {
        size_t cap = o->cap ? o->cap : 1024;
        while (cap - o->len < n) {
            if (cap > SIZE_MAX / 2) { o->failed = true; return; }
            cap *= 2;
        }
        char *p = realloc(o->p, cap);
        if (!p) { o->failed = true; return; }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}
#define PUT(o, lit) put(o, lit, sizeof lit - 1)

static void put_u16(out *o, unsigned u) {
    static const char hex[] = "0123456789ABCDEF";
    char e[6] = { '\\', 'u', hex[u >> 12 & 15], hex[u >> 8 & 15], hex[u >> 4 & 15], hex[u & 15] };
    put(o, e, 6);
}

/* One UTF-8 sequence at s[0, n): its code point and length, or 0 when it
 * is not valid (jansson's strings are checked when made; this is only
 * defence). */
static size_t utf8(const unsigned char *s, size_t n, unsigned *cp) {
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (!len || len > n || s[0] > 0xf4) return 0;
    unsigned c = s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    static const unsigned least[] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (c < least[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
    *cp = c;
    return len;
}

static void put_string(out *o, const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    PUT(o, "\"");
    size_t run = 0;  /* bytes that go as they are, not yet put */
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            run++, i++;
            continue;
        }
        put(o, str + i - run, run);
        run = 0;
        if (c == '"') PUT(o, "\\\"");
        else if (c == '\\') PUT(o, "\\\\");
        else if (c == '\b') PUT(o, "\\b");
        else if (c == '\f') PUT(o, "\\f");
        else if (c == '\n') PUT(o, "\\n");
        else if (c == '\r') PUT(o, "\\r");
        else if (c == '\t') PUT(o, "\\t");
        else if (c < 0x20) put_u16(o, c);
        else {
            unsigned cp;
            size_t len = utf8(s + i, n - i, &cp);
            if (!len) { o->failed = true; return; }
            if (cp < 0x10000) {
                put_u16(o, cp);
            } else {  /* a surrogate pair */
                cp -= 0x10000;
                put_u16(o, 0xd800 | cp >> 10);
                put_u16(o, 0xdc00 | (cp & 0x3ff));
            }
            i += len;
            continue;
        }
        i++;
    }
    put(o, str + n - run, run);
    PUT(o, "\"");
}

typedef struct member { const char *key; size_t len; json_t *value; } member;

/* jansson's order: the bytes, then the shorter first (keys may hold NULs:
 * a query's "%00" decodes to one). */
static int cmp_keys(const void *a, const void *b) {
    const member *x = a, *y = b;
    int r = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    return r ? r : (x->len > y->len) - (x->len < y->len);
}

static void put_value(out *o, json_t *j, unsigned flags);

static void put_object(out *o, json_t *j, unsigned flags) {
    size_t n = json_object_size(j), i = 0, len;
    member small[32], *m = n <= 32 ? small : malloc(n * sizeof *m);
    if (!m) { o->failed = true; return; }
    const char *k;
    json_t *v;
    json_object_keylen_foreach(j, k, len, v) m[i++] = (member){ k, len, v };
    if (flags & JSON_SORT_KEYS) qsort(m, n, sizeof *m, cmp_keys);
    PUT(o, "{");
    for (i = 0; i < n; i++) {
        if (i) put(o, ", ", flags & JSON_COMPACT ? 1 : 2);
        put_string(o, m[i].key, m[i].len);
        put(o, ": ", flags & JSON_COMPACT ? 1 : 2);
        put_value(o, m[i].value, flags);
    }
    PUT(o, "}");
    if (m != small) free(m);
}

static void put_value(out *o, json_t *j, unsigned flags) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: put_object(o, j, flags); break;
    case JSON_ARRAY:
        PUT(o, "[");
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (i) put(o, ", ", flags & JSON_COMPACT ? 1 : 2);
            put_value(o, json_array_get(j, i), flags);
        }
        PUT(o, "]");
        break;
    case JSON_STRING: put_string(o, json_string_value(j), json_string_length(j)); break;
    case JSON_INTEGER: {
        char d[24];
        json_int_t v = json_integer_value(j);
        unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
        size_t k = sizeof d;
        do d[--k] = (char)('0' + u % 10); while (u /= 10);
        if (v < 0) d[--k] = '-';
        put(o, d + k, sizeof d - k);
        break;
    }
    case JSON_REAL: {
        char *s = json_dumps(j, JSON_ENCODE_ANY);
        if (!s) { o->failed = true; return; }
        put(o, s, strlen(s));
        free(s);
        break;
    }
    case JSON_TRUE: PUT(o, "true"); break;
    case JSON_FALSE: PUT(o, "false"); break;
    case JSON_NULL: PUT(o, "null"); break;
    default: o->failed = true;
    }
}

char *httpbin__json(json_t *j, unsigned flags, size_t *len) {
    out o = { 0 };
    if (!j) return NULL;
    put_value(&o, j, flags);
    PUT(&o, "\n");
    if (o.failed) {
        free(o.p);
        return NULL;
    }
    *len = o.len;
    return o.p;
}
