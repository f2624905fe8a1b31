#!/usr/bin/env bash
# Run deploy/docker-compose.yml for real with podman on a machine without registry access, then
# watch the broadcast from OUTSIDE the containers and show the bytes are the source's.
#
#   deploy/try-compose.sh            (as root; docs/DEPLOY.md says what it does and what it showed)
#
# 1. Installs podman, runc, debootstrap, docker-compose (deploy/setup.sh --containers).
# 2. Keeps everything of podman's under $TS_PODMAN_DIR (default /var/tmp/tstream-podman): storage
#    (--root, --runroot), CNI network configs, a containers.conf (runtime runc, ulimits), the API
#    socket. Makes the base image localhost/debian:bookworm with debootstrap + podman import, once.
# 3. Starts `podman system service` on a socket and points DOCKER_HOST at it; builds the image
#    (deploy/Dockerfile); writes a finite test stream (ffmpeg, $TS_TRY_SECONDS s) mounted into the
#    ingest container; `docker-compose up -d` with the bridge, viewer and seeder profiles; runs the
#    healthchecks (podman schedules them with systemd timers, and there is no systemd here) and
#    waits until every service is healthy.
# 4. Runs the host's own `tsctl watch` (build/bin, or $TS_BIN) of the published .tstream with
#    --output, waits for the end of the source, and requires the output to be the source from its
#    hook-in point to the last byte, decoding cleanly (tests/e2e/common.bash: slice_offset,
#    decodes_clean). The viewer container's and the broadcaster's player-bridge's HTTP streams are
#    checked to be slices of the source too.
# 5. Stops the signer: ingest and the swarm, no longer ready, must exit 112 (--exit-unready) and be
#    restarted by their restart policy; with the signer started again everything must turn healthy.
# 6. At exit: docker-compose down -v, the viewer and the podman service stopped (TS_KEEP=1: leave the
#    deployment running, also after a failure, and print how to reach it).
# TS_TRY_FFMPEG=1 also builds the image with ffmpeg (WITH_FFMPEG=1) to report its size;
# TS_TRY_EXIT_UNREADY (default 20) is the stages' --exit-unready here.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=${TS_PODMAN_DIR:-/var/tmp/tstream-podman}
SECS=${TS_TRY_SECONDS:-60}
UNREADY=${TS_TRY_EXIT_UNREADY:-20}
BIN=${TS_BIN:-$ROOT/build/bin}
COMPOSE_FILE="$ROOT/deploy/docker-compose.yml"
PROFILES=(--profile bridge --profile viewer --profile seeder)
SERVICES=(ingest signer swarm player-bridge viewer-swarm viewer-bridge seeder)
[ "$(id -u)" = 0 ] || { echo "try-compose.sh: run as root (podman's storage, CNI networks)" >&2; exit 100; }

say() { echo "[$(date +%T)] $*"; }
fail() { echo "[$(date +%T)] FAIL: $*" >&2; exit 1; }
report=()
note() { report+=("$*"); say "$*"; }
phase_start() { phase_t0=$(date +%s%N); }
phase_end() { local ds=$((($(date +%s%N) - phase_t0) / 100000000)); note "$(printf '%-52s %4d.%d s' "$1" $((ds / 10)) $((ds % 10)))"; }

# The e2e helpers, in a subshell of their own (common.bash makes and removes a scratch directory).
e2e() { TS_BIN="$BIN" bash -c '. "$0/tests/e2e/common.bash"; "$@"' "$ROOT" "$@"; }

say "1. packages"
"$ROOT/deploy/setup.sh" --containers >/dev/null
for t in ffmpeg curl /usr/bin/python3; do command -v "$t" >/dev/null || "$ROOT/deploy/setup.sh" >/dev/null; done
if [ ! -x "$BIN/tsctl" ]; then
  cmake -S "$ROOT" -B "$ROOT/build" >/dev/null && cmake --build "$ROOT/build" -j"$(nproc)" >/dev/null
fi

