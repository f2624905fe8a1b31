/* Bencode parser and encoder: round trips, exact encodings, and every rejection the parser promises. */
#include "check.h"
#include "ts_bencode.h"
#include "ts_buf.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>



static ts_ben_t *parse_s(const char *s, char *err, size_t errlen)
{
    return ts_ben_parse((const uint8_t *)s, strlen(s), NULL, err, errlen);
}

/* Parsing must fail, with a message that names an offset and contains want (if given). */
static void expect_reject(const char *doc, size_t len, const char *want, const char *what)
{
    char err[256] = "";
    ts_ben_t *t = ts_ben_parse((const uint8_t *)doc, len, NULL, err, sizeof err);
    CHECK(t == NULL, "%s: accepted", what);
    ts_ben_free(&t);
    CHECK(err[0] != '\0', "%s: no error message", what);
    if (len)
        CHECK(strstr(err, "offset") != NULL, "%s: message has no offset: %s", what, err);
    if (want)
        CHECK(strstr(err, want) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err, want);
}

static void reject_s(const char *doc, const char *want) { expect_reject(doc, strlen(doc), want, doc); }

/* Re-encode a parsed tree with the encoder, to check round trips byte for byte. */
static void reencode(const ts_ben_t *t, ts_buf_t *b)
{
    switch (t->type) {
    case TS_BEN_INT:
        ts_ben_put_int(b, t->i);
        break;
    case TS_BEN_STR:
        ts_ben_put_str(b, t->s, t->len);
        break;
    case TS_BEN_LIST:
        ts_ben_put_list(b);
        for (size_t i = 0; i < t->n; i++)
            reencode(t->items[i], b);
        ts_ben_put_end(b);
        break;
    case TS_BEN_DICT:
        ts_ben_put_dict(b);
        for (size_t i = 0; i < t->n; i++) {
            reencode(t->keys[i], b);
            reencode(t->items[i], b);
        }
        ts_ben_put_end(b);
        break;
    }
}

static int buf_is(const ts_buf_t *b, const char *want, size_t wantlen)
{
    return !b->err && b->len == wantlen && memcmp(b->data, want, wantlen) == 0;
}

static void test_encodings(void)
{
    struct {
        int64_t v;
        const char *want;
    } ints[] = {
        { 0, "i0e" }, { 1, "i1e" }, { -1, "i-1e" }, { 42, "i42e" },
        { INT64_MAX, "i9223372036854775807e" }, { INT64_MIN, "i-9223372036854775808e" },
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        ts_buf_t b;
        ts_buf_init(&b);
        ts_ben_put_int(&b, ints[i].v);
        CHECK(buf_is(&b, ints[i].want, strlen(ints[i].want)), "encode int %s", ints[i].want);
        ts_ben_t *t = ts_ben_parse(b.data, b.len, NULL, NULL, 0);
        CHECK(t && t->type == TS_BEN_INT && t->i == ints[i].v, "parse int %s", ints[i].want);
        ts_ben_free(&t);
        ts_buf_free(&b);
    }

    ts_buf_t b;
    ts_buf_init(&b);
    ts_ben_put_str(&b, "", 0);
    CHECK(buf_is(&b, "0:", 2), "empty string");
    ts_buf_free(&b);

    ts_ben_put_cstr(&b, "spam");
    CHECK(buf_is(&b, "4:spam", 6), "cstr");
    ts_buf_free(&b);

    ts_ben_put_str(&b, "a\0b", 3);
    CHECK(buf_is(&b, "3:a\0b", 5), "binary string");
    ts_buf_free(&b);

    /* {"cow": "moo", "spam": ["a", 1]} as in BEP 3. */
    ts_ben_put_dict(&b);
    ts_ben_put_cstr(&b, "cow");
    ts_ben_put_cstr(&b, "moo");
    ts_ben_put_cstr(&b, "spam");
    ts_ben_put_list(&b);
    ts_ben_put_cstr(&b, "a");
    ts_ben_put_int(&b, 1);
    ts_ben_put_end(&b);
    ts_ben_put_end(&b);
    const char *want = "d3:cow3:moo4:spaml1:ai1eee";
    CHECK(buf_is(&b, want, strlen(want)), "BEP 3 dict");
    ts_buf_free(&b);

    ts_ben_put_list(&b);
    ts_ben_put_end(&b);
    ts_ben_put_dict(&b);
    ts_ben_put_end(&b);
    CHECK(buf_is(&b, "lede", 4), "empty list and dict");
    ts_buf_free(&b);
}

