#!/usr/bin/env bash
# Issue 15: two viewers that cannot accept connections reach each other by a hole punch through the
# broadcaster (ut_holepunch, BEP 55, over TCP simultaneous open; docs/PROTOCOL.md).
#
# Testbed of network namespaces: a "public" namespace with a bridge (the emulated internet,
# 11.0.0.0/8) holding the broadcaster, and two home routers (namespaces doing NAT with nftables, no
# UPnP, dropping unsolicited inbound traffic on the WAN as real home routers do: only ct state
# established,related comes in) with one viewer behind each (192.168.K.0/24).
#
# Phase "punch" (default masquerade, which keeps the source port): the two viewers connect to
# each other by a punch — a "connected (punch)" line naming the other's router address in a
# viewer's log, punch_ok >= 1 in one viewer's tsctl status --json — and every output is a
# byte-identical slice of the source to its end that decodes with ffmpeg -xerror.
# Phase "off" (--no-holepunch): the same testbed, and the viewers never connect to each other
# (what the punch buys, and that this test can fail). Phase "random" (masquerade random: a new
# external port per connection) is only reported: a punch cannot work there.
# No timing assertions.
#
# Needs root (ip netns), nftables (deploy/setup.sh). Everything it creates is named with a per-run
# prefix and removed on exit, also on failure or Ctrl-C; no namespace links to the host's.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../e2e/common.bash"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for network namespaces"; exit 77; }
command -v nft >/dev/null || fail "nft not found: run deploy/setup.sh (nftables)"

DUR=${HP_DURATION:-20}          # seconds of source per phase
NV=${HP_VIEWERS:-2}             # NATed viewers (more: a measurement; the assertions are about viewers 1 and 2)
P="tshp$$x$(printf %04x $((RANDOM)))-"
PUB_IP=11.0.0.1
NSS=() HOMES=()

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
tsctl_in() { # NS HOME ARGS...
  local ns=$1 home=$2; shift 2
  ip netns exec "$ns" env TSTREAM_HOME="$home" "$TSCTL" "$@"
}
mkns() { ip netns add "$1"; NSS+=("$1"); ip -n "$1" link set lo up; }

