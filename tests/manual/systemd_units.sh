#!/usr/bin/env bash
# The units of deploy/systemd run by hand, where systemd is not PID 1 (a container, a build VM):
# a broadcast of a finite source, a helper seeder and a viewer, each started from its unit's
# ExecStart= with the unit's user, environment, umask and working directory (unit_exec.py here),
# with a stand-in for systemd's notify socket. Checks READY=1 from each, the published .tstream,
# the viewer's copy of the source, and SIGTERM: exit 0 and nothing left running.
# STRACE=1 also traces every process and compares what they did with the units' sandbox:
# system calls against SystemCallFilter=, socket families against RestrictAddressFamilies=,
# writable+executable memory (MemoryDenyWriteExecute=) and /proc files outside /proc/PID (ProcSubset=pid).
# Needs root and deploy/systemd/install.sh run first; uses /etc/tstream/hand*.conf and
# /var/lib/tstream/{,state/}hand*, and removes them afterwards. Not part of ctest (it needs the
# units installed system-wide).
# Usage: tests/manual/systemd_units.sh [OUTDIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-/tmp/ts-systemd-units}
rm -rf "$out" && mkdir -p "$out"
units=/etc/systemd/system
lib=/var/lib/tstream
pids=()
say() { echo "[$(date +%T)] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
tsctl_as() { runuser -u tstream -- env TSTREAM_HOME=$lib/state /usr/local/bin/tsctl "$@"; }
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  tsctl_as stop --all >/dev/null 2>&1
  wait 2>/dev/null
  rm -rf /etc/tstream/hand*.conf $lib/hand* $lib/state/hand* $lib/state/instances/hand* $lib/published/hand.tstream
}
trap cleanup EXIT
getent passwd tstream >/dev/null || fail "no tstream user: run deploy/systemd/install.sh first"
[ -f $units/tstream-broadcast@.service ] || fail "units not installed: run deploy/systemd/install.sh first"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The source records what it sends to a file the tstream user may write (ProtectSystem=strict).
cat > /etc/tstream/hand.conf <<EOF
SOURCE="pipe:ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc=size=640x360:rate=25 -f lavfi -i sine=frequency=1000:sample_rate=48000 -t 20 -c:v libx264 -preset veryfast -tune zerolatency -b:v 1800k -minrate 1800k -maxrate 1800k -bufsize 900k -x264-params nal-hrd=cbr -g 50 -pix_fmt yuv420p -c:a mp2 -b:a 128k -f mpegts -muxrate 2000k pipe:1 | tee -a $lib/hand-src.ts; exec sleep 3600"
BITRATE=2M
PORT=$port
ANNOUNCE_HOST=127.0.0.1
EOF
cat > /etc/tstream/hand-seed.conf <<EOF
TSTREAM=$lib/published/hand.tstream
EOF
cat > /etc/tstream/hand-view.conf <<EOF
TSTREAM=$lib/published/hand.tstream
HTTP=127.0.0.1:0
OPTIONS=--output $lib/hand-view.ts
EOF

# systemd's notify socket, one line per datagram: "SOCKET MESSAGE".
/usr/bin/python3 -c '
import os, select, socket, sys
socks = {}
for path in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(path); os.chmod(path, 0o666)
    socks[s] = os.path.basename(path)
while True:
    for s in select.select(list(socks), [], [])[0]:
        print(socks[s], s.recv(4096).decode().replace("\n", ";"), flush=True)
' "$out/b.sock" "$out/s.sock" "$out/v.sock" > "$out/notify.log" &
pids+=($!)
sleep 1

run_unit() { # TAG UNIT INSTANCE
  local tag=$1 unit=$2 inst=$3 pre=()
  [ "${STRACE:-0}" = 1 ] && pre=(strace -f -qq -s 64 -o "$out/$tag.strace")
  ( NOTIFY_SOCKET="$out/$tag.sock" WATCHDOG_USEC=30000000 "${pre[@]}" /usr/bin/python3 "$here/unit_exec.py" \
      "$units/$unit" "$inst" > "$out/$tag.out" 2>&1 &
    echo $! > "$out/$tag.pid"; rc=0; wait $! || rc=$?; echo $rc > "$out/$tag.rc" ) &
  pids+=($!)
  local end=$((SECONDS + 120))
  until grep -q "^$tag.sock READY=1" "$out/notify.log"; do
    [ $SECONDS -lt $end ] && [ ! -s "$out/$tag.rc" ] || { cat "$out/$tag.out"; fail "$unit ($inst) never said READY=1"; }
    sleep 0.5
  done
  say "$unit for $inst: READY=1; $(head -1 "$out/$tag.out")"
}
run_unit b tstream-broadcast@.service hand
ls -l $lib/published/hand.tstream
run_unit s tstream-seed@.service hand-seed
run_unit v tstream-watch@.service hand-view
tsctl_as status | tee "$out/status.txt"

# The source runs 20 s; then the viewer's copy must stop growing and be the source's tail.
stable() { local last=-1 now; for _ in $(seq 1 120); do now=$(stat -c %s "$1" 2>/dev/null || echo 0)
  [ "$now" = "$last" ] && [ "$now" -gt 0 ] && return 0; last=$now; sleep 3; done; return 1; }
