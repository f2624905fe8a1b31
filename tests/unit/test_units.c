/* User-facing numbers (lib/ts_units.c): rates, sizes, host:port. */
#include "check.h"
#include "ts_units.h"
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void test_units(void)
{
    uint64_t v;
    CHECK(ts_units_rate("2M", &v) == 0 && v == 2000000, "2M");
    CHECK(ts_units_rate("512k", &v) == 0 && v == 512000, "512k");
    CHECK(ts_units_rate("1.5Mb", &v) == 0 && v == 1500000, "1.5Mb");
    CHECK(ts_units_rate("64000", &v) == 0 && v == 64000, "plain");
    CHECK(ts_units_rate("fast", &v) < 0 && ts_units_rate("-1M", &v) < 0 && ts_units_rate("", &v) < 0 &&
              ts_units_rate("2X", &v) < 0 && ts_units_rate("99999999999G", &v) < 0,
          "bad rates rejected");
    CHECK(ts_units_duration("90", &v) == 0 && v == 90000000, "90 s");
    CHECK(ts_units_duration("30m", &v) == 0 && v == 1800000000, "30m");
    CHECK(ts_units_duration("2h", &v) == 0 && v == 7200000000ull, "2h");
    CHECK(ts_units_duration("", &v) < 0 && ts_units_duration("1x", &v) < 0 && ts_units_duration("-1", &v) < 0 &&
              ts_units_duration("99999999", &v) < 0 && ts_units_duration("169h", &v) < 0, "bad durations");
    CHECK(ts_units_size("16k", &v) == 0 && v == 16384, "16k");
    char addr[64];
    uint16_t port;
    CHECK(ts_units_hostport("0.0.0.0:8080", addr, sizeof addr, &port) == 0 && port == 8080 && !strcmp(addr, "0.0.0.0"),
          "addr:port");
    CHECK(ts_units_hostport(":7", addr, sizeof addr, &port) == 0 && port == 7 && !strcmp(addr, "127.0.0.1"), ":port");
    CHECK(ts_units_hostport("x:70000", addr, sizeof addr, &port) < 0 && ts_units_hostport("x:", addr, sizeof addr, &port) < 0,
          "bad ports rejected");
}

int main(void)
{
    test_units();
    CHECK_DONE();
}
