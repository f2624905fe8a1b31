#!/usr/bin/env bash
# hls.js live latency with LL-HLS parts and without (the same playlist with ?ll=0, hls.js's
# lowLatencyMode off): a testsrc broadcast and one viewer on this host, each mode sampled once a
# second for SECONDS (default 60) in headless Chromium; prints the medians (docs/BENCHMARKS.md).
#   bench/hls_latency.sh [SECONDS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TS_BIN:-$ROOT/build/bin}
SECS=${1:-60}
export TS_WEB_MODULES=$ROOT/web/node_modules
WORK=$(mktemp -d /tmp/hlsbench.XXXXXX)
export TSTREAM_HOME=$WORK/home
trap '"$BIN/tsctl" stop --all >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
cd "$WORK"
"$BIN/tsctl" start hl --source testsrc --bitrate 2M >/dev/null
M3U=$("$BIN/tsctl" watch hl.tstream --name hlv | sed -n 's/^ *HLS: *\([^ ]*\).*/\1/p')
echo "playlist $M3U; $(nproc) cores; $(uname -r)"
sleep 5
for mode in ll classic; do node "$ROOT/bench/hls_latency.mjs" "$M3U" "$mode" "$SECS"; done
