/* Magnet links: the forms clients write parse (hex and base32 hashes, escapes, several trackers,
 * x.pe peers), what tsctl start prints parses back to the same stream, and broken links are
 * refused with a reason. */
#include "check.h"
#include "ts_magnet.h"
#include <string.h>

static const uint8_t IH[20] = { 0xbe, 0x7f, 0xe1, 0x70, 0x9c, 0x3d, 0xe8, 0x57, 0x8a, 0x90,
                                0x74, 0x4c, 0xc8, 0x1d, 0x94, 0x60, 0xf4, 0x3b, 0xc8, 0x98 };

static void test_parse(void)
{
    ts_magnet_t m;
    char err[256] = "";
    CHECK(ts_magnet_parse("magnet:?xt=urn:btih:be7fe1709c3de8578a90744cc81d9460f43bc898&dn=news%20at+9"
                          "&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&tr=udp://t.example:1337&x.pe=10.0.0.2:7000",
                          &m, err, sizeof err) == 0,
          "full link: %s", err);
    CHECK(memcmp(m.infohash, IH, 20) == 0, "hex infohash");
    CHECK(strcmp(m.name, "news at 9") == 0, "dn decoded: %s", m.name);
    CHECK(m.ntr == 2 && strcmp(m.tr[0], "http://127.0.0.1:6969/announce") == 0 &&
              strcmp(m.tr[1], "udp://t.example:1337") == 0,
          "trackers in order (%d)", m.ntr);
    CHECK(m.npe == 1 && m.pe[0].ip == 0x0a000002 && m.pe[0].port == 7000, "x.pe peer");

    /* Upper-case hex, and base32 of the same hash (what older clients write). */
    CHECK(ts_magnet_parse("MAGNET:?xt=urn:btih:BE7FE1709C3DE8578A90744CC81D9460F43BC898", &m, err, sizeof err) == 0 &&
              memcmp(m.infohash, IH, 20) == 0 && m.ntr == 0 && !m.name[0],
          "upper-case hex: %s", err);
    CHECK(ts_magnet_parse("magnet:?xt=urn:btih:XZ76C4E4HXUFPCUQORGMQHMUMD2DXSEY", &m, err, sizeof err) == 0 &&
              memcmp(m.infohash, IH, 20) == 0,
          "base32: %s", err);
    CHECK(ts_magnet_parse("magnet:?xt=urn:btih:xz76c4e4hxufpcuqorgmqhmumd2dxsey", &m, err, sizeof err) == 0 &&
              memcmp(m.infohash, IH, 20) == 0,
          "lower-case base32: %s", err);

    /* Parameters we do not use are skipped whatever they hold, even an over-long web seed. */
    char longws[3000] = "magnet:?ws=";
    memset(longws + strlen(longws), 'w', 2000);
    strcat(longws, "&xt=urn:btih:be7fe1709c3de8578a90744cc81d9460f43bc898&kt=a%ZZ&&=x&novalue");
    CHECK(ts_magnet_parse(longws, &m, err, sizeof err) == 0 && memcmp(m.infohash, IH, 20) == 0,
          "unknown parameters skipped: %s", err);

    /* Only the first TS_MAGNET_TR_MAX trackers are kept. */
    char many[4096] = "magnet:?xt=urn:btih:be7fe1709c3de8578a90744cc81d9460f43bc898";
    for (int i = 0; i < TS_MAGNET_TR_MAX + 3; i++)
        strcat(many, "&tr=http://t/a");
    CHECK(ts_magnet_parse(many, &m, err, sizeof err) == 0 && m.ntr == TS_MAGNET_TR_MAX, "trackers capped (%d)", m.ntr);
}

