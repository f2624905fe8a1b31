/* The engine's request targets: every documented URL form gives its kind and infohash; a path
 * below a stream is kept for the bridge only when it is tame; malformed ones are BAD with a reason,
 * other paths NONE. */
#include "check.h"
#include "engine_url.h"
#include <string.h>

#define IH "88c57e0ef197984cc9f5caf8f27075fe1ca72956"

static eng_req_t r;

static eng_kind_t parse(const char *target)
{
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    eng_url_parse(target, plen, q ? q + 1 : "", q ? strlen(q + 1) : 0, &r);
    return r.kind;
}

static void test_forms(void)
{
    CHECK(parse("/watch/" IH ".ts") == ENG_TS && r.infohash[0] == 0x88 && r.infohash[19] == 0x56, "/watch/IH.ts");
    CHECK(parse("/watch/88C57E0EF197984CC9F5CAF8F27075FE1CA72956.ts") == ENG_TS, "upper-case hex");
    CHECK(parse("/watch/" IH ".m3u8") == ENG_M3U8, "/watch/IH.m3u8");
    CHECK(parse("/ace/getstream?infohash=" IH) == ENG_TS, "ace infohash=");
    CHECK(parse("/ace/getstream?pid=7&id=" IH "&x") == ENG_TS && r.infohash[0] == 0x88, "ace id= among others");
    CHECK(parse("/ace/manifest.m3u8?id=" IH) == ENG_M3U8, "ace manifest");
    CHECK(parse("/watch/" IH "/index.m3u8?v=2") == ENG_SUB && strcmp(r.sub, "/index.m3u8?v=2") == 0, "sub: %s", r.sub);
    CHECK(parse("/watch/" IH "/seg/17.ts") == ENG_SUB && strcmp(r.sub, "/seg/17.ts") == 0, "segment: %s", r.sub);
    CHECK(parse("/watch?magnet=magnet:?xt=urn:btih:" IH "&dn=a&tr=http%3A%2F%2Fh%3A1%2Fannounce") == ENG_MAGNET &&
              strstr(r.magnet, "&tr=http%3A%2F%2Fh%3A1%2Fannounce") && r.infohash[0] == 0x88,
          "magnet as is: %s", r.magnet);
    CHECK(parse("/watch?magnet=magnet%3A%3Fxt%3Durn%3Abtih%3A" IH "%26dn%3Da") == ENG_MAGNET &&
              strcmp(r.magnet, "magnet:?xt=urn:btih:" IH "&dn=a") == 0,
          "magnet percent-encoded: %s", r.magnet);
}

static void test_bad(void)
{
    const char *bad[] = { "/watch/xyz.ts",
                          "/watch/" IH ".mp4",
                          "/watch/" IH,
                          "/watch/" IH "0.ts",
                          "/ace/getstream",
                          "/ace/getstream?id=12",
                          "/ace/getstream?infohash=%zz",
                          "/watch?magnet=magnet:?xt=urn:btih:zz",
                          "/watch?magnet=%ZZ",
                          "/watch?foo=1",
                          "/watch/" IH "/../x",
                          "/watch/" IH "/a b",
                          "/watch/" IH "/x?a=<b>" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(parse(bad[i]) == ENG_BAD && r.why[0], "%s: kind %d", bad[i], r.kind);
    CHECK(parse("/") == ENG_NONE && parse("/watchers") == ENG_NONE && parse("/ace/other") == ENG_NONE, "not ours");
}

int main(void)
{
    test_forms();
    test_bad();
    CHECK_DONE();
}
