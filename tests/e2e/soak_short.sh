#!/usr/bin/env bash
# The soak benchmark in short (bench/soak.sh runs the long one): 30,000 pieces of 16 KiB through a
# window of 128 slots, so the piece index space wraps about 230 times, from a broadcaster to three
# viewers. The source is `ts-pattern gen`, whose every 8-byte word names its own offset; each
# viewer's stream (`tsctl watch --output -`) goes through `ts-pattern check`, which requires it to
# be the whole pattern, first byte to last, without a gap, an overlap or a corrupted byte. Every
# process (supervisors and stages) must have exactly as many descriptors open at the end as after
# warm-up.
. "$(dirname "$0")/common.bash"
PAT=$TS_BIN/ts-pattern
pieces=30000 ps=16384 npieces=128 rate=400 viewers=3
payload=$((ps - 88))
total=$((pieces * payload))
# tsctl sizes the window as --window seconds of --bitrate: 2 s of this nominal rate is 128 slots
# (a pipe source is not paced by ingest; the generator paces itself).
nominal=$(((npieces - 1) * payload * 4))
# The source keeps within a quarter of the window of the slowest checker: the test is about
# wraparound, identity and descriptors, not about keeping up on a loaded machine (bench/ is).
follow=""
for i in $(seq 1 $viewers); do follow="$follow --follow $WORK/check$i.prog"; done
follow="$follow --lead $((npieces / 4 * payload))"

say "start broadcast: $pieces pieces of $ps bytes, $npieces slots"
"$TSCTL" start soak --source "pipe:exec $PAT gen --bytes $total --rate $((rate * payload * 8)) --wait $WORK/go --hold$follow" \
  --bitrate $nominal --window 2 --piece-size $ps --wait-data 0 > start.out
/usr/bin/python3 - soak.tstream $npieces <<'PY' || fail "soak.tstream does not have the window asked for"
import re, sys
d = open(sys.argv[1], "rb").read()
length = int(re.search(rb"6:lengthi(\d+)e", d).group(1))
plen = int(re.search(rb"12:piece lengthi(\d+)e", d).group(1))
assert length // plen == int(sys.argv[2]), "npieces %d" % (length // plen)
PY

pids=()
for i in $(seq 1 $viewers); do
  ( set +e
    "$TSCTL" watch soak.tstream --name "v$i" --output - 2> "watch$i.err" \
      | "$PAT" check --end $total --progress "check$i.prog" > "check$i.out"
    echo "${PIPESTATUS[1]}" > "check$i.rc" ) &
  pids+=($!)
done

# The stream's only random-access point is its first piece (the source is not MPEG-TS): every
# viewer must be ready and connected to the broadcaster and to each other before it is cut.
connected() {
  status_json | /usr/bin/python3 -c '
import json, sys
n = int(sys.argv[1])
d = {i["name"]: i for i in json.load(sys.stdin)["instances"]}
for k in ["v%d" % i for i in range(1, n + 1)]:
    i = d.get(k)
    if not i or not i["stages"] or any(s["state"] != "ready" for s in i["stages"]):
        sys.exit(1)
    if [s.get("peers", 0) >= min(n, 8) for s in i["stages"] if s["name"] == "swarm"] != [True]:
        sys.exit(1)' "$1"
}
wait_for 90 connected $viewers || { "$TSCTL" status; fail "viewers not all connected"; }
procs=$(status_json | /usr/bin/python3 -c '
import json, sys
for i in json.load(sys.stdin)["instances"]:
    print(i["name"], "supervisor", i["supervisor_pid"])
    for s in i["stages"]:
        print(i["name"], s["name"], s["pid"])')
echo "$procs"
touch go
say "source started"

# Descriptor counts of every process, one line each, with what they are.
fd_snapshot() {
  echo "$procs" | while read -r inst stage pid; do
    [ -d /proc/$pid/fd ] || { echo "$inst/$stage gone"; continue; }
    kinds=$(for f in /proc/$pid/fd/*; do readlink "$f" 2>/dev/null; done | sed 's/:\[.*//' | sort | uniq -c | tr -s ' \n' ' ')
    echo "$inst/$stage $(ls /proc/$pid/fd | wc -l):$kinds"
  done
}
# A steady count: two snapshots a second apart that agree (a tracker announce holds a socket for a
# moment every 15 s; a leak stays).
steady_snapshot() {
  local a b
  for _ in 1 2 3 4 5; do
    a=$(fd_snapshot); sleep 1; b=$(fd_snapshot)
    [ "$a" = "$b" ] && { echo "$a"; return 0; }
  done
  echo "$b"
}
checked_min() {
  local m=-1 c i
  for i in $(seq 1 $viewers); do
    c=$(sed -n 's/.*checked=\([0-9]*\).*/\1/p' "check$i.prog" 2>/dev/null); c=${c:-0}
    { [ $m -lt 0 ] || [ "$c" -lt $m ]; } && m=$c
  done
  echo $m
}
warmed_up() { [ "$(checked_min)" -ge $((total / 5)) ]; }
wait_for 120 warmed_up || fail "viewers checked only $(checked_min) of $((total / 5)) bytes (warm-up)"
warm=$(steady_snapshot)
say "warm-up over (a fifth of the stream checked by every viewer)"

all_done() { for i in $(seq 1 $viewers); do grep -q "done=1" "check$i.prog" 2>/dev/null || return 1; done; }
any_error() { grep -l "error=1" check*.prog 2>/dev/null; }
end=$((SECONDS + 240)) last=-1 same=0
until all_done; do
  [ -z "$(any_error)" ] || break
  now=$(checked_min)
  if [ "$now" = "$last" ]; then same=$((same + 1)); else same=0; last=$now; fi
  [ $same -lt 60 ] || break # a minute without progress
  [ $SECONDS -lt $end ] || break
  sleep 1
done
ends=$(steady_snapshot)
"$TSCTL" status
for i in $(seq 1 $viewers); do
  [ "$(stage_field v$i swarm restarts)" = 0 ] && [ "$(stage_field v$i player-bridge restarts)" = 0 ] \
    || fail "a stage of viewer $i restarted"
done
for s in ingest signer swarm; do [ "$(stage_field soak $s restarts)" = 0 ] || fail "broadcast $s restarted"; done
pieces_out=$(stage_field soak ingest pieces_out)

# The viewers' streams end when they are stopped; each checker then gives its verdict.
for i in $(seq 1 $viewers); do "$TSCTL" stop "v$i" > /dev/null; done
for p in "${pids[@]}"; do wait "$p" || true; done
for i in $(seq 1 $viewers); do
  cat "check$i.out"
  [ "$(cat "check$i.rc" 2>/dev/null)" = 0 ] || fail "viewer $i: output is not the source, byte for byte"
  grep -q "start=0 checked=$total " "check$i.prog" || fail "viewer $i: did not get the whole stream from its first byte"
done
[ "$pieces_out" -ge $pieces ] || fail "ingest cut $pieces_out pieces, expected $pieces"
say "$pieces_out pieces, $((pieces_out / npieces)) wraparounds of the index space, $total bytes identical at $viewers viewers"

if [ "$warm" != "$ends" ]; then
  diff <(echo "$warm") <(echo "$ends") || true
  fail "descriptor counts changed between warm-up and the end"
fi
echo "$ends"
say "descriptors: the same in all $(echo "$ends" | wc -l) processes after warm-up and at the end"
"$TSCTL" stop soak > /dev/null
say "PASS"
