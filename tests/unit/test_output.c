/* player-bridge/output.c: the resume record (DIR/bridge.pos) that lets a restarted bridge continue
 * --output exactly — round trip, any flipped bit rejected, zeroes rejected. */
#include "check.h"
#include "output.h"
#include <stdint.h>
#include <string.h>

static void test_pos(void)
{
    uint8_t rec[TS_OUTPUT_POS_LEN];
    uint64_t seq, size;
    ts_output_pos_encode(2600000123ull, 0x123456789aull, rec);
    CHECK(ts_output_pos_decode(rec, &seq, &size) == 0 && seq == 2600000123ull && size == 0x123456789aull,
          "resume record round trip");
    int rejected = 0;
    for (int i = 0; i < TS_OUTPUT_POS_LEN; i++) {
        rec[i] ^= 0x10;
        rejected += ts_output_pos_decode(rec, &seq, &size) < 0;
        rec[i] ^= 0x10;
    }
    CHECK(rejected == TS_OUTPUT_POS_LEN, "any flipped bit rejected (%d/%d)", rejected, TS_OUTPUT_POS_LEN);
    memset(rec, 0, sizeof rec);
    CHECK(ts_output_pos_decode(rec, &seq, &size) < 0, "zeroes rejected");
}

int main(void)
{
    test_pos();
    CHECK_DONE();
}
