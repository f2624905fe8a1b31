#!/usr/bin/env bash
# Hangs. (1) The signer of a running broadcast is stopped with SIGSTOP: it sends no heartbeat,
# so the supervisor's watchdog kills its process group and starts a new one; the viewer's
# output stays the source, byte for byte, with no gap. (2) The viewer's supervisor itself is
# stopped for longer than the watchdog time while its stages run on: when it resumes it must see
# that the silence was its own and restart nothing.
. "$(dirname "$0")/common.bash"

size() { stat -c %s "$1" 2>/dev/null || echo 0; }
grown() { [ "$(size "$1")" -ge "$2" ]; } # FILE BYTES
restarted() { # INSTANCE STAGE OLDPID: a new process, ready
  [ "$(stage_field "$1" "$2" state)" = ready ] && [ "$(stage_field "$1" "$2" restarts)" = 1 ] &&
    [ "$(stage_field "$1" "$2" pid)" != "$3" ]
}

"$TSCTL" start demo --source "$(finite_source 55 "$WORK/src.ts")" --bitrate 2M >/dev/null
"$TSCTL" watch demo.tstream --name v1 --output "$WORK/out1.ts" >/dev/null
wait_for 60 grown out1.ts 1000000 || fail "the viewer got no stream"

pid=$(stage_field demo signer pid)
say "SIGSTOP signer (pid $pid)"
kill -STOP "$pid"
wait_for 60 restarted demo signer "$pid" || fail "the hung signer was not restarted (state $(stage_field demo signer state))"
kill -0 "$pid" 2>/dev/null && fail "the hung signer $pid is still there"
grep -q 'msg="signer hangs: no heartbeat for' "$TSTREAM_HOME/demo/log/supervisor.log" || fail "no hang line in the supervisor log"
say "signer restarted as pid $(stage_field demo signer pid)"
before=$(size out1.ts)
wait_for 30 grown out1.ts $((before + 500000)) || fail "the viewer stopped receiving after the signer restart"

sup=$(cat "$TSTREAM_HOME/v1/supervisor.pid")
say "SIGSTOP the viewer's supervisor (pid $sup) for 15 s"
kill -STOP "$sup"
sleep 15
kill -CONT "$sup"
# Give a wrong decision time to show: a kill would count a restart within a few seconds.
wait_for 30 grep -q 'msg="supervisor did not run for' "$TSTREAM_HOME/v1/log/supervisor.log" \
  || fail "the supervisor did not notice its own pause"
sleep 3
for s in swarm player-bridge; do
  [ "$(stage_field v1 $s restarts)" = 0 ] && [ "$(stage_field v1 $s state)" = ready ] \
    || fail "v1/$s was restarted after the supervisor's own pause ($(stage_field v1 $s state), restarts $(stage_field v1 $s restarts))"
done
say "no stage restarted after the supervisor's pause"

finish_and_check demo 1
say "PASS"
