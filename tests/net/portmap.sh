#!/usr/bin/env bash
# Issue 15, port mapping: a seeder behind a home router that runs a real UPnP IGD / NAT-PMP daemon
# (Debian's miniupnpd-nftables) maps its peer port there, and the internet reaches it through the
# mapping. The testbed: an "internet" bridge (11.0.0.0/8, non-reserved: miniupnpd refuses private
# or reserved external addresses) with the broadcaster at 11.0.0.1 and a public seeder at 11.0.0.2;
# a router at 11.0.1.1 doing NAT with nftables for a home at 192.168.1.2. Asserted, as a user would
# check it:
#  1. UPnP: the home's seeder maps its port (the router lists the mapping: `upnpc -l` from the home
#     and miniupnpd's nftables chain), `tsctl status --json` shows reachable = 3 (mapped),
#     portmap_via = 1 (UPnP) and external = 11.0.1.1:PORT, `tsctl status` says "reachable: yes
#     (UPnP)"; a BitTorrent handshake from the internet to that address is answered by the home's
#     swarm, and the public seeder, which knows the home only from the tracker, connects to it (the
#     home's log: "peer 11.0.0.2:… connected (in)"); after `tsctl stop` the mapping is gone.
#  2. --no-port-mapping: no mapping is made, and the seeder learns from its peers' "yourip" that
#     it is behind NAT: reachable = 1 (no).
#  3. NAT-PMP only (miniupnpd with enable_upnp=no): mapped with portmap_via = 2, a BitTorrent
#     handshake from the internet to the mapped address is answered by the home's swarm, removed
#     on stop.
#  4. A router that goes silent before the stop: the swarm gives up on the removal and exits by
#     itself (the supervisor never has to SIGKILL it).
# No timing assertions (waits are bounds); it reports how long discovery took (the swarm's log).
# Needs root (ip netns), nftables, miniupnpd, upnpc (deploy/setup.sh). Everything is named with a
# per-run prefix and removed on exit, also on failure or Ctrl-C; no namespace links to the host's.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../e2e/common.bash"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for network namespaces"; exit 77; }
for t in nft miniupnpd upnpc; do
  command -v $t >/dev/null || [ -x /usr/sbin/$t ] || fail "$t not found: run deploy/setup.sh"
done
MINIUPNPD=$(command -v miniupnpd || echo /usr/sbin/miniupnpd)

P="tspm$$x$(printf %04x $((RANDOM)))-"   # per-run prefix of every namespace
NSS=()
PUB=11.0.0.1 PV=11.0.0.2 WAN=11.0.1.1 HOME_IP=192.168.1.2
R="${P}r" H="${P}h" B="${P}pub" V="${P}pv"

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
tsctl_in() { # NS HOME ARGS...
  local ns=$1 home=$2; shift 2
  ip netns exec "$ns" env TSTREAM_HOME="$home" "$TSCTL" "$@"
}

