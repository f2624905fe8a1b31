#!/usr/bin/env bash
# kill -9 of the broadcaster's ingest, three times, then of ingest and signer together, while a
# FILE source plays to two viewers. Each restarted ingest learns from the signer (or, when the
# signer died too, from the swarm through the new signer) the newest piece held and its source
# offset, and continues right after it: same numbering, next unread byte of the file. So the
# viewers' outputs must be the file, byte for byte, from their hook-in point to its last byte
# (no gap, no overlap), decode cleanly, and no viewer may see the numbering jump.
. "$(dirname "$0")/common.bash"

size() { stat -c %s "$1" 2>/dev/null || echo 0; }

say "make a 36 s MPEG-TS file"
ffmpeg -hide_banner -nostdin -loglevel error -f lavfi -i testsrc=size=320x180:rate=25 \
  -f lavfi -i sine=frequency=1000:sample_rate=48000 -t 36 -c:v libx264 -preset veryfast -b:v 900k \
  -minrate 900k -maxrate 900k -bufsize 450k -x264-params nal-hrd=cbr -g 50 -pix_fmt yuv420p \
  -c:a mp2 -b:a 64k -f mpegts -muxrate 1000k "$WORK/src.ts" || fail "ffmpeg could not make the source"

"$TSCTL" start demo --source "$WORK/src.ts" --bitrate 1M >/dev/null
for i in 1 2; do
  "$TSCTL" watch demo.tstream --name v$i --output "$WORK/out$i.ts" >/dev/null
done
for i in 1 2; do
  wait_for 60 bash -c "[ \$(stat -c %s $WORK/out$i.ts 2>/dev/null || echo 0) -ge 300000 ]" || fail "viewer $i got no stream"
done

export -f stage_field status_json
export TSCTL
ready_again() { # STAGE RESTARTS
  [ "$(stage_field demo "$1" restarts)" = "$2" ] && [ "$(stage_field demo "$1" state)" = ready ]
}
export -f ready_again

# kill -9 the named stages of the broadcast at once; wait until each is back and the viewers'
# outputs have grown by another second of stream.
kill_stages() { # STAGE...
  local st pid before=() want=()
  for i in 1 2; do before[$i]=$(size out$i.ts); done
  for st in "$@"; do
    pid=$(stage_field demo "$st" pid)
    [ -n "$pid" ] && [ "$pid" -gt 0 ] || fail "no pid for demo/$st"
    want+=("$st $(($(stage_field demo "$st" restarts) + 1))")
    kill -9 "$pid"
  done
  say "kill -9 demo/$* (seq was $(stage_field demo signer seq))"
  for w in "${want[@]}"; do
    wait_for 30 ready_again $w || fail "demo/${w% *} was not restarted"
  done
  for i in 1 2; do
    wait_for 30 bash -c "[ \$(stat -c %s $WORK/out$i.ts) -ge $((before[$i] + 125000)) ]" \
      || fail "viewer $i stopped receiving after demo/$* was killed"
  done
}

kill_stages ingest
kill_stages ingest
kill_stages ingest signer
kill_stages ingest

log=$TSTREAM_HOME/demo/log/ingest.log
wait_for 90 grep -q "end of file" "$log" || fail "ingest never reached the end of the file"
resumes=$(grep -c "resuming after seq" "$log" || true)
[ "$resumes" -ge 4 ] || fail "only $resumes of 4 restarted ingests resumed after the signer's newest piece"
grep "resuming after seq" "$log" | sed 's/.*msg="//; s/"$//'
if grep -h "stream jumped" "$TSTREAM_HOME"/v*/log/swarm.log; then
  fail "a viewer saw the numbering jump"
fi
finish_and_check demo 2
say "PASS"
