#!/usr/bin/env bash
# Issue 13, case 1: peers that advertise every piece (a bitfield of all ones, then HAVEs a few seqs
# ahead of the real edge) and answer no request (tests/adversarial/liarpeer.py --mode withhold),
# first one, then twenty from twenty addresses. Nothing they send fails a check, so nothing gets
# them banned; but a viewer that keeps asking them first stalls. The viewer must skip nothing,
# keep playing, drop each withholder it asked ("does not deliver") without banning it (it may
# merely be slow), never drop the broadcaster, and its output must be the source, byte for byte,
# to its end, decoding cleanly.
# Before the fix (e1ab6fa): 7-18 pieces skipped with one withholder, never disconnected, and the
# viewer dropped the broadcaster for "repeated have" (it repeats a HAVE the viewer never fetched).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../e2e/common.bash"
. "$HERE/liar_common.bash"
ATTACK=25

read -r bport vport < <(free_ports 2)
viewer_bind 1
say "start broadcast (2 Mbit/s, 16 KiB pieces) and viewer v1 at $vhost"
"$TSCTL" start demo --source "$(finite_source 75 "$WORK/src.ts")" --bitrate 2M --port "$bport" > start.out \
  || { cat start.out; fail "tsctl start failed"; }
"$TSCTL" watch demo.tstream --name v1 --port "$vport" "${vbind[@]}" --output "$WORK/out1.ts" > watch1.out \
  || { cat watch1.out; fail "tsctl watch failed"; }
wait_for 60 bash -c "[ \$(stat -c %s $WORK/out1.ts 2>/dev/null || echo 0) -ge 300000 ]" || fail "the viewer receives nothing"
[ "$(stage_field v1 swarm skipped)" = 0 ] || fail "the viewer skipped pieces before any attack"

# withhold PHASE COUNT FIRST-IP: run the withholders for $ATTACK s, then check what the viewer did.
withhold() {
  local phase=$1 count=$2 ip=$3 b0 d0 sk out
  b0=$(stage_field demo swarm seq); d0=$(stage_field v1 swarm delivered); sk=$(stage_field v1 swarm skipped)
  say "$phase: $count withholder(s) from $ip on, for $ATTACK s"
  liar --mode withhold --count "$count" --bind "$ip" --target "$vhost:$vport" --source "127.0.0.1:$bport" \
    --duration $ATTACK --report "$WORK/$phase.json" --quiet > "$phase.out" 2>&1 || { cat "$phase.out"; fail "liarpeer failed"; }
  cat "$phase.out"
  sk=$(( $(stage_field v1 swarm skipped) - sk ))
  [ "$sk" = 0 ] || problem "$phase: the viewer skipped $sk pieces while $count peer(s) withheld what they advertised"
  out=$(progress v1 "$b0" "$d0") || problem "$phase: the viewer stalled: $out"
  say "$phase: viewer $out, skipped $sk"
  [ "$(rep "$phase.json" "sum(l['requests_received'] for l in r['liars'])")" -gt 0 ] \
    || problem "$phase: the viewer never asked a withholder: the scenario did not happen"
  # A withholder may be asked a few times per connection (4 misses, a pause, one more on probation:
  # with 8 requests in flight at most about 16), not again and again.
  local kept
  kept=$(rep "$phase.json" "' '.join('%s:%d' % (l['ip'], s['requests']) for l in r['liars'] for s in l['sessions'] if s['requests'] > 32)")
  [ -z "$kept" ] || problem "$phase: the viewer kept asking withholders on one connection (address:requests): $kept"
  # A dropped withholder may come back (it redials; it is on probation), but the viewer itself must
  # not keep dialling an address it just dropped for not delivering: its redial backs off (0.5 s
  # doubling to 16 s: at most 6 dials in $ATTACK s).
  local redials
  redials=$(rep "$phase.json" "' '.join('%s:%d' % (l['ip'], n) for l in r['liars'] for n in [sum(1 for s in l['sessions'] if s['dir'] == 'in' and l['first_disconnect'] is not None and s['opened'] > l['first_disconnect'])] if n > 8)")
  [ -z "$redials" ] || problem "$phase: the viewer kept dialling withholders it had dropped (address:dials after the first drop): $redials"
  say "$phase: $(rep "$phase.json" "sum(l['disconnected_by_victim'] for l in r['liars'])") drop(s) of withholders, $(rep "$phase.json" "sum(l['requests_received'] for l in r['liars'])") requests to them"
}

withhold one 1 127.0.0.60
withhold twenty 20 127.0.0.61

log="$TSTREAM_HOME/v1/log/swarm.log"
n=$(grep -F "does not deliver" "$log" | grep -cE "127\.0\.0\.(6[0-9]|7[0-9]|80):" || true)
[ "$n" -gt 0 ] || problem "the viewer never logged a withholder as one that 'does not deliver'"
bad=$(banned_lines v1 "127\.0\.0\.(6[0-9]|7[0-9]|80):")
[ -z "$bad" ] || problem "the viewer banned peers that only withheld pieces (a slow peer is not an offender): $(echo "$bad" | head -3)"
bad=$(banned_lines v1 "127\.0\.0\.1:")
[ -z "$bad" ] || problem "the viewer dropped the broadcaster as an offender: $(echo "$bad" | head -3)"
[ "$(stage_field v1 swarm peers_banned)" = 0 ] || problem "the viewer banned $(stage_field v1 swarm peers_banned) peer(s)"

finish_output demo 1
finish_problems
say "PASS"
