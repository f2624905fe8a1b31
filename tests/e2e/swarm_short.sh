#!/usr/bin/env bash
# The short version of benchmark scenario A (bench/live.py): a 2 Mbit/s broadcast from a pipe
# (30 s of stream), the broadcaster's upload capped at 6 Mbit/s, and 10 viewers, each capped at
# 4 Mbit/s, started one after another, so most of them have to fetch from each other.
# Correctness only, no timing: every viewer's output must be byte-identical to what the source
# produced from the viewer's hook-in point to the source's last byte, and decode without a
# single ffmpeg error line. Lag, start-up and CPU are measured by bench/run.sh, not here.
. "$(dirname "$0")/common.bash"

VIEWERS=10

say "start broadcast"
"$TSCTL" start short --source "$(finite_source 30 "$WORK/src.ts")" --bitrate 2M --max-upload 6M > start.out \
  || { cat start.out; fail "tsctl start failed"; }
[ -s short.tstream ] || fail "short.tstream not written"

for i in $(seq 1 $VIEWERS); do
  "$TSCTL" watch short.tstream --name v$i --output "$WORK/out$i.ts" --max-upload 4M > watch$i.out \
    || { cat watch$i.out; fail "viewer $i did not start"; }
  sleep 0.6   # spread over ~6 s: viewers hook in at different random-access points
done

# Every viewer is fed: 10 s of a 2 Mbit/s stream is 2,500,000 bytes (the waits are generous:
# a loaded 2-core machine running the sanitizer build must not make this test fail).
need=2500000
for i in $(seq 1 $VIEWERS); do
  wait_for 120 bash -c "[ \$(stat -c %s $WORK/out$i.ts 2>/dev/null || echo 0) -ge $need ]" \
    || fail "viewer $i received only $(stat -c %s out$i.ts 2>/dev/null || echo 0) bytes"
done

# The source ends; every viewer must get it all, to the last byte.
wait_stable 90 src.ts || fail "the source never finished"
# All outputs at once: their total size has not changed for 3 s (each only grows).
outputs_settled() {
  local end=$((SECONDS + $1)) last=-1 same=0 now
  while [ $SECONDS -lt $end ]; do
    now=$(stat -c %s out*.ts | awk '{ s += $1 } END { print s }')
    if [ "$now" = "$last" ]; then same=$((same + 1)); else same=0; last=$now; fi
    [ $same -ge 6 ] && return 0
    sleep 0.5
  done
  return 1
}
outputs_settled 60 || fail "the viewers' outputs never settled"
"$TSCTL" status
for i in $(seq 1 $VIEWERS); do "$TSCTL" stop v$i >/dev/null; done
"$TSCTL" stop short >/dev/null

for i in $(seq 1 $VIEWERS); do
  off=$(slice_offset src.ts out$i.ts to-end) || fail "viewer $i output is not the source from its hook-in point to the end"
  say "viewer $i: $(stat -c %s out$i.ts) bytes, identical to the source from byte $off"
  decodes_clean out$i.ts || fail "viewer $i output does not decode cleanly"
done
say "PASS"
