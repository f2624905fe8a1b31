#!/usr/bin/env bash
# A viewer's HLS output (issue 17): ffmpeg reads NAME.m3u8 live and what it copies decodes cleanly;
# the playlist's segments, fetched one by one and put end to end, are byte for byte the source
# slice they cover, and each segment's LL-HLS parts add up to it; a blocking reload is answered
# once its part exists; unknown segments are 404, malformed queries 400; a flood of held requests
# gets 503 beyond the bound while the stream keeps being served; a restarted bridge numbers its
# segments on from where the last one stopped.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.bash"

"$TSCTL" start hs --source "$(finite_source 40 "$WORK/src.ts")" --bitrate 2M >/dev/null
"$TSCTL" watch hs.tstream --name hsv --dvr 5m > watch.out
cat watch.out
M3U=$(sed -n 's/^ *HLS: *\([^ ]*\).*/\1/p' watch.out)
[ -n "$M3U" ] || fail "tsctl watch printed no HLS URL"
BASE=${M3U%.m3u8}
has_segments() { curl -sf "$M3U?ll=0" | grep '^#EXTINF' >/dev/null; }
wait_for 30 has_segments || fail "no segment in $M3U after 30 s: $(curl -s "$M3U")"

say "ffmpeg reads the playlist live"
timeout 60 ffmpeg -hide_banner -nostdin -v error -i "$M3U" -t 8 -c copy -f mpegts -y ffout.ts \
  || fail "ffmpeg -i $M3U -c copy failed"
decodes_clean ffout.ts || fail "what ffmpeg copied from the playlist does not decode cleanly"
say "ffmpeg: $(stat -c %s ffout.ts) bytes, decode clean"

say "blocking reload and the preload hint"
hint=$(curl -s "$M3U" | sed -n 's/^#EXT-X-PRELOAD-HINT:TYPE=PART,URI="[^"]*\/\([0-9]*\)\.\([0-9]*\)\.ts"/\1 \2/p')
[ -n "$hint" ] || fail "no EXT-X-PRELOAD-HINT in $(curl -s "$M3U")"
read -r msn part <<<"$hint"
curl -s "$M3U?_HLS_msn=$msn&_HLS_part=$part" > held.m3u8
grep -q "/$msn\.$part\.ts\"" held.m3u8 || fail "the blocking reload for $msn.$part came back without it: $(tail -5 held.m3u8)"
code=$(curl -s -o part.ts -w '%{http_code}' "$BASE/$msn.$((part + 1)).ts")
[ "$code" = 200 ] && [ -s part.ts ] || fail "the part after the hint (held until it exists): HTTP $code"

say "unknown segments, hostile queries"
for u in "$BASE/999999999.ts" "$BASE/x.ts" "$BASE/1.2.3.ts" "$BASE/" "$BASE/1.99999.ts"; do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$u")" = 404 ] || fail "$u is not a 404"
done
for q in "_HLS_part=1" "_HLS_msn=-1" "_HLS_msn=1&_HLS_msn=2" "_HLS_msn=99999999999999999" "_HLS_msn=999999999999" \
         "_HLS_skip=maybe" "$(head -c 600 /dev/zero | tr '\0' a)"; do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$M3U?$q")" = 400 ] || fail "$M3U?${q:0:40} is not a 400"
done

say "a flood of held requests"
/usr/bin/python3 - "$M3U" <<'PY' > flood.out || fail "flood: $(cat flood.out)"
import concurrent.futures, re, sys, time, urllib.request, urllib.error
m3u = sys.argv[1]
pl = urllib.request.urlopen(m3u).read().decode()
msn = int(re.search(r'PRELOAD-HINT:TYPE=PART,URI="[^"]*/(\d+)\.\d+\.ts"', pl).group(1))
def held(_):
    try:
        return urllib.request.urlopen("%s?_HLS_msn=%d&_HLS_part=9000" % (m3u, msn + 1), timeout=30).status
    except urllib.error.HTTPError as e:
        return e.code
with concurrent.futures.ThreadPoolExecutor(60) as ex:
    futs = [ex.submit(held, i) for i in range(60)]
    time.sleep(1.0)
    t0 = time.monotonic()
    ok = urllib.request.urlopen(m3u, timeout=5).status  # still answered while the flood is held
    codes = [f.result() for f in futs]
print("held requests answered: %d x 503, %d x 200; playlist meanwhile: %d" % (codes.count(503), codes.count(200), ok))
assert ok == 200 and codes.count(503) >= 60 - 32, codes
PY
cat flood.out
[ "$(stage_field hsv player-bridge hls_refused)" -ge 28 ] || fail "hls_refused: $(stage_field hsv player-bridge hls_refused)"

say "segments put end to end are the source"
wait_stable 90 src.ts || fail "the source never finished"
sleep 3
/usr/bin/python3 - "$M3U" <<'PY' || fail "segments"
import re, sys, urllib.parse, urllib.request
m3u = sys.argv[1]
get = lambda u: urllib.request.urlopen(urllib.parse.urljoin(m3u, u), timeout=20).read()  # URIs are relative
pl = get(m3u).decode()
segs = re.findall(r"^#EXTINF:([0-9.]+),\n(\S+)$", pl, re.M)
assert len(segs) >= 12, "only %d segments listed:\n%s" % (len(segs), pl)
msns = [int(re.search(r"/(\d+)\.ts$", u).group(1)) for _, u in segs]
assert msns == list(range(msns[0], msns[0] + len(msns))), msns
assert int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", pl).group(1)) == msns[0]
data = b"".join(get(u) for _, u in segs)
open("segs.ts", "wb").write(data)
# every listed part of a segment, end to end, is that segment
parts = re.findall(r'#EXT-X-PART:DURATION=[0-9.]+,URI="(\S+)/(\d+)\.(\d+)\.ts"', pl)
checked = 0
for msn in sorted({int(m) for _, m, _ in parts}):
    if msn not in msns:
        continue
    ps = sorted((int(p), b + "/%d.%s.ts" % (msn, p)) for b, m, p in parts if int(m) == msn)
    assert get("/".join(segs[msns.index(msn)][1].split("/")[:-1]) + "/%d.ts" % msn) == b"".join(get(u) for _, u in ps), msn
    checked += 1
assert checked >= 1, "no closed segment with parts listed"
print("%d segments (%.1f s), %d bytes; parts of %d segments match" % (len(segs), sum(float(d) for d, _ in segs), len(data), checked))
PY
off=$(slice_offset src.ts segs.ts) || fail "the segments end to end are not a slice of the source"
say "segments: identical to the source from byte $off"
decodes_clean segs.ts || fail "the segments do not decode cleanly"

say "a restarted bridge"
last=$(curl -s "$M3U?ll=0" | grep -o '/[0-9]*\.ts$' | tail -1 | tr -dc 0-9)
"$TSCTL" restart hsv player-bridge >/dev/null
"$TSCTL" stop hs >/dev/null
"$TSCTL" start hs --source "$(finite_source 20 "$WORK/src2.ts")" --bitrate 2M >/dev/null
wait_for 40 has_segments || fail "no segment after the restarts"
first=$(curl -s "$M3U?ll=0" | sed -n 's/^#EXT-X-MEDIA-SEQUENCE://p')
[ "$first" -gt "$last" ] || fail "segment numbers went back after a restart: $first after $last"
say "after the restart the playlist starts at $first (was up to $last)"
say "PASS"
