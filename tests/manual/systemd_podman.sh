#!/usr/bin/env bash
# The units of deploy/systemd under a real systemd: a Debian 12 root file system (debootstrap,
# plus Debian's systemd and ffmpeg), tstream installed into it by deploy/systemd/install.sh, booted
# with systemd as PID 1 in a podman container. Then, with systemctl as an operator would:
#  - a broadcast of a finite source, a helper seeder and a viewer recording it: `enable --now`,
#    active with Status "N of N stages ready", running as tstream with no capabilities,
#    NoNewPrivileges and a seccomp filter, / read-only; the recording is the source's tail;
#  - `systemctl restart` keeps the infohash; a stage killed is restarted by the supervisor alone;
#    the main process killed, or stopped past WatchdogSec=, is restarted by systemd;
#  - a taken port fails the unit with status 101 and no restart; `systemctl stop` ends every
#    process of the unit with result success.
# For hosts where systemd is not PID 1 (see deploy/systemd/README.md). Needs root, podman with
# runc, debootstrap, and Debian's mirror (apt); not part of ctest (minutes, and ~600 MB in WORKDIR).
# Usage: tests/manual/systemd_podman.sh [BUILD_DIR] [WORKDIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
work=${2:-/tmp/ts-systemd-podman}
rootfs=$work/rootfs
P=(podman --root "$work/storage" --runroot "$work/run")
say() { echo "[$(date +%T)] $*"; }
mkdir -p "$work"

if [ ! -x "$rootfs/usr/bin/ffmpeg" ]; then
  say "debootstrap into $rootfs (about a minute), then ffmpeg (a few)"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,libzmq5,libprotobuf-c1,libev4,libcurl4,libssl3,procps,python3,ca-certificates \
    bookworm "$rootfs" > "$work/debootstrap.log"
  mount --bind /proc "$rootfs/proc"
  chroot "$rootfs" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ffmpeg' \
    > "$work/apt.log" || { umount "$rootfs/proc"; exit 1; }
  umount "$rootfs/proc"
fi

# A clean slate: what an earlier run left in the image goes.
rm -rf "$rootfs"/var/lib/tstream "$rootfs"/etc/tstream "$rootfs"/etc/systemd/system/multi-user.target.wants/tstream-*
mkdir -p "$rootfs/src" "$rootfs/build"
mount --bind "$src" "$rootfs/src"
mount --bind "$build" "$rootfs/build"
chroot "$rootfs" /src/deploy/systemd/install.sh /build || { umount "$rootfs/src" "$rootfs/build"; exit 1; }
umount "$rootfs/src" "$rootfs/build"

cat > "$rootfs/etc/tstream/demo.conf" <<'EOF'
SOURCE="pipe:ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc=size=640x360:rate=25 -f lavfi -i sine=frequency=1000:sample_rate=48000 -t 30 -c:v libx264 -preset veryfast -tune zerolatency -b:v 1800k -minrate 1800k -maxrate 1800k -bufsize 900k -x264-params nal-hrd=cbr -g 50 -pix_fmt yuv420p -c:a mp2 -b:a 128k -f mpegts -muxrate 2000k pipe:1 | tee -a /var/lib/tstream/demo-src.ts; exec sleep 3600"
BITRATE=2M
PORT=0
EOF
printf 'TSTREAM=/var/lib/tstream/published/demo.tstream\n' > "$rootfs/etc/tstream/demo-seed.conf"
printf 'TSTREAM=/var/lib/tstream/published/demo.tstream\nOPTIONS=--output /var/lib/tstream/demo-view.ts\n' \
  > "$rootfs/etc/tstream/demo-view.conf"
printf 'SOURCE=testsrc\n' > "$rootfs/etc/tstream/live.conf"

"${P[@]}" rm -f tsd >/dev/null 2>&1 || true
trap '"${P[@]}" stop -t 30 tsd >/dev/null 2>&1; "${P[@]}" rm -f tsd >/dev/null 2>&1' EXIT
"${P[@]}" run -d --name tsd --runtime runc --privileged --systemd=always --network host \
  --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 --rootfs "$rootfs" /sbin/init > /dev/null
for _ in $(seq 1 60); do
  state=$("${P[@]}" exec tsd systemctl is-system-running 2>/dev/null || true)
  case $state in running|degraded) break ;; esac
  sleep 1
done
say "systemd in the container: $state, $("${P[@]}" exec tsd systemctl --version | head -1)"

"${P[@]}" exec -i tsd bash -s <<'IN'
set -euo pipefail
say() { echo "[$(date +%T)] $*"; }
fail() { echo "FAIL: $*" >&2; systemctl status 'tstream-*' --no-pager -n 20 >&2 || true; exit 1; }
show() { systemctl show -p "$2" --value "$1"; }
tsctl_as() { runuser -u tstream -- env TSTREAM_HOME=/var/lib/tstream/state tsctl "$@"; }
B=tstream-broadcast@demo S=tstream-seed@demo-seed V=tstream-watch@demo-view L=tstream-broadcast@live

