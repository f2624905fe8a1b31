#!/usr/bin/env bash
# tsctl engine (issue 17 part 3): streams by URL alone. A broadcast and a channel list naming its
# .tstream; the engine's /playlist.m3u lists the channel; a curl player on the playlist's URL and an
# ffmpeg player on /ace/getstream share one viewer the engine started (one engine-* instance, its
# player-bridge with http_clients 2); the curl player's bytes are a slice of the source and both
# decode cleanly. With both gone, the viewer is stopped after --idle. --max-streams holds (503 with
# Retry-After), unknown infohashes get 404 and start nothing, malformed ones 400; /metrics passes
# promtool; SIGTERM stops the engine and the viewer it runs. Bad options and channel files are
# refused in one line (with the file's line number).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.bash"
command -v promtool >/dev/null || fail "promtool is not installed (deploy/setup.sh installs prometheus)"

read -r eport < <(free_ports 1)
expect 100 "bad --idle" "$TSCTL" engine --idle 0
expect 100 "bad --max-streams" "$TSCTL" engine --max-streams 0
expect 100 "unexpected argument" "$TSCTL" engine extra
printf '# a comment\n\nOne | G | one | one.tstream\nTwo | G | two\n' > bad.channels
expect 101 "bad.channels:4: 3 fields, expected 4" "$TSCTL" engine --channels bad.channels
printf 'One | G | one | nowhere.tstream\n' > missing.channels
expect 101 "missing.channels:1: .*nowhere.tstream" "$TSCTL" engine --channels missing.channels

"$TSCTL" start demo --source "$(finite_source 60 "$WORK/src.ts")" --bitrate 2M >/dev/null
IH=$("$TSCTL" status demo --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["instances"][0]["infohash"])' || true)
[ -n "$IH" ] || fail "no infohash for demo"
mkdir -p chan
cat > chan/tv.channels <<CH
# name | group | tvg-id | source (relative to this file)
Demo Channel | Tests | demo.tv | ../demo.tstream
CH

"$TSCTL" engine --http "127.0.0.1:$eport" --channels chan --idle 5 --max-streams 1 > engine.log 2>&1 &
epid=$!
trap 'rc=$?; kill "$epid" 2>/dev/null || true; (exit $rc) || cleanup; cleanup' EXIT
U="http://127.0.0.1:$eport"
wait_for 15 bash -c "[ \"\$(curl -s $U/livez)\" = ok ]" || fail "the engine does not answer: $(cat engine.log)"
say "engine at $U"
expect 111 "cannot serve on 127.0.0.1:$eport" "$TSCTL" engine --http "127.0.0.1:$eport"
kill -0 "$epid" || fail "the engine died"

curl -sf "$U/playlist.m3u" > playlist.m3u || fail "no /playlist.m3u"
cat playlist.m3u
[ "$(head -1 playlist.m3u)" = "#EXTM3U" ] || fail "the playlist does not start with #EXTM3U"
grep -qx "#EXTINF:-1 tvg-id=\"demo.tv\" tvg-name=\"Demo Channel\" group-title=\"Tests\",Demo Channel" playlist.m3u \
  || fail "no EXTINF line for the channel"
URL=$(grep -m1 '^http://' playlist.m3u)
[ "$URL" = "$U/watch/$IH.ts" ] || fail "the channel's URL is '$URL', expected $U/watch/$IH.ts"