static void test_rejects(void)
{
    static const struct { const char *link, *why; } bad[] = {
        { "http://example/x", "magnet:?" },
        { "magnet:?dn=x", "no xt" },
        { "magnet:?xt=urn:btih:be7fe1709c3de8578a90744cc81d9460f43bc89", "40 hex" },
        { "magnet:?xt=urn:btih:ge7fe1709c3de8578a90744cc81d9460f43bc898", "40 hex" },
        { "magnet:?xt=urn:btih:XZ76C4E4HXUFPCUQORGMQHMUMD2DXSE1", "base32" },
        { "magnet:?xt=urn:btih:be7fe1709c3de8578a90744cc81d9460f43bc898&xt=urn:btih:be7fe1709c3de8578a90744cc81d9460f43bc898",
          "more than one" },
        { "magnet:?xt=urn:btih:be7fe1709c3de8578a90744cc81d9460f43bc898&dn=a%2", "percent" },
        { "magnet:?xt=urn:btih:be7fe1709c3de8578a90744cc81d9460f43bc898&dn=a%00b", "control" },
        { "magnet:?xt=urn:btih:be7fe1709c3de8578a90744cc81d9460f43bc898&tr=http://a%0d%0aHost:%20x", "control" },
        { "magnet:?xt=urn:btih:be7fe1709c3de8578a90744cc81d9460f43bc898&x.pe=example.com:80", "x.pe" },
        { "magnet:?xt=urn:btih:be7fe1709c3de8578a90744cc81d9460f43bc898&x.pe=10.0.0.1:0", "x.pe" },
        { "magnet:?xt=urn:btih:be7fe1709c3de8578a90744cc81d9460f43bc898&x.pe=10.0.0.1:65536", "x.pe" },
        { "magnet:?xt=urn:btih:be7fe1709c3de8578a90744cc81d9460f43bc898&x.pe=10.0.0.1", "x.pe" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ts_magnet_t m;
        char err[256] = "";
        int rc = ts_magnet_parse(bad[i].link, &m, err, sizeof err);
        CHECK(rc == -1 && strstr(err, bad[i].why), "%s: rc %d, err \"%s\" (want \"%s\")", bad[i].link, rc, err,
              bad[i].why);
    }
    char dn[700] = "magnet:?xt=urn:btih:be7fe1709c3de8578a90744cc81d9460f43bc898&dn=";
    memset(dn + strlen(dn), 'n', TS_MAGNET_STR_MAX + 1);
    ts_magnet_t m;
    char err[256] = "";
    CHECK(ts_magnet_parse(dn, &m, err, sizeof err) == -1 && strstr(err, "too long"), "over-long dn: %s", err);
    char huge[TS_MAGNET_MAX + 100] = "magnet:?xt=urn:btih:be7fe1709c3de8578a90744cc81d9460f43bc898&ws=";
    memset(huge + strlen(huge), 'w', sizeof huge - strlen(huge) - 1);
    huge[sizeof huge - 1] = 0;
    CHECK(ts_magnet_parse(huge, &m, err, sizeof err) == -1 && strstr(err, "longer than"), "over-long link: %s", err);
}

static void test_format(void)
{
    char link[1024], err[256] = "";
    CHECK(ts_magnet_format(IH, "my stream", "http://127.0.0.1:6969/announce?k=a&b", link, sizeof link) == 0,
          "format");
    CHECK(strcmp(link, "magnet:?xt=urn:btih:be7fe1709c3de8578a90744cc81d9460f43bc898&dn=my%20stream"
                       "&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce%3Fk%3Da%26b") == 0,
          "formatted link: %s", link);
    ts_magnet_t m;
    CHECK(ts_magnet_parse(link, &m, err, sizeof err) == 0 && memcmp(m.infohash, IH, 20) == 0 &&
              strcmp(m.name, "my stream") == 0 && m.ntr == 1 &&
              strcmp(m.tr[0], "http://127.0.0.1:6969/announce?k=a&b") == 0,
          "what we print parses back: %s", err);
    CHECK(ts_magnet_format(IH, NULL, "", link, sizeof link) == 0 &&
              strcmp(link, "magnet:?xt=urn:btih:be7fe1709c3de8578a90744cc81d9460f43bc898") == 0,
          "bare link: %s", link);
    CHECK(ts_magnet_format(IH, "x", NULL, link, 40) == -1, "too small a buffer");
    CHECK(ts_magnet_format(IH, "name", NULL, link, 66) == -1, "too small for the name");
}

int main(void)
{
    test_parse();
    test_rejects();
    test_format();
    CHECK_DONE();
}
