#!/usr/bin/env bash
# Restart-to-ready per stage: a broadcast (testsrc) and one viewer; each stage (ingest, signer,
# swarm of the broadcast; player-bridge and swarm of the viewer) is killed with kill -9 N times,
# round-robin, each time after it had been ready for 11 s (a crash after a healthy run), and
# the time from the kill to the supervisor's "STAGE ready" log line is measured (both
# wall-clock; the log has millisecond timestamps). Writes bench/results/restart.md.
# Usage: bench/restart.sh [N]    (default 5; about 13 s per round)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
N=${1:-5}
case "$N" in ''|*[!0-9]*) echo "usage: bench/restart.sh [N]" >&2; exit 100 ;; esac
BIN=${TS_BIN:-$src/build/bin}
TSCTL=$BIN/tsctl
[ -x "$TSCTL" ] || { echo "no $TSCTL: build first (cmake --build build)" >&2; exit 111; }
# More than 5 crashes of one stage within 120 s would mark it failed: space the kills out.
gap=11
[ "$N" -le 5 ] || gap=25

work=$(mktemp -d /tmp/tsrestart.XXXXXX)
export TSTREAM_HOME=$work/home
trap '"$TSCTL" stop --all >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
cd "$work"

field() { # INSTANCE STAGE FIELD
  "$TSCTL" status --json | /usr/bin/python3 -c '
import json, sys
for i in json.load(sys.stdin)["instances"]:
    if i["name"] == sys.argv[1]:
        for s in i["stages"]:
            if s["name"] == sys.argv[2]: print(s.get(sys.argv[3], ""))' "$1" "$2" "$3"
}
now_ms() { date +%s%3N; }

"$TSCTL" start demo --source testsrc >/dev/null
"$TSCTL" watch demo.tstream --name v1 --output "$work/out.ts" >/dev/null
targets="demo:ingest demo:signer demo:swarm v1:player-bridge v1:swarm"
declare -A ready_at
for t in $targets; do ready_at[$t]=$(now_ms); done
: > records
for round in $(seq 1 "$N"); do
  for t in $targets; do
    inst=${t%%:*} stage=${t#*:}
    wait_ms=$(( ready_at[$t] + gap * 1000 - $(now_ms) ))
    [ $wait_ms -le 0 ] || sleep "$(printf '%d.%03d' $((wait_ms / 1000)) $((wait_ms % 1000)))"
    pid=$(field "$inst" "$stage" pid)
    restarts=$(field "$inst" "$stage" restarts)
    t0=$(now_ms)
    kill -9 "$pid"
    for _ in $(seq 1 600); do
      [ "$(field "$inst" "$stage" restarts)" = $((restarts + 1)) ] && [ "$(field "$inst" "$stage" state)" = ready ] && break
      sleep 0.1
    done
    newpid=$(field "$inst" "$stage" pid)
    ready_at[$t]=$(now_ms)
    echo "$inst $stage $t0 $pid $newpid" >> records
    echo "round $round: $inst/$stage killed (pid $pid), now pid $newpid, state $(field "$inst" "$stage" state)"
  done
done
out=$src/bench/results/restart.md
mkdir -p "$(dirname "$out")"
/usr/bin/python3 - records "$TSTREAM_HOME" "$N" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" > "$out" <<'PY'
import datetime, re, statistics, sys
recs = [l.split() for l in open(sys.argv[1]) if l.strip()]
home, n, cpus, load = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
def ms(line):
    t = re.match(r"time=(\S+)Z", line).group(1)
    d = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
    return d.timestamp() * 1000
logs = {}
rows = {}
for inst, stage, t0, old, new in recs:
    t0 = int(t0)
    lines = logs.setdefault(inst, open("%s/%s/log/supervisor.log" % (home, inst)).read().splitlines())
    died = next((ms(l) for l in lines if 'msg="%s died (' % stage in l and ms(l) >= t0 - 5), None)
    ready = next((ms(l) for l in lines if 'msg="%s ready, pid %s,' % (stage, new) in l), None)
    r = rows.setdefault("%s (%s)" % (stage, "broadcast" if inst == "demo" else "viewer"), {"died": [], "ready": [], "missing": 0})
    if died is None or ready is None:
        r["missing"] += 1
        continue
    r["died"].append(died - t0)
    r["ready"].append(ready - t0)
print("# Restart to ready after kill -9 (bench/restart.sh)\n")
print("%s, %s kills per stage, each after at least 11 s ready (so the supervisor restarts it after 0.1 s);" %
      (datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), n))
print("a broadcast (testsrc, 2 Mbit/s) and one viewer on %s CPUs, load average %s at the end." % (cpus, load))
print("Times from the kill (wall clock in the script) to the supervisor noticing the death and to its\n"
      "`STAGE ready` log line for the new process (READY message received), in milliseconds.\n")
print("| stage | kills | death noticed, median | ready, median | ready, max |")
print("|---|---|---|---|---|")
for k, r in rows.items():
    if not r["ready"]:
        print("| %s | 0 of %d measured | | | |" % (k, r["missing"]))
        continue
    print("| %s | %d%s | %.0f | %.0f | %.0f |" % (k, len(r["ready"]), " (+%d unmeasured)" % r["missing"] if r["missing"] else "",
          statistics.median(r["died"]), statistics.median(r["ready"]), max(r["ready"])))
PY
cat "$out"
