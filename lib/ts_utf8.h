/* Text from elsewhere (a peer's client string) shown to people: which bytes are a printable,
 * well-formed UTF-8 character. Pure. */
#ifndef TS_UTF8_H
#define TS_UTF8_H
#include <stddef.h>
#include <stdint.h>

/* Bytes of the printable, well-formed UTF-8 character at s (n > 0 bytes left): 1..4, or 0 if
 * there is none there: a control (C0, DEL, C1), a stray or missing continuation byte, an overlong
 * form, a surrogate or a code point past U+10FFFF. */
size_t ts_utf8_printable(const uint8_t *s, size_t n);
#endif