static void test_round_trip(void)
{
    ts_buf_t b;
    ts_buf_init(&b);
    /* Keys in ascending bytewise order, a prefix before its extension. */
    ts_ben_put_dict(&b);
    ts_ben_put_str(&b, "", 0);
    ts_ben_put_int(&b, -7);
    ts_ben_put_cstr(&b, "a");
    ts_ben_put_list(&b);
    ts_ben_put_int(&b, 1);
    ts_ben_put_str(&b, "x\0y", 3);
    ts_ben_put_list(&b);
    ts_ben_put_list(&b);
    ts_ben_put_end(&b);
    ts_ben_put_end(&b);
    ts_ben_put_dict(&b);
    ts_ben_put_cstr(&b, "deep");
    ts_ben_put_dict(&b);
    ts_ben_put_cstr(&b, "k");
    ts_ben_put_int(&b, INT64_MIN);
    ts_ben_put_end(&b);
    ts_ben_put_end(&b);
    ts_ben_put_end(&b);
    ts_ben_put_cstr(&b, "ab");
    ts_ben_put_dict(&b);
    ts_ben_put_end(&b);
    ts_ben_put_cstr(&b, "b");
    ts_ben_put_int(&b, INT64_MAX);
    ts_ben_put_str(&b, "\xff", 1);
    ts_ben_put_cstr(&b, "high");
    ts_ben_put_end(&b);
    CHECK(!b.err, "build");

    char err[256];
    size_t consumed = 0;
    ts_ben_t *t = ts_ben_parse(b.data, b.len, &consumed, err, sizeof err);
    CHECK(t != NULL, "parse nested: %s", err);
    if (!t) {
        ts_buf_free(&b);
        return;
    }
    CHECK(consumed == b.len, "consumed %zu of %zu", consumed, b.len);
    CHECK(t->type == TS_BEN_DICT && t->n == 5, "top dict of 5");
    CHECK(t->raw == b.data && t->rawlen == b.len, "top raw span is everything");

    int64_t v = 0;
    CHECK(ts_ben_get_int(t, "", &v) == 0 && v == -7, "empty key");
    CHECK(ts_ben_get_int(t, "b", &v) == 0 && v == INT64_MAX, "b");
    size_t len = 0;
    const uint8_t *s = ts_ben_get_str(t, "\xff", &len);
    CHECK(s && len == 4 && memcmp(s, "high", 4) == 0, "0xff key");
    CHECK(ts_ben_get_dict(t, "ab") && ts_ben_get_dict(t, "ab")->n == 0, "empty dict value");
    CHECK(ts_ben_get_int(t, "a", &v) == -1, "list is not an int");
    CHECK(ts_ben_get_str(t, "b", &len) == NULL, "int is not a string");
    CHECK(ts_ben_dict_get(t, "missing") == NULL, "absent key");
    CHECK(ts_ben_dict_get(t, "abc") == NULL, "absent extension of a key");

    const ts_ben_t *a = ts_ben_get_list(t, "a");
    CHECK(a && a->n == 4, "list a has 4");
    if (a && a->n == 4) {
        CHECK(a->items[0]->type == TS_BEN_INT && a->items[0]->i == 1, "a[0]");
        CHECK(a->items[1]->type == TS_BEN_STR && a->items[1]->len == 3 && memcmp(a->items[1]->s, "x\0y", 3) == 0,
              "a[1] binary");
        CHECK(a->items[2]->type == TS_BEN_LIST && a->items[2]->n == 1 && a->items[2]->items[0]->n == 0, "a[2]");
        CHECK(ts_ben_dict_get(a, "deep") == NULL, "dict_get on a list");
        const ts_ben_t *deep = ts_ben_get_dict(a->items[3], "deep");
        CHECK(deep && ts_ben_get_int(deep, "k", &v) == 0 && v == INT64_MIN, "a[3].deep.k");
        /* Raw span of a nested value is its exact bytes. */
        const char *want = "d4:deepd1:ki-9223372036854775808eee";
        CHECK(a->items[3]->rawlen == strlen(want) && memcmp(a->items[3]->raw, want, strlen(want)) == 0,
              "raw span of a[3]");
        const char *wantl = "llee";
        CHECK(a->items[2]->rawlen == 4 && memcmp(a->items[2]->raw, wantl, 4) == 0, "raw span of a[2]");
        CHECK(a->items[1]->rawlen == 5 && memcmp(a->items[1]->raw, "3:x\0y", 5) == 0, "raw span of a string");
    }

    ts_buf_t r;
    ts_buf_init(&r);
    reencode(t, &r);
    CHECK(!r.err && r.len == b.len && memcmp(r.data, b.data, b.len) == 0, "re-encoding is byte-identical");
    ts_buf_free(&r);
    ts_ben_free(&t);
    CHECK(t == NULL, "free clears the pointer");
    ts_ben_free(&t);
    ts_ben_free(NULL);

    /* Every proper prefix is truncated, with and without consumed. */
    int all = 1, all2 = 1;
    for (size_t n = 0; n < b.len; n++) {
        ts_ben_t *p = ts_ben_parse(b.data, n, NULL, err, sizeof err);
        if (p || !err[0])
            all = 0;
        ts_ben_free(&p);
        size_t c = 0;
        p = ts_ben_parse(b.data, n, &c, err, sizeof err);
        if (p)
            all2 = 0;
        ts_ben_free(&p);
    }
    CHECK(all, "every prefix rejected");
    CHECK(all2, "every prefix rejected with consumed");
    ts_buf_free(&b);
}

