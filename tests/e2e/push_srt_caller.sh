#!/usr/bin/env bash
# The broadcast calls an encoder's SRT listener (srt://HOST:PORT, caller mode), without a
# passphrase: ingest dials before the encoder listens and keeps retrying, then takes what it
# sends. A viewer's output is byte-identical to what the encoder sent from its hook-in point to
# the end, and decodes cleanly.
. "$(dirname "$0")/common.bash"
command -v ffmpeg >/dev/null || { echo "SKIP: no ffmpeg"; exit 77; }
ffmpeg -hide_banner -protocols 2>/dev/null | grep -x ' *srt' >/dev/null || { echo "SKIP: ffmpeg without srt"; exit 77; }

read -r port <<<"$(free_ports 1)"
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=size=640x360:rate=25 -f lavfi -i sine=frequency=1000 -t 15 \
  -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p -c:a mp2 -f mpegts clip.ts

say "a broadcast calling srt://127.0.0.1:$port (nobody listens yet), and a viewer"
"$TSCTL" start push --source "srt://127.0.0.1:$port" --bitrate 2M --wait-data 0 > start.out
"$TSCTL" watch push.tstream --name v1 --output "$WORK/out1.ts" > watch1.out
wait_for 30 grep -q "srt" "$TSTREAM_HOME"/push/log/ingest.log || fail "ingest logged nothing about its SRT call"
sleep 2 # a failed call or two first: the encoder is late, as encoders are

say "the encoder listens and pushes 15 s (what it sends is also written to src.ts)"
ffmpeg -hide_banner -loglevel error -re -i clip.ts -map 0 -c copy \
  -f tee "[f=mpegts]srt\\://127.0.0.1\\:$port?mode=listener&pkt_size=1316&linger=2|[f=mpegts]$WORK/src.ts" &
enc=$!
wait_for 60 test -s out1.ts || fail "the viewer got nothing: $(grep -i srt "$TSTREAM_HOME"/push/log/ingest.log | tail -3)"
wait "$enc" || fail "the encoder failed"
for s in ingest signer swarm; do
  [ "$(stage_field push $s restarts)" = 0 ] || fail "$s restarted"
done
finish_and_check push 1
say "PASS"
