#!/usr/bin/env bash
# An encoder sends MPEG-TS to a multicast group (udp://@GROUP:PORT), inside a network namespace the
# test makes (its lo, multicast on, with a route for 224.0.0.0/4); the broadcast and its viewer run
# in it. Datagrams that are not whole TS packets, and TS-looking ones from a second sender, are
# dropped and counted. The viewer's output is byte-identical to what the encoder sent from its
# hook-in point to the end, decoding cleanly. Root only (77 = skipped); the namespace goes on exit.
. "$(dirname "$0")/common.bash"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for a network namespace"; exit 77; }
command -v ffmpeg >/dev/null || { echo "SKIP: no ffmpeg"; exit 77; }

NS="tspu$$x$(printf %04x $RANDOM)"
GROUP=239.255.$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
teardown() {
  local rc=$? pid
  set +e
  "$TSCTL" stop --all >/dev/null 2>&1
  for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  ip netns del "$NS" 2>/dev/null
  (exit $rc)
  cleanup
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
in_ns() { ip netns exec "$NS" "$@"; }

ip netns add "$NS"
ip -n "$NS" link set lo multicast on
ip -n "$NS" link set lo up
ip -n "$NS" route add 224.0.0.0/4 dev lo
read -r port <<<"$(free_ports 1)"
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=size=640x360:rate=25 -f lavfi -i sine=frequency=1000 -t 15 \
  -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p -c:a mp2 -f mpegts clip.ts

say "namespace $NS: a broadcast joined to udp://@$GROUP:$port, and a viewer"
in_ns "$TSCTL" start push --source "udp://@$GROUP:$port?iface=127.0.0.1" --bitrate 2M --wait-data 0 > start.out
in_ns "$TSCTL" watch push.tstream --name v1 --output "$WORK/out1.ts" > watch1.out
wait_for 30 grep -q "joined multicast group $GROUP" "$TSTREAM_HOME"/push/log/ingest.log || fail "ingest never joined"

say "datagrams that are not whole MPEG-TS packets"
send() { # COUNT SIZE FIRST_BYTE: datagrams to the group from one socket
  in_ns /usr/bin/python3 -c '
import socket, sys
n, size, first, group, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3], 0), sys.argv[4], int(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
pkt = (bytes([first, 0x1f, 0xff, 0x10]) + bytes(184)) * (size // 188) + b"x" * (size % 188)
for _ in range(n):
    s.sendto(pkt, (group, port))' "$1" "$2" "$3" "$GROUP" "$port"
}
send 50 1000 0x47
send 50 1316 0x00
rejected() { [ "$(stage_field push ingest push_rejected)" -ge "$1" ]; }
wait_for 30 rejected 1 || fail "bad datagrams were not counted in push_rejected"
grep -q "not whole MPEG-TS packets" "$TSTREAM_HOME"/push/log/ingest.log || fail "no log line for the bad datagrams"
[ "$(stage_field push ingest pieces_out)" = 0 ] || fail "bad datagrams were cut into pieces"

say "the encoder sends 15 s to the group (what it sends is also written to src.ts)"
in_ns ffmpeg -hide_banner -loglevel error -re -i clip.ts -map 0 -c copy \
  -f tee "[f=mpegts]udp\\://$GROUP\\:$port?pkt_size=1316&localaddr=127.0.0.1|[f=mpegts]$WORK/src.ts" &
enc=$!
wait_for 30 test -s out1.ts || fail "the viewer got nothing"
before=$(stage_field push ingest push_rejected)
say "a second sender's TS null packets while the encoder sends"
send 20 1316 0x47
wait_for 30 rejected $((before + 1)) || fail "the second sender's datagrams were not dropped"
grep -q "is sending" "$TSTREAM_HOME"/push/log/ingest.log || fail "no log line for the second sender"
wait "$enc" || fail "the encoder failed"
for s in ingest signer swarm; do
  [ "$(stage_field push $s restarts)" = 0 ] || fail "$s restarted"
done
say "counters: push_rejected=$(stage_field push ingest push_rejected) bytes_dropped=$(stage_field push ingest bytes_dropped)"
finish_and_check push 1
say "PASS"
