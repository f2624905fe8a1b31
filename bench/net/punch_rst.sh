#!/usr/bin/env bash
# TCP simultaneous open (what ut_holepunch does, PROTOCOL.md 4.1) between two homes behind
# masquerading Linux routers, with the second dial later by a set offset. Two kinds of router:
#   drop — a home router's usual firewall: unsolicited packets from the WAN are dropped;
#   rst  — no firewall (tests/adversarial/nat_ban.sh's routers): the router's own stack answers
#          an unsolicited SYN with a RST, and the conntrack entry that SYN left makes masquerade
#          give the later dialler another port (the tuple is taken), so its SYN is refused too.
# Each trial uses its own pair of ports, so no trial inherits another's conntrack entries.
# Prints, per router kind and offset, the trials in which both ends connected. Measures, asserts
# nothing. Root, nftables, python3. Zero-delay links: the harshest case for "rst" (on real paths
# two SYNs cross in flight when the dials are less than a one-way delay apart).
#   bench/net/punch_rst.sh [TRIALS]        (default 5; about 2 s per trial)
set -euo pipefail
TRIALS=${1:-5}
OFFSETS="0 0.0005 0.005 0.05"
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
P="tspr$$-"
DIAL=$(mktemp /tmp/tspr.XXXXXX.py)
cleanup() { for n in pub r1 r2 h1 h2; do ip netns del "${P}$n" 2>/dev/null || true; done; rm -f "$DIAL" "$DIAL.a" "$DIAL.b"; }
trap cleanup EXIT INT TERM

# One end: listen on PORT and dial DST:DPORT from PORT at START + DELAY; report what happened.
cat > "$DIAL" <<'PY'
import select, socket, sys, time
port, dst, dport, delay, start = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
def sock():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("0.0.0.0", port))
    s.setblocking(False)
    return s
l = sock()
l.listen(4)
time.sleep(max(0.0, start + delay - time.time() - 0.01))
while time.time() < start + delay:  # the last 10 ms spun: sleep's wake-up jitter is larger
    pass
s = sock()
try:
    s.connect((dst, dport))
except BlockingIOError:
    pass
end, out = time.time() + 1.0, "timeout"
while time.time() < end:
    r, w, _ = select.select([l], [s], [], 0.05)
    if l in r:
        out = "ok"
        break
    if s in w:
        out = "ok" if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 else "refused"
        break
print(out)
PY

testbed() { # KIND
  local k R H
  for n in pub r1 r2 h1 h2; do ip netns del "${P}$n" 2>/dev/null || true; done
  ip netns add "${P}pub"
  ip -n "${P}pub" link add br0 type bridge
  ip -n "${P}pub" link set br0 up
  for k in 1 2; do
    R="${P}r$k" H="${P}h$k"
    ip netns add "$R"
    ip netns add "$H"
    ip -n "${P}pub" link add "p$k" type veth peer name wan netns "$R"
    ip -n "${P}pub" link set "p$k" master br0
    ip -n "${P}pub" link set "p$k" up
    ip -n "$R" addr add "198.18.$k.1/16" dev wan
    ip -n "$R" link set wan up
    ip -n "$H" link add eth0 type veth peer name lan netns "$R"
    ip -n "$R" addr add 192.168.1.1/24 dev lan
    ip -n "$R" link set lan up
    ip -n "$H" addr add 192.168.1.2/24 dev eth0
    ip -n "$H" link set eth0 up
    ip -n "$H" route add default via 192.168.1.1
    ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$R" nft -f - <<'NFT'
table ip nat {
  chain post { type nat hook postrouting priority 100; oifname "wan" masquerade; }
}
NFT
    if [ "$1" = drop ]; then ip netns exec "$R" nft -f - <<'NFT'
table ip filter {
  chain from_wan_fwd { type filter hook forward priority 0; iifname "wan" ct state established,related accept; iifname "wan" drop; }
  chain from_wan_in { type filter hook input priority 0; iifname "wan" ct state established,related accept; iifname "wan" drop; }
}
NFT
    fi
  done
}

echo "kind  offset_s  connected/trials"
port=20000
for kind in drop rst; do
  testbed "$kind"
  for off in $OFFSETS; do
    ok=0
    for _ in $(seq 1 "$TRIALS"); do
      port=$((port + 2))
      start=$(python3 -c 'import time; print(time.time() + 0.5)')
      ip netns exec "${P}h1" python3 "$DIAL" "$port" 198.18.2.1 $((port + 1)) 0 "$start" > "$DIAL.a" &
      ip netns exec "${P}h2" python3 "$DIAL" $((port + 1)) 198.18.1.1 "$port" "$off" "$start" > "$DIAL.b"
      wait
      a="$(cat "$DIAL.a") $(cat "$DIAL.b")"
      [ -n "${PUNCH_DEBUG:-}" ] && echo "  $kind $off:" $a
      if [ "$a" = "ok ok" ]; then ok=$((ok + 1)); fi
    done
    printf '%-5s %-9s %d/%d\n' "$kind" "$off" "$ok" "$TRIALS"
  done
done