say "2. podman under $D"
mkdir -p "$D/root" "$D/run" "$D/tmp" "$D/cni" "$D/source" "$D/out"
cat > "$D/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[network]
network_config_dir = "$D/cni"
[engine]
runtime = "runc"
events_logger = "file"
cgroup_manager = "cgroupfs"
tmp_dir = "$D/tmp"
EOF
export CONTAINERS_CONF="$D/containers.conf"
P() { podman --root "$D/root" --runroot "$D/run" "$@"; }
SOCK="$D/podman.sock"
export DOCKER_HOST="unix://$SOCK" COMPOSE_PROJECT_NAME=tstream
# Each compose container is tstream_SERVICE_1.
ctr() { echo "tstream_${1}_1"; }

svc_pid= hc_pid=
compose() { docker-compose -f "$COMPOSE_FILE" "${PROFILES[@]}" "$@"; }
cleanup() {
  local rc=$?
  set +e
  [ -n "$hc_pid" ] && kill "$hc_pid" 2>/dev/null
  TSTREAM_HOME="$D/viewer-home" "$BIN/tsctl" stop --all >/dev/null 2>&1
  if [ $rc -ne 0 ] && [ -S "$SOCK" ]; then
    echo "--- the containers' last log lines ---"
    for s in keys source "${SERVICES[@]}"; do echo "== $s"; P logs "$(ctr "$s")" 2>&1 | tail -n 15 | cut -c1-300; done
  fi
  if [ "${TS_KEEP:-0}" = 1 ]; then
    say "TS_KEEP=1: left running. DOCKER_HOST=$DOCKER_HOST COMPOSE_PROJECT_NAME=tstream CONTAINERS_CONF=$CONTAINERS_CONF"
    say "stop with: docker-compose -f $COMPOSE_FILE ${PROFILES[*]} down -v; kill $svc_pid"
    exit $rc
  fi
  [ -S "$SOCK" ] && compose down -v --remove-orphans >/dev/null 2>&1
  [ -n "$svc_pid" ] && kill "$svc_pid" 2>/dev/null && wait "$svc_pid" 2>/dev/null
  rm -f "$SOCK"
  exit $rc
}
trap cleanup EXIT

phase_start
if P image exists localhost/debian:bookworm; then
  say "base image localhost/debian:bookworm exists: kept"
else
  rm -rf "$D/rootfs"
  debootstrap --variant=minbase bookworm "$D/rootfs" http://deb.debian.org/debian >"$D/debootstrap.log" 2>&1 \
    || { tail -20 "$D/debootstrap.log"; fail "debootstrap"; }
  tar -C "$D/rootfs" -c . | P import - localhost/debian:bookworm >/dev/null
  rm -rf "$D/rootfs"
fi
phase_end "base image (debootstrap + import, or cached)"

say "3. podman API service on $SOCK"
rm -f "$SOCK"
podman --root "$D/root" --runroot "$D/run" system service --time=0 "unix://$SOCK" >"$D/service.log" 2>&1 &
svc_pid=$!  # podman itself (not a subshell), so that cleanup stops it
for _ in $(seq 100); do curl -s --unix-socket "$SOCK" http://d/_ping 2>/dev/null | grep OK >/dev/null && break; sleep 0.1; done
curl -s --unix-socket "$SOCK" http://d/_ping | grep OK >/dev/null || fail "podman system service did not answer"
compose down -v --remove-orphans >/dev/null 2>&1 || true  # what an interrupted run left

phase_start
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || true)
P build -q -f "$ROOT/deploy/Dockerfile" --build-arg TS_COMMIT="$commit" -t localhost/tstream:latest "$ROOT" >"$D/build.log" 2>&1 \
  || { tail -30 "$D/build.log"; fail "image build"; }
phase_end "image build (podman build, layers cached)"
P build -q -f "$ROOT/deploy/Dockerfile" --target build -t localhost/tstream-build:latest "$ROOT" >>"$D/build.log" 2>&1
images=(localhost/debian:bookworm localhost/tstream-build:latest localhost/tstream:latest)
if [ "${TS_TRY_FFMPEG:-0}" = 1 ]; then  # the variant with ffmpeg, for its size
  P build -q -f "$ROOT/deploy/Dockerfile" --build-arg WITH_FFMPEG=1 -t localhost/tstream-ffmpeg:latest "$ROOT" >>"$D/build.log" 2>&1
  images+=(localhost/tstream-ffmpeg:latest)
