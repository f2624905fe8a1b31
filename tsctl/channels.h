/* The channel list of `tsctl engine --channels FILE|DIR`: the streams the engine knows by name.
 * Text, UTF-8, one channel a line (docs/PROTOCOL.md §11 is the precise grammar):
 *
 *   NAME | GROUP | TVG-ID | SOURCE        # e.g.  News 24 | News | news24.de | /srv/news.tstream
 *
 * SOURCE is a .tstream path (relative to the file's directory) or a magnet link. Blank lines and
 * lines whose first non-blank character is '#' are skipped. chan_parse is pure (it never reads the
 * .tstream files) and strict: the first bad line fails the whole list, and err names the file and
 * line. chan_load reads a file, or every *.channels file of a directory in name order, and gives
 * each .tstream channel its infohash; two channels with one infohash are refused. */
#ifndef TSCTL_CHANNELS_H
#define TSCTL_CHANNELS_H
#include "ts_magnet.h"
#include <stddef.h>
#include <stdint.h>

#define CHAN_MAX       1024 /* channels in all files together */
#define CHAN_LINE_MAX  4096 /* bytes in one line, its end excluded */
#define CHAN_FIELD_MAX 127  /* bytes in NAME, GROUP or TVG-ID */
#define CHAN_FILE_MAX  (CHAN_MAX * (CHAN_LINE_MAX + 1))

typedef struct {
    char name[CHAN_FIELD_MAX + 1], group[CHAN_FIELD_MAX + 1], tvg_id[CHAN_FIELD_MAX + 1];
    char source[TS_MAGNET_MAX + 1]; /* the magnet link, or the .tstream path (made absolute by chan_load) */
    int is_magnet;
    int has_infohash; /* magnets: from parsing; .tstream files: once chan_load read them */
    uint8_t infohash[20];
    char where[300]; /* "FILE:LINE", for messages */
} chan_t;

typedef struct {
    chan_t *v;
    size_t n, cap;
} chan_list_t;

/* Append the channels of text[0..len) to out; file names the text in messages (and, for a relative
 * .tstream path, nothing: paths are kept as written). 0, or -1 with "FILE:LINE: why" in err and
 * out as it was. */
int chan_parse(const char *text, size_t len, const char *file, chan_list_t *out, char *err, size_t errlen);
/* Read path (a file, or a directory's *.channels files), resolve .tstream paths against the file's
 * directory and read each one's infohash. 0, or -1 with err. */
int chan_load(const char *path, chan_list_t *out, char *err, size_t errlen);
void chan_free(chan_list_t *l);
#endif
