#!/usr/bin/env bash
# A real Prometheus (Debian's 2.42) scraping a broadcast every second, finding it through the
# supervisor's file_sd target file, while `tsctl restart NAME swarm` runs: the broadcast's series
# count never drops over the restart (no scrape without them, no staleness marker), `up` stays 1,
# and the swarm's series go on with the new process (its start time changes, its restart counted).
# Run by hand after a build (needs Debian's prometheus, which deploy/setup.sh installs):
#   tests/manual/prometheus_restart.sh
# tests/e2e/scrape.sh checks the same by scraping /metrics itself; this is the same claim with
# Prometheus's own scraper, discovery and staleness handling.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
T="$here/build/bin/tsctl"
command -v prometheus >/dev/null || { echo "prometheus is not installed (deploy/setup.sh)" >&2; exit 1; }
export TSTREAM_HOME=$(mktemp -d /tmp/tsprom.XXXXXX)
cd "$TSTREAM_HOME"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '%s\n' "global:" "  scrape_interval: 1s" "scrape_configs:" "  - job_name: tstream" "    file_sd_configs:" \
  "      - files: [\"$TSTREAM_HOME/prometheus/*.json\"]" "        refresh_interval: 1s" > prometheus.yml
prometheus --config.file=prometheus.yml --storage.tsdb.path=data --web.listen-address="127.0.0.1:$port" \
  >prometheus.log 2>&1 &
prom=$!
trap 'kill $prom 2>/dev/null; "$T" stop --all >/dev/null 2>&1; wait $prom 2>/dev/null; echo "(files in $TSTREAM_HOME)"' EXIT
"$T" start pr --source testsrc --bitrate 2M >/dev/null
sleep 20 # discovery and a dozen scrapes
t0=$(date +%s)
"$T" restart pr swarm
sleep 20
t1=$(date +%s)
python3 - "http://127.0.0.1:$port" "$t0" "$t1" <<'PY'
import json, sys, urllib.parse, urllib.request
api, t0, t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def rng(q, start, end):
    u = "%s/api/v1/query_range?%s" % (api, urllib.parse.urlencode({"query": q, "start": start, "end": end, "step": "1s"}))
    res = json.load(urllib.request.urlopen(u))["data"]["result"]
    return [float(v) for r in res for _, v in r["values"]], res
counts, _ = rng('count({job="tstream",stream="pr"})', t0 - 10, t1)
ups, _ = rng('up{job="tstream"}', t0 - 10, t1)
_, starts = rng('process_start_time_seconds{stream="pr",stage="swarm"}', t0 - 10, t1)
restarts, _ = rng('tstream_stage_restarts_total{stream="pr",stage="swarm"}', t1 - 1, t1)
seen = sorted({v for r in starts for _, v in r["values"]})
print("series count over %d s around the restart: min %d, max %d (%d samples)" % (t1 - t0 + 10, min(counts), max(counts), len(counts)))
print("up: min %d; swarm start times seen: %s; swarm restarts now: %s" % (min(ups), seen, restarts))
ok = counts and min(counts) == max(counts) and len(counts) >= t1 - t0 + 8 and min(ups) == 1 and len(seen) == 2 \
    and restarts[-1:] == [1.0]
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
