#!/usr/bin/env bash
# A standard BitTorrent client against a tstream peer: libtorrent 2.0 (python3-libtorrent) joins
# by the magnet link tsctl start prints, completes the BitTorrent and BEP 10 handshakes with the
# broadcaster, and fetches the info dict through BEP 9. libtorrent checks the SHA-1 of what it
# got before parsing it: against our peer it gets past that check and then declines the dict for
# having no 'pieces' (PROTOCOL.md §8: what a standard client must add); against a peer serving
# another dict it stops at the check ("mismatching info-hash"). Then libtorrent keeps
# reconnecting and resuming, plain and encrypted, while a tstream viewer watches: the broadcast's
# swarm never restarts and the viewer's output is the source byte for byte.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.bash"
/usr/bin/python3 -c 'import libtorrent' 2>/dev/null || fail "python3-libtorrent is not installed (deploy/setup.sh)"

say "start broadcast and a tstream viewer"
"$TSCTL" start ltb --source "$(finite_source 30 "$WORK/src.ts")" --bitrate 2M > start.out \
  || { cat start.out; fail "tsctl start failed"; }
link=$(awk '$1 == "magnet:" { print $2 }' start.out)
ih=$(awk '$1 == "infohash:" { print $2 }' start.out)
port=$(grep ^port= "$TSTREAM_HOME/ltb/instance.conf" | cut -d= -f2)
"$TSCTL" watch ltb.tstream --name v1 --output "$WORK/out1.ts" > watch1.out || { cat watch1.out; fail "viewer"; }

say "libtorrent joins by magnet link"
/usr/bin/python3 "$here/lt_client.py" fetch "$link" "127.0.0.1:$port" > lt.out 2>&1 \
  || fail "libtorrent did not get through the handshakes and BEP 9: $(cat lt.out)"
cat lt.out
grep -q "^ext_handshake=.*'ut_metadata': 3" lt.out || fail "libtorrent saw no ut_metadata in our extension handshake"
grep -q "^ext_handshake=.*'metadata_size': " lt.out || fail "libtorrent saw no metadata_size"
# libtorrent parses only a dict whose SHA-1 is the infohash; ours passes and is declined for
# having 'live' where a file torrent has 'pieces'.
grep -q "^metadata=failed: libtorrent/11 .*'pieces'" lt.out || fail "libtorrent did not verify and parse our info dict"
grep -q "^torrent_error=invalid metadata received from swarm" lt.out || fail "unexpected libtorrent outcome"
# It asks whoever the tracker names too, so the viewer may be the one that served it.
served=0
for n in ltb v1; do
  s=$(curl -s "$(stage_field $n swarm metrics_url)" | awk '$1 ~ /^tstream_metadata_pieces_served_total[{ ]/ || $1 == "tstream_metadata_pieces_served_total" { print $2 }')
  served=$((served + ${s:-0}))
done
[ "$served" -ge 1 ] || fail "no tstream swarm counted a ut_metadata piece served"
say "ok: libtorrent: BitTorrent + BEP 10 handshakes, $(grep -c . lt.out) facts, info dict passed its SHA-1 check; swarm served $served piece(s)"

say "control: the same client against a peer serving another info dict"
/usr/bin/python3 "$here/metadata_liar.py" "$ih" liar.port > liar.log 2>&1 &
liar=$!
trap 'kill $liar 2>/dev/null; cleanup' EXIT
wait_for 10 test -s liar.port || fail "the liar did not start"
/usr/bin/python3 "$here/lt_client.py" liar "magnet:?xt=urn:btih:$ih" "127.0.0.1:$(cat liar.port)" > liar.out 2>&1 || true
grep -q "^metadata=failed: .*mismatching info-hash" liar.out || fail "libtorrent did not catch the liar: $(cat liar.out)"
say "ok: libtorrent refuses the liar's dict: $(grep ^metadata= liar.out)"

say "libtorrent pesters the broadcaster for 15 s"
/usr/bin/python3 "$here/lt_client.py" pester "$link" "127.0.0.1:$port" 15 > pester.out 2>&1 \
  || fail "pester run failed: $(cat pester.out)"
say "$(cat pester.out)"
[ "$(stage_field ltb swarm state)" = ready ] || fail "the broadcaster's swarm is not ready after libtorrent"
[ "$(stage_field ltb swarm restarts)" = 0 ] || fail "the broadcaster's swarm restarted"
curl -sf "http://127.0.0.1:$(stage_field ltb swarm metrics_port)/readyz" > /dev/null || fail "the broadcaster's swarm /readyz is not 200"
finish_and_check ltb 1
say "PASS"
