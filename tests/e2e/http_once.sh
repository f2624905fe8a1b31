#!/usr/bin/env bash
# An HTTP source that is a file (issue 16): `python3 -m http.server` serves a 10 s MPEG-TS file,
# which it sends as fast as the loopback goes, ignores Range requests, and closes at its end.
# The broadcast (no --bitrate: paced by the stream's PCR) must carry the file exactly once: a
# viewer that joined before the first byte gets it byte for byte from its first PAT (a player's
# output starts at a random-access piece, which starts at the PAT: ffmpeg puts an SDT packet
# before it), to its last byte, and no more after ingest has reconnected and been sent the whole
# file again. And it is paced: the viewer's output does not
# fill up in well under the file's duration (the bound is loose on purpose: 30 %).
. "$(dirname "$0")/common.bash"
command -v ffmpeg >/dev/null || { echo "SKIP: ffmpeg not installed"; exit 0; }

DUR=10
mkdir www
ffmpeg -hide_banner -loglevel error -nostdin -f lavfi -i testsrc=size=320x180:rate=25 \
  -f lavfi -i sine=frequency=1000:sample_rate=48000 -t $DUR -c:v libx264 -preset veryfast -b:v 800k -g 50 \
  -pix_fmt yuv420p -c:a mp2 -b:a 128k -f mpegts -muxrate 1000k www/src.ts
cp www/src.ts src.ts
size=$(stat -c %s src.ts)
# Where the file's first PAT (PID 0) is: a viewer's output starts there.
pat=$(/usr/bin/python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
print(next(i for i in range(0, len(d), 188) if d[i] == 0x47 and (d[i + 1] & 0x1f) == 0 and d[i + 2] == 0))' src.ts)
want=$((size - pat))
port=$(free_ports 1)
ilog="$TSTREAM_HOME/hc/log/ingest.log"

say "broadcast from http://127.0.0.1:$port/src.ts (no server yet), a viewer joins"
"$TSCTL" start hc --source "http://127.0.0.1:$port/src.ts" --wait-data 0 > start.out \
  || { cat start.out; fail "tsctl start failed"; }
"$TSCTL" watch hc.tstream --name v1 --output "$WORK/out1.ts" > watch1.out || { cat watch1.out; fail "no viewer"; }
# The viewer is connected before the first byte (then it hooks in at the first piece); the server
# comes up right after, while ingest's retries are still 1 or 2 s apart.
peered() { local n; n=$(stage_field v1 swarm peers 2>/dev/null) && [ -n "$n" ] && [ "$n" -ge 1 ]; }
wait_for 30 peered || fail "the viewer did not connect to the broadcaster"
say "the server comes up"
(cd www && exec timeout 240 python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &

outsize() { stat -c %s "$WORK/out1.ts" 2>/dev/null || echo 0; }
wait_for 90 bash -c "[ \$(stat -c %s $WORK/out1.ts 2>/dev/null || echo 0) -gt 0 ]" || fail "the viewer got nothing"
t_first=$(date +%s%N)
wait_for 120 bash -c "[ \$(stat -c %s $WORK/out1.ts 2>/dev/null || echo 0) -ge $want ]" \
  || fail "the viewer got $(outsize) of $want bytes"
t_full=$(date +%s%N)
took_ms=$(( (t_full - t_first) / 1000000 ))
say "the viewer's output filled up in $took_ms ms (the file lasts $DUR s)"
[ $took_ms -ge $((DUR * 1000 * 30 / 100)) ] || fail "the file went out in $took_ms ms: not paced to real time"

say "ingest reconnects after the end; the server sends the whole file again"
wait_for 60 grep -q "server sent the resource from its start again" "$ilog" \
  || fail "ingest did not reconnect and skip the resent file: $(grep -v debug "$ilog" | tail -5)"
sleep 3 # what a re-sent file would have made goes out within a fill period or two
wait_stable 30 "$WORK/out1.ts" || fail "the viewer's output keeps growing"
rc=0; "$TSCTL" status hc || rc=$?
[ $rc = 3 ] || fail "tsctl status of a broadcast whose source paused exits $rc, not 3 (degraded)"
"$TSCTL" stop v1 >/dev/null
"$TSCTL" stop hc >/dev/null
got=$(outsize)
[ "$got" = "$want" ] || fail "the viewer got $got bytes for the $want of the file from its PAT: not the file once"
off=$(slice_offset src.ts out1.ts to-end) || fail "the viewer's output is not the file to its end"
[ "$off" = "$pat" ] || fail "the viewer's output starts at byte $off of the file, not at its PAT ($pat)"
decodes_clean out1.ts || fail "the viewer's output does not decode cleanly"
say "PASS"
