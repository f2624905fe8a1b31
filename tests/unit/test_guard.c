/* swarm/guard.c: admission and verification budgets per /24 prefix and overall. */
#include "check.h"
#include "guard.h"
#include <arpa/inet.h>
#include <string.h>

#define SEC 1000000000ull

static swarm_t sw;

static peer_t mkpeer(uint32_t ip)
{
    peer_t p;
    memset(&p, 0, sizeof p);
    p.sw = &sw;
    p.addr.sin_addr.s_addr = htonl(ip);
    return p;
}

static void test_admission(void)
{
    memset(&sw, 0, sizeof sw);
    uint64_t now = 100 * SEC;
    int ok = 0;
    for (int i = 0; i < 100; i++)
        ok += guard_admit(&sw, 0x0a000100 | (uint32_t)i, now) == 1; /* 10.0.1.x: one /24 */
    CHECK(ok == (int)(2 * SW_ADMIT_PREFIX_RATE), "a burst from one /24 is admitted up to twice its rate (%d)", ok);
    CHECK(guard_admit(&sw, 0x0a000200, now) == 1, "another /24 is admitted meanwhile");
    CHECK(guard_admit(&sw, 0x0a000101, now + SEC / 20) == 0, "the first /24 still waits 50 ms later (0: its own budget)");
    CHECK(guard_admit(&sw, 0x0a000101, now + SEC / 5) == 1, "one token back after 1/rate s");

    memset(&sw, 0, sizeof sw);
    ok = 0;
    for (int i = 0; i < 1000; i++)
        ok += guard_admit(&sw, 0x0b000000 | (uint32_t)i << 8, now) == 1; /* 1000 different /24s */
    CHECK(ok == (int)(2 * SW_ADMIT_RATE), "many prefixes together get the overall burst only (%d)", ok);
    CHECK(guard_admit(&sw, 0x0c000001, now) == -1, "then -1: the overall budget is spent (the listener rests)");

    memset(&sw, 0, sizeof sw);
    ok = 0;
    for (int i = 0; i < 60; i++)
        ok += guard_admit(&sw, 0x7f000001, now) == 1;
    CHECK(ok == 60, "127.0.0.1 has no per-prefix limit (%d of 60)", ok);
}

static void test_verification(void)
{
    memset(&sw, 0, sizeof sw);
    uint64_t now = 100 * SEC;
    int verified = 0;
    for (int i = 0; i < 100; i++) { /* forged pieces from fresh connections of one /24 */
        peer_t p = mkpeer(0x0a000100 | (uint32_t)i);
        if (guard_may_verify(&p, now)) {
            verified++;
            guard_verify_failed(&p, now);
        }
    }
    CHECK(verified == (int)(2 * SW_VFAIL_PREFIX_RATE), "failures from one /24: a burst of twice the rate (%d)", verified);
    peer_t good = mkpeer(0x0a000101);
    good.good_pieces = 1;
    CHECK(guard_may_verify(&good, now), "a peer that delivered a good piece is always verified");
    peer_t other = mkpeer(0x0a000900);
    CHECK(guard_may_verify(&other, now), "another /24 is still verified");

    memset(&sw, 0, sizeof sw);
    verified = 0;
    for (int i = 0; i < 1000; i++) {
        peer_t p = mkpeer(0x0c000000 | (uint32_t)i << 8);
        if (guard_may_verify(&p, now)) {
            verified++;
            guard_verify_failed(&p, now);
        }
    }
    CHECK(verified == (int)(2 * SW_VFAIL_RATE), "failures from many /24s: the overall burst only (%d)", verified);
    verified = 0;
    for (int t = 0; t < 10; t++) /* ten seconds of flooding from ever new prefixes */
        for (int i = 0; i < 1000; i++) {
            peer_t p = mkpeer(0x0d000000 | (uint32_t)(t * 1000 + i) << 8);
            if (guard_may_verify(&p, now + (uint64_t)(t + 1) * SEC)) {
                verified++;
                guard_verify_failed(&p, now + (uint64_t)(t + 1) * SEC);
            }
        }
    CHECK(verified <= (int)(10 * SW_VFAIL_RATE + 2 * SW_VFAIL_RATE), "a 10 s flood costs at most rate x 10 s + burst (%d)",
          verified);
}

int main(void)
{
    test_admission();
    test_verification();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
