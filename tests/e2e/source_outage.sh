#!/usr/bin/env bash
# The broadcaster's source command exits and stays away for 60 s, then comes back. The viewer keeps
# its connections and its stages (no restart, no operator action) and plays the new stream when
# it comes: its output is byte-identical to everything the source produced, from its hook-in point
# to the last byte, across the outage.
. "$(dirname "$0")/common.bash"

# Run 1: 15 s of stream, then exit. While the outage lasts, every restart fails at once. After it:
# 15 s more, then idle (so ingest does not restart it again). Everything the source produced is
# appended to src.ts.
cat > source.sh <<SH
#!/usr/bin/env bash
if [ ! -e $WORK/run1.done ]; then
  $(testsrc_cmd 15) | tee -a $WORK/src.ts
  stat -c %s $WORK/src.ts > $WORK/run1.size
  date +%s > $WORK/run1.done
  exit 0
fi
[ \$(date +%s) -ge \$((\$(cat $WORK/run1.done) + 60)) ] || exit 1
date +%s > $WORK/run2.started
$(testsrc_cmd 15) | tee -a $WORK/src.ts
exec sleep 3600
SH
chmod +x source.sh

say "start broadcast and a viewer"
"$TSCTL" start demo --source "pipe:$WORK/source.sh" --bitrate 2M > start.out
"$TSCTL" watch demo.tstream --name v1 --output "$WORK/out1.ts" --stats "$WORK/stats1" > watch1.out
pids_before=$(instance_pids v1 | sort | tr '\n' ' ')

wait_for 60 test -e run1.done || fail "the source's first run never ended"
say "source gone; waiting for it to come back (60 s outage, then ingest's restart backoff)"
wait_for 150 test -e run2.started || fail "ingest never restarted the source after the outage"
say "source back"

wait_stable 90 src.ts || fail "the source never finished"
wait_stable 30 out1.ts || fail "the viewer's output never settled"
pids_after=$(instance_pids v1 | sort | tr '\n' ' ')
[ "$pids_before" = "$pids_after" ] || fail "viewer processes changed across the outage: $pids_before -> $pids_after"
[ "$(stage_field v1 swarm peers)" -ge 1 ] || fail "the viewer has no peers after the outage"
if grep -E "closed: (idle|closed by peer)" "$TSTREAM_HOME"/v1/log/swarm.log; then
  fail "the viewer lost a connection during the outage"
fi
[ "$(stage_field demo ingest source_restarts)" -ge 1 ] || fail "ingest reports no source restart"
"$TSCTL" stop v1 >/dev/null
"$TSCTL" stop demo >/dev/null

off=$(slice_offset src.ts out1.ts to-end) || fail "the output is not the source from its hook-in point to the end"
say "output: $(stat -c %s out1.ts) bytes, identical to the source from byte $off across the outage"
# Each run decodes without an error line. The join is a new stream (PAT/PMT, keyframe, continuity
# counters and timestamps starting over); ffmpeg -xerror flags the first packet after it, players
# carry on (PROTOCOL.md §5).
join=$(( $(cat run1.size) - off ))
head -c "$join" out1.ts > before.ts
tail -c +$((join + 1)) out1.ts > after.ts
[ -s before.ts ] && [ -s after.ts ] || fail "the output does not span the outage (join at byte $join)"
decodes_clean before.ts || fail "the output before the outage does not decode cleanly"
decodes_clean after.ts || fail "the output after the outage does not decode cleanly"
# For the record (not asserted): how soon the first piece after the outage reached the player.
/usr/bin/python3 - stats1 <<'PY'
import sys
rows = [tuple(int(x) for x in l.split()) for l in open(sys.argv[1]) if l.strip()]
i = next(i for i in range(1, len(rows)) if rows[i][1] - rows[i - 1][1] > 30e6)
print("first piece after the outage: seq %d, handed to the player %.3f s after the source stamped it"
      % (rows[i][0], (rows[i][2] - rows[i][1]) / 1e6))
PY
say "PASS"
