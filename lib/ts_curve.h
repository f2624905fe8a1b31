/* CURVE security for tcp:// links between stages (stages in separate containers or hosts).
 *
 * ipc:// endpoints live in the 0700 state directory, so the file system guards them. A tcp://
 * endpoint is reachable by anyone on the network: every tcp:// socket a stage opens is a CURVE
 * socket, and a stage refuses a tcp:// endpoint when it has no keys (fail closed).
 *
 * A key directory holds one key pair per stage name: NAME.pub (Z85 public key, one line) and
 * NAME.secret (Z85 secret key, one line, mode 0600 or the stage refuses it). A stage reads its
 * own NAME.secret and every *.pub. Its bound sockets accept only clients whose public key is one
 * of those *.pub files; a ZAP handler (a thread serving inproc://zeromq.zap.01) checks them, since
 * libzmq accepts any client key when no handler runs. Its connecting sockets authenticate the
 * server with SERVER.pub, SERVER being the stage at the other end (ingest, signer, swarm, sup).
 * A container gets its own .secret and the .pub files of the others (`tsctl keygen DIR`). */
#ifndef TS_CURVE_H
#define TS_CURVE_H
#include <stddef.h>
#include <stdint.h>

#define TS_CURVE_KEY_Z85 40 /* characters of a Z85-encoded 32-byte key */

/* Load DIR/self.secret and DIR/ *.pub and start the ZAP handler on zctx; process-wide, once,
 * before any socket is bound. 0, or -1 with a message in err. */
int ts_curve_init(void *zctx, const char *dir, const char *self, char *err, size_t errlen);
/* After zmq_ctx_term (which ends the handler thread): join it and forget the keys. */
void ts_curve_fini(void);
/* Secure sock for endpoint before it binds or connects: nothing for non-tcp endpoints; for tcp://
 * a CURVE server (bind) or a CURVE client of `server` (connect). 0, or -1 with a message. */
int ts_curve_apply(void *sock, const char *endpoint, int bind, const char *server, char *err, size_t errlen);
/* For argument checks: 1 if any of the endpoints (NULL-terminated list; NULL entries skipped up to
 * the terminating sentinel TS_CURVE_END) is tcp:// and dir is NULL, with a message in err. */
#define TS_CURVE_END ((const char *)-1)
int ts_curve_missing(const char *dir, char *err, size_t errlen, ...);
/* Clients refused by the ZAP handler so far. */
uint64_t ts_curve_rejected(void);
/* Write DIR/name.pub and DIR/name.secret (0600) for a new key pair; refuses to overwrite. */
int ts_curve_keygen(const char *dir, const char *name, char *err, size_t errlen);
#endif
