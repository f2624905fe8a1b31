#!/usr/bin/env bash
# One definition of ready (issue 16): the signer of a broadcast is killed until the supervisor
# gives up on it (failed). Its neighbours then hear nothing from it, and their /readyz answers
# 503 `not ready: …`. `tsctl status --json` must show each stage as its own /readyz does — ingest
# and swarm `unready` with the same reason, not `ready` — the text status the same, the
# supervisor's /readyz and /metrics agree, and the failed signer carries the reason the CLI prints.
# `tsctl restart` brings everything back to ready everywhere.
. "$(dirname "$0")/common.bash"

"$TSCTL" start demo --source "pipe:exec sleep 3600" --wait-data 0 >/dev/null

# Every running stage: the state and reason status --json shows are what its own /readyz says.
# Writes json.view and readyz.view, one "STAGE|STATE|REASON" line per running stage each (failed
# stages have no /readyz), the /readyz side as "ready" (200 "ok[: NOTE]") or "unready" (503
# "not ready: REASON").
agree() {
  { "$TSCTL" status demo --json || true; } | /usr/bin/python3 -c '
import json, re, sys, urllib.request, urllib.error
js, rz = [], []
norm = lambda v: re.sub(r"[0-9]+", "N", v) # a note counts seconds ("source idle 12 s"): one beat behind
for s in json.load(sys.stdin)["instances"][0]["stages"]:
    if s["state"] == "failed" or "metrics_url" not in s:
        continue
    js.append("%s|%s|%s" % (s["name"], s["state"], s.get("reason", "")))
    try:
        r = urllib.request.urlopen(s["metrics_url"][:-len("metrics")] + "readyz", timeout=5)
        code, body = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        code, body = e.code, e.read().decode()
    except OSError as e:
        code, body = 0, str(e)
    body = body.strip()
    if code == 200 and body.split(": ", 1)[0] == "ok":
        rz.append("%s|ready|%s" % (s["name"], body.split(": ", 1)[1] if ": " in body else ""))
    elif code == 503 and body.startswith("not ready: "):
        rz.append("%s|unready|%s" % (s["name"], body[len("not ready: "):]))
    else:
        rz.append("%s|?|%s %s" % (s["name"], code, body))
open("json.view", "w").write("".join(l + "\n" for l in js))
open("readyz.view", "w").write("".join(l + "\n" for l in rz))
sys.exit(0 if js and list(map(norm, js)) == list(map(norm, rz)) else 1)'
}

wait_for 20 agree || { diff json.view readyz.view; fail "status --json and /readyz disagree after start"; }
grep -qv '|ready|' json.view && fail "not every stage is ready after start: $(cat json.view)"
say "after start: $(tr '\n' ' ' < json.view)"

say "kill -9 the signer each time it runs, until the supervisor gives up"
killed=""
for _ in $(seq 1 200); do
  state=$(stage_field demo signer state) pid=$(stage_field demo signer pid)
  [ "$state" = failed ] && break
  if [ "$pid" != 0 ] && [ "$pid" != "$killed" ]; then kill -9 "$pid" 2>/dev/null && killed=$pid; fi
  sleep 0.3
done
[ "$(stage_field demo signer state)" = failed ] || fail "the signer never reached failed ($(stage_field demo signer state))"
reason=$(stage_field demo signer reason)
say "signer failed: $reason"
case "$reason" in *"crashes within"*) ;; *) fail "the failed signer's reason does not say why: $reason" ;; esac

# ingest and swarm go unready 5 s after the signer's last word; status follows their /readyz.
ingest_unready() { [ "$(stage_field demo ingest state)" = unready ] && [ "$(stage_field demo swarm state)" = unready ]; }
wait_for 30 ingest_unready || say "ingest and swarm never shown unready"
wait_for 10 agree || { diff json.view readyz.view; fail "status --json and the stages' /readyz disagree with the signer failed"; }
say "with the signer failed: $(tr '\n' ' ' < json.view)"
grep -q '^ingest|unready|no signer heard from' json.view || fail "ingest: $(grep ^ingest json.view)"
grep -q '^swarm|unready|signer not heard from' json.view || fail "swarm: $(grep ^swarm json.view)"

rc=0
"$TSCTL" status demo > status.txt || rc=$?
[ $rc = 4 ] || fail "tsctl status with a failed stage exited $rc, want 4"
cat status.txt
grep -q '^  ingest .* unready ' status.txt || fail "tsctl status does not show ingest unready"
grep -q '!! ingest not ready: no signer heard from' status.txt || fail "tsctl status does not say why ingest is not ready"
grep -q '!! signer FAILED: .*crashes within' status.txt || fail "tsctl status does not say why the signer failed"
sup=$({ "$TSCTL" status demo --json || true; } | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["instances"][0]["status_url"])')
body=$(curl -s -w ' %{http_code}' "${sup}readyz")
case "$body" in "not ready: ingest is unready: no signer heard from"*" 503") ;; *) fail "the supervisor's /readyz: $body" ;; esac
grep -q '^tstream_stage_state{stream="demo",stage="ingest",state="unready"} 1$' <<<"$(curl -s "${sup}metrics")" \
  || fail "the supervisor's /metrics does not show ingest unready"

"$TSCTL" restart demo signer >/dev/null
all_ready() { agree && ! grep -qv '|ready|' json.view && [ "$(wc -l < json.view)" = 3 ]; }
wait_for 30 all_ready || { diff json.view readyz.view; fail "not every stage ready again after tsctl restart: $(cat json.view)"; }
[ "$(curl -s "${sup}readyz")" = ok ] || fail "the supervisor's /readyz after the restart: $(curl -s "${sup}readyz")"
say "after tsctl restart demo signer: $(tr '\n' ' ' < json.view)"
"$TSCTL" stop demo >/dev/null
say "PASS"
