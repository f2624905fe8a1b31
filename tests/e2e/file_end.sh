#!/usr/bin/env bash
# A file source's end (issue 16). Without --loop the broadcast stays up, and tsctl status says the
# source ended, not that there is "no data from the source" (which it said forever, as ingest's
# readiness did), also long after the idle warning's threshold. With --loop (tsctl start) the
# file starts over at its end: a viewer's output runs past the file's length, holds the whole
# file, and the pieces it got have sequence numbers and timestamps that only go up (pieces are
# signed: a number used twice would be a different piece under the same name).
. "$(dirname "$0")/common.bash"
command -v ffmpeg >/dev/null || { echo "SKIP: ffmpeg not installed"; exit 0; }

ffmpeg -hide_banner -loglevel error -nostdin -f lavfi -i testsrc=size=320x180:rate=25 \
  -f lavfi -i sine=frequency=1000:sample_rate=48000 -t 4 -c:v libx264 -preset veryfast -b:v 800k -g 50 \
  -pix_fmt yuv420p -c:a mp2 -b:a 128k -f mpegts -muxrate 1000k src.ts
size=$(stat -c %s src.ts)

say "a file without --loop (and without --bitrate: paced by its PCR)"
"$TSCTL" start fe --source src.ts > start.out || { cat start.out; fail "tsctl start failed"; }
says_ended() { "$TSCTL" status fe > status.out 2>&1; grep -q "the source ended" status.out; }
wait_for 60 says_ended || { cat status.out; fail "tsctl status does not say the source ended"; }
ilog="$TSTREAM_HOME/fe/log/ingest.log"
grep -q "the source ended after" "$ilog" || fail "ingest did not log that the source ended"
[ "$(stage_field fe ingest source_ended)" = 1 ] || fail "status --json: source_ended is not 1"
# Past the threshold of the "no data" warning (TS_SOURCE_IDLE_WARN_S, 10 s), still "ended".
sleep 12
rc=0; "$TSCTL" status fe > status.out || rc=$?
cat status.out
[ $rc = 3 ] || fail "tsctl status of a broadcast whose file ended exits $rc, not 3 (degraded)"
grep -q "the source ended" status.out || fail "tsctl status no longer says the source ended"
grep -q "ENDED" status.out || fail "tsctl status's stream line does not say it ended"
grep -q "no data from the source" status.out && fail "tsctl status says 'no data from the source' for a file at its end"
grep -q "no data from the source" "$ilog" && fail "ingest warned 'no data from the source' for a file at its end"
for s in ingest signer swarm; do
  [ "$(stage_field fe $s state)" = ready ] || fail "fe: $s is $(stage_field fe $s state)"
done
"$TSCTL" stop fe >/dev/null

say "the same file with --loop, and a viewer"
"$TSCTL" start lp --source src.ts --loop --wait-data 0 > start.out || { cat start.out; fail "tsctl start --loop failed"; }
"$TSCTL" watch lp.tstream --name v1 --output "$WORK/out1.ts" --stats "$WORK/stats1" > watch1.out \
  || { cat watch1.out; fail "no viewer"; }
need=$((size * 5 / 2))
wait_for 120 bash -c "[ \$(stat -c %s $WORK/out1.ts 2>/dev/null || echo 0) -ge $need ]" \
  || fail "the viewer got $(stat -c %s out1.ts 2>/dev/null || echo 0) bytes, not 2.5 times the file's $size"
[ "$(stage_field lp ingest source_ended)" = 0 ] || fail "a looped file says it ended"
"$TSCTL" status lp > status.out || true # (its exit code: whether the loop is flowing this second)
cat status.out
grep -q "the source ended" status.out && fail "tsctl status says a looped file ended"
"$TSCTL" stop v1 >/dev/null
"$TSCTL" stop lp >/dev/null
grep -q "looping to its start" "$TSTREAM_HOME/lp/log/ingest.log" || fail "ingest did not log the loop"
/usr/bin/python3 - src.ts out1.ts stats1 <<'PY' || fail "the looped stream is not the file again and again under new numbers"
import sys
src, out = open(sys.argv[1], 'rb').read(), open(sys.argv[2], 'rb').read()
rows = [tuple(int(x) for x in l.split()) for l in open(sys.argv[3]) if l.strip()]
seqs, stamps = [r[0] for r in rows], [r[1] for r in rows]
bad = [i for i in range(1, len(rows)) if seqs[i] <= seqs[i - 1] or stamps[i] <= stamps[i - 1]]
if bad:
    i = bad[0]
    print("row %d: seq %d ts %d after seq %d ts %d" % (i, seqs[i], stamps[i], seqs[i - 1], stamps[i - 1]), file=sys.stderr)
    sys.exit(1)
body = src[next(i for i in range(0, len(src), 188) if src[i + 1] & 0x1f == 0 and src[i + 2] == 0):]
if out.find(body) < 0:
    print("the output does not hold one whole pass of the file (from its PAT)", file=sys.stderr); sys.exit(1)
print("%d pieces, seq %d..%d, each new; %d bytes out for a %d-byte file" % (len(rows), seqs[0], seqs[-1], len(out), len(src)))
PY
say "PASS"
