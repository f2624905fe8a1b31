#!/usr/bin/env bash
# `tsctl start|seed|watch --foreground`, the way the systemd units (deploy/systemd) run them:
# the command stays in the foreground as its instance's supervisor (same pid), says READY=1 on
# $NOTIFY_SOCKET once every stage is ready, and on SIGTERM stops its stages and exits 0 with
# nothing left running. A finite broadcast reaches a viewer whole, with a helper seeder in the
# swarm. A stage that fails for good ends the foreground process with an exit code the units'
# restart policy reads: 101 (a taken port, before ready: do not restart), 111 (a crash loop after
# ready: restart may help).
. "$(dirname "$0")/common.bash"

pids=()
trap 'rc=$?; set +e; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; (exit $rc); cleanup' EXIT

# Both take the foreground: refused before anything starts.
expect 100 "choose one" "$TSCTL" watch none.tstream --foreground --play
expect 100 "choose one" "$TSCTL" watch none.tstream --foreground --output -

# A stand-in for systemd's notify socket: one line per datagram, "SOCKET MESSAGE" (newlines as ';').
/usr/bin/python3 -c '
import os, select, socket, sys
socks = {}
for path in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    socks[s] = os.path.basename(path)
while True:
    for s in select.select(list(socks), [], [])[0]:
        print(socks[s], s.recv(4096).decode().replace("\n", ";"), flush=True)
' "$WORK/b.sock" "$WORK/s.sock" "$WORK/v.sock" "$WORK/c.sock" > notify.log &
pids+=($!)
wait_for 20 test -S "$WORK/c.sock" || fail "the notify listener did not start"

# Run one foreground command as a service manager would: its pid in TAG.pid, its exit code in
# TAG.rc once it exits, its output in TAG.out.
# For TAG c, TAG.out stands in for the journal's stream too ($JOURNAL_STREAM names its inode).
run_fg() { # TAG COMMAND...
  local tag=$1 js=""; shift
  : > "$tag.out"
  [ "$tag" = c ] && js=$(stat -c %d:%i "$tag.out")
  ( NOTIFY_SOCKET="$WORK/$tag.sock" JOURNAL_STREAM="$js" "$@" >> "$tag.out" 2>&1 &
    echo $! > "$tag.pid"; rc=0; wait $! || rc=$?; echo $rc > "$tag.rc" ) &
  pids+=($!)
  wait_for 20 test -s "$tag.pid" || fail "$tag did not start"
}
ready() { grep -q "^$1.sock READY=1" notify.log; } # TAG
# Wait until TAG says READY=1; fail with its output if it exits first or takes over SECONDS.
wait_ready() { # TAG SECONDS
  wait_for "$2" bash -c "grep -q '^$1.sock READY=1' notify.log || [ -s $1.rc ]"
  ready "$1" || { cat "$1.out"; fail "$1 never said READY=1 (exit code: $(cat "$1.rc" 2>/dev/null || echo none yet))"; }
}
sup_pid() { # INSTANCE: its supervisor's pid from tsctl status --json
  "$TSCTL" status --json | /usr/bin/python3 -c '
import json, sys
print(next((i.get("supervisor_pid", "") for i in json.load(sys.stdin)["instances"] if i["name"] == sys.argv[1]), ""))' "$1"
}

say "broadcast, seeder and viewer in the foreground"
# One after another: each picks free ports, which must not race with the previous one's.
run_fg b "$TSCTL" start fgb --foreground --source "$(finite_source 20 "$WORK/src.ts")" --bitrate 2M
wait_ready b 120
[ -s fgb.tstream ] || fail "fgb.tstream not written in the working directory"
run_fg s "$TSCTL" seed fgb.tstream --foreground --name fgs
wait_ready s 120
run_fg v "$TSCTL" watch fgb.tstream --foreground --name fgv --output "$WORK/out.ts"
wait_ready v 120
for t in b s v; do
  grep -q "^$t.sock STATUS=.* stages ready" notify.log || fail "$t sent no STATUS= line"
done
# The process the service manager started is the supervisor: the pid it watches.
[ "$(sup_pid fgb)" = "$(cat b.pid)" ] || fail "supervisor of fgb is $(sup_pid fgb), not the foreground pid $(cat b.pid)"
[ "$(sup_pid fgs)" = "$(cat s.pid)" ] || fail "supervisor of fgs is not the foreground pid"
[ "$(sup_pid fgv)" = "$(cat v.pid)" ] || fail "supervisor of fgv is not the foreground pid"
grep -q 'msg="broadcast fgb ready: every stage runs".*infohash=' b.out || fail "the broadcast's stderr has no ready line"
grep -q 'msg="viewer fgv ready: every stage runs".*player_url=http://127.0.0.1:' v.out || fail "the viewer's stderr has no player URL"
"$TSCTL" status