teardown_ns() {
  local ns pid h
  for h in "${HOMES[@]}"; do tsctl_in "${h%%:*}" "${h#*:}" stop --all >/dev/null 2>&1; done
  HOMES=()
  for ns in "${NSS[@]}"; do # anything still running in our namespaces was started here
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  done
  for ns in "${NSS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  NSS=()
}
teardown() {
  local rc=$?
  set +e
  trap - INT TERM
  teardown_ns
  if grep -lE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:" "$WORK"/*/*/*/log/*.log* 2>/dev/null; then
    echo "FAIL: sanitizer report in a stage log" >&2
    rc=1
  fi
  if [ $rc -ne 0 ]; then
    for f in "$WORK"/*/*/*/log/swarm.log; do [ -f "$f" ] && { echo "== $f"; tail -n 30 "$f"; }; done
  fi
  (exit $rc)
  cleanup
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Options of the peers: no port mapping (no UPnP here anyway) where tsctl has the option.
NOPM=()
"$TSCTL" watch --help 2>&1 | grep -- --no-port-mapping >/dev/null && NOPM=(--no-port-mapping)
HAVE_NOHP=0
"$TSCTL" watch --help 2>&1 | grep -- --no-holepunch >/dev/null && HAVE_NOHP=1

# The testbed of one phase: NAT = the masquerade statement of the routers.
testbed() { # TAG NAT
  local tag=$1 nat=$2 k R H
  mkns "${P}${tag}pub"
  ip -n "${P}${tag}pub" link add br0 type bridge
  ip -n "${P}${tag}pub" addr add "$PUB_IP/8" dev br0
  ip -n "${P}${tag}pub" link set br0 up
  for k in $(seq 1 "$NV"); do
    R="${P}${tag}r$k" H="${P}${tag}h$k"
    mkns "$R"; mkns "$H"
    ip -n "$R" link add wan type veth peer name "up$k" netns "${P}${tag}pub"
    ip -n "${P}${tag}pub" link set "up$k" master br0 up
    ip -n "$R" addr add "11.0.$k.1/8" dev wan
    ip -n "$R" link set wan up
    ip -n "$H" link add eth0 type veth peer name lan netns "$R"
    ip -n "$R" addr add "192.168.$k.1/24" dev lan
    ip -n "$R" link set lan up
    ip -n "$H" addr add "192.168.$k.2/24" dev eth0
    ip -n "$H" link set eth0 up
    ip -n "$H" route add default via "192.168.$k.1"
    in_ns "$R" sysctl -qw net.ipv4.ip_forward=1
    # A home router: NAT out, and from the WAN only what answers a connection from inside.
    in_ns "$R" nft -f - <<NFT
table ip nat {
  chain post { type nat hook postrouting priority 100; oifname "wan" $nat; }
}
table ip filter {
  chain from_wan_fwd { type filter hook forward priority 0; policy accept;
    iifname "wan" ct state established,related accept; iifname "wan" drop; }
  chain from_wan_in { type filter hook input priority 0; policy accept;
    iifname "wan" ct state established,related accept; iifname "wan" drop; }
}
NFT
  done
}

# A viewer's swarm stage field from tsctl status --json in its home.
swarm_field() { # NS HOME FIELD
  tsctl_in "$1" "$2" status --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
for i in json.load(sys.stdin)["instances"]:
    for s in i["stages"]:
        if s["name"] == "swarm":
            print(s.get(sys.argv[1], -1)); sys.exit(0)
print(-1)' "$3"
}

# Run one phase: broadcaster and two viewers (with EXTRA options) until the source has ended and
# the outputs settled; leaves logs in $WORK/TAG and counters in $WORK/TAG/counters.
phase() { # TAG NAT EXTRA...
  local tag=$1 nat=$2 k d b
  shift 2
  say "phase $tag: routers '$nat', viewers ${*:-(defaults)} ${NOPM[*]}"
  testbed "$tag" "$nat"
  d="$WORK/$tag"; mkdir -p "$d/bh"
  cd "$d" # tsctl start writes hp.tstream here
  HOMES+=("${P}${tag}pub:$d/bh")
  tsctl_in "${P}${tag}pub" "$d/bh" start hp --source "$(finite_source "$DUR" "$d/src.ts")" --bitrate 2M \
    --announce-host "$PUB_IP" "${NOPM[@]}" > "$d/start.out" || fail "tsctl start: $(cat "$d/start.out")"
  for k in $(seq 1 "$NV"); do
    mkdir -p "$d/vh$k"
    HOMES+=("${P}${tag}h$k:$d/vh$k")
    tsctl_in "${P}${tag}h$k" "$d/vh$k" watch hp.tstream --name "v$k" --output "$d/out$k.ts" \
      "${NOPM[@]}" "$@" > "$d/watch$k.out" 2>&1 || fail "viewer $k: $(cat "$d/watch$k.out")"
  done
  wait_stable $((DUR + 90)) "$d/src.ts" || fail "phase $tag: the source never finished"
  for k in $(seq 1 "$NV"); do wait_stable 60 "$d/out$k.ts" || fail "phase $tag: viewer $k output never settled"; done
  : > "$d/counters"
  for k in $(seq 1 "$NV"); do
    for f in punch_attempts punch_ok punch_relayed peers; do
      echo "v$k $f $(swarm_field "${P}${tag}h$k" "$d/vh$k" "$f")" >> "$d/counters"
    done
  done
  echo "b punch_relayed $(swarm_field "${P}${tag}pub" "$d/bh" punch_relayed)" >> "$d/counters"
  for k in $(seq 1 "$NV"); do tsctl_in "${P}${tag}h$k" "$d/vh$k" stop "v$k" >/dev/null; done
  tsctl_in "${P}${tag}pub" "$d/bh" stop hp >/dev/null
  teardown_ns
  cd "$WORK"
  say "phase $tag counters: $(tr '\n' ' ' < "$d/counters")"
}

counter() { awk -v w="$2" -v f="$3" '$1 == w && $2 == f { print $3 }' "$WORK/$1/counters"; }
vlog() { echo "$WORK/$1/vh$2/v$2/log/swarm.log"; }
# Lines of viewer K's log saying it connected to another NATed viewer (its router's address):
# viewer 3 - K, or with OTHER=any, any of them.
to_other() { # TAG K [any]
  local o=$((3 - $2))
  [ "${3:-}" = any ] && o="[0-9]+"
  grep -E "peer 11\.0\.$o\.1:[0-9]+ connected \(" "$(vlog "$1" "$2")" | grep -v "11\.0\.$2\.1:" || true
}
# Sum of a counter over the NATed viewers of a phase.
total() { # TAG FIELD
  awk -v f="$2" '$1 ~ /^v/ && $2 == f { s += $3 } END { print s + 0 }' "$WORK/$1/counters"
}
# Punched viewer pairs of a phase (each pair once) against all pairs.
pairs() { # TAG
  local k n=0
  for k in $(seq 1 "$NV"); do n=$((n + $(to_other "$1" "$k" any | grep -c "(punch)" || true))); done
  echo "punch lines $n (each pair logs one per side), viewer pairs $((NV * (NV - 1) / 2))"
}

outputs_ok() { # TAG
  local k off
  for k in $(seq 1 "$NV"); do
    off=$(slice_offset "$WORK/$1/src.ts" "$WORK/$1/out$k.ts" to-end) \
      || fail "phase $1: viewer $k output is not the source from its hook-in point to the end"
    say "phase $1: viewer $k: $(stat -c %s "$WORK/$1/out$k.ts") bytes, identical to the source from byte $off"
    decodes_clean "$WORK/$1/out$k.ts" || fail "phase $1: viewer $k output does not decode cleanly"
  done
}

# --- default masquerade: the punch
phase punch masquerade
for k in $(seq 1 "$NV"); do [ -f "$(vlog punch $k)" ] || fail "no swarm log at $(vlog punch $k)"; done
say "viewer-to-viewer lines:"; { to_other punch 1; to_other punch 2; } | sed 's/^/  /'
grep -h "hole punch" "$(vlog punch 1)" "$(vlog punch 2)" "$WORK/punch/bh/hp/log/swarm.log" | head -8 | sed 's/^/  /' || true
{ to_other punch 1; to_other punch 2; } | grep "connected (punch)" >/dev/null \
  || fail "the NATed viewers did not connect to each other by a hole punch"
ok1=$(counter punch v1 punch_ok) ok2=$(counter punch v2 punch_ok)
[ "${ok1:-0}" -ge 1 ] || [ "${ok2:-0}" -ge 1 ] || fail "punch_ok is $ok1 and $ok2: no punch counted"
outputs_ok punch
say "phase punch: punch_attempts $(total punch punch_attempts), punch_ok $(total punch punch_ok) over $NV viewers; $(pairs punch)"

# --- NAT traversal off: they must never meet
if [ $HAVE_NOHP = 1 ] && [ "${HP_OFF:-1}" = 1 ]; then
  phase off masquerade --no-holepunch
  lines=$({ to_other off 1; to_other off 2; })
  [ -z "$lines" ] || { echo "$lines"; fail "with --no-holepunch the NATed viewers still connected to each other"; }
  say "phase off: the viewers never connected to each other"
  outputs_ok off
elif [ $HAVE_NOHP = 0 ]; then
  say "phase off skipped: this tsctl has no --no-holepunch"
fi

# --- random port mapping: reported, not asserted
if [ "${HP_RANDOM:-1}" = 1 ]; then
  phase random "masquerade random"
  say "phase random (report only): punch_attempts $(total random punch_attempts), punch_ok $(total random punch_ok); $(pairs random)"
fi
say "PASS"
