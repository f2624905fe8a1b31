#include "ts_version.h"

/* Set for this file alone (CMakeLists.txt), so a new commit recompiles only this file. */
#ifndef TS_GIT_COMMIT
#define TS_GIT_COMMIT "unknown"
#endif

const char *ts_version_commit(void) { return TS_GIT_COMMIT; }
