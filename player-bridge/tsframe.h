/* Where a video frame starts in a run of MPEG-TS packets: the only place an LL-HLS part may end.
 * A player's TS demuxer (hls.js) takes the end of a part as the end of the frame it is in, so a
 * part cut inside a video PES loses that frame's tail and the next part's head. Pure; the bytes
 * come from the network (tests/fuzz/fuzz_tsframe.c). */
#ifndef TS_TSFRAME_H
#define TS_TSFRAME_H
#include <stddef.h>
#include <stdint.h>

#define TS_TSFRAME_PKT 188

/* The offset of the first 188-byte packet in p[0..len) that starts a PES of the video PID (*vpid;
 * -1 = not known yet: the first PES with a video stream id, 0xE0..0xEF, teaches it), or -1 when
 * none does. Scans whole packets from offset 0; a packet without the 0x47 sync byte ends the scan. */
long ts_tsframe_find(const uint8_t *p, size_t len, int *vpid);
#endif
