#!/usr/bin/env bash
# The live-swarm benchmark (issue 3): HTTP fan-out baseline and scenario A with 10, 20 and 50
# viewers, B with 200 viewers at 1 Mbit/s, C (64 kbit/s audio) with 10 viewers, one after the
# other, then bench/results/summary.md, lag-cdf.png and source-upload.png.
# Usage: bench/run.sh [--quick] [--against REV]
#                                   (--quick: 10 s windows, a smoke run of the harness;
#                                    --against REV: also build commit REV and run every scenario
#                                    twice, REV's binaries then this tree's, back to back; writes
#                                    bench/results/{against,current}/ and compare.md)
#        bench/run.sh --attacks     (only bench/attacks.py: honest viewers under attack, issue 13,
#                                    ~12 min; writes bench/results/attacks/attacks.md)
# Takes ~20 minutes (--quick: ~8). Needs the machine to itself: other load skews every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
attacks=0
against=""
usage() { echo "usage: bench/run.sh [--quick] [--against REV] | --attacks" >&2; exit 100; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --attacks) attacks=1 ;;
    --against) [ $# -ge 2 ] || usage; against=$2; shift ;;
    *) usage ;;
  esac
  shift
done
if [ -n "$against" ]; then
  rev=$(git rev-parse --verify --quiet "$against^{commit}") || { echo "bench/run.sh: $against: no such commit" >&2; exit 100; }
fi
[ "$(id -u)" = 0 ] && ./deploy/setup.sh --bench
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

# The benchmark runs a snapshot of the binaries (tsctl starts the stages it finds next to
# itself), so a rebuild of build/ during the ~20 minutes cannot change or break a run.
snap=$(mktemp -d /tmp/tsbench-bin.XXXXXX)
oldsrc=""
trap 'rm -rf "$snap" ${oldsrc:+"$oldsrc"}' EXIT
stages="tsctl ts-ingest ts-signer ts-swarm ts-player-bridge"
for b in $stages; do cp -p "build/bin/$b" "$snap/"; done
export TS_BIN=$snap
if [ -n "$against" ]; then
  # The other build, from the commit's own tree (git archive: no worktree left behind).
  oldsrc=$(mktemp -d /tmp/tsbench-against.XXXXXX)
  mkdir "$oldsrc/src" "$oldsrc/bin"
  git archive "$rev" | tar -x -C "$oldsrc/src"
  cmake -S "$oldsrc/src" -B "$oldsrc/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTS_COMMIT="$(git rev-parse --short "$rev")" >/dev/null
  cmake --build "$oldsrc/build" -j"$(nproc)" >/dev/null
  for b in $stages; do cp -p "$oldsrc/build/bin/$b" "$oldsrc/bin/"; done
fi
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

run1() { # DIR BIN SCENARIO-ARGS...
  local dir=$1 bin=$2
  shift 2
  echo "=== TS_BIN=$bin bench/live.py $* --duration $dur" | tee -a "$runlog"
  # A scenario that breaks is reported and the others still run.
  TS_BIN=$bin "$py" bench/live.py "$@" --duration "$dur" --out "$dir" 2>&1 | tee -a "$runlog" \
    || echo "!!! scenario $* did not complete" | tee -a "$runlog"
}
scenario() {
  if [ -n "$against" ]; then
    run1 "$out/against" "$oldsrc/bin" "$@"
    run1 "$out/current" "$snap" "$@"
  else
    run1 "$out" "$snap" "$@"
  fi
}
if [ -n "$against" ]; then
  mkdir -p "$out/against" "$out/current"
  rm -f "$out"/against/*.json "$out"/current/*.json
fi

for n in 10 20 50; do scenario --scenario baseline --viewers $n; done
for n in 10 20 50; do scenario --scenario A --viewers $n; done
scenario --scenario B --viewers 200 --bitrate 1M
scenario --scenario C --viewers 10
if [ -n "$against" ]; then
  for d in against current; do "$py" bench/live.py --summarize "$out/$d" 2>&1 | tee -a "$runlog"; done
  echo
  "$py" bench/compare.py "$out/against" "$out/current" --out "$out/compare.md" \
    --old-name "$(git rev-parse --short "$rev")" --new-name "this tree"
else
  "$py" bench/live.py --summarize "$out" 2>&1 | tee -a "$runlog"
  echo
  cat "$out/summary.md"
fi
