#!/usr/bin/env bash
# kill -9 of the signer, of the broadcaster's swarm and of a viewer's player-bridge:
# the supervisor restarts each (restarts count up, new pid, ready again) and every viewer's
# output keeps growing. The outputs must stay byte-identical slices of the source and decode
# cleanly: the piece link replays what a dead stage had not passed on.
. "$(dirname "$0")/common.bash"

size() { stat -c %s "$1" 2>/dev/null || echo 0; }

"$TSCTL" start demo --source "$(finite_source 30 "$WORK/src.ts")" --bitrate 2M >/dev/null
for i in 1 2 3; do
  "$TSCTL" watch demo.tstream --name v$i --output "$WORK/out$i.ts" >/dev/null
done
for i in 1 2 3; do
  wait_for 60 bash -c "[ \$(stat -c %s $WORK/out$i.ts 2>/dev/null || echo 0) -ge 1000000 ]" || fail "viewer $i got no stream"
done

kill_stage() { # INSTANCE STAGE
  local inst=$1 stage=$2 pid restarts
  pid=$(stage_field "$inst" "$stage" pid)
  restarts=$(stage_field "$inst" "$stage" restarts)
  [ -n "$pid" ] && [ "$pid" -gt 0 ] || fail "no pid for $inst/$stage"
  local before=()
  for i in 1 2 3; do before[$i]=$(size out$i.ts); done
  say "kill -9 $inst/$stage (pid $pid, restarts $restarts)"
  kill -9 "$pid"
  wait_for 30 bash -c "[ \"\$(stage_field $inst $stage restarts)\" = $((restarts + 1)) ] && [ \"\$(stage_field $inst $stage state)\" = ready ]" \
    || fail "$inst/$stage was not restarted (status: $(stage_field "$inst" "$stage" state), restarts $(stage_field "$inst" "$stage" restarts))"
  local newpid
  newpid=$(stage_field "$inst" "$stage" pid)
  [ "$newpid" != "$pid" ] || fail "$inst/$stage has the same pid after restart"
  say "$inst/$stage restarted: pid $newpid, restarts $((restarts + 1))"
  # Outputs continue: each grows by another 2 s of stream (500 kB) after the restart.
  for i in 1 2 3; do
    wait_for 30 bash -c "[ \$(stat -c %s $WORK/out$i.ts) -ge $((before[$i] + 500000)) ]" \
      || fail "viewer $i stopped receiving after $inst/$stage was killed"
  done
}
export -f stage_field status_json
export TSCTL

kill_stage demo signer
kill_stage demo swarm
kill_stage v1 player-bridge

finish_and_check demo 3
say "PASS"
