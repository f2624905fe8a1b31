/* Magnet-link join (metafetch.c): ts-swarm --fetch-metainfo LINK --tstream FILE. */
#ifndef TS_METAFETCH_H
#define TS_METAFETCH_H
#include <stdint.h>

/* Fetch the metainfo the link names from peers (its x.pe entries and what its http:// trackers
 * return), check it against the link's infohash and write FILE. port: the peer port announced
 * to trackers (the viewer's swarm, about to listen there; 0 = 6881). Returns an exit code:
 * 0 written; 100 a bad link; 101 the dict matches the hash but is not a tstream; 111 nothing in
 * timeout_s or FILE not writable. */
int metafetch_run(const char *magnet, const char *path, uint16_t port, double timeout_s);
#endif
