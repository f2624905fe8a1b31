/* Does a file hold MPEG-TS? Asked before starting a file source without --bitrate: only MPEG-TS
 * carries the PCR that paces it (ingest/pacer.h). */
#ifndef TS_MPEGTS_H
#define TS_MPEGTS_H
#include <stddef.h>
#include <stdint.h>

/* 1 if buf has a 0x47 sync byte within its first 188 bytes followed by two more a packet apart
 * (three packets: too few bytes is "no"), else 0. */
int ts_mpegts_looks(const uint8_t *buf, size_t len);
/* ts_mpegts_looks on the first bytes of the file at path; -1 if it cannot be read. */
int ts_mpegts_file(const char *path);
#endif
