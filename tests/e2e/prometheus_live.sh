#!/usr/bin/env bash
# The shipped monitoring against a real Prometheus (issue 16: the dashboard had only been checked by
# name). Debian's Prometheus runs the shipped deploy/prometheus/prometheus.yml and alert rules,
# pointed at this test's state root, and finds a broadcast and a viewer through the file_sd target
# files their supervisors write. Then, on live data:
#  - both targets are up, with instance="HOST/NAME";
#  - every query of the Grafana dashboard (deploy/grafana/tstream.json, $stream = All) returns
#    series, and its stream variable lists both streams;
#  - no alert expression matches the healthy pair;
#  - with the broadcast's source silent (its ffmpeg stopped), TstreamStreamStalled's expression
#    matches it.
# Exit 77 (skipped) when Debian's prometheus is not installed (deploy/setup.sh installs it).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.bash"
SRC=${TS_SRC:-$(cd "$HERE/../.." && pwd)}
PROM=$(command -v prometheus || true)
[ -n "$PROM" ] || { echo "prometheus is not installed (deploy/setup.sh installs it): skipped"; exit 77; }

"$TSCTL" start pl --source testsrc --bitrate 2M >/dev/null
"$TSCTL" watch pl.tstream --name plv >/dev/null

# The shipped configuration, as an operator adapts it: the target files of this state root, a 1 s
# scrape so that rates exist within seconds, the compose job left out (no compose here).
read -r pport < <(free_ports 1)
mkdir -p prom
cp "$SRC/deploy/prometheus/tstream-alerts.yml" prom/
/usr/bin/python3 - "$SRC/deploy/prometheus/prometheus.yml" prom/prometheus.yml "$TSTREAM_HOME" <<'PY'
import sys, yaml
src, dst, root = sys.argv[1:4]
c = yaml.safe_load(open(src))
c["global"].update(scrape_interval="1s", evaluation_interval="1s")
c["scrape_configs"] = [j for j in c["scrape_configs"] if j["job_name"] == "tstream"]
sd = c["scrape_configs"][0]["file_sd_configs"][0]
sd["files"] = [root + "/prometheus/*.json"]
sd["refresh_interval"] = "1s"
yaml.safe_dump(c, open(dst, "w"))
PY
"$PROM" --config.file=prom/prometheus.yml --storage.tsdb.path=prom/data --web.listen-address="127.0.0.1:$pport" \
  > prom/log 2>&1 &
ppid=$!
# Prometheus goes too, and cleanup still sees the test's status in $? (it exits with it).
trap 'rc=$?; kill "$ppid" 2>/dev/null || true; (exit $rc) || cleanup; cleanup' EXIT
P="http://127.0.0.1:$pport"
ready() { [ "$(curl -s "$P/-/ready" -o /dev/null -w '%{http_code}')" = 200 ]; }
wait_for 60 ready || fail "prometheus did not start: $(tail -5 prom/log)"
say "prometheus $P"

/usr/bin/python3 - "$P" "$SRC" "$(hostname)" <<'PY' || fail "the dashboard or the alerts against live data (above)"
import json, sys, time, urllib.parse, urllib.request, yaml
P, src, host = sys.argv[1:4]
def api(path, **q):
    url = P + path + ("?" + urllib.parse.urlencode(q, doseq=True) if q else "")
    with urllib.request.urlopen(url, timeout=10) as r:
        d = json.load(r)
    assert d["status"] == "success", d
    return d["data"]
def query(e):
    return api("/api/v1/query", query=e)["result"]
def wait(what, fn, secs=90):
    end = time.time() + secs
    while time.time() < end:
        if fn():
            return True
        time.sleep(1)
    print("FAIL: timed out waiting for " + what)
    return False
fails = []

# Both targets up, named HOST/NAME; then enough samples for the 1 m rates and the lag histogram.
def up():
    t = api("/api/v1/targets")["activeTargets"]
    return sorted(x["labels"].get("instance") for x in t if x["health"] == "up") == [host + "/pl", host + "/plv"]
if not wait("both targets up", up):
    print(json.dumps(api("/api/v1/targets")["activeTargets"], indent=1)[:3000]); sys.exit(1)
print("targets up: %s/pl, %s/plv" % (host, host))
wait("lag observations and rates", lambda: query('rate(tstream_lag_seconds_count{stream="plv"}[1m]) > 0')
     and query('rate(tstream_pieces_out_total{stream="pl"}[1m]) > 0'))

dash = json.load(open(src + "/deploy/grafana/tstream.json"))
for v in dash["templating"]["list"]:
    if v["type"] == "query":
        m = v["definition"]
        metric, label = m[len("label_values("):-1].split(", ")
        vals = api("/api/v1/label/%s/values" % label, **{"match[]": metric})
        print("variable %s = %s" % (v["name"], vals))
        if not {"pl", "plv"} <= set(vals):
            fails.append("variable %s lists %s, not both streams" % (v["name"], vals))
for p in dash["panels"]:
    for t in p.get("targets", []):
        e = t["expr"].replace("$stream", ".*")
        r = query(e)
        shown = ", ".join("%s=%s" % (",".join("%s" % x["metric"].get(k, "") for k in ("stream", "stage") if k in x["metric"]) or "-",
                                     x["value"][1]) for x in r[:4])
        print("%-34s %2d series  %s" % (p["title"][:34], len(r), shown))
        if not r:
            fails.append("panel %r: %s returns nothing" % (p["title"], e))

rules = [r for g in yaml.safe_load(open(src + "/deploy/prometheus/tstream-alerts.yml"))["groups"] for r in g["rules"]]
for r in rules:
    hit = query(r["expr"])
    print("alert %-24s matches %d series on the healthy pair" % (r["alert"], len(hit)))
    if hit:
        fails.append("alert %s matches a healthy stream: %s" % (r["alert"], [x["metric"] for x in hit]))
for f in fails:
    print("FAIL: " + f)
sys.exit(1 if fails else 0)
PY

# The source goes silent (its ffmpeg stopped), not ingest: a stopped stage would be restarted by the
# supervisor's watchdog after 11 s, a silent source is waited for.
ing=$(stage_field pl ingest pid)
pid=$(pgrep -P "$ing" ffmpeg) || fail "no ffmpeg under ingest $ing"
say "SIGSTOP the broadcast's source (ffmpeg $pid): the stall alert's expression must match"
kill -STOP "$pid"
stalled() { /usr/bin/python3 - "$P" <<'PY'
import json, sys, urllib.parse, urllib.request, yaml
e = [r for g in yaml.safe_load(open("prom/tstream-alerts.yml"))["groups"] for r in g["rules"] if r["alert"] == "TstreamStreamStalled"][0]["expr"]
d = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/query?" + urllib.parse.urlencode({"query": e}), timeout=10))
sys.exit(0 if any(x["metric"].get("stream") == "pl" for x in d["data"]["result"]) else 1)
PY
}
wait_for 60 stalled || { kill -CONT "$pid"; fail "TstreamStreamStalled's expression never matched the stalled broadcast"; }
kill -CONT "$pid"
say "the stalled broadcast matched TstreamStreamStalled"
say "PASS"