fi
for i in "${images[@]}"; do
  note "$(printf 'image %-34s %s' "$i" "$(P image inspect --format '{{.Size}}' "$i" | awk '{printf "%.1f MB", $1/1e6}')")"
done

# A finite, deterministic source: SECS s of the 2 Mbit/s test pattern, made as fast as ffmpeg can.
src="$D/source/source.ts"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc=size=640x360:rate=25 \
  -f lavfi -i sine=frequency=1000:sample_rate=48000 -t "$SECS" -c:v libx264 -preset veryfast -tune zerolatency \
  -b:v 1800k -minrate 1800k -maxrate 1800k -bufsize 900k -x264-params nal-hrd=cbr -g 50 -pix_fmt yuv420p \
  -c:a mp2 -b:a 128k -f mpegts -muxrate 2000k "$src"
chmod 0755 "$D/source"; chmod 0644 "$src"
note "source: $SECS s test pattern, $(stat -c %s "$src") bytes, sha256 $(sha256sum "$src" | cut -c1-16)…"

# Viewers (the host's and the viewer/seeder containers) reach the broadcaster at this host's address.
host_ip=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
[ -n "$host_ip" ] || host_ip=$(hostname -I | awk '{print $1}')
ports=($(/usr/bin/python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("0.0.0.0", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))'))
export TS_NAME=live TS_SOURCE_DIR="$D/source" TS_ANNOUNCE_HOST="$host_ip" TS_EXIT_UNREADY="$UNREADY" \
  TS_PEER_PORT=${ports[0]} TS_VIEWER_PORT=${ports[1]} TS_SEEDER_PORT=${ports[2]} \
  TS_BRIDGE_HTTP=127.0.0.1:18080 TS_VIEWER_HTTP=127.0.0.1:18081
say "4. docker-compose up (announce host $host_ip, peer port $TS_PEER_PORT)"
phase_start
compose up -d >"$D/up.log" 2>&1 || { cat "$D/up.log"; fail "docker-compose up"; }
phase_end "docker-compose up -d (keys made, all started)"

# podman runs healthchecks from systemd timers; without systemd, run them at the file's interval
# (a stopped container's check fails: that must not end the loop).
( set +e; while sleep 10; do
    for s in "${SERVICES[@]}"; do timeout 30 podman --root "$D/root" --runroot "$D/run" healthcheck run "$(ctr "$s")" >/dev/null 2>&1; done
  done ) &
hc_pid=$!
health() { P inspect --format '{{.State.Health.Status}}' "$(ctr "$1")" 2>/dev/null; }
all_healthy() { for s in "${SERVICES[@]}"; do [ "$(health "$s")" = healthy ] || return 1; done; }
phase_start
for _ in $(seq 120); do all_healthy && break; sleep 2; done
for s in "${SERVICES[@]}"; do say "  $s: $(health "$s")"; done
all_healthy || fail "not every service became healthy"
phase_end "up -> every service healthy"

say "5. a viewer outside the containers"
vol=$(P volume inspect --format '{{.Mountpoint}}' tstream_published)
cp "$vol/live.tstream" "$D/live.tstream"
for s in ingest swarm player-bridge viewer-swarm viewer-bridge seeder; do
  P exec "$(ctr "$s")" test -e /var/lib/tstream/key/key.pem && fail "$s can see the signing key"
done
note "signing key: only in the signer container (key.pem $(P exec "$(ctr signer)" stat -c '%a %U' /var/lib/tstream/key/key.pem))"
export TSTREAM_HOME="$D/viewer-home"
rm -rf "$TSTREAM_HOME" "$D/out/host.ts"
"$BIN/tsctl" watch "$D/live.tstream" --name host-viewer --output "$D/out/host.ts" >"$D/watch.out"
say "  $(grep -i 'player' "$D/watch.out" | head -1)"
# A second one with only the magnet link the signer's container printed (BEP 9 from the swarm).
link=$(P logs "$(ctr signer)" 2>&1 | awk '$1 == "magnet:" { print $2 }' | tail -1)
[[ "$link" == magnet:* ]] || fail "the signer printed no magnet link"
note "magnet link from the signer's log: $link"
rm -f "$D/out/magnet.ts"
"$BIN/tsctl" watch "$link" --name host-magnet --output "$D/out/magnet.ts" >"$D/watch-magnet.out" 2>&1 \
  || { cat "$D/watch-magnet.out"; fail "tsctl watch of the magnet link failed"; }
note "magnet viewer: $(grep 'checked against the infohash' "$D/watch-magnet.out")"
# Players of the two HTTP bridges in the containers: 6 s of each.
curl -s --max-time 6 -o "$D/out/viewer-http.ts" http://127.0.0.1:18081/live.ts || true
curl -s --max-time 6 -o "$D/out/bridge-http.ts" http://127.0.0.1:18080/live.ts || true
for f in viewer-http bridge-http; do
  off=$(e2e slice_offset "$src" "$D/out/$f.ts") || fail "$f.ts is not a slice of the source"
  note "$f: $(stat -c %s "$D/out/$f.ts") bytes over HTTP = source bytes from offset $off"
done
phase_start
end=$((SECONDS + SECS + 180))
until e2e slice_offset "$src" "$D/out/host.ts" to-end >/dev/null 2>&1; do
  [ $SECONDS -lt $end ] || { e2e slice_offset "$src" "$D/out/host.ts" to-end || true; fail "the viewer never got to the end of the source"; }
  sleep 2
done
sleep 3  # nothing may follow the end
for f in host magnet; do
  off=$(e2e slice_offset "$src" "$D/out/$f.ts" to-end) || fail "the $f viewer's output is not the source's tail"
  e2e decodes_clean "$D/out/$f.ts" || fail "the $f viewer's output does not decode cleanly"
  size=$(stat -c %s "$D/out/$f.ts")
  note "$f viewer: $size bytes, byte-identical to the source from offset $off to its end ($((100 * size / $(stat -c %s "$src"))) % of it), decodes cleanly"
done
phase_end "viewer start -> end of the source"
# (status exits 3 here: the source has ended, so the stream is stalled)
{ "$BIN/tsctl" status host-viewer || [ $? = 3 ]; } | sed -n '1,3p'
"$BIN/tsctl" stop host-magnet >/dev/null 2>&1 || true

say "6. the signer stops: its neighbours must exit 112 and be restarted"
restarts() { P inspect --format '{{.RestartCount}}' "$(ctr "$1")"; }
declare -A r0=([ingest]=$(restarts ingest) [swarm]=$(restarts swarm))
phase_start
compose stop signer >/dev/null 2>&1
gave_up() { P logs "$(ctr "$1")" 2>&1 | grep -c "exiting with code 112" || true; }
for _ in $(seq $((UNREADY + 90))); do
  [ "$(gave_up swarm)" -ge 1 ] && [ "$(gave_up ingest)" -ge 1 ] && [ "$(restarts swarm)" -gt "${r0[swarm]}" ] &&
    [ "$(restarts ingest)" -gt "${r0[ingest]}" ] && break
  sleep 1
done
for s in ingest swarm; do
  line=$(P logs "$(ctr "$s")" 2>&1 | grep "exiting with code 112" | head -1)
  [ -n "$line" ] || fail "$s did not exit 112 with the signer stopped"
  note "$s: $(echo "$line" | sed 's/.*msg="\([^"]*\)".*/\1/')"
  [ "$(restarts "$s")" -gt "${r0[$s]}" ] || fail "$s was not restarted"
  note "$s: restart count $(restarts "$s"), state $(P inspect --format '{{.State.Status}}' "$(ctr "$s")")"
done
phase_end "signer stop -> ingest and swarm exited 112 and restarted"
phase_start
compose start signer >/dev/null 2>&1
for _ in $(seq 120); do all_healthy && break; sleep 2; done
for s in "${SERVICES[@]}"; do say "  $s: $(health "$s") (restarts $(restarts "$s"))"; done
all_healthy || fail "not every service became healthy again after the signer came back"
phase_end "signer start -> every service healthy again"

echo
echo "=== try-compose.sh: what it saw ($(date -u +%Y-%m-%dT%H:%MZ), podman $(podman --version | awk '{print $3}'), docker-compose $(docker-compose version --short)) ==="
printf '%s\n' "${report[@]}"
echo PASS
