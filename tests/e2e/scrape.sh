#!/usr/bin/env bash
# One stable Prometheus target per instance (issue 16): the supervisor's /metrics carries every
# stage's series (stage="…", stream="…") beside its own, at a port kept across restarts, and
# ROOT/prometheus/NAME.json names it for Prometheus's file_sd while the instance runs.
#
# A broadcast (its supervisor on the port `--metrics` names) and a viewer (a port picked once)
# under tsctl; a bad --metrics is a usage error. Every endpoint (both supervisors and each stage's own
# /metrics) passes tests/e2e/prom_lint.py (promtool's parser and linter rules, tstream_ prefix, no
# instance label) and `promtool check metrics` where installed; each supervisor shows process CPU,
# memory and descriptors for itself and each stage. Then `tsctl restart sc swarm`: every series the
# broadcast's supervisor served before is in every scrape during and after the restart, and the
# swarm's series come from the new process once it is up. `tsctl stop` removes the target file.
# Exit 77 (skipped) when everything passed but promtool is not installed to confirm it.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.bash"
LINT="$HERE/prom_lint.py"
PROMTOOL=$(command -v promtool || true)

expect 100 "bad --metrics 'nope'" "$TSCTL" start bad --source testsrc --metrics nope
expect 100 "bad --metrics ':0'" "$TSCTL" watch none.tstream --metrics :0
MPORT=$(free_ports 1)
"$TSCTL" start sc --source testsrc --bitrate 2M --metrics "127.0.0.1:$MPORT" >/dev/null
"$TSCTL" watch sc.tstream --name scv >/dev/null
status_url() { { "$TSCTL" status "$1" --json || [ $? = 3 ]; } | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["instances"][0]["status_url"])'; }
B=$(status_url sc) V=$(status_url scv)
say "broadcast's supervisor ${B}metrics, viewer's ${V}metrics"
[ "$B" = "http://127.0.0.1:$MPORT/" ] || fail "tsctl start --metrics 127.0.0.1:$MPORT: the status page is at $B"

scraped() { grep -q "$2" <<<"$(curl -s --max-time 5 "${1}metrics")"; } # (no pipe: grep -q would cut curl off)
wait_for 60 scraped "$V" '^tstream_lag_seconds_count{stage="player-bridge",stream="scv"} [1-9]' \
  || fail "no lag observed in the viewer's supervisor /metrics: $(curl -s "${V}metrics" | grep -c '') lines"
wait_for 30 scraped "$B" '^tstream_peers{stage="swarm",stream="sc"} [1-9]' || fail "the broadcast's swarm shows no peer"

say "every endpoint against the exposition rules"
n=0
check_endpoint() { # URL WHAT
  local f="$WORK/scrape$((++n)).txt"
  curl -s --max-time 5 -o "$f" "$1" || fail "$2: cannot GET $1"
  /usr/bin/python3 "$LINT" "$f" || fail "$2 ($1) breaks the rules above"
  if [ -n "$PROMTOOL" ]; then
    "$PROMTOOL" check metrics < "$f" || fail "$2 ($1): promtool check metrics"
  fi
}
check_endpoint "${B}metrics" "broadcast supervisor"
check_endpoint "${V}metrics" "viewer supervisor"
for s in ingest signer swarm; do check_endpoint "$(stage_field sc $s metrics_url)" "sc/$s"; done
for s in swarm player-bridge; do check_endpoint "$(stage_field scv $s metrics_url)" "scv/$s"; done

# Each supervisor: the process figures of itself and of each stage, and each stage's own series.
for pair in "sc $B ingest signer swarm" "scv $V swarm player-bridge"; do
  set -- $pair
  name=$1 url=$2; shift 2
  curl -s --max-time 5 "${url}metrics" | /usr/bin/python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
import prom_lint
name, stages = sys.argv[2], sys.argv[3:]
fams, errs = prom_lint.lint(sys.stdin.read())
have = {(n, l.get("stage")) for f in fams.values() for n, l, v in f["samples"] if l.get("stream") == name}
need = [(m, s) for s in stages + ["supervisor"]
        for m in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds")]
need += [(m, s) for s in stages for m in ("tstream_ready", "tstream_build_info", "tstream_log_dropped_lines_total")]
need += [("tstream_stage_restarts_total", s) for s in stages] + [("tstream_last_piece_age_seconds", None)]
missing = [x for x in need if x not in have]
assert not missing, "%s: missing series %s" % (name, missing)
print("%s: %d families, every stage and the supervisor present" % (name, len(fams)))
' "$HERE" "$name" "$@" || fail "$name's supervisor /metrics"
done

say "the Prometheus target file"
/usr/bin/python3 - "$TSTREAM_HOME/prometheus/sc.json" "$B" <<'PY' || fail "target file"
import json, sys
groups = json.load(open(sys.argv[1]))
want = sys.argv[2][len("http://"):].rstrip("/")
assert [g["targets"] for g in groups] == [[want]], "targets %r, want %r" % (groups, want)
assert groups[0]["labels"]["instance"].endswith("/sc"), groups
print("%s: %s" % (sys.argv[1], groups))
PY

say "tsctl restart sc swarm: every series stays"
/usr/bin/python3 - "$HERE" "${B}metrics" "$TSCTL" <<'PY' || fail "series lost across the swarm's restart"
import subprocess, sys, time, urllib.request
sys.path.insert(0, sys.argv[1])
import prom_lint
url, tsctl = sys.argv[2], sys.argv[3]

def scrape():
    fams, errs = prom_lint.lint(urllib.request.urlopen(url, timeout=5).read().decode())
    assert not errs, errs
    return {(n, tuple(sorted(l.items()))): v for f in fams.values() for n, l, v in f["samples"]}

def val(s, name, **labels):
    want = dict(labels, stream="sc")
    return next((v for (n, l), v in s.items() if n == name and dict(l) == want), None)

before = scrape()
r0 = val(before, "tstream_stage_restarts_total", stage="swarm")
t0 = val(before, "process_start_time_seconds", stage="swarm")
subprocess.run([tsctl, "restart", "sc", "swarm"], check=True, stdout=subprocess.DEVNULL)
scrapes, deadline = 0, time.monotonic() + 60
while True:
    s = scrape()
    scrapes += 1
    lost = sorted(set(before) - set(s))
    assert not lost, "after %d scrapes, gone: %s" % (scrapes, lost[:10])
    if (val(s, "tstream_stage_restarts_total", stage="swarm") == r0 + 1 and
            val(s, "tstream_stage_state", stage="swarm", state="ready") == 1 and
            val(s, "process_start_time_seconds", stage="swarm") != t0 and
            (val(s, "tstream_pieces_in_total", stage="swarm") or 0) > 0):
        break
    assert time.monotonic() < deadline, "the swarm's new process never showed in /metrics"
    time.sleep(0.2)
print("%d series kept through %d scrapes; the swarm's now from its new process" % (len(before), scrapes))
PY

"$TSCTL" stop sc >/dev/null
[ ! -e "$TSTREAM_HOME/prometheus/sc.json" ] || fail "tsctl stop left the target file behind"
[ -e "$TSTREAM_HOME/prometheus/scv.json" ] || fail "the viewer's target file is gone"
if [ -z "$PROMTOOL" ]; then
  say "SKIP: everything passed but promtool is not installed (deploy/setup.sh installs Debian's prometheus)"
  exit 77
fi
say "PASS"
