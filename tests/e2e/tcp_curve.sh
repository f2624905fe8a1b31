#!/usr/bin/env bash
# Stages linked over tcp:// (as in containers) use CURVE: ingest → signer → broadcaster swarm and
# a player-bridge on the broadcaster's swarm, each run by hand with --curve and its own key. A
# viewer (tsctl watch) and that bridge must get the source byte-identical, decoding cleanly. A
# player-bridge holding a key the broadcast does not know gets nothing, and the swarm says why.
# Without --curve a tcp:// endpoint is refused (exit 100); a readable secret key too (exit 101).
. "$(dirname "$0")/common.bash"

pids=()
trap 'rc=$?; set +e; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; (exit $rc); cleanup' EXIT
ports=($(free_ports 5))
P_ING=${ports[0]} P_SIG=${ports[1]} P_SW=${ports[2]} P_PEER=${ports[3]}

# The broadcast's key and .tstream come from tsctl start; its stages then run by hand.
"$TSCTL" start cv --source testsrc --bitrate 2M --port "$P_PEER" >/dev/null
"$TSCTL" stop cv >/dev/null
D="$TSTREAM_HOME/cv"
[ -s "$D/key.pem" ] && [ -s cv.tstream ] || fail "tsctl start left no key or .tstream"

"$TSCTL" keygen keys >/dev/null
"$TSCTL" keygen rogue player-bridge >/dev/null
cp keys/ingest.pub keys/signer.pub keys/swarm.pub rogue/  # it knows the servers, they don't know it

say "refusals"
set +e
"$TS_BIN/ts-ingest" --source testsrc --out "tcp://127.0.0.1:$P_ING" 2>err.txt; rc=$?
set -e
[ $rc -eq 100 ] && grep -q "need CURVE keys: --curve DIR" err.txt || fail "tcp:// without --curve: exit $rc: $(cat err.txt)"
chmod 0644 keys/signer.secret
set +e
"$TS_BIN/ts-signer" --key "$D/key.pem" --tstream cv.tstream --in "tcp://127.0.0.1:$P_ING" \
  --out "tcp://127.0.0.1:$P_SIG" --curve keys 2>err.txt; rc=$?
set -e
chmod 0600 keys/signer.secret
[ $rc -eq 101 ] && grep -q "chmod 600" err.txt || fail "readable secret key: exit $rc: $(cat err.txt)"

say "broadcast over tcp:// with CURVE"
"$TS_BIN/ts-ingest" --source "$(finite_source 24 "$WORK/src.ts")" --out "tcp://127.0.0.1:$P_ING" \
  --state-dir "$WORK" --curve keys 2>ingest.log & pids+=($!)
"$TS_BIN/ts-signer" --key "$D/key.pem" --tstream cv.tstream --in "tcp://127.0.0.1:$P_ING" \
  --out "tcp://127.0.0.1:$P_SIG" --curve keys 2>signer.log & pids+=($!)
"$TS_BIN/ts-swarm" --tstream cv.tstream --in "tcp://127.0.0.1:$P_SIG" --out "tcp://127.0.0.1:$P_SW" \
  --port "$P_PEER" --embedded-tracker --curve keys 2>swarm.log & pids+=($!)
mkdir -p b1 b2
"$TS_BIN/ts-player-bridge" --in "tcp://127.0.0.1:$P_SW" --http 127.0.0.1:0 --path /cv.ts \
  --output "$WORK/out2.ts" --state-dir b1 --curve keys 2>bridge.log & pids+=($!)
"$TS_BIN/ts-player-bridge" --in "tcp://127.0.0.1:$P_SW" --http 127.0.0.1:0 --path /cv.ts \
  --output "$WORK/rogue.ts" --state-dir b2 --curve rogue 2>rogue.log & pids+=($!)
"$TSCTL" watch cv.tstream --name v1 --output "$WORK/out1.ts" >/dev/null

wait_for 60 bash -c "[ \$(stat -c %s $WORK/out1.ts 2>/dev/null || echo 0) -ge 2000000 ]" \
  || { tail -n 5 ingest.log signer.log swarm.log; fail "the viewer got $(stat -c %s out1.ts 2>/dev/null || echo 0) bytes"; }
wait_stable 60 src.ts || fail "the source never finished"
wait_stable 30 out1.ts || fail "viewer output never settled"
wait_stable 30 out2.ts || fail "tcp bridge output never settled"

for o in out1.ts out2.ts; do
  off=$(slice_offset src.ts $o to-end) || fail "$o is not the source from its hook-in point to the end"
  decodes_clean $o || fail "$o does not decode cleanly"
  say "$o: $(stat -c %s $o) bytes = source from offset $off to the end, decodes cleanly"
done
[ ! -s rogue.ts ] || fail "a bridge with an unknown key received $(stat -c %s rogue.ts) bytes"
grep -q "refused a CURVE client from 127.0.0.1: unknown key" swarm.log || fail "the swarm did not report the unknown key"
say "rogue bridge: 0 bytes; swarm: $(grep -c 'refused a CURVE client' swarm.log) refusal line(s)"
say "PASS"
