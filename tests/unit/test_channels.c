/* The engine's channel list: the documented format parses (comments, blanks, CRLF, empty GROUP and
 * TVG-ID, magnet links), and each kind of bad line is refused with the file and its line number,
 * keeping nothing. */
#include "channels.h"
#include "check.h"
#include <string.h>

#define LINK "magnet:?xt=urn:btih:88c57e0ef197984cc9f5caf8f27075fe1ca72956&dn=demo"

static void test_parse(void)
{
    chan_list_t l = { 0 };
    char err[512] = "";
    const char *t = "# header\n\n  News 24 |News| news.de | dir/news.tstream \r\n"
                    "\t# indented comment\nLive | | | " LINK "\n";
    CHECK(chan_parse(t, strlen(t), "a.channels", &l, err, sizeof err) == 0, "valid list: %s", err);
    CHECK(l.n == 2, "two channels, not %zu", l.n);
    if (l.n == 2) {
        CHECK(strcmp(l.v[0].name, "News 24") == 0 && strcmp(l.v[0].group, "News") == 0 &&
                  strcmp(l.v[0].tvg_id, "news.de") == 0 && strcmp(l.v[0].source, "dir/news.tstream") == 0 &&
                  !l.v[0].is_magnet && !l.v[0].has_infohash,
              "fields trimmed: '%s' '%s' '%s' '%s'", l.v[0].name, l.v[0].group, l.v[0].tvg_id, l.v[0].source);
        CHECK(strcmp(l.v[0].where, "a.channels:3") == 0, "where: %s", l.v[0].where);
        CHECK(l.v[1].is_magnet && l.v[1].has_infohash && l.v[1].infohash[0] == 0x88 && !l.v[1].group[0],
              "a magnet channel with its infohash");
    }
    chan_free(&l);
}

static void refused_n(const char *text, size_t len, const char *want)
{
    chan_list_t l = { 0 };
    char err[512] = "";
    int rc = chan_parse(text, len, "f", &l, err, sizeof err);
    CHECK(rc == -1 && l.n == 0 && strstr(err, want), "'%s': rc %d, %zu kept, err '%s' (want '%s')", text, rc, l.n, err,
          want);
    chan_free(&l);
}

static void refused(const char *text, const char *want) { refused_n(text, strlen(text), want); }

static void test_rejects(void)
{
    refused("ok | g | t | a.tstream\nonly | three | fields\n", "f:2: 3 fields, expected 4");
    refused("a | b | c | d | e.tstream\n", "f:1: more than 4 fields");
    refused(" | g | t | a.tstream\n", "f:1: NAME is empty");
    refused("a\"b | g | t | a.tstream\n", "f:1: NAME contains '\"'");
    refused("a | g\x01 | t | a.tstream\n", "f:1: GROUP is not printable UTF-8");
    refused("a | g | \xff | a.tstream\n", "f:1: TVG-ID is not printable UTF-8");
    refused("a | g | t | \n", "f:1: SOURCE is empty");
    refused("a | g | t | video.ts\n", "f:1: SOURCE is neither a magnet link");
    refused("a | g | t | magnet:?xt=urn:btih:zz\n", "f:1: bad magnet link");
    refused("a | | | " LINK "\nb | | | " LINK "\n", "f:2: the same stream (infohash) as f:1");
    static const char nul[] = "\n\na | g | t | a.ts\0tream\n";
    refused_n(nul, sizeof nul - 1, "f:3: a NUL byte");
    char longline[CHAN_LINE_MAX + 100];
    memset(longline, 'x', sizeof longline - 1);
    longline[sizeof longline - 1] = 0;
    refused(longline, "f:1: line longer than 4096 bytes");
    char longname[300] = "";
    memset(longname, 'n', 128);
    strcat(longname, " | g | t | a.tstream");
    refused(longname, "f:1: NAME is longer than 127 bytes");
}

int main(void)
{
    test_parse();
    test_rejects();
    CHECK_DONE();
}