teardown() {
  local rc=$? ns pid d
  set +e
  trap - INT TERM
  for d in hh vh; do [ -d "$WORK/$d" ] && tsctl_in "$H" "$WORK/$d" stop --all >/dev/null 2>&1; done
  [ -d "$WORK/pvh" ] && tsctl_in "$V" "$WORK/pvh" stop --all >/dev/null 2>&1
  [ -d "$WORK/bh" ] && tsctl_in "$B" "$WORK/bh" stop --all >/dev/null 2>&1
  for ns in "${NSS[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  done
  for ns in "${NSS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  if grep -lE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:" "$WORK"/*/*/log/*.log* 2>/dev/null; then
    echo "FAIL: sanitizer report in the stage logs" >&2
    rc=1
  fi
  if [ $rc -ne 0 ]; then
    for f in "$WORK"/hh/*/log/swarm.log "$WORK"/pvh/*/log/swarm.log "$WORK"/miniupnpd*.log; do
      [ -f "$f" ] && { echo "== $f"; tail -n 30 "$f"; }
    done
  fi
  (exit $rc)
  cleanup
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkns() { ip netns add "$1"; NSS+=("$1"); ip -n "$1" link set lo up; }

say "testbed ${P}*: internet 11.0.0.0/8 (broadcaster $PUB, public seeder $PV), router $WAN, home $HOME_IP"
mkns "$B"; mkns "$V"; mkns "$R"; mkns "$H"
ip -n "$B" link add br0 type bridge
ip -n "$B" addr add "$PUB/8" dev br0
ip -n "$B" link set br0 up
ip -n "$V" link add eth0 type veth peer name pv netns "$B"
ip -n "$B" link set pv master br0 up
ip -n "$V" addr add "$PV/8" dev eth0
ip -n "$V" link set eth0 up
ip -n "$R" link add wan type veth peer name rt netns "$B"
ip -n "$B" link set rt master br0 up
ip -n "$R" addr add "$WAN/8" dev wan
ip -n "$R" link set wan up
ip -n "$H" link add eth0 type veth peer name lan netns "$R"
ip -n "$R" addr add 192.168.1.1/24 dev lan
ip -n "$R" link set lan up
ip -n "$H" addr add "$HOME_IP/24" dev eth0
ip -n "$H" link set eth0 up
ip -n "$H" route add default via 192.168.1.1
in_ns "$R" sysctl -qw net.ipv4.ip_forward=1
# miniupnpd-nftables fills these chains; they must exist before the hook chains jump to them.
in_ns "$R" nft -f - <<'NFT'
table inet filter {
  chain miniupnpd { }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
  chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }
  chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }
  chain postrouting { type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; oifname "wan" masquerade; }
}
NFT

start_igd() { # UPNP(yes|no) NAME
  cat > "$WORK/$2.conf" <<EOF
ext_ifname=wan
listening_ip=lan
http_port=0
enable_upnp=$1
enable_natpmp=yes
secure_mode=yes
system_uptime=yes
uuid=3d3cec3a-8cf0-11e0-98ee-00$(printf %010x $$)
allow 1024-65535 192.168.1.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOF
  ip netns exec "$R" "$MINIUPNPD" -d -f "$WORK/$2.conf" -P "$WORK/$2.pid" > "$WORK/$2.log" 2>&1 & # exec: $! is its pid
  IGD_PID=$!
  sleep 0.5
  kill -0 $IGD_PID 2>/dev/null || fail "miniupnpd did not start: $(cat "$WORK/$2.log")"
}
stop_igd() { # miniupnpd removes its rules on SIGTERM
  kill "$IGD_PID" 2>/dev/null || true
  wait "$IGD_PID" 2>/dev/null || true
}

# The router's forwarding of external port PORT (miniupnpd's nftables chain), empty if none.
router_rule() { in_ns "$R" nft list chain inet filter prerouting_miniupnpd 2>/dev/null | grep -E "dport $1 " || true; }

# A field of the home's swarm stage from tsctl status --json.
home_field() { # HOMEDIR FIELD
  tsctl_in "$H" "$1" status --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
for i in json.load(sys.stdin)["instances"]:
    for s in i["stages"]:
        if s["name"] == "swarm":
            print(s.get(sys.argv[1], "")); sys.exit(0)
print("")' "$2"
}
# A BitTorrent handshake from the public seeder's namespace to IP:PORT: the answer's peer id if
# a swarm of this stream answers there.
bt_probe() { # IP PORT
  local ih
  ih=$(tsctl_in "$B" "$WORK/bh" status --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["instances"][0]["infohash"])')
  in_ns "$V" /usr/bin/python3 -c '
import socket, sys
ih = bytes.fromhex(sys.argv[3])
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 5)
s.settimeout(5)
s.sendall(b"\x13BitTorrent protocol" + bytes(8) + ih + b"-PROBE0-" + bytes(12))
got = b""
while len(got) < 68:
    b = s.recv(68 - len(got))
    if not b: break
    got += b
if len(got) < 68 or got[28:48] != ih: sys.exit("no swarm of this stream answered")
print(got[48:56].decode("latin-1"))' "$1" "$2" "$ih"
}
field_is() { [ "$(home_field "$1" "$2")" = "$3" ]; }
renewals() { say "renewals logged while it ran: $(grep -c "port mapping renewed" "$1" || true) ($(grep -o "lease [0-9]* s" "$1" | head -1))"; }

say "broadcast in the internet: tsctl start pm --announce-host $PUB"
mkdir -p "$WORK/bh" "$WORK/hh" "$WORK/vh" "$WORK/pvh"
tsctl_in "$B" "$WORK/bh" start pm --source "$(finite_source 120 "$WORK/src.ts")" --bitrate 2M \
  --announce-host "$PUB" > start.out || fail "tsctl start: $(cat start.out)"

# ---------------------------------------------------------------- 1. UPnP
start_igd yes igd
say "UPnP: a seeder in the home"
tsctl_in "$H" "$WORK/hh" seed pm.tstream --name hs > seed.out || fail "tsctl seed: $(cat seed.out)"
HLOG="$WORK/hh/hs/log/swarm.log"
wait_for 40 field_is "$WORK/hh" reachable 3 || fail "the home's seeder never became reachable through a mapping"
EXT=$(home_field "$WORK/hh" external) VIA=$(home_field "$WORK/hh" portmap_via)
say "status --json: reachable 3, portmap_via $VIA, external $EXT"
[ "$VIA" = 1 ] || fail "portmap_via is $VIA, not 1 (UPnP)"
[ "${EXT%:*}" = "$WAN" ] || fail "external address $EXT is not the router's $WAN"
EPORT=${EXT#*:}
grep -F "port mapping made" "$HLOG" | tail -1 | sed 's/^/  home: /'
tsctl_in "$H" "$WORK/hh" status | grep -F "reachable: yes (UPnP) at $EXT" || fail "tsctl status does not say reachable: yes (UPnP)"
in_ns "$H" upnpc -l 2>/dev/null | grep -E "TCP +$EPORT->$HOME_IP:" | sed 's/^/  upnpc -l: /' \
  || fail "upnpc -l from the home lists no mapping of port $EPORT"
[ -n "$(router_rule "$EPORT")" ] || fail "no forwarding of port $EPORT in the router's nftables"

id=$(bt_probe "$WAN" "$EPORT") || fail "a BitTorrent handshake to $EXT from the internet got no answer"
say "a handshake to $EXT from $PV is answered by peer id $id"
say "a public seeder that knows the home only from the tracker connects through the mapping"
tsctl_in "$V" "$WORK/pvh" seed pm.tstream --name pv > pv.out || fail "public seeder: $(cat pv.out)"
came_in() { grep -qE "peer $PV:[0-9]+ connected \(in\)" "$HLOG"; }
wait_for 40 came_in || fail "no connection from $PV reached the home's seeder through $EXT"
grep -E "peer $PV:[0-9]+ connected \(in\)" "$HLOG" | head -1 | sed 's/^/  home: /'
incoming() { [ "$(home_field "$WORK/hh" incoming)" -ge 1 ] 2>/dev/null; }
wait_for 10 incoming || fail "the incoming connection is not counted (incoming $(home_field "$WORK/hh" incoming))"

say "tsctl stop: the mapping is removed"
tsctl_in "$H" "$WORK/hh" stop hs > /dev/null || fail "tsctl stop hs"
grep -F "port mapping removed" "$HLOG" | sed 's/^/  home: /' || fail "the home's swarm did not log the mapping's removal"
renewals "$HLOG"
[ -z "$(router_rule "$EPORT")" ] || fail "the router still forwards port $EPORT after stop"
if in_ns "$H" upnpc -l 2>/dev/null | grep -E "TCP +$EPORT->$HOME_IP:"; then fail "upnpc -l still lists the mapping"; fi

# ---------------------------------------------------------------- 2. --no-port-mapping
say "--no-port-mapping: no mapping, and the peers' yourip tells the seeder it is behind NAT"
tsctl_in "$H" "$WORK/vh" seed pm.tstream --name hn --no-port-mapping --no-holepunch > seed2.out || fail "tsctl seed: $(cat seed2.out)"
spid=$(home_field "$WORK/vh" pid)
tr '\0' ' ' < "/proc/$spid/cmdline" | grep -- "--no-port-mapping --no-holepunch" > /dev/null \
  || fail "the switches did not reach ts-swarm: $(tr '\0' ' ' < "/proc/$spid/cmdline")"
wait_for 40 field_is "$WORK/vh" reachable 1 || fail "with --no-port-mapping the seeder never concluded it is unreachable (reachable $(home_field "$WORK/vh" reachable))"
[ "$(home_field "$WORK/vh" portmap_ok)" = 0 ] || fail "a mapping was made with --no-port-mapping"
in_ns "$R" nft list chain inet filter prerouting_miniupnpd | grep dport >/dev/null && fail "the router forwards a port with --no-port-mapping"
in_ns "$H" upnpc -l 2>/dev/null | grep -E "TCP +[0-9]+->$HOME_IP:" >/dev/null && fail "upnpc -l lists a mapping with --no-port-mapping"
tsctl_in "$H" "$WORK/vh" status | grep -F "reachable: no" | sed 's/^/  status: /' || fail "tsctl status does not say reachable: no"
tsctl_in "$H" "$WORK/vh" stop hn > /dev/null
stop_igd

# ---------------------------------------------------------------- 3. NAT-PMP only
say "NAT-PMP: miniupnpd with enable_upnp=no"
start_igd no pmp
rm -rf "$WORK/hh"; mkdir -p "$WORK/hh"
tsctl_in "$H" "$WORK/hh" seed pm.tstream --name hs > seed3.out || fail "tsctl seed: $(cat seed3.out)"
wait_for 40 field_is "$WORK/hh" reachable 3 || fail "no NAT-PMP mapping"
EXT=$(home_field "$WORK/hh" external) VIA=$(home_field "$WORK/hh" portmap_via)
say "status --json: reachable 3, portmap_via $VIA, external $EXT"
[ "$VIA" = 2 ] || fail "portmap_via is $VIA, not 2 (NAT-PMP)"
[ "${EXT%:*}" = "$WAN" ] || fail "external address $EXT is not the router's $WAN"
grep -F "port mapping made" "$WORK/hh/hs/log/swarm.log" | tail -1 | sed 's/^/  home: /'
[ -n "$(router_rule "${EXT#*:}")" ] || fail "no forwarding of port ${EXT#*:} in the router's nftables"
tsctl_in "$H" "$WORK/hh" status | grep -F "reachable: yes (NAT-PMP)" > /dev/null || fail "tsctl status does not say NAT-PMP"
id=$(bt_probe "$WAN" "${EXT#*:}") || fail "a BitTorrent handshake to $EXT from the internet got no answer"
say "a handshake to $EXT from $PV is answered by peer id $id"
tsctl_in "$H" "$WORK/hh" stop hs > /dev/null
grep -F "port mapping removed" "$WORK/hh/hs/log/swarm.log" > /dev/null || fail "NAT-PMP mapping not removed"
renewals "$WORK/hh/hs/log/swarm.log"
[ -z "$(router_rule "${EXT#*:}")" ] || fail "the router still forwards port ${EXT#*:} after stop"
stop_igd

# ---------------------------------------------------------------- 4. a router gone silent
say "stop while the router drops everything from the home: the swarm still exits by itself"
start_igd yes igd2
rm -rf "$WORK/hh"; mkdir -p "$WORK/hh"
tsctl_in "$H" "$WORK/hh" seed pm.tstream --name hs > seed4.out || fail "tsctl seed: $(cat seed4.out)"
wait_for 40 field_is "$WORK/hh" reachable 3 || fail "no mapping"
in_ns "$R" nft -f - <<'NFT'
table inet silent {
  chain in { type filter hook input priority -10; policy accept; iifname "lan" drop; }
}
NFT
tsctl_in "$H" "$WORK/hh" stop hs > /dev/null || fail "tsctl stop with a silent router"
grep -F "port mapping" "$WORK/hh/hs/log/swarm.log" | tail -1 | sed 's/^/  home: /'
grep -F "port mapping removed" "$WORK/hh/hs/log/swarm.log" && fail "removed through a router that drops everything?"
if grep -F "killing process group" "$WORK/hh/hs/log/supervisor.log"; then
  fail "the swarm did not exit by itself: the supervisor killed it"
fi
in_ns "$R" nft delete table inet silent
stop_igd
say "PASS"
