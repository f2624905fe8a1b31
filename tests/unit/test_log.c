/* logfmt lines (lib/ts_log.c): time, level, instance, stage, msg, then fields; quoting that a
 * logfmt parser reads back; a field that does not fit is dropped whole, never cut. */
#include "check.h"
#include "ts_log.h"
#include <string.h>

int main(void)
{
    char line[TS_LOG_LINE_MAX];
    ts_log_fields_t f = { 0 };
    ts_log_field(&f, "peer", "%s", "10.0.0.1:6881");
    ts_log_field(&f, "reason", "%s", "bad \"piece\" = 7");
    ts_log_field(&f, "empty", "%s", "");
    ts_log_field(&f, "n", "%d", 42);
    CHECK(strcmp(f.s, "peer=10.0.0.1:6881 reason=\"bad \\\"piece\\\" = 7\" empty=\"\" n=42") == 0, "fields: %s", f.s);

    size_t n = ts_log_format_kv(line, TS_LOG_WARN, "demo", "swarm", "peer closed", 11, f.s);
    CHECK(n == strlen(line) && line[n - 1] == '\n', "one line, newline-terminated");
    CHECK(strncmp(line, "time=", 5) == 0, "starts with time: %s", line);
    const char *tail = " level=warn instance=demo stage=swarm msg=\"peer closed\" peer=10.0.0.1:6881 "
                       "reason=\"bad \\\"piece\\\" = 7\" empty=\"\" n=42\n";
    CHECK(strstr(line, tail) != NULL, "fields follow msg: %s", line);

    n = ts_log_format(line, TS_LOG_INFO, "demo", "ingest", "a \"quoted\"\nmsg", 15);
    CHECK(strstr(line, "msg=\"a \\\"quoted\\\" msg\"\n") != NULL, "msg quoting and no raw newline: %s", line);

    /* Fields that overflow are dropped whole: the fragment stays parseable. */
    ts_log_fields_t g = { 0 };
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (int i = 0; i < 10; i++)
        ts_log_field(&g, "k", "%s", big);
    CHECK(g.n == strlen(g.s) && g.n < sizeof g.s, "bounded: %zu", g.n);
    CHECK(g.n % (strlen(big) + 3) == strlen(big) + 2, "only whole fields: %zu", g.n);
    CHECK_DONE();
}
