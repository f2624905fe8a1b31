/* An instance is one broadcast or one viewer: a directory holding its configuration
 * (instance.conf), its supervisor's socket, logs and state. A registry of running
 * instances lives under the state root: ROOT/instances/NAME -> instance directory. */
#ifndef TSCTL_INSTANCE_H
#define TSCTL_INSTANCE_H
#include "ts_msg.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define INST_KEYS 24
typedef struct {
    char dir[512];
    int n;
    char key[INST_KEYS][32];
    char val[INST_KEYS][512];
} instance_t;

/* The state root: $TSTREAM_HOME, else $XDG_STATE_HOME/tstream, else ~/.local/state/tstream. */
void inst_root(char *out, size_t len);
int inst_valid_name(const char *name);
/* Directory for NAME: state_dir if given, else ROOT/NAME. */
void inst_dir_for(const char *name, const char *state_dir, char *out, size_t len);
int inst_mkdirs(const char *path, int mode);

const char *inst_get(const instance_t *in, const char *key);
void inst_set(instance_t *in, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int inst_load(instance_t *in, const char *dir);
int inst_save(const instance_t *in);

/* "ipc://DIR/NAME.ipc", or -1 if the path is too long for a unix socket. */
int inst_endpoint(const char *dir, const char *name, char *out, size_t len);
/* Path of a stage binary: next to tsctl (or $TS_LIBEXEC). */
void inst_binary(const char *name, char *out, size_t len);
/* A port for a stage to listen on later: picked at random below the kernel's ephemeral range and
 * bindable on every address now (a port from bind to 0 may next go to an outgoing connection);
 * the kernel's choice on 127.0.0.1 if there is no room below that range. 0 on failure. */
uint16_t inst_free_port(void);

/* --metrics ADDR:PORT of tsctl start, watch and seed: where the supervisor serves its status page
 * and /metrics, with every stage's series (instance.conf "metrics"). ":PORT" alone = 127.0.0.1;
 * ADDR an IPv4 address, PORT 1..65535. 0 with "ADDR:PORT" in out, or -1. */
int inst_metrics_addr(const char *arg, char *out, size_t len);

/* Registry */
int inst_register(const char *name, const char *dir);
void inst_unregister(const char *name);
/* Resolve a registered NAME to its directory. */
int inst_lookup(const char *name, char *dir, size_t len);
/* Call fn for every registered instance, in name order. */
int inst_each(int (*fn)(const char *name, const char *dir, void *arg), void *arg);

/* Supervisor pid from DIR/supervisor.pid if that process is alive, else 0. */
pid_t inst_supervisor_pid(const char *dir);
/* Start `tsctl supervise DIR` in the background and wait until it reports every stage ready.
 * 0 on ready; -1 with the supervisor's reason in err and in *code the exit code to report: the
 * failed stage's own if it was TS_EXIT_USAGE or TS_EXIT_CONFIG, else TS_EXIT_FAIL.
 * With foreground, this process becomes the supervisor (exec, for systemd and the like) and exits
 * when the instance stops; it returns (-1) only if that exec fails. */
int inst_spawn_supervisor(const char *dir, int foreground, int timeout_s, int *code, char *err, size_t errlen);
/* One request/reply with the supervisor: type is a Ts__MsgType, text may be NULL. The reply
 * (unpacked and checked; free with ts_msg_free) in *reply: 0, or -1 with *reply NULL. */
int inst_exchange(const char *dir, int type, const char *text, int timeout_ms, Ts__Envelope **reply);
/* The same for a reply that is text: malloc'd into *reply (may be NULL), its code into *code. */
int inst_request(const char *dir, int type, const char *text, int timeout_ms, char **reply, int *code);
/* Ask the supervisor to stop and wait for it to exit (SIGTERM, then SIGKILL, if it does not answer). */
int inst_stop(const char *dir, int timeout_s);

/* The running instance's status (MSG_STATUS_REP: envelope->status set), or NULL (no answer in
 * time). Free with ts_msg_free. */
Ts__Envelope *inst_status(const char *dir, int timeout_ms);
/* A counter of one stage of the running instance in dir: 0 with *value, or -1 (no answer, no such
 * stage or counter yet). */
int inst_stage_counter(const char *dir, const char *stage, const char *name, long long *value);
#endif