stable $lib/hand-src.ts || fail "the source never finished"
stable $lib/hand-view.ts || fail "the viewer's output never settled"
/usr/bin/python3 - $lib/hand-src.ts $lib/hand-view.ts <<'PY' || fail "the viewer's output is not the end of the source"
import sys
src, out = open(sys.argv[1], 'rb').read(), open(sys.argv[2], 'rb').read()
off = src.find(out[:4096])
assert len(out) > 4096 and off >= 0 and src[off:] == out, "mismatch"
print("viewer: %d bytes, the source from byte %d to its end" % (len(out), off))
PY

json=$(tsctl_as status --json)
before=$(echo "$json" | /usr/bin/python3 -c '
import json, sys
for i in json.load(sys.stdin)["instances"]:
    print(i["supervisor_pid"], *[s["pid"] for s in i["stages"]])')
# The main pid systemd would watch is the supervisor (under strace, $!.pid is strace's).
main_pid() { echo "$json" | /usr/bin/python3 -c '
import json, sys
print(next(i["supervisor_pid"] for i in json.load(sys.stdin)["instances"] if i["name"] == sys.argv[1]))' "$1"; }
mains="$(main_pid hand-view) $(main_pid hand-seed) $(main_pid hand)"
if [ "${STRACE:-0}" != 1 ]; then
  [ "$mains" = "$(cat "$out/v.pid") $(cat "$out/s.pid") $(cat "$out/b.pid")" ] \
    || fail "the supervisors ($mains) are not the processes started ($(cat "$out"/[vsb].pid | tr '\n' ' '))"
fi
say "SIGTERM to the three main processes, $mains (as systemctl stop does with KillMode=mixed)"
kill -TERM $mains
for t in v s b; do
  for _ in $(seq 1 60); do [ -s "$out/$t.rc" ] && break; sleep 1; done
  [ "$(cat "$out/$t.rc" 2>/dev/null)" = 0 ] || fail "$t exited '$(cat "$out/$t.rc" 2>/dev/null)', expected 0"
done
for p in $before; do ! kill -0 "$p" 2>/dev/null || fail "pid $p still runs"; done
! pgrep -u tstream -a || fail "processes of the tstream user still run"
say "all three exited 0, nothing of the tstream user runs"
grep -v WATCHDOG "$out/notify.log" > "$out/notify-nowatchdog.log"
echo "notify messages (without WATCHDOG=1, of which there were $(grep -c WATCHDOG=1 "$out/notify.log")):"
cat "$out/notify-nowatchdog.log"

[ "${STRACE:-0}" = 1 ] || { say "PASS"; exit 0; }
# What the units allow, from this systemd's own tables.
expand() { systemd-analyze syscall-filter "$1" | awk '/^ +[@a-z_0-9]/ {print $1}' | while read -r s; do
  case $s in @*) expand "$s" ;; *) echo "$s" ;; esac; done; }
expand @system-service | sort -u > "$out/allowed.txt"
expand @privileged | sort -u > "$out/privileged.txt"
/usr/bin/python3 - "$out" b s v <<'PY'
import re, sys
out, tags = sys.argv[1], sys.argv[2:]
allowed = set(open(out + "/allowed.txt").read().split()) - set(open(out + "/privileged.txt").read().split())
bad = 0
for tag in tags:
    lines = open("%s/%s.strace" % (out, tag)).read().splitlines()
    # Only what runs after unit_exec.py became tsctl: the service's own processes.
    start = next(i for i, l in enumerate(lines) if 'execve("/usr/local/bin/tsctl"' in l)
    calls, families, wx, procfiles = set(), set(), [], set()
    for l in lines[start:]:
        m = re.match(r"\d+ +(?:<\.\.\. (\w+) resumed>|(\w+)\()", l)
        if m:
            calls.add(m.group(1) or m.group(2))
        m = re.search(r"socket\((AF_\w+)", l)
        if m:
            families.add(m.group(1))
        if re.search(r"\b(mmap|mprotect|pkey_mprotect)\(.*PROT_EXEC", l) and ("PROT_WRITE" in l or "mprotect" in l):
            wx.append(l)
        m = re.search(r'open(?:at)?\((?:AT_FDCWD, )?"(/proc/[^"]*)"', l)
        if m and not re.match(r"/proc/(self|thread-self|\d+)(/|$)", m.group(1)):
            procfiles.add(m.group(1))
    denied = sorted(c for c in calls if c not in allowed and c not in ("exit", "exit_group", "restart_syscall"))
    print("%s: %d distinct system calls; outside @system-service minus @privileged: %s" % (tag, len(calls), denied or "none"))
    print("%s: socket families: %s" % (tag, " ".join(sorted(families))))
    print("%s: W+X mappings or mprotect(PROT_EXEC): %d%s" % (tag, len(wx), "".join("\n    " + l for l in wx[:5])))
    print("%s: /proc files outside /proc/PID: %s" % (tag, " ".join(sorted(procfiles)) or "none"))
    bad += len(denied) + len(families - {"AF_UNIX", "AF_INET", "AF_INET6"})
sys.exit(1 if bad else 0)
PY
say "PASS"
