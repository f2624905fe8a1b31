#!/usr/bin/env bash
# A stage that exits at once, every time: ingest's endpoint path is taken by a directory it
# cannot replace, so each new ingest fails to bind and exits 111 ("system failure: restart may
# help"). The supervisor restarts it after growing delays, then marks it failed: `failed` with a
# reason in status --json, a loud STAGE FAILED line in the supervisor's and ingest's log.
# The other stages keep running (the signer unready: no ingest to hear from), and `tsctl restart`
# brings ingest back once the path is free.
. "$(dirname "$0")/common.bash"

stage_is() { [ "$(stage_field "$1" "$2" state)" = "$3" ]; } # INSTANCE STAGE STATE

"$TSCTL" start demo --source "pipe:exec sleep 3600" --wait-data 0 >/dev/null
dir="$TSTREAM_HOME/demo"
[ "$(stage_field demo ingest state)" = ready ] || fail "ingest is not ready after start"

rm -f "$dir/ingest.ipc"
mkdir -p "$dir/ingest.ipc/taken"
say "ingest.ipc is now a directory; restarting ingest"
"$TSCTL" restart demo ingest >/dev/null
wait_for 120 stage_is demo ingest failed || fail "ingest never reached failed (state $(stage_field demo ingest state), restarts $(stage_field demo ingest restarts))"
reason=$(stage_field demo ingest reason)
say "ingest failed: $reason"
case "$reason" in *"exit code 111, 6 crashes"*"ingest.ipc"*) ;; *) fail "status reason does not say why: $reason" ;; esac
# The others keep running: the swarm ready (it hears the signer), the signer up but, with no ingest
# to hear from, not ready, saying so as its /readyz does (one definition of ready, issue 16).
[ "$(stage_field demo swarm state)" = ready ] || fail "swarm is $(stage_field demo swarm state) after ingest failed"
[ "$(stage_field demo signer pid)" -gt 0 ] || fail "the signer stopped after ingest failed"
signer_waits() { [ "$(stage_field demo signer state)" = unready ] && stage_field demo signer reason | grep "ingest not heard from" >/dev/null; }
wait_for 20 signer_waits || fail "signer is $(stage_field demo signer state) ($(stage_field demo signer reason)) after ingest failed"
rc=0
"$TSCTL" status demo > status.out || rc=$?
[ "$rc" = 4 ] || fail "tsctl status demo exited $rc with a failed stage, want 4"
grep -q '!! ingest FAILED' status.out || fail "tsctl status does not show the failure"
grep -q 'level=error .*msg="STAGE FAILED: ingest' "$dir/log/supervisor.log" || fail "no STAGE FAILED line in supervisor.log"
"$TSCTL" logs demo ingest | grep 'STAGE FAILED: ingest' >/dev/null || fail "no STAGE FAILED line in ingest's log"

# The delays, from the supervisor's own timestamps: each death of ingest to its next start.
/usr/bin/python3 - "$dir/log/supervisor.log" <<'PY' || fail "restart delays did not grow"
import re, sys, datetime
def t(line):
    s = re.match(r"time=(\S+)Z", line).group(1)
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f").timestamp()
lines = open(sys.argv[1]).read().splitlines()
start = max(i for i, l in enumerate(lines) if 'msg="restart of ingest requested"' in l)
died, delays = None, []
for l in lines[start:]:
    if 'msg="ingest died (' in l:
        died = t(l)
    elif 'msg="ingest started, pid' in l and died is not None:
        delays.append(t(l) - died)
        died = None
print("delays between a death and the next start (s):", " ".join("%.2f" % d for d in delays))
assert len(delays) >= 4, "only %d restarts before failed" % len(delays)
assert all(b > a for a, b in zip(delays, delays[1:])), "delays do not grow"
assert delays[-1] >= 4 * delays[0], "delays grew less than exponentially"
PY

rm -rf "$dir/ingest.ipc"
"$TSCTL" restart demo ingest >/dev/null
wait_for 30 stage_is demo ingest ready || fail "ingest did not come back after tsctl restart (state $(stage_field demo ingest state))"
say "ingest ready again after tsctl restart"
"$TSCTL" stop demo >/dev/null
say "PASS"
