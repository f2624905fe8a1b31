/* Where ingest's bytes come from: a file paced at a bitrate, stdin, a command's stdout
 * (restarted with backoff when it exits), an HTTP(S) stream (reconnected forever), or the
 * built-in ffmpeg test pattern. All non-blocking on the caller's libev loop, which must be the
 * default loop (child processes are reaped with ev_child). */
#ifndef TS_SOURCE_H
#define TS_SOURCE_H
#include <ev.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { TS_SOURCE_FILE, TS_SOURCE_STDIN, TS_SOURCE_PIPE, TS_SOURCE_HTTP, TS_SOURCE_TESTSRC } ts_source_kind_t;

typedef struct {
    void (*data)(const uint8_t *buf, size_t len, void *arg);
    /* The stream ended (EOF, the command exited, the connection dropped). restarting: a new run
     * follows after a delay; else the source stays idle for good. */
    void (*ended)(int restarting, void *arg);
    /* A new run begins: what follows does not continue what came before (its bytes are counted
     * from offset 0 again). Not called for the first run, nor for a resumed run that continues. */
    void (*restarted)(void *arg);
} ts_source_cb_t;

typedef struct ts_source ts_source_t;

ts_source_kind_t ts_source_kind(const char *spec);
/* The command behind "testsrc". */
const char *ts_source_testsrc_cmd(void);

/* What can be checked before starting: the file opens, is not a directory and, if a regular
 * file, not empty; a command is given. 0, or -1 with a reason in err and in *code a TS_EXIT_*
 * value. */
int ts_source_check(const char *spec, int *code, char *err, size_t errlen);
/* Open (file), spawn (pipe, testsrc) or start connecting (http). bps paces a file source and is
 * ignored otherwise. *offset: the byte to start at (a resume); on return, where the source does
 * start: a file seeks there (0 if it is shorter), an HTTP source asks for it with a Range header
 * (and calls restarted if the server sends the whole resource instead), commands and stdin
 * cannot seek (0). On failure NULL, a reason in err, and in *code a TS_EXIT_* value. */
ts_source_t *ts_source_new(struct ev_loop *loop, const char *spec, uint64_t bps, uint64_t *offset,
                           const ts_source_cb_t *cb, void *arg, int *code, char *err, size_t errlen);
/* Stop reading and stop any child process group (SIGTERM); no restarts after this. */
void ts_source_stop(ts_source_t *s);
/* Stop, make sure a child process group is gone (SIGKILL after a grace period), free. */
void ts_source_destroy(ts_source_t **self);
#endif