engine_viewers() { "$TSCTL" status --json | /usr/bin/python3 -c '
import json, sys
print(" ".join(i["name"] for i in json.load(sys.stdin)["instances"] if i["name"].startswith("engine-")))'; }
[ -z "$(engine_viewers)" ] || fail "a viewer runs before any request: $(engine_viewers)"

say "two players: curl on the playlist's URL, ffmpeg on /ace/getstream"
curl -s -m 20 -o a.ts "$URL" &
apid=$!
ffmpeg -hide_banner -nostdin -v error -i "$U/ace/getstream?infohash=$IH" -t 8 -c copy -f mpegts b.ts > ffmpeg.log 2>&1 &
bpid=$!
two_clients() {
  [ "$(engine_viewers | wc -w)" = 1 ] && [ "$(stage_field "$(engine_viewers)" player-bridge http_clients)" = 2 ]
}
wait_for 30 two_clients || fail "not one viewer with two players: viewers '$(engine_viewers)', $("$TSCTL" status)"
"$TSCTL" status "$(engine_viewers)" | grep -E "viewer|player-bridge"
players=$(curl -s "$U/engine.json" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["streams"][0]; print(s["state"], s["players"], s["health"] or "-")')
say "engine.json: $players"
[ "${players% *}" = "running 2" ] || fail "engine.json says '$players', expected running with 2 players"

say "--max-streams 1: another stream gets 503"
code=$(curl -s -o body.txt -D head.txt -w '%{http_code}' \
  "$U/watch?magnet=magnet:?xt=urn:btih:$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')&tr=http://127.0.0.1:1/announce")
[ "$code" = 503 ] || fail "a second stream past --max-streams: HTTP $code ($(cat body.txt))"
grep -qi '^Retry-After: [0-9]' head.txt || fail "the 503 has no Retry-After: $(cat head.txt)"
grep -q "max-streams" body.txt || fail "the 503 does not say why: $(cat body.txt)"

say "unknown and malformed requests"
for i in $(seq 1 50); do
  code=$(curl -s -o body.txt -w '%{http_code}' "$U/watch/$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n').ts")
  [ "$code" = 404 ] || fail "a random infohash: HTTP $code"
done
grep -q "unknown stream" body.txt || fail "the 404 does not say why: $(cat body.txt)"
[ "$(engine_viewers | wc -w)" = 1 ] || fail "random infohashes started viewers: $(engine_viewers)"
for bad in "/watch/xyz.ts" "/watch/$IH.mp4" "/ace/getstream?id=123" "/ace/getstream" "/watch?magnet=magnet:?xt=urn:btih:zz" \
           "/watch?magnet=%ZZ" "/watch/$IH/../../etc/passwd"; do
  code=$(curl -s --path-as-is -o body.txt -w '%{http_code}' "$U$bad")
  [ "$code" = 400 ] || fail "$bad: HTTP $code, expected 400 ($(cat body.txt))"
  say "ok: $bad -> 400 $(cat body.txt)"
done
code=$(curl -s -o /dev/null -D head.txt -w '%{http_code}' "$U/watch/$IH.m3u8")
[ "$code" = 302 ] && grep -qi "^Location: /watch/$IH/index.m3u8" head.txt || fail "/watch/IH.m3u8: HTTP $code $(cat head.txt)"

wait "$bpid" || fail "ffmpeg could not read the stream: $(cat ffmpeg.log)"
wait "$apid" || true # curl ends at its -m
size=$(stat -c %s a.ts)
truncate -s $((size / 188 * 188)) a.ts # the relay was cut mid-packet
off=$(slice_offset src.ts a.ts) || fail "the curl player's bytes are not a slice of the source"
say "curl player: $(stat -c %s a.ts) bytes, identical to the source from byte $off"
# Its last frame was cut by curl's -m: decode the first 10 s (of some 18).
errs=$(ffmpeg -hide_banner -nostdin -v error -xerror -i a.ts -t 10 -f null - 2>&1) && [ -z "$errs" ] \
  || fail "the curl player's stream does not decode cleanly: $errs"
decodes_clean b.ts || fail "the ffmpeg player's stream does not decode cleanly"
dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 b.ts)
/usr/bin/python3 -c "import sys; sys.exit(0 if float('$dur') >= 6 else 1)" || fail "ffmpeg read only $dur s"
say "ffmpeg player: $dur s"

# HLS through the engine: the bridge's playlist, relayed, names its segments relative to itself,
# so the player fetches them from the engine too.
timeout 60 ffmpeg -hide_banner -nostdin -v error -i "$U/watch/$IH.m3u8" -t 5 -c copy -f mpegts -y h.ts \
  > hls.log 2>&1 || fail "ffmpeg could not read the HLS stream through the engine: $(cat hls.log)"
decodes_clean h.ts || fail "the HLS stream through the engine does not decode cleanly"
grep -q '^[^#/][^:]*/[0-9]*\.ts$' <<<"$(curl -sL "$U/watch/$IH.m3u8")" || fail "the relayed playlist's segment URIs are not relative"
say "HLS through the engine: $(stat -c %s h.ts) bytes, decoding cleanly"

say "idle: the viewer stops once nobody has read for 5 s"
no_viewer() { [ -z "$(engine_viewers)" ]; }
wait_for 40 no_viewer || fail "the viewer still runs: $(engine_viewers)"
# A viewer is named engine- and 16 hex digits of its infohash: a magnet made to share the
# channel's name must be refused, not run under (and on its failure stop) the channel's viewer.
twin="${IH:0:16}$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
code=$(curl -s -o body.txt -w '%{http_code}' "$U/watch?magnet=magnet:?xt=urn:btih:$twin&tr=http://127.0.0.1:1/announce")
[ "$code" = 409 ] || fail "a magnet sharing the channel's viewer name: HTTP $code ($(cat body.txt))"
[ -z "$(engine_viewers)" ] || fail "the twin magnet started a viewer: $(engine_viewers)"
say "a magnet sharing the channel's name -> 409 $(cat body.txt)"
curl -s "$U/metrics" > metrics.txt
promtool check metrics < metrics.txt || fail "promtool check metrics"
grep -qx 'tstream_engine_idle_stops_total 1' metrics.txt || fail "no idle stop counted: $(grep engine metrics.txt)"
grep -qx 'tstream_engine_starts_total 1' metrics.txt || fail "not one start: $(grep engine_starts metrics.txt)"
grep -qx 'tstream_engine_requests_rejected_total{reason="unknown_stream"} 50' metrics.txt || fail "404s not counted"
grep -qx 'tstream_engine_requests_rejected_total{reason="max_streams"} 1' metrics.txt || fail "503 not counted"
grep -qx 'tstream_engine_streams_running 0' metrics.txt || fail "streams still running: $(grep running metrics.txt)"
grep -q "tsctl engine" <(curl -s "$U/") || grep -q "Demo Channel" <(curl -s "$U/") || fail "no page at /"

say "SIGTERM stops the engine and the viewer it runs"
curl -s -m 60 -o c.ts "$URL" &
cpid=$!
one_viewer() { [ "$(engine_viewers | wc -w)" = 1 ]; }
wait_for 30 one_viewer || fail "no viewer for a third player"
kill "$epid"
wait "$epid" || fail "the engine exited $? on SIGTERM: $(tail -5 engine.log)"
wait "$cpid" || true
[ -z "$(engine_viewers)" ] || fail "the engine left its viewer running: $(engine_viewers)"
say "PASS"
