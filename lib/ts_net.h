/* A non-blocking TCP listener for the HTTP servers (player-bridge, /metrics endpoints). */
#ifndef TS_NET_H
#define TS_NET_H
#include <stddef.h>
#include <stdint.h>

/* Listen on host (an address as ts_units_hostport leaves it, "[::1]" included) and port (0: the
 * kernel picks one), SO_REUSEADDR, non-blocking, close-on-exec. The socket, with the port it got
 * in *bound; or -1 with a message in err and the failing errno in *err_no (0 for a bad host). */
int ts_net_listen(const char *host, uint16_t port, int backlog, uint16_t *bound, int *err_no, char *err,
                  size_t errlen);
#endif
