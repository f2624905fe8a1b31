#!/usr/bin/env bash
# A 64 kbit/s audio-only MPEG-TS broadcast (no video, so no keyframes): viewers must still hook
# in at a point where the audio decodes (an audio PES start), and each output must be the source
# from there to its last byte, decoding without an ffmpeg error line.
. "$(dirname "$0")/common.bash"

audio_cmd="ffmpeg -hide_banner -loglevel error -re -f lavfi -i sine=frequency=440:sample_rate=48000 -t 20 -c:a mp2 -b:a 64k -f mpegts -muxrate 64k pipe:1"
"$TSCTL" start radio --source "pipe:$audio_cmd | tee -a $WORK/src.ts; exec sleep 3600" --bitrate 64k > start.out \
  || { cat start.out; fail "tsctl start failed"; }
for i in 1 2 3; do
  "$TSCTL" watch radio.tstream --name v$i --output "$WORK/out$i.ts" >/dev/null || fail "viewer $i did not start"
  sleep 1
done
# 5 s of 64 kbit/s is 40,000 bytes.
for i in 1 2 3; do
  wait_for 60 bash -c "[ \$(stat -c %s $WORK/out$i.ts 2>/dev/null || echo 0) -ge 40000 ]" \
    || fail "viewer $i received only $(stat -c %s out$i.ts 2>/dev/null || echo 0) bytes"
done
[ "$(stage_field radio ingest rap_pieces)" -gt 0 ] || fail "ingest marked no random-access piece"
finish_and_check radio 3
say "PASS"