wait_stable 90 src.ts || fail "the source never finished"
wait_stable 60 out.ts || fail "the viewer's output never settled"
off=$(slice_offset src.ts out.ts to-end) || fail "the viewer's output is not the source from its hook-in point to the end"
say "viewer: $(stat -c %s out.ts) bytes, identical to the source from byte $off"
decodes_clean out.ts || fail "the viewer's output does not decode cleanly"

# Everything that runs now, to check that none of it outlives SIGTERM.
before=$(for n in fgb fgs fgv; do instance_pids $n; done)
[ "$(echo "$before" | wc -w)" -ge 9 ] || fail "expected 3 supervisors and 6 stages, found: $before"
say "SIGTERM to the three foreground processes"
kill -TERM "$(cat v.pid)" "$(cat s.pid)" "$(cat b.pid)"
for t in v s b; do
  wait_for 60 test -s $t.rc || fail "$t did not exit within 60 s of SIGTERM"
  [ "$(cat $t.rc)" = 0 ] || { cat $t.out; fail "$t exited $(cat $t.rc) after SIGTERM, expected 0"; }
  grep -q "^$t.sock STOPPING=1" notify.log || fail "$t did not say STOPPING=1"
done
for p in $before; do
  ! kill -0 "$p" 2>/dev/null || fail "pid $p ($(cat /proc/$p/cmdline | tr '\0' ' ')) still runs after SIGTERM"
done
left=$(pgrep -af -- "$WORK" | grep -v "^${pids[0]} " || true)  # but the notify listener
[ -z "$left" ] || fail "still running after SIGTERM: $left"
[ "$("$TSCTL" status)" = "no instances" ] || fail "instances still registered: $("$TSCTL" status)"
say "ok: all three exited 0 on SIGTERM, nothing left running, nothing registered"

# A stage that fails before ready (the peer port is taken: exit code 101) ends the foreground
# process with that code, so a unit's RestartPreventExitStatus=101 leaves it stopped.
/usr/bin/python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(300)' > port.txt &
pids+=($!)
wait_for 20 test -s port.txt || fail "no port holder"
expect 101 "STAGE FAILED: swarm.*Address already in use" timeout 120 "$TSCTL" start busy --foreground --source testsrc --port "$(cat port.txt)"
! pgrep -f "instance busy" || fail "stages of the failed foreground start still run"

# A stage that keeps crashing after ready exhausts the supervisor's budget: the foreground process
# stops the instance and exits 111 (a unit restarts it). As in crash_loop.sh: ingest's endpoint
# path is taken by a directory, so every new ingest exits 111.
run_fg c "$TSCTL" start crash --foreground --source "pipe:exec sleep 3600"
wait_ready c 120
cpids=$(instance_pids crash)
rm -f "$TSTREAM_HOME/crash/ingest.ipc"
mkdir -p "$TSTREAM_HOME/crash/ingest.ipc/taken"
"$TSCTL" restart crash ingest >/dev/null
wait_for 180 test -s c.rc || fail "the crash-looping instance did not exit"
[ "$(cat c.rc)" = 111 ] || { cat c.out; fail "exited $(cat c.rc) after ingest failed for good, expected 111"; }
grep -q 'STAGE FAILED: ingest.*stopping the instance, exit code 111' c.out || fail "stderr does not say why it stopped"
# Its stderr was "the journal": each line carries its syslog priority (journalctl -p err finds the failure).
grep -q '^<3>time=.* level=error .*STAGE FAILED: ingest' c.out || fail "the failure went to the journal without priority <3>"
grep -q '^<6>time=.* level=info ' c.out || fail "info lines went to the journal without priority <6>"
! grep -v '^<[3467]>' c.out | grep '^time=' >/dev/null || fail "a line went to the journal without a priority"
! grep -q '^<[0-9]>' b.out || fail "a priority prefix on a stderr that is not the journal"
for p in $cpids; do
  ! kill -0 "$p" 2>/dev/null || fail "pid $p of the failed instance still runs"
done
say "ok: exit 101 for a taken port, 111 for a crash loop after ready, nothing left running"
# In the foreground the supervisor's stderr is not its log file, which cleanup checks: check it here.
! grep -E "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:" ./*.out || fail "sanitizer report above"
say "PASS"
