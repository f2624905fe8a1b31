/* Hex digits, for the places that read them from untrusted text (magnet links, tracker
 * queries, public keys on the command line). */
#ifndef TS_HEX_H
#define TS_HEX_H

/* 0..15 for [0-9a-fA-F], else -1. */
int ts_hex_val(int c);
#endif
