/* Bencode (BEP 3): a strict, hostile-input-safe parser and a small streaming encoder.
 *
 * The parser builds a tree whose strings and raw spans point into the input buffer, so the
 * input must outlive the tree. It never recurses: nesting is tracked on a fixed stack, so
 * a depth bomb costs nothing but an error. */
#ifndef TS_BENCODE_H
#define TS_BENCODE_H
#include <stddef.h>
#include <stdint.h>
#include "ts_buf.h"

#define TS_BEN_MAX_DEPTH 64        /* lists/dicts nested deeper than this are rejected */
#define TS_BEN_MAX_NODES 1000000   /* values (dict keys included) per document */

typedef enum { TS_BEN_INT, TS_BEN_STR, TS_BEN_LIST, TS_BEN_DICT } ts_ben_type_t;
typedef struct ts_ben ts_ben_t;
struct ts_ben {
    ts_ben_type_t type;
    int64_t i;                 /* TS_BEN_INT */
    const uint8_t *s; size_t len;   /* TS_BEN_STR: points into the input buffer (input must outlive the tree) */
    size_t n;                  /* LIST/DICT: number of items */
    ts_ben_t **items;          /* LIST/DICT: values */
    ts_ben_t **keys;           /* DICT: keys (TS_BEN_STR nodes), sorted */
    const uint8_t *raw; size_t rawlen;  /* the exact input span of this value (for infohash) */
};

/* Parse one value from buf. With consumed == NULL the buffer must hold exactly one value;
 * otherwise trailing bytes are allowed and *consumed gets the value's length.
 * Rejects: truncation, leading zeros, "-0", empty or int64-overflowing ints, string lengths
 * past the input, non-string / unsorted / duplicate dict keys, nesting deeper than
 * TS_BEN_MAX_DEPTH, more than TS_BEN_MAX_NODES values. Returns NULL with a message naming
 * the problem and its byte offset in err. Free with ts_ben_free. */
ts_ben_t *ts_ben_parse(const uint8_t *buf, size_t len, size_t *consumed, char *err, size_t errlen);
/* Free a tree from ts_ben_parse and set *node to NULL. NULL and *node == NULL are fine. */
void ts_ben_free(ts_ben_t **node);

/* Look up key in a dict (binary search). NULL if absent or dict is not a dict. */
const ts_ben_t *ts_ben_dict_get(const ts_ben_t *dict, const char *key);
/* 0 and *out set, or -1 if absent or not an int. */
int ts_ben_get_int(const ts_ben_t *dict, const char *key, int64_t *out);
/* The string's bytes (not NUL-terminated) and *len, or NULL if absent or not a string. */
const uint8_t *ts_ben_get_str(const ts_ben_t *dict, const char *key, size_t *len);
/* The value under key if it is a dict, else NULL. */
const ts_ben_t *ts_ben_get_dict(const ts_ben_t *dict, const char *key);
/* The value under key if it is a list, else NULL. */
const ts_ben_t *ts_ben_get_list(const ts_ben_t *dict, const char *key);

/* Encoder: appends to b; allocation failure is sticky in b->err. The caller emits dict keys
 * in ascending order (bencode requires it; the parser rejects anything else). */
void ts_ben_put_int(ts_buf_t *b, int64_t v);
void ts_ben_put_str(ts_buf_t *b, const void *s, size_t len);
void ts_ben_put_cstr(ts_buf_t *b, const char *s);
void ts_ben_put_dict(ts_buf_t *b);   /* 'd' */
void ts_ben_put_list(ts_buf_t *b);   /* 'l' */
void ts_ben_put_end(ts_buf_t *b);    /* 'e' */
#endif
