#!/usr/bin/env bash
# Issue 13, case 3: a peer that claims an edge N/2 - 2 pieces ahead of the real one (extension
# handshake, then a fresh ts_live lie at every random-access point), with a bitfield of all ones,
# and serves nothing (tests/adversarial/liarpeer.py --mode edge-lie).
#  - Viewer v1 plays next to the liar, then its swarm is stopped 4 s (SIGSTOP) and continued: its
#    re-tune must land on the real stream (at most the broadcaster's seq, from tsctl status), not at
#    the lie; it skips only what that re-tune skips; its output is the source with forward skips
#    only, the part after the last one decoding cleanly.
#  - Newcomer v2 is reached by the liar before it knows any honest peer (its tracker answers only
#    once the liar is connected): it must still start playing the real stream, not wait for the
#    stream to reach the lie; its output is the source to its end, byte for byte, decoding cleanly.
# Before the fix (e1ab6fa): v1 stalls next to the liar (it asks the liar first for everything) and
# re-tunes to the lie (from seq 29 to 711 while the broadcaster was at ~290); v2 hooks in at the lie.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../e2e/common.bash"
. "$HERE/liar_common.bash"

read -r bport vport v2port tport < <(free_ports 4)
viewer_bind 1; v1host=$vhost; v1bind=("${vbind[@]}")
viewer_bind 2; v2host=$vhost; v2bind=("${vbind[@]}")
say "start broadcast (2 Mbit/s, 16 KiB pieces, 60 s window) and viewer v1 at $v1host"
"$TSCTL" start demo --source "$(finite_source 80 "$WORK/src.ts")" --bitrate 2M --port "$bport" > start.out \
  || { cat start.out; fail "tsctl start failed"; }
"$TSCTL" watch demo.tstream --name v1 --port "$vport" "${v1bind[@]}" --output "$WORK/out1.ts" --stats "$WORK/stats1" \
  > watch1.out || { cat watch1.out; fail "tsctl watch failed"; }
wait_for 60 bash -c "[ \$(stat -c %s $WORK/out1.ts 2>/dev/null || echo 0) -ge 300000 ]" || fail "the viewer receives nothing"
N=$(npieces)
log1="$TSTREAM_HOME/v1/log/swarm.log"

say "an edge liar from 127.0.0.70 next to v1 (N = $N: it claims $((N / 2 - 2)) pieces past the edge)"
liar --mode edge-lie --bind 127.0.0.70 --target "$v1host:$vport" --source "127.0.0.1:$bport" --duration 45 \
  --report "$WORK/lie1.json" --quiet > lie1.out 2>&1 &
BG_PIDS+=($!)
b0=$(stage_field demo swarm seq); d0=$(stage_field v1 swarm delivered)
sleep 12
sk0=$(stage_field v1 swarm skipped)
[ "$sk0" = 0 ] || problem "v1 skipped $sk0 pieces next to the edge liar, before any re-tune"
out=$(progress v1 "$b0" "$d0") || problem "v1 stalled next to the edge liar: $out"
say "v1 next to the liar: $out, skipped $sk0"

lines=$(wc -l < "$log1")
pid=$(stage_field v1 swarm pid)
say "SIGSTOP v1's swarm ($pid) for 4 s"
kill -STOP "$pid"; sleep 4; kill -CONT "$pid"
retuned() { tail -n +$((lines + 1)) "$log1" | grep "re-tuned from seq" >/dev/null; }
if wait_for 20 retuned; then
  sleep 3 # tsctl status shows the broadcaster's seq as of its last heartbeat (1 s); the lie is ~30 s ahead
  bseq=$(stage_field demo swarm seq)
  line=$(tail -n +$((lines + 1)) "$log1" | grep "re-tuned from seq" | head -1)
  read -r A B < <(echo "$line" | sed -E 's/.*re-tuned from seq ([0-9]+) to ([0-9]+).*/\1 \2/')
  say "v1 re-tuned from seq $A to $B; the broadcaster was then at seq $bseq"
  [ "$B" -le "$bseq" ] || problem "v1 re-tuned from seq $A to $B, beyond the real stream (the broadcaster was at $bseq): it followed the liar's claim"
else
  problem "v1 did not re-tune after its swarm stood still for 4 s"
  A=0; B=0
fi
b1=$(stage_field demo swarm seq); d1=$(stage_field v1 swarm delivered)
sleep 8
out=$(progress v1 "$b1" "$d1") || problem "v1 stalled after the re-tune: $out"
say "v1 after the re-tune: $out"

