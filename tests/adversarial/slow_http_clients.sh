#!/usr/bin/env bash
# Hostile HTTP clients against a viewer's player-bridge (tests/adversarial/slowhttp.py): 40
# players that send a GET and never read, 30 slowloris connections dribbling a request head, a
# burst of 80 GETs past the player limit, and a flood of 150 connections that send nothing.
# Meanwhile a well-behaved player (curl) and the viewer's --output must get the stream
# byte-identical to the source from their hook-in point to the end, decoding cleanly; the viewer's
# swarm must deliver every piece the broadcaster produced meanwhile, skipping none; the bridge's
# memory and descriptors must stay within what its limits allow; every non-reader must be dropped
# as too slow, every slowloris connection closed by the request timeout, every burst connection
# answered (200 or 503) or closed, and a new player must still be able to join afterwards.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../e2e/common.bash"
slow() { /usr/bin/python3 "$HERE/slowhttp.py" "$@"; }
field_ge() { # INSTANCE STAGE FIELD MIN
  local v
  v=$(stage_field "$1" "$2" "$3" 2>/dev/null) && [ -n "$v" ] && [ "$v" -ge "$4" ]
}

# The bridge's limits (player-bridge/server.h).
MAX_STREAMS=64 MAX_OTHERS=64 MAX_QUEUE_KB=16384
HOLD=40 LORIS=30 BURST=80 FLOOD=150

# Under AddressSanitizer freed memory waits in a quarantine (256 MiB by default) before reuse, so
# RSS would measure the sanitizer, not the bridge: cap the quarantine and count it in the bound.
ASAN_KB=0
if ldd "$TS_BIN/ts-player-bridge" 2>/dev/null | grep libasan >/dev/null; then
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8:thread_local_quarantine_size_kb=64"
  ASAN_KB=$((8192 + 8192)) # the quarantine, and the redzones and size-class rounding of its allocator
fi

bg_pids=()
# set +e: under errexit, `(exit $rc)` would end the trap before cleanup stops the instances.
trap 'rc=$?; set +e; touch "$WORK/release"; for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done; (exit $rc); cleanup' EXIT

# 8 Mbit/s (the test video padded): a player that stops reading fills its 16 MiB queue in about
# 20 s instead of 80, which keeps the test short.
say "start an 8 Mbit/s broadcast and a viewer; a well-behaved player reads the URL"
"$TSCTL" start demo --source "$(finite_source 60 "$WORK/src.ts" 8000k)" --bitrate 8M > start.out
"$TSCTL" watch demo.tstream --name v1 --output "$WORK/out1.ts" > watch1.out
url=$(sed -n 's/.*player URL: //p' watch1.out)
[ -n "$url" ] || fail "the viewer printed no player URL"
curl -s -N -o "$WORK/http.ts" "$url" & player=$!
bg_pids+=($player)

# Baseline once the bridge's ring (the last 8 s of stream) is full.
wait_for 60 bash -c "[ \$(stat -c %s $WORK/out1.ts 2>/dev/null || echo 0) -ge 10000000 ]" \
  || fail "the viewer received only $(stat -c %s out1.ts 2>/dev/null || echo 0) bytes"
wait_for 10 field_ge v1 player-bridge http_clients 1 || fail "the well-behaved player is not connected"
bpid=$(stage_field v1 player-bridge pid)
rss() { awk '/VmRSS/ {print $2}' "/proc/$bpid/status"; }
nfds() { ls "/proc/$bpid/fd" | wc -l; }
rss0=$(rss) fds0=$(nfds) hls0=$(stage_field v1 player-bridge hls_mem_bytes)
delivered0=$(stage_field v1 swarm delivered) skipped0=$(stage_field v1 swarm skipped)
say "bridge pid $bpid: RSS $rss0 kB, $fds0 descriptors with one player"
(while [ -e "/proc/$bpid" ]; do echo "$(rss) $(nfds)"; sleep 0.5; done) > samples.txt 2>/dev/null &
sampler=$!
bg_pids+=($sampler)

say "load: $HOLD players that never read, $LORIS slowloris connections"
slow hold --url "$url" --count $HOLD --ports hold.ports --release "$WORK/release" > hold.out 2>&1 &
holder=$!
bg_pids+=($holder)
wait_for 30 test -s hold.ports || { cat hold.out; fail "the non-reading players could not connect"; }
# Alone, so that no newer connection makes the bridge close them early to make room.
slow slowloris --url "$url" --count $LORIS --interval 2 --ports loris.ports > loris.out 2>&1 \
  || { cat loris.out; fail "the bridge left slowloris connections open"; }
say "$(cat loris.out)"
blog="$TSTREAM_HOME/v1/log/player-bridge.log"
n=0
for p in $(cat loris.ports); do
  grep -q "client 127.0.0.1:$p disconnected (request timeout)" "$blog" && n=$((n + 1))
done
[ $n = $LORIS ] || fail "only $n of $LORIS slowloris connections were closed for the request timeout"

