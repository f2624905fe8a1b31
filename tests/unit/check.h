/* The unit tests' one assertion: count, and on failure say where and why; main() ends with
 * CHECK_DONE(), which prints "N passed, M failed" (the line CI reads) and gives the exit code. */
#ifndef TS_TEST_CHECK_H
#define TS_TEST_CHECK_H
#include <stdio.h>

static int passed, failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

/* Quiet variant for loops: counts one failure, reports the first. */
#define LOOP_CHECK(ok, cond, ...)                                                                                      \
    do {                                                                                                               \
        if ((ok) && !(cond)) {                                                                                         \
            ok = 0;                                                                                                    \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                                \
            printf(__VA_ARGS__);                                                                                       \
            printf("\n");                                                                                              \
        }                                                                                                              \
    } while (0)

#define CHECK_DONE()                                                                               \
    do {                                                                                           \
        printf("%d passed, %d failed\n", passed, failed);                                          \
        return failed != 0;                                                                        \
    } while (0)
#endif
