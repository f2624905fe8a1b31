#!/usr/bin/env bash
# kill -9 of the supervisors of a broadcast with a pipe: source and of a viewer: every process
# of both instances (stages, the source's shell, ffmpeg and tee, anything in their process
# groups) is gone within a bounded wait, as the stages notice their supervisor's death
# (PR_SET_PDEATHSIG) and ingest stops its source command. A later `tsctl start` of the same
# name starts afresh.
. "$(dirname "$0")/common.bash"

# Every process descending from the given pids, and every member of their process groups:
# "pid comm" lines.
family() {
  /usr/bin/python3 - "$@" <<'PY'
import os, sys
procs = {}
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        s = open("/proc/%s/stat" % d).read()
    except OSError:
        continue
    comm = s[s.index("(") + 1:s.rindex(")")]
    f = s[s.rindex(")") + 2:].split()
    procs[int(d)] = (int(f[1]), int(f[2]), comm) # ppid, pgid
keep = set(int(p) for p in sys.argv[1:])
while True:
    more = {p for p, (pp, pg, c) in procs.items() if pp in keep or pg in {procs[k][1] for k in keep if k in procs}}
    if more <= keep:
        break
    keep |= more
for p in sorted(keep):
    if p in procs:
        print(p, procs[p][2])
PY
}
# Processes from the list (one "pid comm" a line) that still exist and are not zombies.
survivors() {
  local pid comm st
  while read -r pid comm; do
    st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
    [ -n "$st" ] && [ "$st" != Z ] && echo "$pid $comm"
  done < "$1"
  return 0
}
none_left() { [ -z "$(survivors "$1")" ]; }

"$TSCTL" start demo --source "$(finite_source 120 "$WORK/src.ts")" --bitrate 2M >/dev/null
"$TSCTL" watch demo.tstream --name v1 --output "$WORK/out1.ts" >/dev/null
wait_for 60 bash -c "[ \$(stat -c %s $WORK/out1.ts 2>/dev/null || echo 0) -ge 500000 ]" || fail "the viewer got no stream"

sups="$(cat "$TSTREAM_HOME/demo/supervisor.pid") $(cat "$TSTREAM_HOME/v1/supervisor.pid")"
family $sups > procs
say "processes of both instances: $(awk '{print $2}' procs | sort | uniq -c | tr -s ' ' | tr '\n' ',')"
for c in tsctl ts-ingest ts-signer ts-swarm ts-player-bridg sh ffmpeg tee; do
  grep -q " $c\$" procs || fail "expected a $c process among them: $(cat procs | tr '\n' ' ')"
done
[ "$(wc -l < procs)" -ge 10 ] || fail "too few processes collected: $(cat procs | tr '\n' ' ')"

say "kill -9 supervisors $sups"
kill -9 $sups
wait_for 30 none_left procs || fail "left running 30 s after the supervisors died: $(survivors procs | tr '\n' ' ')"
zombies=$(while read -r pid comm; do awk '$3 == "Z" {print $1 "(parent " $4 ")"}' "/proc/$pid/stat" 2>/dev/null || true; done < procs)
say "all $(wc -l < procs) processes gone${zombies:+; zombies not yet reaped by their new parent: $zombies}"

# The instance starts again under the same name: fresh supervisor, every stage ready.
"$TSCTL" start demo --source "pipe:exec sleep 3600" --wait-data 0 >/dev/null || fail "tsctl start of demo after its supervisor died failed"
for s in ingest signer swarm; do
  [ "$(stage_field demo $s state)" = ready ] || fail "after the new start, $s is $(stage_field demo $s state)"
done
grep -q " $(stage_field demo ingest pid) " procs && fail "a stage pid survived into the new start"
"$TSCTL" stop demo >/dev/null
"$TSCTL" stop v1 >/dev/null
say "PASS"
