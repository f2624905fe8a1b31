#!/usr/bin/env bash
# The soak benchmark (issue 4): a broadcaster and three viewers push PIECES pieces (default
# 2.6 million: 24 h of 8 Mbit/s in 32 KiB pieces) through a small wrapping window at a high rate.
# The source is `ts-pattern gen`, whose every 8-byte word names its own offset; each viewer's
# output (`tsctl watch --output -`) goes through `ts-pattern check`, which requires it to be one
# contiguous, uncorrupted slice of the pattern running to its last byte. Every few seconds
# bench/soak/soak.py samples each process (supervisors and stages) for open descriptors and
# resident memory. Writes OUT/soak.md (the figures), OUT/soak-samples.csv and OUT/soak-rss.png;
# exits 1 if an output was not byte-identical, a descriptor count moved after warm-up, a stage
# restarted or the run stalled.
#
# usage: bench/soak.sh [--pieces N] [--rate PIECES_PER_S] [--piece-size BYTES] [--npieces N]
#                      [--lead PIECES] [--viewers N] [--sample S] [--warmup S] [--out DIR]
#                      [--bin DIR] [--keep]
#   --pieces N        pieces to push (default 2600000; e.g. 20000 for a quick look)
#   --rate R          source pace, pieces per second (default 1000, 261 Mbit/s: this 2-core machine
#                     sustains it with three viewers, the full run takes ~45 min; ~1400 is its limit)
#   --piece-size B    wire piece size, trailer included (default 32k)
#   --npieces N       slots of the wrapping index space (default 1024: it wraps ~2,500 times)
#   --lead PIECES     the source never runs more than this ahead of the slowest viewer's checked
#                     output (default npieces/4; 0: a plain real-time source). A live source does
#                     not wait, but with a window of ~1 s of stream one scheduling hiccup of this
#                     shared machine would make a viewer skip; this keeps the run about what it
#                     measures (identity, descriptors, memory) and the report shows how long it held.
#   --viewers N       viewers (default 3)
#   --sample S        sampling period in seconds (default 5)
#   --warmup S        warm-up in seconds (default: until 10 % of the stream was checked)
#   --out DIR         where soak.md and the CSV go (default bench/results)
#   --bin DIR         binaries (default: $TS_BIN, else build/bin), copied for the run
#   --keep            keep the work directory (logs, samples) even when the run passed
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
pieces=2600000 rate=1000 piece_size=32k npieces=1024 lead="" viewers=3 interval=5 warmup="" out="$src/bench/results"
bin=${TS_BIN:-$src/build/bin} keep=0
cmdline="bench/soak.sh $*"
usage() { sed -n '/^# usage:/,/^set -euo/p' "$0" | sed -n 's/^# \{0,1\}//p'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --pieces) pieces=$2; shift ;;
    --rate) rate=$2; shift ;;
    --piece-size) piece_size=$2; shift ;;
    --npieces) npieces=$2; shift ;;
    --lead) lead=$2; shift ;;
    --viewers) viewers=$2; shift ;;
    --sample) interval=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --out) out=$2; shift ;;
    --bin) bin=$2; shift ;;
    --keep) keep=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 100 ;;
  esac
  shift
done
py=/usr/bin/python3 # Debian's, which sees python3-matplotlib
case "$piece_size" in
  *k) ps=$(( ${piece_size%k} * 1024 )) ;;
  *) ps=$piece_size ;;
esac
for v in "$pieces" "$rate" "$ps" "$npieces" "$viewers"; do
  [[ "$v" =~ ^[0-9]+$ ]] && [ "$v" -gt 0 ] || { echo "soak.sh: bad number '$v'" >&2; exit 100; }
done
[ "$viewers" -le 16 ] || { echo "soak.sh: at most 16 viewers (ts-pattern gen follows 16)" >&2; exit 100; }
[ "$npieces" -ge 64 ] || { echo "soak.sh: --npieces must be at least 64 (tsctl's minimum)" >&2; exit 100; }
[ -n "$lead" ] || lead=$((npieces / 4))
[[ "$lead" =~ ^[0-9]+$ ]] && [ "$lead" -lt $((npieces / 2)) ] || { echo "soak.sh: --lead must be below npieces/2" >&2; exit 100; }
payload=$((ps - 88))
total=$((pieces * payload))
gen_bps=$((rate * payload * 8))
# tsctl sizes the window as --window seconds of --bitrate: ask for 2 s of a nominal rate that
# makes exactly NPIECES slots. The nominal rate only sizes the window: a pipe source is not paced
# by ingest, the generator paces itself.
nominal=$(( (npieces - 1) * payload * 4 ))