say "load: a burst of $BURST GETs, then $FLOOD connections that send nothing"
out=$(slow burst --url "$url" --count $BURST) || fail "burst: $out"
say "$out"
n200=$(echo "$out" | sed -n 's/.* 200=\([0-9]*\).*/\1/p') n503=$(echo "$out" | sed -n 's/.* 503=\([0-9]*\).*/\1/p')
nclosed=$(echo "$out" | sed -n 's/.* closed=\([0-9]*\).*/\1/p')
# The well-behaved player holds a slot: the burst gets at most the other 63.
[ "$n200" -le $((MAX_STREAMS - 1)) ] || fail "the bridge took $n200 more players, past its limit of $MAX_STREAMS"
[ $((n503 + nclosed)) -ge $((BURST - MAX_STREAMS + 1)) ] || fail "too few refusals: $out"
out=$(slow flood --url "$url" --count $FLOOD) || fail "flood: $out"
say "$out"

say "waiting for the non-reading players to be dropped"
wait_for 90 field_ge v1 player-bridge clients_dropped $HOLD \
  || fail "only $(stage_field v1 player-bridge clients_dropped) of $HOLD non-reading players were dropped"
# While they are still connected: the bridge reset them, so the kernel holds nothing for them in
# orphan sockets (a plain close would leave megabytes each, for as long as they stay connected).
bport=${url#http://127.0.0.1:}
bport=${bport%%/*}
orphans=$(ss -Htn state fin-wait-1 "( sport = :$bport )" \
  | awk 'NR == FNR {hold[$1] = 1; next} {n = split($NF, a, ":")} hold[a[n]] {c++; q += $2} END {print c + 0, q + 0}' hold.ports -)
[ "$orphans" = "0 0" ] || fail "dropped players left orphan sockets behind (count, bytes): $orphans"
touch "$WORK/release"
wait $holder || { cat hold.out; fail "the bridge kept non-reading players open"; }
say "$(tail -n 1 hold.out)"
times=()
for p in $(cat hold.ports); do
  t=$(sed -n "s/.*client 127.0.0.1:$p disconnected (GET [^ ]* 200, too slow): [0-9]* bytes sent in \([0-9.]*\) s.*/\1/p" "$blog")
  [ -n "$t" ] || fail "non-reading player on port $p was not dropped as too slow"
  times+=("$t")
done
say "non-readers dropped after $(printf '%s\n' "${times[@]}" | sort -n | head -1)..$(printf '%s\n' "${times[@]}" | sort -n | tail -1) s"

# A new player still gets the stream and decodes it.
timeout 20 ffmpeg -hide_banner -nostdin -v error -xerror -i "$url" -t 3 -f null - || fail "ffmpeg could not play $url after the load"

# Everything the broadcaster had produced by the end of the load reached the bridge, and nothing
# was skipped on the way (a skip would be a hole in what every player got).
last=$(($(stage_field demo ingest seq) - 1))
wait_for 30 field_ge v1 player-bridge last_seq $last || fail "the bridge is at seq $(stage_field v1 player-bridge last_seq), the broadcaster at $last"
[ "$(stage_field v1 swarm skipped)" = "$skipped0" ] || fail "the viewer skipped pieces under the load"
[ "$(stage_field v1 player-bridge gaps)" = 0 ] || fail "the bridge saw gaps"
say "the viewer delivered $(($(stage_field v1 swarm delivered) - delivered0)) pieces meanwhile, skipped none"
[ "$(stage_field v1 player-bridge pid)" = "$bpid" ] && [ "$(stage_field v1 player-bridge restarts)" = 0 ] \
  || fail "the player-bridge was restarted"

# Once everything has gone, the bridge is back to its descriptors of before.
wait_for 20 bash -c "[ \$(ls /proc/$bpid/fd | wc -l) -le $fds0 ]" || fail "the bridge holds $(nfds) descriptors, $fds0 before the load"
kill $sampler
read -r rss_max fds_max < <(awk '$1 > r {r = $1} $2 > f {f = $2} END {print r, f}' samples.txt)
say "bridge: RSS $rss0 -> max $rss_max kB, descriptors $fds0 -> max $fds_max"
# Queues share the pieces (player-bridge/chunk.h), and each queue is the newest part of the
# stream, so all of them together hold at most one queue's limit of pieces beyond the ring; add
# 8 MiB for per-connection state (64 queue indexes of <= 32 KiB, 64 request buffers of 8 KiB) and
# allocator slack. A copy per player would need 40 x 16 MiB.
# The HLS window (30 s in memory, player-bridge/hls.h) was still filling at the baseline: what it
# took since is its own, bounded growth, not the players'.
hls_kb=$(( ($(stage_field v1 player-bridge hls_mem_bytes) - hls0) / 1024 ))
say "HLS window: $((hls0 / 1024)) -> $((hls0 / 1024 + hls_kb)) kB"
[ "$rss_max" -le $((rss0 + MAX_QUEUE_KB + 8192 + ASAN_KB + hls_kb)) ] || fail "the bridge grew from $rss0 to $rss_max kB"
# + 1: a new connection is accepted before the oldest waiting one is closed to make room.
[ "$fds_max" -le $((fds0 + MAX_STREAMS - 1 + MAX_OTHERS + 1)) ] || fail "the bridge held $fds_max descriptors, past its limits"

wait_stable 90 src.ts || fail "the source never finished"
wait_stable 30 http.ts || fail "the player's stream never settled"
kill $player
finish_and_check demo 1
off=$(slice_offset src.ts http.ts to-end) || fail "the well-behaved player did not get the source from its hook-in point to the end"
say "player: $(stat -c %s http.ts) bytes, identical to the source from byte $off"
decodes_clean http.ts || fail "the well-behaved player's stream does not decode cleanly"
say "PASS"
