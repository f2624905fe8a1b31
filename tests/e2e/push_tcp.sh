#!/usr/bin/env bash
# An encoder pushes MPEG-TS by TCP (tcp://ADDR:PORT). Before it comes, a connection that sends text
# is closed; while it sends, a second connection is refused. The broadcast stays up, the counters
# say what was turned away, and a viewer's output is byte-identical to what the encoder sent from
# its hook-in point to the end, decoding cleanly.
. "$(dirname "$0")/common.bash"
command -v ffmpeg >/dev/null || { echo "SKIP: no ffmpeg"; exit 77; }

read -r port <<<"$(free_ports 1)"
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=size=640x360:rate=25 -f lavfi -i sine=frequency=1000 -t 15 \
  -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p -c:a mp2 -f mpegts clip.ts

say "start a broadcast listening on tcp://127.0.0.1:$port, and a viewer"
"$TSCTL" start push --source "tcp://127.0.0.1:$port" --bitrate 2M --wait-data 0 > start.out
"$TSCTL" watch push.tstream --name v1 --output "$WORK/out1.ts" > watch1.out
wait_for 30 grep -q "waiting for an encoder on tcp" "$TSTREAM_HOME"/push/log/ingest.log || fail "ingest never listened"

say "a connection that sends text, not MPEG-TS"
{ exec 3<>"/dev/tcp/127.0.0.1/$port" && yes "not a transport stream" | head -c 4096 >&3; exec 3>&-; } 2>/dev/null || true
rejected() { [ "$(stage_field push ingest push_rejected)" -ge "$1" ]; }
wait_for 30 rejected 1 || fail "the text connection was not counted in push_rejected"
[ "$(stage_field push ingest bytes_dropped)" -ge 564 ] || fail "bytes_dropped does not count the text"
grep -q "its first bytes are not MPEG-TS" "$TSTREAM_HOME"/push/log/ingest.log || fail "no log line for the text connection"

say "the encoder pushes 15 s (what it sends is also written to src.ts)"
ffmpeg -hide_banner -loglevel error -re -i clip.ts -map 0 -c copy \
  -f tee "[f=mpegts]tcp\\://127.0.0.1\\:$port|[f=mpegts]$WORK/src.ts" &
enc=$!
wait_for 30 test -s out1.ts || fail "the viewer got nothing"
say "a second connection while the encoder sends"
{ exec 3<>"/dev/tcp/127.0.0.1/$port" && echo "second encoder" >&3; exec 3>&-; } 2>/dev/null || true
wait_for 30 rejected 2 || fail "the second connection was not counted in push_rejected"
grep -q "refused a connection from 127.0.0.1:[0-9]*: an encoder is connected" "$TSTREAM_HOME"/push/log/ingest.log \
  || fail "no log line for the second connection"
wait "$enc" || fail "the encoder failed"
wait_for 30 grep -q "disconnected after" "$TSTREAM_HOME"/push/log/ingest.log || fail "ingest did not see the encoder go"
[ "$(stage_field push ingest source_restarts)" = 0 ] || fail "refused connections counted as source restarts"
for s in ingest signer swarm; do
  [ "$(stage_field push $s restarts)" = 0 ] || fail "$s restarted"
done
finish_and_check push 1
say "PASS"
