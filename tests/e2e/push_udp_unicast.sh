#!/usr/bin/env bash
# An encoder sends MPEG-TS by UDP unicast (udp://ADDR:PORT, the broadcast bound to one local
# address) from 127.0.0.2, not the exempt 127.0.0.1. TS-looking datagrams from a second sender
# (127.0.0.3) while the encoder sends are dropped and counted. The viewer's output is
# byte-identical to what the encoder sent from its hook-in point to the end, decoding cleanly.
. "$(dirname "$0")/common.bash"
command -v ffmpeg >/dev/null || { echo "SKIP: no ffmpeg"; exit 77; }

read -r port <<<"$(free_ports 1)"
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=size=640x360:rate=25 -f lavfi -i sine=frequency=1000 -t 15 \
  -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p -c:a mp2 -f mpegts clip.ts

say "a broadcast on udp://127.0.0.1:$port, and a viewer"
"$TSCTL" start push --source "udp://127.0.0.1:$port" --bitrate 2M --wait-data 0 > start.out
"$TSCTL" watch push.tstream --name v1 --output "$WORK/out1.ts" > watch1.out

say "the encoder sends 15 s from 127.0.0.2 (what it sends is also written to src.ts)"
ffmpeg -hide_banner -loglevel error -re -i clip.ts -map 0 -c copy \
  -f tee "[f=mpegts]udp\\://127.0.0.1\\:$port?pkt_size=1316&localaddr=127.0.0.2|[f=mpegts]$WORK/src.ts" &
enc=$!
wait_for 30 test -s out1.ts || fail "the viewer got nothing"

say "a second sender's TS null packets from 127.0.0.3 while the encoder sends"
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.3", 0))
pkt = (bytes([0x47, 0x1f, 0xff, 0x10]) + bytes(184)) * 7
for _ in range(20):
    s.sendto(pkt, ("127.0.0.1", int(sys.argv[1])))' "$port"
rejected() { [ "$(stage_field push ingest push_rejected)" -ge 1 ]; }
wait_for 30 rejected || fail "the second sender's datagrams were not dropped"
grep -q "is sending" "$TSTREAM_HOME"/push/log/ingest.log || fail "no log line for the second sender"
wait "$enc" || fail "the encoder failed"
for s in ingest signer swarm; do
  [ "$(stage_field push $s restarts)" = 0 ] || fail "$s restarted"
done
say "counters: push_rejected=$(stage_field push ingest push_rejected) bytes_dropped=$(stage_field push ingest bytes_dropped)"
finish_and_check push 1
say "PASS"
