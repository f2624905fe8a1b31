#!/usr/bin/env bash
# Viewers that join a broadcast the moment it is started again (its sequence numbers continue
# where the last run stopped, so the broadcaster's first pieces are far from seq 0). A viewer
# must hook in at the broadcaster's first random-access point, not at a seq guessed from a HAVE
# it could not place (that once hooked it at seq 0 and cost a 2 s stall and a skipped piece):
# each output is the source from a random-access point to the end, decoding from its first byte.
. "$(dirname "$0")/common.bash"

"$TSCTL" start rj --source testsrc --bitrate 2M >/dev/null
wait_for 30 bash -c '[ "$(stage_field rj ingest seq 2>/dev/null || echo 0)" -ge 40 ]' 2>/dev/null || sleep 3
prev=$(stage_field rj ingest seq)
"$TSCTL" stop rj >/dev/null
say "second run: same broadcast, viewers join at once"
"$TSCTL" start rj --source "$(finite_source 16 "$WORK/src.ts")" --bitrate 2M >/dev/null
for i in 1 2; do "$TSCTL" watch rj.tstream --name v$i --output "$WORK/out$i.ts" >/dev/null; done
first=$(stage_field rj ingest seq)
say "ingest at seq $first"
[ "$first" -ge "$prev" ] && [ "$prev" -gt 0 ] || fail "the second run is at seq $first, the first reached $prev"
finish_and_check rj 2
for i in 1 2; do
  hook=$(sed -n 's/.*hooked in at seq \([0-9]*\).*/\1/p' "$TSTREAM_HOME/v$i/log/swarm.log" | head -1)
  [ -n "$hook" ] && [ "$hook" -ge "$prev" ] || fail "viewer $i hooked in at seq '$hook', before this run's first piece ($prev)"
  say "viewer $i hooked in at seq $hook (this run started at $prev)"
  if grep -q "missed their deadline" "$TSTREAM_HOME/v$i/log/swarm.log"; then
    grep -h "missed their deadline" "$TSTREAM_HOME/v$i/log/swarm.log" | head -3
    say "note: viewer $i skipped pieces (a loaded machine can cause this; the output check above is what counts)"
  fi
done
say "PASS"
