#!/usr/bin/env bash
# A source that produces nothing. An empty source file (or a directory) is a configuration error:
# `tsctl start` exits 101 saying that ingest failed and why, and leaves nothing running. A live
# source that sends nothing (a command that exits at once, one that writes nothing yet) is waited
# for: `tsctl start` exits 3 with a warning naming the source and what to run next, the broadcast
# stays up, ingest logs one warning (not one per loop turn), `tsctl status` (text and JSON) shows
# how long the source has been silent, and once data comes the broadcast carries it: a viewer's
# output is the source byte for byte from its hook-in point to the end, decoding cleanly.
. "$(dirname "$0")/common.bash"

field_ge() { # INSTANCE STAGE FIELD MIN
  local v
  v=$(stage_field "$1" "$2" "$3" 2>/dev/null) && [ -n "$v" ] && [ "$v" -ge "$4" ]
}
nothing_left() { # NAME
  ! pgrep -f "instance $1( |$)" >/dev/null || fail "processes of $1 still run: $(pgrep -af "instance $1( |$)")"
  ! "$TSCTL" status "$1" >/dev/null 2>&1 || fail "$1 is still registered after its failed start"
}

: > empty.ts
expect 101 "stage ingest failed (exit code 101).*empty.ts: the file is empty" \
  "$TSCTL" start empty --source empty.ts --bitrate 2M
nothing_left empty
mkdir adir
expect 101 "stage ingest failed (exit code 101).*adir: Is a directory" "$TSCTL" start dir --source adir --bitrate 2M
nothing_left dir

# A command that exits at once: restarted by ingest, waited for.
rc=0
"$TSCTL" start quick --source "pipe:true" --wait-data 2 > quick.out 2> quick.err || rc=$?
cat quick.err
[ $rc = 3 ] || fail "tsctl start with pipe:true exited $rc, expected 3"
grep -q "broadcast quick is running, but its source has sent no data in 2 s: pipe:true" quick.err \
  || fail "no warning naming the source"
wait_for 30 field_ge quick ingest source_restarts 1 || fail "ingest did not restart the source command"
for s in ingest signer swarm; do
  [ "$(stage_field quick $s state)" = ready ] || fail "quick: $s is $(stage_field quick $s state)"
done
"$TSCTL" stop quick >/dev/null

# A command that writes nothing until the test says so (a camera not switched on yet).
say "start a broadcast whose source is silent"
src="pipe:while [ ! -e $WORK/go ]; do sleep 0.2; done; $(testsrc_cmd 20) | tee -a $WORK/src.ts; exec sleep 3600"
rc=0
"$TSCTL" start demo --source "$src" --bitrate 2M > start.out 2> start.err || rc=$?
cat start.out start.err
[ $rc = 3 ] || fail "tsctl start with a silent source exited $rc, expected 3"
grep -q "^broadcast demo started" start.out || fail "tsctl start did not say the broadcast started"
grep -qF "broadcast demo is running, but its source has sent no data in 10 s: pipe:while" start.err \
  || fail "tsctl start did not name the silent source"
grep -qF "tsctl logs demo ingest" start.err && grep -qF "tsctl stop demo" start.err \
  || fail "tsctl start did not say what to run next"
for s in ingest signer swarm; do
  [ "$(stage_field demo $s state)" = ready ] || fail "demo: $s is $(stage_field demo $s state)"
done
wait_for 10 field_ge demo ingest source_idle_s 10 || fail "status --json does not show the silent source"
rc=0
"$TSCTL" status demo > status.out || rc=$?
cat status.out
[ "$rc" = 3 ] || fail "tsctl status demo exited $rc with a silent source, want 3 (running, no stream)"
grep -q "!! no data from the source for [0-9]* s" status.out || fail "tsctl status does not flag the silent source"
ilog="$TSTREAM_HOME/demo/log/ingest.log"
n=$(grep -c "level=warn .*no data from the source for" "$ilog" || true)
[ "$n" = 1 ] || fail "ingest logged $n silence warnings in $(stage_field demo ingest source_idle_s) s, expected 1"
grep "no data from the source" "$ilog"

say "a viewer joins; the source starts sending"
"$TSCTL" watch demo.tstream --name v1 --output "$WORK/out1.ts" > watch1.out
touch go
wait_for 30 bash -c "[ \$(stat -c %s $WORK/out1.ts 2>/dev/null || echo 0) -ge 1000000 ]" \
  || fail "the viewer received nothing after the source started"
grep -q "data from the source again, after [0-9]* s of silence" "$ilog" || fail "ingest did not log the source's return"
field_ge demo ingest source_idle_s 10 && fail "status still shows the source as silent"
"$TSCTL" status demo > status2.out || true
grep -q "!! no data" status2.out && fail "tsctl status still flags the source"
finish_and_check demo 1
say "PASS"