work=$(mktemp -d /tmp/tssoak.XXXXXX)
mkdir -p "$work/bin" "$work/home"
for b in tsctl ts-ingest ts-signer ts-swarm ts-player-bridge ts-pattern; do
  [ -x "$bin/$b" ] || { echo "soak.sh: $bin/$b missing (build first)" >&2; exit 111; }
  cp -p "$bin/$b" "$work/bin/"
done
TSCTL=$work/bin/tsctl
export TSTREAM_HOME=$work/home
cd "$work"
say() { echo "[$(date +%T)] $*"; }
pids=()
finish() {
  local rc=$?
  "$TSCTL" stop --all >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ $rc -ne 0 ] || [ $keep = 1 ]; then echo "work directory (logs, samples): $work"; else rm -rf "$work"; fi
  exit $rc
}
trap finish EXIT
trap 'exit 130' INT TERM

warmup_desc="until every viewer had checked 10 % of the stream"
[ -z "$warmup" ] || warmup_desc="fixed, $warmup s"
cat > params.json <<EOF
{"pieces": $pieces, "rate": $rate, "piece_size": $ps, "npieces": $npieces, "viewers": $viewers, "lead": $lead,
 "total_bytes": $total, "date": "$(date -u +%Y-%m-%dT%H:%MZ)", "host": "$(hostname)",
 "commit": "$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$src" diff --quiet HEAD 2>/dev/null || echo +changes)",
 "command": "$cmdline", "warmup_desc": "$warmup_desc"}
EOF

say "soak: $pieces pieces of $ps bytes at $rate/s ($((gen_bps / 1000000)) Mbit/s), $npieces slots, $viewers viewers"
follow=""
if [ "$lead" -gt 0 ]; then
  for i in $(seq 1 "$viewers"); do follow="$follow --follow $work/check$i.prog"; done
  follow="$follow --lead $((lead * payload))"
fi
"$TSCTL" start soak --source "pipe:exec $work/bin/ts-pattern gen --bytes $total --rate $gen_bps --wait $work/go --hold$follow" \
  --bitrate "$nominal" --window 2 --piece-size "$ps" --wait-data 0 > start.out
for i in $(seq 1 "$viewers"); do
  ( set +e
    "$TSCTL" watch soak.tstream --name "v$i" --output - 2> "watch$i.err" \
      | "$work/bin/ts-pattern" check --end "$total" --progress "check$i.prog" > "check$i.out"
    echo "${PIPESTATUS[1]}" > "check$i.rc" ) &
  pids+=($!)
done

# Every viewer ready and connected before the first byte: the first piece is the stream's only
# random-access point (a non-TS source), so a viewer that joined later could never start.
peers_ok() {
  "$TSCTL" status --json | $py -c '
import json, sys
n = int(sys.argv[1])
d = {i["name"]: i for i in json.load(sys.stdin)["instances"]}
for k in ["v%d" % i for i in range(1, n + 1)]:
    i = d.get(k)
    if not i or not i["stages"] or any(s["state"] != "ready" for s in i["stages"]):
        sys.exit(1)
    if [s.get("peers", 0) >= min(n, 8) for s in i["stages"] if s["name"] == "swarm"] != [True]:
        sys.exit(1)  # the broadcaster and the other viewers (a viewer dials at most 8)
' "$viewers"
}
end=$((SECONDS + 120))
until peers_ok; do
  [ $SECONDS -lt $end ] || { "$TSCTL" status; echo "soak.sh: viewers not connected after 120 s" >&2; exit 1; }
  sleep 1
done
"$TSCTL" status
touch go
say "source started"
warm_args=(--warmup-frac 0.1)
[ -n "$warmup" ] && warm_args=(--warmup "$warmup")
set +e
$py "$src/bench/soak/soak.py" sample --work "$work" --tsctl "$TSCTL" --viewers "$viewers" --total "$total" \
  --interval "$interval" "${warm_args[@]}"
set -e
"$TSCTL" status
"$TSCTL" stop --all > /dev/null
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
for i in $(seq 1 "$viewers"); do say "v$i: $(head -1 "check$i.out" 2>/dev/null)"; done
grep -h "ts-pattern gen" home/soak/log/ingest.log 2>/dev/null | tail -1 || true
$py "$src/bench/soak/soak.py" report --work "$work" --out "$out"
