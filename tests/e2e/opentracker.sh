#!/usr/bin/env bash
# tstream with a standard BitTorrent tracker: Debian's opentracker (whitelist-only, compact-only)
# instead of the broadcaster's embedded one. The broadcast announces to it; a viewer with the
# .tstream and a viewer with only the magnet link find the broadcaster through it, and both
# receive the stream byte-identical. An infohash not on the whitelist is refused by the tracker.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.bash"
command -v opentracker >/dev/null || fail "opentracker is not installed (deploy/setup.sh installs it)"
[ "$(id -u)" = 0 ] || fail "opentracker chroots to its directory: run as root"

read -r tport <<< "$(free_ports 1)"
tracker="http://127.0.0.1:$tport/announce"

say "start broadcast announcing to $tracker (not running yet: the swarm keeps retrying)"
"$TSCTL" start ot --source "$(finite_source 25 "$WORK/src.ts")" --bitrate 2M --tracker "$tracker" > start.out \
  || { cat start.out; fail "tsctl start failed"; }
ih=$(awk '$1 == "infohash:" { print $2 }' start.out)
link=$(awk '$1 == "magnet:" { print $2 }' start.out)

say "start opentracker with the stream's infohash on its whitelist"
mkdir -p ot && echo "$ih" > ot/whitelist.txt
opentracker -i 127.0.0.1 -p "$tport" -P "$tport" -d "$WORK/ot" -u nobody -w /whitelist.txt > ot.log 2>&1 &
otpid=$!
trap 'kill $otpid 2>/dev/null; cleanup' EXIT
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$tport" 2>/dev/null || fail "opentracker did not start: $(cat ot.log)"

# What a standard client would send: the tracker answers for our infohash, compact, and names the
# broadcaster's peer port; another infohash is not authorised.
urlih() { /usr/bin/python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(bytes.fromhex(sys.argv[1])))' "$1"; }
port=$(grep ^port= "$TSTREAM_HOME/ot/instance.conf" | cut -d= -f2)
wait_for 30 bash -c "curl -s '$tracker?info_hash=$(urlih "$ih")&peer_id=-XX0000-abcdefghijkl&port=1&uploaded=0&downloaded=0&left=0&compact=1' > ann.out && \
  /usr/bin/python3 - ann.out $port <<'PY'
import sys
b = open(sys.argv[1], 'rb').read()
i = b.find(b'5:peers')
if i < 0: sys.exit(1)
j = b.index(b':', i + 7)
n = int(b[i + 7:j])
peers = b[j + 1:j + 1 + n]
ports = [int.from_bytes(peers[k + 4:k + 6], 'big') for k in range(0, n, 6)]
sys.exit(0 if int(sys.argv[2]) in ports else 1)
PY" || fail "opentracker never listed the broadcaster (port $port): $(cat ann.out)"
say "ok: opentracker lists the broadcaster on port $port (compact)"
other=$(printf '%040d' 7)
curl -s "$tracker?info_hash=$(urlih "$other")&peer_id=-XX0000-abcdefghijkl&port=1&uploaded=0&downloaded=0&left=0&compact=1" > deny.out
grep -q "failure reason" deny.out || fail "opentracker did not refuse an infohash off its whitelist: $(cat deny.out)"
say "ok: an infohash off the whitelist is refused: $(tr -c '[:print:]' ' ' < deny.out)"

say "viewers: one with the .tstream, one with the magnet link"
"$TSCTL" watch ot.tstream --name v1 --output "$WORK/out1.ts" > watch1.out || { cat watch1.out; fail "viewer 1"; }
"$TSCTL" watch "$link" --name v2 --output "$WORK/out2.ts" > watch2.out 2>&1 || { cat watch2.out; fail "viewer 2"; }
grep -qx "tracker=$tracker" "$TSTREAM_HOME/v2/instance.conf" || fail "the magnet viewer does not use opentracker"
need=1000000
for i in 1 2; do
  wait_for 90 bash -c "[ \$(stat -c %s $WORK/out$i.ts 2>/dev/null || echo 0) -ge $need ]" \
    || fail "viewer $i received only $(stat -c %s out$i.ts 2>/dev/null || echo 0) bytes"
done
for n in ot v1 v2; do
  a=$(stage_field "$n" swarm announces)
  [ "${a:-0}" -ge 1 ] || fail "$n's swarm made no successful announce to opentracker"
done
refusals=$(grep -h "announce refused: " "$TSTREAM_HOME"/{ot,v1,v2}/log/swarm.log || true)
[ -z "$refusals" ] || fail "opentracker refused announces: $refusals"
finish_and_check ot 2
say "PASS"
