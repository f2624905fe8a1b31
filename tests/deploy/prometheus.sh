#!/usr/bin/env bash
# deploy/prometheus and deploy/grafana (issue 16): the alert rules pass `promtool check rules` and
# their unit tests (`promtool test rules`: each alert fires on trouble, with the labels and text it
# promises, and not on a healthy stream), the example scrape configuration `promtool check
# config`; every alert an operator needs is there
# (stream stalled, stage failed, flapping, lag p99, verification failures, no peers) with a
# severity, summary and description; the dashboard is valid JSON with a panel for each figure it
# promises; and every tstream_/process_ name the rules and the dashboard query is one the code
# exports, so renaming a metric without its readers fails here. Exit 77 (skipped) when all of that
# passed but promtool (Debian's prometheus package, deploy/setup.sh) is not installed.
set -euo pipefail
SRC=${TS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
RULES="$SRC/deploy/prometheus/tstream-alerts.yml"
CONF="$SRC/deploy/prometheus/prometheus.yml"
DASH="$SRC/deploy/grafana/tstream.json"
PROMTOOL=$(command -v promtool || true)

if [ -n "$PROMTOOL" ]; then
  "$PROMTOOL" check rules "$RULES" || { echo "FAIL: promtool check rules $RULES" >&2; exit 1; }
  "$PROMTOOL" check config "$CONF" || { echo "FAIL: promtool check config $CONF" >&2; exit 1; }
  (cd "$SRC/deploy/prometheus" && "$PROMTOOL" test rules tstream-alerts.test.yml) \
    || { echo "FAIL: promtool test rules deploy/prometheus/tstream-alerts.test.yml" >&2; exit 1; }
fi

/usr/bin/python3 - "$SRC" "$RULES" "$DASH" <<'PY'
import glob, json, re, sys, yaml
src, rules_path, dash_path = sys.argv[1:4]
fails = []

# What the code exports: every quoted tstream_ name, histograms' series, and the process figures.
code = "".join(open(f).read() for d in ("lib", "tsctl", "ingest", "signer", "swarm", "player-bridge")
               for f in glob.glob("%s/%s/*.c" % (src, d)))
known = set(re.findall(r'"((?:tstream|process)_[a-z_]+)"', code))
for h in re.findall(r'ts_metrics_histogram\([^,]+, "([a-z_]+)"', code):
    known |= {h + "_bucket", h + "_sum", h + "_count"}
used = lambda expr: set(re.findall(r"\b((?:tstream|process)_[a-z_]+)\b", expr))

doc = yaml.safe_load(open(rules_path))
rules = [r for g in doc["groups"] for r in g["rules"]]
for r in rules:
    name = r.get("alert", "?")
    if r.get("labels", {}).get("severity") not in ("critical", "warning"):
        fails.append("%s: severity %r" % (name, r.get("labels", {}).get("severity")))
    for k in ("summary", "description"):
        if not r.get("annotations", {}).get(k):
            fails.append("%s: no %s" % (name, k))
    for m in sorted(used(r["expr"]) - known):
        fails.append("%s: queries %s, which nothing exports" % (name, m))
exprs = {r.get("alert"): r["expr"] for r in rules}
need = {"stream stalled": "tstream_last_piece_age_seconds", "stage failed": 'state="failed"',
        "flapping": "tstream_stage_restarts_total", "lag p99": "histogram_quantile(0.99",
        "verify failures": "tstream_verify_failures_total", "no peers": "tstream_peers"}
for what, needle in need.items():
    if not any(needle in e for e in exprs.values()):
        fails.append("no alert for %s (%s)" % (what, needle))

dash = json.load(open(dash_path))
ids, dexprs = set(), []
for p in dash["panels"]:
    if p["id"] in ids:
        fails.append("panel id %s twice" % p["id"])
    ids.add(p["id"])
    for t in p.get("targets", []):
        dexprs.append(t["expr"])
        for m in sorted(used(t["expr"]) - known):
            fails.append("panel %r queries %s, which nothing exports" % (p["title"], m))
    if p["type"] != "row" and p.get("datasource", {}).get("uid") != "${datasource}":
        fails.append("panel %r: datasource %r, want the ${datasource} variable" % (p["title"], p.get("datasource")))
for m in ("tstream_last_piece_age_seconds", "tstream_lag_seconds_bucket", "tstream_peers", "tstream_up_bytes_total",
          "tstream_down_bytes_total", "tstream_stage_restarts_total", "tstream_verify_failures_total",
          "process_cpu_seconds_total", "process_resident_memory_bytes"):
    if not any(m in e for e in dexprs):
        fails.append("dashboard: no panel shows %s" % m)
if fails:
    print("FAIL:\n  " + "\n  ".join(fails), file=sys.stderr)
    sys.exit(1)
print("ok: %d alerts and %d dashboard queries, every name exported" % (len(rules), len(dexprs)))
PY
if [ -z "$PROMTOOL" ]; then
  echo "SKIP: the rest passed, but promtool is not installed (deploy/setup.sh installs Debian's prometheus)"
  exit 77
fi
echo "PASS"
