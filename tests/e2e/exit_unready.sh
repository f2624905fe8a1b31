#!/usr/bin/env bash
# --exit-unready (for containers, where nothing restarts an unhealthy process): a broadcast run by
# hand — ingest, signer, swarm, each with --exit-unready and --metrics, its .tstream written by
# `tsctl tstream` from the public key `ts-signer --init` prints. While healthy, for several times
# the limit, every stage keeps running and /readyz answers 200. With the signer killed and kept
# away, ingest and the swarm each exit 112 and log what they have not heard from. A swarm started
# again while the signer is still away waits rather than exiting (it was never ready), and turns
# ready once the signer is back. The probe is `tsctl probe`, as in the compose healthchecks.
. "$(dirname "$0")/common.bash"

LIMIT=6
pids=()
trap 'rc=$?; set +e; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; (exit $rc); cleanup' EXIT
ports=($(free_ports 4))
M_ING=${ports[0]} M_SIG=${ports[1]} M_SW=${ports[2]} P_PEER=${ports[3]}

hex=$("$TS_BIN/ts-signer" --init --key "$WORK/key.pem")
"$TSCTL" tstream eu --pubkey "$hex" --output eu.tstream --port "$P_PEER" >/dev/null
expect 101 "signed by another key" "$TSCTL" tstream eu --pubkey "$("$TS_BIN/ts-signer" --init --key "$WORK/other.pem")" \
  --output eu.tstream --port "$P_PEER"
expect 100 "exit-unready" "$TS_BIN/ts-swarm" --tstream eu.tstream --out "ipc://$WORK/x.ipc" --port 0 --exit-unready 0

start_signer() {
  "$TS_BIN/ts-signer" --key "$WORK/key.pem" --tstream eu.tstream --in "ipc://$WORK/ingest.ipc" \
    --out "ipc://$WORK/signer.ipc" --metrics "127.0.0.1:$M_SIG" --exit-unready $LIMIT 2>>signer.log & SIG=$!
  pids+=($SIG)
}
start_swarm() {
  "$TS_BIN/ts-swarm" --tstream eu.tstream --in "ipc://$WORK/signer.ipc" --out "ipc://$WORK/swarm.ipc" \
    --port "$P_PEER" --embedded-tracker --metrics "127.0.0.1:$M_SW" --exit-unready $LIMIT 2>>swarm.log & SW=$!
  pids+=($SW)
}
ready() { "$TSCTL" probe "http://127.0.0.1:$1/readyz" --timeout 5 >/dev/null; }
gone() { ! kill -0 "$1" 2>/dev/null; }

"$TS_BIN/ts-ingest" --source testsrc --out "ipc://$WORK/ingest.ipc" --state-dir "$WORK" \
  --metrics "127.0.0.1:$M_ING" --exit-unready $LIMIT 2>>ingest.log & ING=$!
pids+=($ING)
start_signer
start_swarm
for p in $M_ING $M_SIG $M_SW; do
  wait_for 60 ready $p || { tail -n 5 ingest.log signer.log swarm.log; fail "stage on metrics port $p never got ready"; }
done
say "ingest, signer, swarm ready"

# Healthy for well over the limit: nobody leaves.
sleep $((3 * LIMIT))
for p in $ING $SIG $SW; do kill -0 $p 2>/dev/null || fail "pid $p exited while the broadcast was healthy"; done
for p in $M_ING $M_SIG $M_SW; do ready $p || fail "stage on port $p not ready while healthy"; done
! grep -q "not ready for" ingest.log signer.log swarm.log || fail "a healthy stage logged that it gives up"
say "healthy for $((3 * LIMIT)) s with --exit-unready $LIMIT: all three still running and ready"

# The signer goes away and stays away: its neighbours exit 112, each naming the signer.
kill -9 $SIG
wait $SIG 2>/dev/null || true
wait_for 90 gone $SW || fail "the swarm did not exit with the signer gone"
wait_for 90 gone $ING || fail "ingest did not exit with the signer gone"
rc_sw=0; wait $SW || rc_sw=$?
rc_ing=0; wait $ING || rc_ing=$?
[ $rc_sw -eq 112 ] || fail "the swarm exited $rc_sw, expected 112"
[ $rc_ing -eq 112 ] || fail "ingest exited $rc_ing, expected 112"
grep "not ready for $LIMIT s: signer not heard from" swarm.log || fail "the swarm's log does not name the signer"
grep "not ready for $LIMIT s: no signer heard from" ingest.log || fail "ingest's log does not name the signer"
say "signer killed: swarm and ingest exited 112"

# Replaced while the signer is still away, the swarm waits (never ready: a restart would not help) ...
start_swarm
sleep $((3 * LIMIT))
kill -0 $SW 2>/dev/null || fail "a swarm that was never ready exited"
! ready $M_SW || fail "the swarm is ready without a signer"
# ... and is ready once the signer is back.
start_signer
wait_for 60 ready $M_SW || fail "the swarm did not get ready with the signer back"
say "a swarm started with the signer away waited, and got ready when the signer came back"
say "PASS"
