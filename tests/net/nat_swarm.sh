#!/usr/bin/env bash
# Issue 15: a swarm off the loopback, in the testbed of bench/net/testbed.py. A broadcaster and a
# viewer with public addresses, and two viewers at home behind NAT routers (nftables masquerade,
# unsolicited inbound dropped silently), one router running miniupnpd (UPnP IGD + NAT-PMP) and one
# not; every access link emulated by ts-netlink with 10 ms one way (40 ms RTT between any two
# hosts) and 20 Mbit/s each way. Every viewer must play the source byte for byte from its hook-in
# point to the end, decoding cleanly; and the two viewers behind NAT must have reached each other
# (through the UPnP mapping, or by hole punching through a peer both know) -- a "peer IP:PORT
# connected (out|in|punch)" line in either one's swarm log naming the other's public address.
# No timing assertions.
#
# Needs root (network namespaces), nftables, miniupnpd (deploy/setup.sh). Everything is named with
# a per-run prefix and removed on exit, also on failure or Ctrl-C; no namespace links to the host's.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../e2e/common.bash"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for network namespaces"; exit 77; }
for c in nft miniupnpd ping; do command -v "$c" >/dev/null || fail "$c not found: run deploy/setup.sh"; done
[ -x "$TS_BIN/ts-netlink" ] || fail "no $TS_BIN/ts-netlink (build the tree)"
export TS_BIN
TESTBED="${TS_SRC:-$HERE/../..}/bench/net/testbed.py"

DUR=${NS_DURATION:-22}                    # seconds of source
P="tsns$$x$(printf %04x $((RANDOM)))-"    # per-run prefix of every namespace
TBPID=

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
tsctl_in() { # NS HOME ARGS...
  local ns=$1 home=$2; shift 2
  ip netns exec "$ns" env TSTREAM_HOME="$home" "$TSCTL" "$@"
}
# A field of the testbed's state: host NAME's ns, ip or public_ip.
tb() { /usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["hosts"][sys.argv[2]][sys.argv[3]])' "$WORK/state.json" "$1" "$2"; }

VIEWERS="pv n1 n2"
teardown() {
  local rc=$? v
  set +e
  trap - INT TERM
  if [ -f "$WORK/state.json" ]; then
    for v in $VIEWERS; do [ -d "$WORK/h-$v" ] && tsctl_in "$(tb "$v" ns)" "$WORK/h-$v" stop --all >/dev/null 2>&1; done
    [ -d "$WORK/h-b" ] && tsctl_in "$(tb b ns)" "$WORK/h-b" stop --all >/dev/null 2>&1
  fi
  # The testbed ends what still runs in its namespaces, ts-netlink and miniupnpd, and removes them.
  if [ -n "$TBPID" ]; then kill -TERM "$TBPID" 2>/dev/null; wait "$TBPID" 2>/dev/null; fi
  /usr/bin/python3 "$TESTBED" --clean "$P" >/dev/null 2>&1
  if grep -lE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:" "$WORK"/h-*/*/log/*.log* "$WORK/testbed.log" 2>/dev/null; then
    echo "FAIL: sanitizer report in a stage's log or the emulator's" >&2
    rc=1
  fi
  if [ $rc -ne 0 ]; then
    for f in "$WORK"/h-*/*/log/swarm.log; do [ -f "$f" ] && { echo "== $f"; tail -n 25 "$f"; }; done
    echo "== testbed.log"; tail -n 20 "$WORK/testbed.log"
  fi
  (exit $rc)
  cleanup
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cat > spec.json <<EOF
{"prefix": "$P", "seed": 1, "hosts": [
 {"name": "b",  "public": true,  "up_bps": 20000000, "down_bps": 20000000, "delay_ms": 10},
 {"name": "pv", "public": true,  "up_bps": 20000000, "down_bps": 20000000, "delay_ms": 10},
 {"name": "n1", "public": false, "nat": "masq", "upnp": true,  "up_bps": 20000000, "down_bps": 20000000, "delay_ms": 10},
 {"name": "n2", "public": false, "nat": "masq", "upnp": false, "up_bps": 20000000, "down_bps": 20000000, "delay_ms": 10}
]}
EOF
say "testbed ${P}*: broadcaster and viewer pv public, n1 behind NAT with UPnP, n2 behind NAT without; 10 ms one way per access link"
/usr/bin/python3 "$TESTBED" --serve spec.json state.json > testbed.log 2>&1 &
TBPID=$!
wait_for 60 test -f state.json || fail "the testbed never came up: $(tail -n 5 testbed.log)"
kill -0 "$TBPID" 2>/dev/null || fail "the testbed exited: $(tail -n 5 testbed.log)"
for h in b pv n1 n2; do say "  $h: ns $(tb $h ns), address $(tb $h ip), seen as $(tb $h public_ip)"; done
B_IP=$(tb b public_ip)
# The net works: 40 ms RTT from each viewer to the broadcaster (reported, not asserted).
for v in $VIEWERS; do
  in_ns "$(tb $v ns)" ping -n -q -c 5 -i 0.1 "$B_IP" | tail -n 1 | sed "s/^/  ping $v -> b: /"
done

mkdir -p h-b
say "broadcast: ${DUR} s of 2 Mbit/s testsrc, --announce-host $B_IP"
tsctl_in "$(tb b ns)" "$WORK/h-b" start ns --source "$(finite_source "$DUR" "$WORK/src.ts")" --bitrate 2M \
  --announce-host "$B_IP" > start.out || fail "tsctl start: $(cat start.out)"
for v in $VIEWERS; do
  mkdir -p "h-$v"
  tsctl_in "$(tb $v ns)" "$WORK/h-$v" watch ns.tstream --name "$v" --output "$WORK/out-$v.ts" \
    > "watch-$v.out" || fail "viewer $v: $(cat "watch-$v.out")"
done

wait_stable $((DUR + 60)) src.ts || fail "the source never finished"
for v in $VIEWERS; do wait_stable 60 "out-$v.ts" || fail "viewer $v output never settled"; done
for v in $VIEWERS; do tsctl_in "$(tb $v ns)" "$WORK/h-$v" stop "$v" >/dev/null; done
tsctl_in "$(tb b ns)" "$WORK/h-b" stop ns >/dev/null

# Every viewer: the source from its hook-in point to the end, byte for byte, decoding cleanly.
for v in $VIEWERS; do
  off=$(slice_offset src.ts "out-$v.ts" to-end) \
    || fail "viewer $v output is not the source from its hook-in point to the end"
  say "viewer $v: $(stat -c %s "out-$v.ts") bytes, identical to the source from byte $off to the end"
  decodes_clean "out-$v.ts" || fail "viewer $v output does not decode cleanly"
done

# The two viewers behind NAT reached each other (either one's log, either direction).
n1pub=$(tb n1 public_ip) n2pub=$(tb n2 public_ip)
for v in $VIEWERS; do
  grep -hE "peer [0-9.]+:[0-9]+ connected \((out|in|punch)\)" "h-$v/$v/log/swarm.log" | sed "s/^/  $v: /" | head -8
done
if ! grep -qE "peer ${n2pub//./\\.}:[0-9]+ connected \((out|in|punch)\)" "h-n1/n1/log/swarm.log" &&
   ! grep -qE "peer ${n1pub//./\\.}:[0-9]+ connected \((out|in|punch)\)" "h-n2/n2/log/swarm.log"; then
  fail "the viewers behind NAT (n1 seen as $n1pub, n2 seen as $n2pub) never connected to each other"
fi
say "PASS"
