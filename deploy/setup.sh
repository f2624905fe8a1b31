#!/usr/bin/env bash
# The one place that installs what tstream needs to build, test and run (Debian 12, as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  build-essential cmake pkg-config git ca-certificates
  libzmq3-dev libprotobuf-c-dev protobuf-c-compiler libev-dev libssl-dev libcurl4-openssl-dev
  ffmpeg python3 procps iproute2 curl
  python3-prometheus-client  # e2e.metrics parses every /metrics body with it
  chromium  # the status page's browser test (headless)
  opentracker python3-libtorrent  # a standard tracker and a standard BitTorrent client (e2e.opentracker, e2e.libtorrent)
)
command -v npm >/dev/null || pkgs+=(nodejs npm)
# --bench: also what bench/run.sh needs to draw its plots.
if [ "${1:-}" = "--bench" ]; then
  pkgs+=(python3-matplotlib)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# mpegts.js for the status page's video element (and playwright-core, which drives Debian's chromium in
# its test), from the npm registry at setup time (the
# supervisor serves it from web/node_modules; nothing is fetched at run time).
cd "$(dirname "$0")/.."
if [ ! -f web/node_modules/mpegts.js/dist/mpegts.js ] || [ ! -d web/node_modules/playwright-core ]; then
  npm ci --prefix web --no-audit --no-fund --loglevel=error
fi
