#!/usr/bin/env bash
# The live-swarm benchmark (issue 3): HTTP fan-out baseline and scenario A with 10, 20 and 50
# viewers, B with 200 viewers at 1 Mbit/s, C (64 kbit/s audio) with 10 viewers, one after the
# other, then bench/results/summary.md, lag-cdf.png and source-upload.png.
# Usage: bench/run.sh [--quick]     (--quick: 10 s windows, a smoke run of the harness)
#        bench/run.sh --attacks     (only bench/attacks.py: honest viewers under attack, issue 13,
#                                    ~12 min; writes bench/results/attacks/attacks.md)
# Takes ~20 minutes (--quick: ~8). Needs the machine to itself: other load skews every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
attacks=0
case "${1:-}" in
  --quick) quick=1 ;;
  --attacks) attacks=1 ;;
  "") ;;
  *) echo "usage: bench/run.sh [--quick|--attacks]" >&2; exit 100 ;;
esac
[ "$(id -u)" = 0 ] && ./deploy/setup.sh --bench
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

# The benchmark runs a snapshot of the binaries (tsctl starts the stages it finds next to
# itself), so a rebuild of build/ during the ~20 minutes cannot change or break a run.
snap=$(mktemp -d /tmp/tsbench-bin.XXXXXX)
trap 'rm -rf "$snap"' EXIT
cp -p build/bin/tsctl build/bin/ts-ingest build/bin/ts-signer build/bin/ts-swarm build/bin/ts-player-bridge "$snap/"
export TS_BIN=$snap
unset TS_LIBEXEC

if [ $attacks = 1 ]; then
  # one build (this tree); bench/attacks.py --builds old=DIR,new=DIR compares two
  /usr/bin/python3 bench/attacks.py --builds "cur=$snap" --out bench/results/attacks
  exit
fi

out=bench/results
mkdir -p "$out"
rm -f "$out"/*.json
dur=60
[ $quick = 1 ] && dur=10
py=/usr/bin/python3   # Debian's, which sees python3-matplotlib
runlog="$out/run.log"
: > "$runlog"

scenario() {
  echo "=== bench/live.py $* --duration $dur" | tee -a "$runlog"
  # A scenario that breaks is reported and the others still run.
  "$py" bench/live.py "$@" --duration "$dur" --out "$out" 2>&1 | tee -a "$runlog" \
    || echo "!!! scenario $* did not complete" | tee -a "$runlog"
}

for n in 10 20 50; do scenario --scenario baseline --viewers $n; done
for n in 10 20 50; do scenario --scenario A --viewers $n; done
scenario --scenario B --viewers 200 --bitrate 1M
scenario --scenario C --viewers 10
"$py" bench/live.py --summarize "$out" 2>&1 | tee -a "$runlog"
echo
cat "$out/summary.md"