say "newcomer v2 at $v2host: the liar (127.0.0.71) reaches it first; its tracker (port $tport) answers later"
/usr/bin/python3 - "$WORK/demo.tstream" "$WORK/v2.tstream" "http://127.0.0.1:$tport/announce" <<'PY' || fail "could not write v2.tstream"
import sys
raw = open(sys.argv[1], 'rb').read()
# d 8:announce <url> ...: replace the url; info (the infohash) stays byte for byte
assert raw.startswith(b'd8:announce')
i = len(b'd8:announce')
j = raw.index(b':', i)
end = j + 1 + int(raw[i:j])
url = sys.argv[3].encode()
open(sys.argv[2], 'wb').write(raw[:i] + b'%d:%s' % (len(url), url) + raw[end:])
PY
liar --mode edge-lie --bind 127.0.0.71 --target "$v2host:$v2port" --source "127.0.0.1:$bport" --duration 40 \
  --report "$WORK/lie2.json" --quiet > lie2.out 2>&1 &
BG_PIDS+=($!)
"$TSCTL" watch v2.tstream --name v2 --port "$v2port" "${v2bind[@]}" --output "$WORK/out2.ts" --stats "$WORK/stats2" \
  > watch2.out || { cat watch2.out; fail "tsctl watch (v2) failed"; }
liar_in() { [ -f lie2.json ] && [ "$(rep lie2.json "r['liars'][0]['connections']")" -ge 1 ]; }
wait_for 30 liar_in || fail "the liar never connected to the newcomer"
sleep 2
bt=$(stage_field demo swarm seq) # as of the broadcaster's last heartbeat: at most 1 s old
say "the liar is v2's only peer; now v2's tracker names the broadcaster (at seq $bt)"
/usr/bin/python3 - "$tport" "$bport" <<'PY' &
import http.server, socket, struct, sys
peers = socket.inet_aton('127.0.0.1') + struct.pack('>H', int(sys.argv[2]))
body = b'd8:intervali15e5:peers6:' + peers + b'e'
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H)
s.timeout = 1
for _ in range(200):
    s.handle_request()
PY
BG_PIDS+=($!)
wait_for 60 bash -c "[ \$(stat -c %s $WORK/out2.ts 2>/dev/null || echo 0) -ge 300000 ]" \
  || problem "the newcomer played nothing for 60 s after its tracker named the broadcaster"
first=$(head -1 stats2 2>/dev/null | awk '{print $1}')
say "v2 hook-ins: $(grep -o 'hooked in at seq [0-9]* ([^)]*)' "$TSTREAM_HOME/v2/log/swarm.log" | tr '\n' ';')"
say "v2's first piece played: seq ${first:-none}; the broadcaster was at $bt when v2 learnt of it; the lie was about $((bt + N / 2 - 2))"
# Hooked in at the real stream: its first piece is near where the broadcaster was when v2 learnt
# of it; at the lie it would be N/2 - 2 pieces further (about half a minute of stream).
[ -n "$first" ] && [ "$first" -le $((bt + N / 4)) ] \
  || problem "the newcomer started at seq ${first:-none}, not at the real stream (the broadcaster was at $bt when v2 learnt of it): it hooked in at the liar's claim"

wait_stable 60 src.ts || fail "the source never finished"
for i in 1 2; do wait_stable 30 "out$i.ts" || problem "viewer v$i's output never settled"; done
"$TSCTL" status
sk=$(stage_field v1 swarm skipped)
retune_skip=$(( B > A ? B - A : 0 ))
say "v1 skipped $sk pieces in all; its re-tune skipped $retune_skip"
[ "$sk" -le "$retune_skip" ] || problem "v1 skipped $sk pieces, more than its re-tune's $retune_skip"
sk2=$(stage_field v2 swarm skipped)
[ "$sk2" = 0 ] || problem "the newcomer skipped $sk2 pieces"
say "v1's peers_dropped=$(stage_field v1 swarm peers_dropped) peers_banned=$(stage_field v1 swarm peers_banned); liars: $(rep lie1.json "r['liars'][0]['disconnected_by_victim']") + $(rep lie2.json "r['liars'][0]['disconnected_by_victim']") drops"
bad=$(banned_lines v1 "127\.0\.0\.1:"; banned_lines v2 "127\.0\.0\.1:")
[ -z "$bad" ] || problem "a viewer dropped the broadcaster as an offender: $(echo "$bad" | head -3)"
"$TSCTL" stop v1 >/dev/null; "$TSCTL" stop v2 >/dev/null; "$TSCTL" stop demo >/dev/null

if read -r skips last < <(slices_with_skips src.ts out1.ts stats1); then
  say "v1: the source with $skips forward skip(s)"
  tail -c +$((last + 1)) out1.ts > resumed1.ts
  decodes_clean resumed1.ts || problem "v1's output after its last skip does not decode cleanly"
else
  problem "v1's output is not the source with forward skips only"
fi
if off=$(slice_offset src.ts out2.ts to-end); then
  say "v2: $(stat -c %s out2.ts) bytes, identical to the source from byte $off"
  decodes_clean out2.ts || problem "v2's output does not decode cleanly"
else
  problem "v2's output is not the source from its hook-in point to the end, without a gap"
fi
finish_problems
say "PASS"
