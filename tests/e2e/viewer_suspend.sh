#!/usr/bin/env bash
# A viewer (its supervisor and every stage) stopped with SIGSTOP for 30 s, as a suspended laptop
# would be: after SIGCONT it must not replay the 30 s it missed but skip ahead to the live edge,
# without any of its stages being restarted. Its output is the source with forward skips only,
# every part byte-identical, the last running to the source's end, and it decodes cleanly.
. "$(dirname "$0")/common.bash"

say "start broadcast (70 s of stream) and a viewer"
"$TSCTL" start demo --source "$(finite_source 70 "$WORK/src.ts")" --bitrate 2M > start.out
"$TSCTL" watch demo.tstream --name v1 --output "$WORK/out1.ts" --stats "$WORK/stats1" > watch1.out
wait_for 60 bash -c "[ \$(stat -c %s $WORK/out1.ts 2>/dev/null || echo 0) -ge 2000000 ]" \
  || fail "the viewer received only $(stat -c %s out1.ts 2>/dev/null || echo 0) bytes"

pids=$(instance_pids v1 | tr '\n' ' ')
[ "$(echo $pids | wc -w)" -ge 3 ] || fail "expected a supervisor and two stages, got: $pids"
say "SIGSTOP viewer processes $pids for 30 s"
kill -STOP $pids
sleep 30
kill -CONT $pids
stopped_at=$(wc -l < stats1)
say "SIGCONT; $stopped_at pieces had been handed on"

# The viewer must be playing again, from the live edge: new pieces handed on after the resume.
wait_for 60 bash -c "[ \$(wc -l < $WORK/stats1) -gt $((stopped_at + 30)) ]" || fail "the viewer did not resume"

wait_stable 90 src.ts || fail "the source never finished"
wait_stable 30 out1.ts || fail "the viewer's output never settled"
for s in swarm player-bridge; do
  r=$(stage_field v1 $s restarts)
  [ "$r" = 0 ] || fail "viewer stage $s was restarted $r times: a suspended viewer must just resume"
done
"$TSCTL" stop v1 >/dev/null
"$TSCTL" stop demo >/dev/null

read -r skips last < <(slices_with_skips src.ts out1.ts stats1) || fail "the output is not the source with forward skips"
[ "$skips" -ge 1 ] || fail "the viewer replayed the stream it missed instead of skipping to the live edge"
grep -q "re-tuned" "$TSTREAM_HOME"/v1/log/swarm.log || fail "no re-tune logged by the viewer's swarm"
# Where it skipped, the frame in progress is cut (players show a glitch); from the random-access
# point it resumed at, to the end, the stream must decode without a single error.
tail -c +$((last + 1)) out1.ts > resumed.ts
decodes_clean resumed.ts || fail "the output after the resume does not decode cleanly"
# For the record (not asserted: timings belong in benchmarks): the lag of the first pieces after the resume.
/usr/bin/python3 - stats1 "$stopped_at" <<'PY'
import sys
rows = [tuple(int(x) for x in l.split()) for l in open(sys.argv[1]) if l.strip()]
k = max(1, int(sys.argv[2]))
jump = next((i for i in range(k, len(rows)) if rows[i][0] != rows[i - 1][0] + 1), None)
if jump is not None:
    lags = sorted((h - t) / 1e6 for s, t, h, n in rows[jump:jump + 30])
    print("after the resume: skipped from seq %d to %d; lag of the next 30 pieces: median %.2f s, max %.2f s"
          % (rows[jump - 1][0], rows[jump][0], lags[len(lags) // 2], lags[-1]))
PY
say "PASS ($skips forward skip(s))"
