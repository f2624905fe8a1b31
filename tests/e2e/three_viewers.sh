#!/usr/bin/env bash
# A broadcast from a pipe: source (ffmpeg, 32 s of stream) and three viewers from the command
# line. Each viewer's output must be byte-identical to what the source produced, from the
# viewer's hook-in point to the source's last byte, at least 20 s of stream long, and decode
# without a single ffmpeg error.
. "$(dirname "$0")/common.bash"

say "start broadcast"
"$TSCTL" start demo --source "$(finite_source 32 "$WORK/src.ts")" --bitrate 2M > start.out
cat start.out
[ -s demo.tstream ] || fail "demo.tstream not written"

for i in 1 2 3; do
  "$TSCTL" watch demo.tstream --name v$i --output "$WORK/out$i.ts" > watch$i.out
  grep -q "player URL: http://127.0.0.1:" watch$i.out || fail "viewer $i printed no player URL"
done
cat watch1.out

# 20 s of a 2 Mbit/s stream is 5,000,000 bytes; wait for a margin over that in every output.
need=5500000
for i in 1 2 3; do
  wait_for 90 bash -c "[ \$(stat -c %s $WORK/out$i.ts 2>/dev/null || echo 0) -ge $need ]" \
    || fail "viewer $i received only $(stat -c %s out$i.ts 2>/dev/null || echo 0) bytes"
done

check_status_json demo v1 v2 v3 || fail "tsctl status --json is incomplete"
[ "$(stage_field v1 swarm peers)" -ge 1 ] || fail "viewer 1 has no peers"

# A player reads the HTTP URL too.
url=$(sed -n 's/.*player URL: //p' watch1.out)
timeout 20 ffmpeg -hide_banner -nostdin -v error -xerror -i "$url" -t 3 -f null - || fail "ffmpeg could not play $url"

# The source ends; every viewer must get it all, to the last byte.
finish_and_check demo 3
say "PASS"
