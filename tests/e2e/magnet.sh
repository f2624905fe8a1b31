#!/usr/bin/env bash
# A viewer with only a magnet link: `tsctl start` prints the link, `tsctl watch LINK` fetches the
# metainfo from the broadcast's peers (BEP 9 ut_metadata) and plays. The metainfo is checked
# against the link's infohash: a peer serving another info dict is not believed, whether it is
# the only peer (the fetch fails and writes nothing) or one of several (the honest one wins).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.bash"

say "start broadcast"
"$TSCTL" start mag --source "$(finite_source 25 "$WORK/src.ts")" --bitrate 2M > start.out \
  || { cat start.out; fail "tsctl start failed"; }
link=$(awk '$1 == "magnet:" { print $2 }' start.out)
ih=$(awk '$1 == "infohash:" { print $2 }' start.out)
tracker=$(awk '$1 == "tracker:" { print $2 }' start.out)
[[ "$link" == "magnet:?xt=urn:btih:$ih&dn=mag&tr="* ]] || fail "tsctl start printed no magnet link: $(cat start.out)"
say "link: $link"

# A liar for the same infohash.
/usr/bin/python3 "$here/metadata_liar.py" "$ih" liar.port > liar.log 2>&1 &
liar=$!
trap 'kill $liar 2>/dev/null; cleanup' EXIT
wait_for 10 test -s liar.port || fail "the liar did not start"
lport=$(cat liar.port)

say "the liar alone: the fetch must fail and write nothing"
rc=0
"$TS_BIN/ts-swarm" --fetch-metainfo "magnet:?xt=urn:btih:$ih&x.pe=127.0.0.1:$lport" --tstream lie.tstream \
  --timeout 4 > lie.out 2>&1 || rc=$?
[ "$rc" = 111 ] || fail "fetch from the liar exited $rc, expected 111: $(cat lie.out)"
grep -q "does not match the infohash" lie.out || fail "no word of the mismatch: $(cat lie.out)"
grep -q "served fake metadata" liar.log || fail "the liar was never asked"
[ ! -e lie.tstream ] || fail "metainfo from the liar was written"
say "ok: refused: $(grep -o 'peer [^"]*match the infohash' lie.out | head -1)"

say "bad links are refused with exit 100"
expect 100 "infohash" "$TSCTL" watch "magnet:?xt=urn:btih:1234&tr=$tracker"
expect 100 "nowhere to ask" "$TS_BIN/ts-swarm" --fetch-metainfo "magnet:?xt=urn:btih:$ih" --tstream x.tstream

say "the liar and the tracker: the viewer gets the real metainfo and the stream"
"$TSCTL" watch "$link&x.pe=127.0.0.1:$lport" --name v1 --output "$WORK/out1.ts" > watch1.out 2>&1 \
  || { cat watch1.out; fail "tsctl watch of the magnet link failed"; }
grep -q "checked against the infohash" watch1.out || fail "watch did not report the check: $(cat watch1.out)"
fetched=$(grep -o '/[^ ]*magnet-[0-9a-f]*\.tstream' watch1.out | head -1)
[ -s "$fetched" ] || fail "no fetched metainfo named in: $(cat watch1.out)"
cmp -s <(grep -ao '4:info.*' "$fetched") <(grep -ao '4:info.*' mag.tstream) \
  || fail "the fetched info dict differs from the broadcaster's"
grep -qx "infohash=$ih" "$TSTREAM_HOME/v1/instance.conf" || fail "the viewer joined another infohash"

# A second viewer by magnet link too: it may fetch the metainfo from the first viewer.
"$TSCTL" watch "$link" --name v2 --output "$WORK/out2.ts" > watch2.out 2>&1 \
  || { cat watch2.out; fail "second magnet viewer failed"; }
finish_and_check mag 2
say "PASS"