systemctl enable --now $B
systemctl enable --now $S $V
for u in $B $S $V; do
  [ "$(show $u ActiveState)" = active ] || fail "$u is $(show $u ActiveState)"
  say "$u: active, main pid $(show $u MainPID), status \"$(show $u StatusText)\""
  grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/$(show $u MainPID)/status | tr -s '\t\n' '  '; echo
done
[ -s /var/lib/tstream/published/demo.tstream ] || fail "no /var/lib/tstream/published/demo.tstream"
p=$(show $B MainPID)
nsenter -t $p -m sh -c 'touch /etc/probe' 2>/dev/null && fail "/etc is writable for the broadcast"
nsenter -t $p -m sh -c 'touch /var/lib/tstream/probe && rm /var/lib/tstream/probe' || fail "/var/lib/tstream is not writable"
say "in the broadcast's mount namespace: /etc read-only, /var/lib/tstream writable"

# The source runs 30 s; then the recording must be the source's tail.
stable() { local last=-1 now; for _ in $(seq 1 60); do now=$(stat -c %s "$1" 2>/dev/null || echo 0)
  [ "$now" = "$last" ] && [ "$now" -gt 0 ] && return 0; last=$now; sleep 3; done; return 1; }
stable /var/lib/tstream/demo-src.ts || fail "the source never finished"
stable /var/lib/tstream/demo-view.ts || fail "the recording never settled"
python3 - /var/lib/tstream/demo-src.ts /var/lib/tstream/demo-view.ts <<'PY' || fail "the recording is not the source's tail"
import sys
src, out = open(sys.argv[1], 'rb').read(), open(sys.argv[2], 'rb').read()
off = src.find(out[:4096])
assert len(out) > 4096 and off >= 0 and src[off:] == out
print("recording: %d bytes, identical to the source from byte %d to its end" % (len(out), off))
PY
tsctl_as status | grep -E '^\S|stream:'
systemctl stop $V $S $B
for u in $V $S $B; do
  [ "$(show $u Result) $(show $u ExecMainStatus)" = "success 0" ] || fail "$u stopped with $(show $u Result) $(show $u ExecMainStatus)"
done
[ "$(pgrep -u tstream -c || true)" = 0 ] || fail "processes of tstream left: $(pgrep -u tstream -a)"
say "systemctl stop: result success, exit status 0, no process of the tstream user left"

systemctl start $L
ih() { journalctl -u $L -o cat | grep -o 'infohash=[0-9a-f]*' | tail -1; }
before=$(ih); systemctl restart $L; [ "$(ih)" = "$before" ] || fail "restart changed the infohash"
say "systemctl restart: same $before"
signer() { # the signer's pid once it is ready
  tsctl_as status --json | python3 -c 'import json,sys; print(next((s["pid"] for s in json.load(sys.stdin)["instances"][0]["stages"] if s["name"] == "signer" and s["state"] == "ready"), ""))'; }
sig=$(signer) main=$(show $L MainPID)
kill -9 "$sig"
for _ in $(seq 1 30); do new=$(signer); [ -n "$new" ] && [ "$new" != "$sig" ] && break; sleep 1; done
[ -n "$new" ] && [ "$new" != "$sig" ] || fail "the signer did not come back"
[ "$(show $L MainPID) $(show $L NRestarts)" = "$main 0" ] || fail "a killed stage restarted the unit"
say "kill -9 of the signer (pid $sig): the supervisor restarted it (pid $new), the unit did not restart"
kill -9 "$main"
for _ in $(seq 1 30); do [ "$(show $L NRestarts)" = 1 ] && [ "$(show $L ActiveState)" = active ] && break; sleep 1; done
[ "$(show $L NRestarts)" = 1 ] && [ "$(show $L ActiveState)" = active ] || fail "not restarted after kill -9 of the main process"
say "kill -9 of the main process: systemd restarted the unit ($(show $L StatusText))"
kill -STOP "$(show $L MainPID)"
for _ in $(seq 1 60); do [ "$(show $L NRestarts)" = 2 ] && [ "$(show $L ActiveState)" = active ] && break; sleep 1; done
[ "$(show $L NRestarts)" = 2 ] || fail "a stopped supervisor was not caught by the watchdog"
journalctl -u $L -o cat | grep 'Watchdog timeout'
say "SIGSTOP of the main process: WatchdogSec= caught it, systemd restarted the unit"

port=$(grep -o 'port=[0-9]*' <(journalctl -u $L -o cat) | tail -1 | cut -d= -f2)
printf 'SOURCE=testsrc\nPORT=%s\n' "$port" > /etc/tstream/clash.conf
systemctl start tstream-broadcast@clash 2>/dev/null && fail "a broadcast on a taken port started"
sleep 8
[ "$(show tstream-broadcast@clash ExecMainStatus) $(show tstream-broadcast@clash NRestarts)" = "101 0" ] \
  || fail "clash: status $(show tstream-broadcast@clash ExecMainStatus), restarts $(show tstream-broadcast@clash NRestarts)"
journalctl -u tstream-broadcast@clash -o cat | grep 'STAGE FAILED' | cut -c1-240
say "a taken port: the unit failed with status 101 and was not restarted"
systemctl stop $L
say "PASS"
IN
