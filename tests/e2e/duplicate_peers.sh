#!/usr/bin/env bash
# Two peers that reach each other at two addresses (issue 16: in containers, a host address and the
# bridge gateway the port forwarding shows; here a ut_pex message naming a second loopback address)
# must settle on one connection: the second dial ends as a duplicate once, and that address is not
# dialled again while the peer stays connected. Before the fix the alias was redialled every 16 s
# for ever (and the two connections swapped places), each close logged at info: a broadcaster in
# containers logged `closed: duplicate connection` about 28 times a minute without end.
# Counted with the swarm's dup_conns counter over a window that held one or more redials before.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.bash"

"$TSCTL" start dup --source "$(finite_source 60 "$WORK/src.ts")" --bitrate 2M > start.out \
  || { cat start.out; fail "tsctl start failed"; }
"$TSCTL" watch dup.tstream --name v1 --output "$WORK/out1.ts" > watch.out || { cat watch.out; fail "viewer"; }
wait_for 60 bash -c "[ \$(stat -c %s $WORK/out1.ts 2>/dev/null || echo 0) -ge 300000 ]" || fail "the viewer got no stream"
bport=$(grep ^port= "$TSTREAM_HOME/dup/instance.conf" | cut -d= -f2)
vport=$(grep ^port= "$TSTREAM_HOME/v1/instance.conf" | cut -d= -f2)

dups() { echo $(( $(stage_field dup swarm dup_conns) + $(stage_field v1 swarm dup_conns) )); }
[ "$(dups)" = 0 ] || say "duplicates before any alias: $(dups)"

say "tell the viewer (ut_pex) the broadcaster also listens at 127.0.0.2:$bport, and the broadcaster the same of the viewer"
HERE=$HERE /usr/bin/python3 - "$WORK/dup.tstream" "$vport" "$bport" > pex.out 2>&1 <<'PY' &
import os, sys, time
sys.path.insert(0, os.path.join(os.environ['HERE'], '..', 'adversarial'))
from evilpeer import load_meta, pex_alias
meta = load_meta(sys.argv[1])
vport, bport = int(sys.argv[2]), int(sys.argv[3])
keep = [pex_alias(meta, vport, '127.0.0.3', '127.0.0.2', bport), pex_alias(meta, bport, '127.0.0.4', '127.0.0.2', vport)]
print("told", flush=True)
time.sleep(60)
PY
pexpid=$!
wait_for 20 grep -q told pex.out || { cat pex.out; fail "could not send the PEX messages"; }
some_dup() { [ "$(dups)" -ge 1 ]; }
wait_for 20 some_dup || fail "no alias was dialled: the scenario did not happen"
sleep 3 # both aliases dialled (each within 0.5 s of the PEX) and settled
first=$(dups)
say "duplicate connections once the aliases were dialled: $first; now a window of 24 s (the old redial period was 16 s)"
sleep 24
later=$(( $(dups) - first ))
say "duplicate connections in the window: $later"
kill "$pexpid" 2>/dev/null || true
[ "$later" = 0 ] || fail "$later more duplicate connections: an address of a connected peer is still redialled"
[ "$(stage_field v1 swarm peers)" -ge 1 ] || fail "the viewer lost its peer"
info=$(cat "$TSTREAM_HOME"/{dup,v1}/log/swarm.log | grep -c 'level=info .*closed: duplicate connection' || true)
[ "$info" = 0 ] || fail "$info duplicate connections closed at level info (routine: debug)"
"$TSCTL" stop v1 >/dev/null
"$TSCTL" stop dup >/dev/null
say "PASS"
