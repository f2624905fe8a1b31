/* Where ingest's bytes come from: a file (paced, optionally looped), stdin, a command's stdout
 * (restarted with backoff when it exits), an HTTP(S) stream (paced, reconnected forever), the
 * built-in ffmpeg test pattern, or an encoder pushing MPEG-TS by SRT, UDP or TCP (live, unpaced;
 * lib/ts_pushurl.h has their forms). All non-blocking on the caller's libev loop, which must be the
 * default loop (child processes are reaped with ev_child). */
#ifndef TS_SOURCE_H
#define TS_SOURCE_H
#include <ev.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { TS_SOURCE_FILE, TS_SOURCE_STDIN, TS_SOURCE_PIPE, TS_SOURCE_HTTP, TS_SOURCE_TESTSRC,
               TS_SOURCE_PUSH } ts_source_kind_t;

typedef struct {
    void (*data)(const uint8_t *buf, size_t len, void *arg);
    /* The stream ended (EOF, the command exited, the connection dropped). restarting: a new run
     * follows after a delay; else the source stays idle for good. */
    void (*ended)(int restarting, void *arg);
    /* A new run begins: what follows does not continue what came before (its bytes are counted
     * from offset 0 again). Not called for the first run, nor for a resumed run that continues. */
    void (*restarted)(void *arg);
    /* Push sources: something was turned away (a second encoder, a caller without the passphrase,
     * a datagram that is not whole MPEG-TS packets), bytes of it dropped; already logged. */
    void (*refused)(size_t bytes, void *arg);
} ts_source_cb_t;

typedef struct ts_source ts_source_t;

ts_source_kind_t ts_source_kind(const char *spec);
/* The command behind "testsrc". */
const char *ts_source_testsrc_cmd(void);

/* What can be checked before starting: the file opens, is not a directory and, if a regular
 * file, not empty; a command is given; a push source's form parses. 0, or -1 with a reason in err and in *code a TS_EXIT_*
 * value. */
int ts_source_check(const char *spec, int *code, char *err, size_t errlen);
/* Open (file), spawn (pipe, testsrc) or start connecting (http). A file or HTTP source is paced
 * (ingest/pacer.h): a file at bps bit/s, or by its MPEG-TS PCR when bps is 0; HTTP by its PCR,
 * at bps only if it has none; repeat loops a file at its end. Both are ignored for the other kinds, which come at their own pace. *offset: the byte to start at (a resume); on return, where the source does
 * start: a file seeks there (0 if it is shorter), an HTTP source asks for it with a Range header
 * (and calls restarted if the server sends the whole resource instead), commands and stdin
 * cannot seek (0). On failure NULL, a reason in err, and in *code a TS_EXIT_* value. */
ts_source_t *ts_source_new(struct ev_loop *loop, const char *spec, uint64_t bps, int repeat, uint64_t *offset,
                           const ts_source_cb_t *cb, void *arg, int *code, char *err, size_t errlen);
/* Stop reading and stop any child process group (SIGTERM); no restarts after this. */
void ts_source_stop(ts_source_t *s);
/* Stop, make sure a child process group is gone (SIGKILL after a grace period), free. */
void ts_source_destroy(ts_source_t **self);
#endif