static void test_rejects(void)
{
    char err[256];
    expect_reject("", 0, "empty", "empty input");
    ts_ben_t *t = ts_ben_parse(NULL, 0, NULL, err, sizeof err);
    CHECK(!t && strstr(err, "empty"), "NULL input");

    reject_s("i03e", "leading zero");
    reject_s("i-03e", "leading zero");
    reject_s("i00e", "leading zero");
    reject_s("03:abc", "leading zero");
    reject_s("00:", "leading zero");
    reject_s("i-0e", "negative zero");
    reject_s("ie", "empty integer");
    reject_s("i-e", "empty integer");
    reject_s("i--1e", "unexpected byte");
    reject_s("i+1e", "unexpected byte");
    reject_s("i1.5e", "unexpected byte");
    reject_s("i 1e", "unexpected byte");
    reject_s("i9223372036854775808e", "overflow");
    reject_s("i-9223372036854775809e", "overflow");
    reject_s("i99999999999999999999e", "overflow");
    reject_s("i184467440737095516160e", "overflow");
    reject_s("i12", "truncated");
    reject_s("5:abc", "declares 5 bytes");
    reject_s("99999999999999999999:", "larger than");
    reject_s("18446744073709551616:x", "larger than");
    reject_s("18446744073709551615:x", "larger than");
    reject_s("9", "larger than");
    reject_s("1", "truncated");
    reject_s("1x", "expected ':'");
    reject_s("1:", "declares 1 bytes");
    reject_s("4:spam4:eggs", "trailing");
    reject_s("i1ex", "trailing");
    reject_s("dei1e", "trailing");
    reject_s("i1e ", "trailing");
    reject_s("e", "unexpected byte");
    reject_s("x", "unexpected byte");

    reject_s("d1:bi1e1:ai2ee", "out of order");
    reject_s("d2:abi1e1:ai2ee", "out of order");
    reject_s("d1:ai1e1:ai2ee", "duplicate");
    reject_s("d0:i1e0:i2ee", "duplicate");
    reject_s("di1ei2ee", "not a string");
    reject_s("dlei1ee", "not a string");
    reject_s("ddei1ee", "not a string");
    reject_s("d1:ae", "has no value");
    reject_s("d1:a", "truncated");
    reject_s("l", "not closed");
    reject_s("d", "not closed");
    reject_s("li1e", "not closed");
    reject_s("lx", "unexpected byte");
    reject_s("l1:ai1e-e", "unexpected byte");
}

