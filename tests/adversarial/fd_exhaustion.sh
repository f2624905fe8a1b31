#!/usr/bin/env bash
# Issue 14: a viewer that runs out of file descriptors does not spin. Its swarm's descriptor limit
# is lowered (prlimit on the running process) to a few above what it holds, and a flood of TCP
# connections from many 127/8 addresses is opened and held against its peer port
# (tests/adversarial/evilpeer.py --scenario flood-connections). Once its table is full, accept()
# fails with EMFILE while the connections stay queued and the listener stays readable: a plain
# accept loop then runs at a full core until a descriptor frees up. The swarm's acceptor instead
# rests (lib/ts_sock.h, TS_ACCEPT_PAUSE_S) and counts it.
# Asserted: the viewer's CPU time during the flood (utime + stime from /proc/PID/stat) stays under
# MAX_CPU_PCT % of the flood's wall time (a spinning loop takes all the CPU it can get; a healthy
# viewer on a loaded 2-core machine ~1 %); its swarm's accept_pauses counter (tsctl status --json)
# moved; it is the same process, still with its broadcaster, and after the flood its output is
# byte-identical to the source, to its end, decoding cleanly.
# On the old code (no acceptor: swarm.c's on_accept returned on EMFILE and libev called it again at
# once; 40619f1) the viewer's swarm spun for the whole flood: 33 % of the flood's wall time on a
# 2-core machine at load average 5.5 (all it could get), and it had no accept_pauses counter. On
# the acceptor (lib/ts_sock): 1 %, accept_pauses 0 -> 151, output byte-identical.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../e2e/common.bash"
evil() { /usr/bin/python3 "$HERE/evilpeer.py" --tstream "$WORK/demo.tstream" "$@"; }

FLOOD_N=${FD_FLOOD_N:-400}   # connections in the flood
FLOOD_S=${FD_FLOOD_S:-15}    # seconds they are held (longer than the 10 s a silent one may wait)
SPARE=${FD_SPARE:-12}        # descriptors left free under the lowered limit
MAX_CPU_PCT=15               # spinning: a full core, ~33 % of the wall time at load 5.5 on 2
                             # cores; healthy: ~1 %
VIP=127.0.0.6                # the viewer's own address (--bind)

command -v prlimit > /dev/null || { echo "SKIP: no prlimit (util-linux)"; exit 77; }

FLOOD_PID=
trap 'rc=$?; set +e; [ -n "$FLOOD_PID" ] && kill "$FLOOD_PID" 2>/dev/null; (exit $rc); cleanup' EXIT

say "broadcast, and a viewer at $VIP"
"$TSCTL" start demo --source "$(finite_source 75 "$WORK/src.ts")" --bitrate 2M > start.out \
  || fail "tsctl start: $(cat start.out)"
vport=$(free_ports 1)
"$TSCTL" watch demo.tstream --name v1 --port "$vport" --bind "$VIP" --output "$WORK/out1.ts" > watch1.out \
  || fail "tsctl watch: $(cat watch1.out)"
wait_for 60 bash -c "[ \$(stat -c %s $WORK/out1.ts 2>/dev/null || echo 0) -ge 1000000 ]" || fail "the viewer receives nothing"
vpid=$(stage_field v1 swarm pid)
[ -n "$vpid" ] && [ -d "/proc/$vpid" ] || fail "no pid for the viewer's swarm"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$vpid/stat"; }
counter() { local v; v=$(stage_field v1 swarm "$1"); echo "${v:-missing}"; }

nfd=$(ls "/proc/$vpid/fd" | wc -l)
limit=$((nfd + SPARE))
prlimit --pid "$vpid" --nofile="$limit:$limit" || { echo "SKIP: cannot lower the swarm's descriptor limit"; exit 77; }
say "the viewer's swarm (pid $vpid) holds $nfd descriptors; its limit is now $limit"

p0=$(counter accept_pauses)
[ "$p0" != missing ] || fail "the swarm has no accept_pauses counter in tsctl status --json"
c0=$(cpu_ticks); t0=$(date +%s.%N)
evil --target "$VIP:$vport" --scenario flood-connections --count "$FLOOD_N" --wait "$FLOOD_S" > flood.out 2>&1 &
FLOOD_PID=$!
maxfds=0
while kill -0 "$FLOOD_PID" 2>/dev/null; do
  n=$(ls "/proc/$vpid/fd" 2>/dev/null | wc -l)
  [ "$n" -gt "$maxfds" ] && maxfds=$n
  sleep 0.5
done
wait "$FLOOD_PID" || { cat flood.out; fail "the connection flood could not run"; }
FLOOD_PID=
c1=$(cpu_ticks); t1=$(date +%s.%N)
cpu=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {printf "%.0f", 100 * (b - a) / hz / (e - s)}')
sleep 2 # a heartbeat or two: the counters in tsctl status are a second old
p1=$(counter accept_pauses)
say "$(cat flood.out)"
say "during the flood the viewer held at most $maxfds descriptors (limit $limit), used $cpu % of a core; accept_pauses $p0 -> $p1"

[ "$maxfds" -ge $((limit - 2)) ] || fail "the flood did not fill the viewer's descriptor table ($maxfds of $limit): the test proves nothing"
[ "$cpu" -lt "$MAX_CPU_PCT" ] || fail "the viewer's swarm used $cpu % of a core while out of descriptors (spinning)"
[ "$p1" -gt "$p0" ] || fail "accept_pauses did not move ($p0 -> $p1): the acceptor never paused for lack of descriptors"
[ "$(stage_field v1 swarm pid)" = "$vpid" ] || fail "the viewer's swarm was restarted"
[ "$(stage_field v1 swarm restarts)" = 0 ] || fail "the viewer's swarm was restarted"
[ "$(counter peers)" -ge 1 ] || fail "the viewer lost its broadcaster"

finish_and_check demo 1
say "PASS"
