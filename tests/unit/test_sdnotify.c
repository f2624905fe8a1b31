/* tsctl/sdnotify.c: the journal's stream and the priority of a log line on it. */
#include "check.h"
#include "sdnotify.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int prio(const char *line) { return sdnotify_priority(line, strlen(line)); }

int main(void)
{
    CHECK(prio("time=x level=error instance=a stage=b msg=\"boom\"\n") == 3, "error is <3>");
    CHECK(prio("time=x level=warn instance=a stage=b msg=\"hm\"\n") == 4, "warn is <4>");
    CHECK(prio("time=x level=info instance=a stage=b msg=\"ok\"\n") == 6, "info is <6>");
    CHECK(prio("time=x level=debug instance=a stage=b msg=\"x\"\n") == 7, "debug is <7>");
    CHECK(prio("time=x level=info msg=\"level=error in a message\"\n") == 6, "the first level= field counts");
    CHECK(prio("time=x xlevel=error msg=\"\"\n") == 6, "only a field named level");
    CHECK(prio("time=x level=errors msg=\"\"\n") == 6, "only a whole value");
    CHECK(prio("level=warn") == 6, "a level at the very end, without a field after it: not trusted");
    CHECK(sdnotify_priority("level=error ", 6) == 6, "nothing read past len");

    char path[] = "/tmp/test_sdnotify.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "temporary file");
    struct stat st;
    fstat(fd, &st);
    char js[64];
    unsetenv("JOURNAL_STREAM");
    CHECK(!sdnotify_journal_fd(fd), "no JOURNAL_STREAM: not the journal");
    snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", js, 1);
    CHECK(sdnotify_journal_fd(fd), "its device and inode: the journal");
    snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino + 1);
    setenv("JOURNAL_STREAM", js, 1);
    CHECK(!sdnotify_journal_fd(fd), "another inode: not the journal");
    setenv("JOURNAL_STREAM", "garbage", 1);
    CHECK(!sdnotify_journal_fd(fd), "garbage: not the journal");
    close(fd);
    unlink(path);
    CHECK_DONE();
}
