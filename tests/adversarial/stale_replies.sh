#!/usr/bin/env bash
# Issue 13, case 2: a peer that downloads genuine pieces from the broadcaster, advertises them, and
# answers a request for seq s with the genuine piece s-N (N = npieces: one window older, same
# index; tests/adversarial/liarpeer.py --mode stale). The piece verifies and comes under the right
# index, but it is a replay the viewer asked for nothing like: the viewer must disconnect and ban
# the peer at once (it answers every request so), skip nothing, keep playing, and its output must
# be the source, byte for byte, to its end, decoding cleanly.
# Before the fix (e1ab6fa): the viewer dropped each stale piece, never disconnected the peer and
# asked it again: about 800 stale answers in 20 s, pieces skipped.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../e2e/common.bash"
. "$HERE/liar_common.bash"
ATTACK=30
LIAR_IP=127.0.0.60

read -r bport vport < <(free_ports 2)
viewer_bind 1
say "start broadcast (2 Mbit/s, 16 KiB pieces, 10 s window) and viewer v1 at $vhost"
"$TSCTL" start demo --source "$(finite_source 70 "$WORK/src.ts")" --bitrate 2M --window 10 --port "$bport" > start.out \
  || { cat start.out; fail "tsctl start failed"; }
"$TSCTL" watch demo.tstream --name v1 --port "$vport" "${vbind[@]}" --output "$WORK/out1.ts" > watch1.out \
  || { cat watch1.out; fail "tsctl watch failed"; }
wait_for 60 bash -c "[ \$(stat -c %s $WORK/out1.ts 2>/dev/null || echo 0) -ge 300000 ]" || fail "the viewer receives nothing"
# The liar answers s with s-N: the stream must be longer than one window first.
N=$(npieces)
bseq_at_least() { [ "$(stage_field demo swarm seq)" -ge "$1" ]; }
wait_for 60 bseq_at_least $((N + 20)) \
  || fail "the broadcast never got one window ($N pieces) long"
[ "$(stage_field v1 swarm skipped)" = 0 ] || fail "the viewer skipped pieces before any attack"

b0=$(stage_field demo swarm seq); d0=$(stage_field v1 swarm delivered)
say "a stale-replying peer from $LIAR_IP for $ATTACK s (N = $N)"
liar --mode stale --bind $LIAR_IP --target "$vhost:$vport" --source "127.0.0.1:$bport" --duration $ATTACK \
  --report "$WORK/stale.json" --quiet > stale.out 2>&1 || { cat stale.out; fail "liarpeer failed"; }
cat stale.out

sk=$(stage_field v1 swarm skipped)
[ "$sk" = 0 ] || problem "the viewer skipped $sk pieces while a peer answered its requests with stale pieces"
out=$(progress v1 "$b0" "$d0") || problem "the viewer stalled: $out"
say "viewer $out, skipped $sk"
req=$(rep stale.json "r['liars'][0]['requests_received']")
sent=$(rep stale.json "r['liars'][0]['stale_sent']")
[ "$req" -gt 0 ] || problem "the viewer never asked the stale peer: the scenario did not happen"
[ "$(rep stale.json "r['liars'][0]['disconnected_by_victim']")" -ge 1 ] \
  || problem "the viewer never disconnected the peer that sent $sent stale pieces for $req requests"
# One stale piece bans it; a few more may have been answered and in flight (8 requests outstanding).
[ "$sent" -le 16 ] || problem "the peer could send $sent stale pieces (for $req requests): it was not banned at the first"
[ -n "$(banned_lines v1 "${LIAR_IP//./\\.}:")" ] || problem "the viewer did not ban $LIAR_IP (no 'misbehaved' line naming it)"
acc=$(rep stale.json "r['liars'][0]['accepted_after_first_disconnect']")
ref=$(rep stale.json "r['liars'][0]['refused_after_first_disconnect']")
say "after the first disconnect the peer redialled: $ref refused, $acc accepted"
[ "$acc" = 0 ] || problem "the viewer let the stale peer back in $acc time(s) after disconnecting it"
[ "$(stage_field v1 swarm peers_banned)" -ge 1 ] || problem "the viewer's peers_banned is $(stage_field v1 swarm peers_banned)"
bad=$(banned_lines v1 "127\.0\.0\.1:")
[ -z "$bad" ] || problem "the viewer dropped the broadcaster as an offender: $(echo "$bad" | head -3)"

finish_output demo 1
finish_problems
say "PASS"
