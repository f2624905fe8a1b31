#!/usr/bin/env bash
# The off-the-loopback scenarios of issue 15 on an emulated network (bench/net/testbed.py).
# Usage: bench/net/run.sh W1|W2|W3 [bench/net/scenarios.py options]   one run, then its summary
#        bench/net/run.sh all [options]    W1, W2, W2 --mapping random, W3, and each once more with
#                                          --no-nat-traversal, then one summary (~25 min at full size)
#        bench/net/run.sh --summarize DIR  (summary.md and plots from DIR/*.json)
# Options (see bench/net/scenarios.py --help): --viewers N (scale down; never the links), --seed S,
#   --mapping masq|random, --no-nat-traversal, --duration S (60), --out DIR (bench/results/net/DATE).
# Root only. TS_BIN=DIR runs the binaries in DIR instead of building build/ (RelWithDebInfo).
# Needs the machine to itself: other load skews every figure (the runner reports it).
set -euo pipefail
cd "$(dirname "$0")/../.."
py=/usr/bin/python3   # Debian's, which sees python3-matplotlib
[ $# -ge 1 ] || { sed -n '2,11p' "$0" >&2; exit 100; }
if [ "$1" = --summarize ]; then exec "$py" bench/net/scenarios.py "$@"; fi
[ "$(id -u)" = 0 ] || { echo "bench/net/run.sh: needs root (network namespaces)" >&2; exit 100; }
sc=$1
shift
out=bench/results/net/$(date +%Y-%m-%d)
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[$i]}" = --out ] && out=${args[$((i + 1))]}
done
if [ -z "${TS_BIN:-}" ]; then
  ./deploy/setup.sh --bench >/dev/null
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)" >/dev/null
  # a snapshot of the binaries (tsctl starts the stages next to itself): a rebuild during the run
  # cannot change it
  snap=$(mktemp -d /tmp/tsnet-bin.XXXXXX)
  trap 'rm -rf "$snap"' EXIT
  for b in tsctl ts-ingest ts-signer ts-swarm ts-player-bridge ts-netlink; do cp -p "build/bin/$b" "$snap/"; done
  export TS_BIN=$snap
fi
unset TS_LIBEXEC
mkdir -p "$out"
run1() {
  echo "=== bench/net/scenarios.py $*" | tee -a "$out/run.log"
  # a scenario that breaks is reported and the others still run
  "$py" bench/net/scenarios.py "$@" 2>&1 | tee -a "$out/run.log" || echo "!!! $* did not complete" | tee -a "$out/run.log"
}
if [ "$sc" = all ]; then
  for v in "W1" "W2" "W2 --mapping random" "W3"; do
    # shellcheck disable=SC2086
    run1 $v --out "$out" "${args[@]}"
    # shellcheck disable=SC2086
    # the same network (same seed): its accuracy was checked in the run before
    run1 $v --no-nat-traversal --check none --out "$out" "${args[@]}"
  done
else
  run1 "$sc" --out "$out" "${args[@]}"
fi
"$py" bench/net/scenarios.py --summarize "$out" 2>&1 | tee -a "$out/run.log"
echo
cat "$out/summary.md"