static void test_accepts(void)
{
    const char *ok[] = { "le", "de", "0:", "i0e", "i-1e", "d1:ai1e2:abi2ee", "d0:i0e1:ai1ee", "l0:0:e", "10:0123456789" };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char err[256] = "";
        ts_ben_t *t = parse_s(ok[i], err, sizeof err);
        CHECK(t != NULL, "accept %s: %s", ok[i], err);
        CHECK(!t || t->rawlen == strlen(ok[i]), "raw span of %s", ok[i]);
        ts_ben_free(&t);
    }

    /* With consumed, trailing bytes are left for the caller. */
    size_t c = 0;
    ts_ben_t *t = ts_ben_parse((const uint8_t *)"i1exyz", 6, &c, NULL, 0);
    CHECK(t && t->i == 1 && c == 3, "consumed stops after the value");
    ts_ben_free(&t);
    t = ts_ben_parse((const uint8_t *)"4:spam4:eggs", 12, &c, NULL, 0);
    CHECK(t && t->len == 4 && c == 6, "consumed after a string");
    ts_ben_free(&t);

    /* A NULL err is allowed. */
    t = ts_ben_parse((const uint8_t *)"ix", 2, NULL, NULL, 0);
    CHECK(t == NULL, "reject with NULL err");
    /* A tiny err buffer is truncated, not overrun. */
    char small[8];
    memset(small, 'Z', sizeof small);
    t = ts_ben_parse((const uint8_t *)"ix", 2, NULL, small, 4);
    CHECK(t == NULL && small[3] == '\0' && small[4] == 'Z', "tiny err buffer");
}

static void test_limits(void)
{
    char err[256];
    /* Depth bomb: rejected at the 65th level without recursing. */
    size_t n = 100000;
    char *bomb = malloc(n);
    memset(bomb, 'l', n);
    expect_reject(bomb, n, "nesting deeper than 64", "l*100000");
    memset(bomb, 'd', n);
    expect_reject(bomb, n, "not a string", "d*100000");
    /* Exactly the limit is fine, one more is not. */
    for (size_t d = TS_BEN_MAX_DEPTH; d <= TS_BEN_MAX_DEPTH + 1; d++) {
        memset(bomb, 'l', d);
        memset(bomb + d, 'e', d);
        ts_ben_t *t = ts_ben_parse((const uint8_t *)bomb, 2 * d, NULL, err, sizeof err);
        if (d == TS_BEN_MAX_DEPTH)
            CHECK(t != NULL, "depth %zu accepted: %s", d, err);
        else
            CHECK(t == NULL && strstr(err, "offset 64"), "depth %zu rejected: %s", d, err);
        ts_ben_free(&t);
    }
    /* Deep dicts nest through values. */
    ts_buf_t b;
    ts_buf_init(&b);
    for (int i = 0; i < TS_BEN_MAX_DEPTH + 1; i++) {
        ts_ben_put_dict(&b);
        ts_ben_put_cstr(&b, "k");
    }
    ts_ben_put_int(&b, 1);
    for (int i = 0; i < TS_BEN_MAX_DEPTH + 1; i++)
        ts_ben_put_end(&b);
    expect_reject((const char *)b.data, b.len, "nesting", "deep dicts");
    ts_buf_free(&b);
    free(bomb);

    /* Node limit: a list holding TS_BEN_MAX_NODES - 1 ints is exactly the limit. */
    for (int over = 0; over <= 1; over++) {
        size_t items = TS_BEN_MAX_NODES - 1 + (size_t)over;
        ts_buf_init(&b);
        ts_ben_put_list(&b);
        for (size_t i = 0; i < items; i++)
            ts_buf_put(&b, "i0e", 3);
        ts_ben_put_end(&b);
        ts_ben_t *t = ts_ben_parse(b.data, b.len, NULL, err, sizeof err);
        if (!over)
            CHECK(t && t->n == items, "node limit accepted: %s", err);
        else
            CHECK(!t && strstr(err, "more than"), "node limit exceeded rejected: %s", err);
        ts_ben_free(&t);
        ts_buf_free(&b);
    }
}

int main(void)
{
    test_encodings();
    test_round_trip();
    test_rejects();
    test_accepts();
    test_limits();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
