#!/usr/bin/env bash
# Fault injection: for about 40 s, kill -9 a random stage every 2-4 s: the broadcaster's ingest,
# signer or swarm, or a viewer's swarm or player-bridge. The source is a FILE, so even an ingest
# crash loses nothing (it continues at the next unread byte). The supervisors restart every
# stage; in the end each viewer's output must be the file, byte for byte, from its hook-in point
# to the last byte, with no gap and no overlap, and decode cleanly.
# TS_SEED=N replays a run's sequence of kills (the seed is printed).
. "$(dirname "$0")/common.bash"

seed=${TS_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$seed
say "seed $seed (TS_SEED=$seed replays these kills)"

ffmpeg -hide_banner -nostdin -loglevel error -f lavfi -i testsrc=size=320x180:rate=25 \
  -f lavfi -i sine=frequency=1000:sample_rate=48000 -t 50 -c:v libx264 -preset veryfast -b:v 900k \
  -minrate 900k -maxrate 900k -bufsize 450k -x264-params nal-hrd=cbr -g 50 -pix_fmt yuv420p \
  -c:a mp2 -b:a 64k -f mpegts -muxrate 1000k "$WORK/src.ts" || fail "ffmpeg could not make the source"

"$TSCTL" start demo --source "$WORK/src.ts" --bitrate 1M >/dev/null
for i in 1 2; do
  "$TSCTL" watch demo.tstream --name v$i --output "$WORK/out$i.ts" >/dev/null
done
for i in 1 2; do
  wait_for 60 bash -c "[ \$(stat -c %s $WORK/out$i.ts 2>/dev/null || echo 0) -ge 300000 ]" || fail "viewer $i got no stream"
done

targets=("demo ingest" "demo signer" "demo swarm" "v1 swarm" "v1 player-bridge" "v2 swarm" "v2 player-bridge")
end=$((SECONDS + 40))
kills=0
declare -A killed
while [ $SECONDS -lt $end ]; do
  sleep "$((2 + RANDOM % 3))"
  t=${targets[$((RANDOM % ${#targets[@]}))]}
  set -- $t
  # The supervisor gives up on a stage after 5 crashes in 120 s (by design: tsctl status shows it
  # failed); the whole run lasts less than that, so at most 5 kills of any one stage.
  [ "${killed[$t]:-0}" -lt 5 ] || { say "$1/$2 killed 5 times already: skipped"; continue; }
  # Only a stage that is up: one still in backoff has no process to kill.
  [ "$(stage_field "$1" "$2" state)" = ready ] || { say "$1/$2 not ready: skipped"; continue; }
  pid=$(stage_field "$1" "$2" pid)
  [ -n "$pid" ] && [ "$pid" -gt 0 ] || continue
  kill -9 "$pid" 2>/dev/null && kills=$((kills + 1)) && killed[$t]=$((${killed[$t]:-0} + 1))
  say "kill -9 $1/$2 (pid $pid)"
done
say "$kills stages killed; waiting for every stage to be back"

all_ready() {
  "$TSCTL" status --json | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if all(s["state"] == "ready" for i in d["instances"] for s in i["stages"]) else 1)'
}
wait_for 60 all_ready || { "$TSCTL" status; fail "not every stage came back"; }
log=$TSTREAM_HOME/demo/log/ingest.log
wait_for 120 grep -q "end of file" "$log" || fail "ingest never reached the end of the file"
grep -h "resuming after seq\|not resuming\|stream jumped\|re-tuned" "$TSTREAM_HOME"/*/log/*.log | sed 's/^time=[^ ]* //' || true
finish_and_check demo 2
say "PASS"
