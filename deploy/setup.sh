#!/usr/bin/env bash
# The one place that installs what tstream needs to build, test and run (Debian 12, as root).
#
#   setup.sh                 everything to build and test (CI, demo.sh, tests/run.sh), and mpegts.js
#   setup.sh --bench         the same, plus what bench/run.sh needs to draw its plots
#   setup.sh --build-deps    only what building needs (deploy/Dockerfile's build stage)
#   setup.sh --runtime-deps [--ffmpeg]
#                            only the libraries the binaries load (its runtime stage); --ffmpeg adds
#                            ffmpeg, for the testsrc source and pipe: commands that use it
#   setup.sh --containers    podman (with runc and DNS for its networks), debootstrap and docker-compose
#                            (deploy/try-compose.sh)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
build=(
  build-essential cmake pkg-config git ca-certificates
  libzmq3-dev libprotobuf-c-dev protobuf-c-compiler libev-dev libssl-dev libcurl4-openssl-dev
  libminiupnpc-dev libnatpmp-dev  # port mapping (UPnP IGD, NAT-PMP) behind home routers
  libsrt-openssl-dev  # ingest's srt:// push sources (libsrt, its OpenSSL flavour for the passphrase's AES)
)
# What ldd of build/bin/* resolves to (their own dependencies come along).
runtime=(libzmq5 libprotobuf-c1 libev4 libssl3 libcurl4 libminiupnpc17 libnatpmp1 libsrt1.5-openssl ca-certificates)
test=(
  ffmpeg python3 procps iproute2 curl
  python3-prometheus-client  # e2e.metrics parses every /metrics body with it
  prometheus  # its promtool: e2e.scrape (check metrics), deploy.prometheus (check rules, check config)
  chromium  # the status page's browser test (headless)
  opentracker python3-libtorrent  # a standard tracker and a standard BitTorrent client (e2e.opentracker, e2e.libtorrent)
  docker-compose  # deploy.compose_config validates deploy/docker-compose.yml (no engine needed)
  nftables  # adversarial.nat_ban, net.*: NAT routers (masquerade) in network namespaces
  miniupnpd-nftables miniupnpc  # net.*: a real UPnP IGD / NAT-PMP daemon in a home router, and its client
  iputils-ping  # net.*: the testbed checks each emulated link (bench/net/testbed.py)
)
# podman's CNI networks resolve service names only with the dnsname plugin (a Recommends of podman).
containers=(podman runc debootstrap docker-compose golang-github-containernetworking-plugin-dnsname)

usage() { sed -n '4,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 100; }
npm=0
case "${1:-}" in
  "" | --bench)
    pkgs=("${build[@]}" "${test[@]}")
    command -v npm >/dev/null || pkgs+=(nodejs npm)
    [ "${1:-}" = --bench ] && pkgs+=(python3-matplotlib iperf3)
    npm=1
    [ $# -le 1 ] || usage
    ;;
  --build-deps) pkgs=("${build[@]}"); [ $# -eq 1 ] || usage ;;
  --runtime-deps)
    pkgs=("${runtime[@]}")
    case "${2:-}" in
      "") ;;
      --ffmpeg) pkgs+=(ffmpeg) ;;
      *) usage ;;
    esac
    [ $# -le 2 ] || usage
    ;;
  --containers) pkgs=("${containers[@]}"); [ $# -eq 1 ] || usage ;;
  *) usage ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
[ $npm -eq 1 ] || exit 0

# mpegts.js for the status page's video element (and playwright-core, which drives Debian's chromium in
# its test), from the npm registry at setup time (the
# supervisor serves it from web/node_modules; nothing is fetched at run time).
cd "$(dirname "$0")/.."
# (again whenever package-lock.json names a package that is not installed, e.g. after an update)
if [ ! -f web/node_modules/mpegts.js/dist/mpegts.js ] || [ ! -f web/node_modules/hls.js/dist/hls.min.js ] ||
  [ ! -d web/node_modules/playwright-core ]; then
  npm ci --prefix web --no-audit --no-fund --loglevel=error
fi
