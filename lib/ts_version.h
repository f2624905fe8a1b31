/* What build this is: the release version, and the git commit it was configured from. */
#ifndef TS_VERSION_H
#define TS_VERSION_H
#define TS_VERSION "0.6.0"
/* Short hash of the commit at CMake configure time, or "unknown" (no git, not a checkout). */
const char *ts_version_commit(void);
#endif
