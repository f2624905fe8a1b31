#!/usr/bin/env bash
# /metrics, /livez and /readyz of every stage (issue 6). A broadcast (ingest, signer, swarm) and a
# viewer (swarm, player-bridge) run by hand, each with --metrics on a loopback port. Every /metrics
# body must be valid Prometheus text (HELP and TYPE per family, counters ending in _total, the
# stage and stream labels and no instance label), have the families each stage promises with sane values once the
# stream flows (pieces moving, bytes both ways, a peer, a lag histogram at the viewer's bridge,
# tstream_build_info) and parse with prometheus_client where installed; /livez and /readyz answer 200.
# Killing the broadcaster's swarm makes the signer's /readyz 503 with a reason; restarting it
# makes it 200 again. A --metrics port already taken exits 101 with a clear message.
. "$(dirname "$0")/common.bash"

pids=()
trap 'rc=$?; set +e; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; (exit $rc); cleanup' EXIT
ports=($(free_ports 7))
P_PEER=${ports[0]} P_VPEER=${ports[1]}
declare -A MPORT=([ingest]=${ports[2]} [signer]=${ports[3]} [bswarm]=${ports[4]} [vswarm]=${ports[5]} [bridge]=${ports[6]})

# The broadcast's key and .tstream come from tsctl start; its stages then run by hand.
"$TSCTL" start mx --source testsrc --bitrate 2M --port "$P_PEER" >/dev/null
"$TSCTL" stop mx >/dev/null
D="$TSTREAM_HOME/mx"
[ -s "$D/key.pem" ] && [ -s mx.tstream ] || fail "tsctl start left no key or .tstream"
mkdir -p ing vb

start_bswarm() {
  "$TS_BIN/ts-swarm" --tstream mx.tstream --in "ipc://$WORK/signer.ipc" --out "ipc://$WORK/bswarm.ipc" \
    --port "$P_PEER" --embedded-tracker --instance mx --metrics "127.0.0.1:${MPORT[bswarm]}" 2>>bswarm.log &
  BSWARM=$!
  pids+=($BSWARM)
}

say "broadcast and viewer, by hand, each with --metrics"
"$TS_BIN/ts-ingest" --source testsrc --out "ipc://$WORK/ingest.ipc" --state-dir "$WORK/ing" --instance mx \
  --metrics "127.0.0.1:${MPORT[ingest]}" 2>ingest.log & pids+=($!)
"$TS_BIN/ts-signer" --key "$D/key.pem" --tstream mx.tstream --in "ipc://$WORK/ingest.ipc" \
  --out "ipc://$WORK/signer.ipc" --instance mx --metrics "127.0.0.1:${MPORT[signer]}" 2>signer.log & pids+=($!)
start_bswarm
"$TS_BIN/ts-swarm" --tstream mx.tstream --out "ipc://$WORK/vswarm.ipc" --port "$P_VPEER" --instance mxv \
  --metrics ":${MPORT[vswarm]}" 2>vswarm.log & pids+=($!)
"$TS_BIN/ts-player-bridge" --in "ipc://$WORK/vswarm.ipc" --http 127.0.0.1:0 --path /mx.ts --state-dir vb \
  --instance mxv --metrics "127.0.0.1:${MPORT[bridge]}" 2>bridge.log & pids+=($!)

url() { echo "http://127.0.0.1:${MPORT[$1]}$2"; }
code_of() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(url "$1" "$2")" || true; }
body_of() { curl -s --max-time 5 "$(url "$1" "$2")" || true; }

# One stage's /metrics: the exposition format, its labels, and the families it promises.
check_metrics() { # ROLE STAGE INSTANCE
  /usr/bin/python3 - "$(url "$1" /metrics)" "$@" <<'PY'
import math, re, sys, urllib.request
url, role, stage, instance = sys.argv[1:5]
resp = urllib.request.urlopen(url, timeout=5)
ctype = resp.headers.get("Content-Type", "")
text = resp.read().decode("utf-8")
errs = []
if not ctype.startswith("text/plain; version=0.0.4"):
    errs.append("Content-Type %r" % ctype)

help_, type_, samples = {}, {}, {}
sample_re = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
for line in text.splitlines():
    if line.startswith("# HELP "):
        name, _, h = line[7:].partition(" ")
        help_[name] = h
    elif line.startswith("# TYPE "):
        name, _, t = line[7:].partition(" ")
        if name not in help_:
            errs.append("TYPE before HELP for %s" % name)
        type_[name] = t
    elif line.strip():
        m = sample_re.match(line)
        if not m:
            errs.append("unparsable line %r" % line); continue
        name, ltext, value = m.groups()
        labels, pos = {}, 0
        while ltext and pos < len(ltext):
            lm = label_re.match(ltext, pos)
            if not lm:
                errs.append("bad labels in %r" % line); break
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and type_.get(name[:-len(suffix)]) == "histogram":
                family = name[:-len(suffix)]
        if family not in type_:
            errs.append("sample %s without a TYPE line" % name)
        if labels.get("stage") != stage or labels.get("stream") != instance or "instance" in labels:
            errs.append("%s: labels %r, want stage=%s stream=%s and no instance" % (name, labels, stage, instance))
        samples.setdefault(name, []).append((labels, float(value)))

for name, t in type_.items():
    if t not in ("counter", "gauge", "histogram"):
        errs.append("%s: type %s" % (name, t))
    if t == "counter" and not name.endswith("_total"):
        errs.append("counter %s does not end in _total" % name)
    if not name.startswith("tstream_") and not name.startswith("process_"):
        errs.append("%s: no tstream_ prefix" % name)
    if not help_.get(name):
        errs.append("%s: no help" % name)

def val(name):
    s = samples.get(name)
    if not s:
        errs.append("%s missing" % name); return float("nan")
    return s[0][1]

def want(name, ok, what):
    v = val(name)
    if not math.isnan(v) and not ok(v):
        errs.append("%s = %g, want %s" % (name, v, what))

pos, zero, any_ = (lambda v: v > 0, "> 0"), (lambda v: v == 0, "0"), (lambda v: v >= 0, ">= 0")
common = {"tstream_ready": (lambda v: v in (0, 1), "0 or 1"), "tstream_log_dropped_lines_total": any_,
          "process_start_time_seconds": (lambda v: v > 1.5e9, "a Unix time"),
          "process_cpu_seconds_total": any_, "process_resident_memory_bytes": pos, "process_open_fds": pos}
need = {
    "ingest": {"tstream_pieces_out_total": pos, "tstream_source_bytes_total": pos, "tstream_rap_pieces_total": pos,
               "tstream_next_seq": pos, "tstream_source_restarts_total": any_},
    "signer": {"tstream_pieces_in_total": pos, "tstream_pieces_out_total": pos, "tstream_pieces_rejected_total": zero,
               "tstream_last_seq": any_},
    "bswarm": {"tstream_pieces_in_total": pos, "tstream_pieces_up_total": pos, "tstream_up_bytes_total": pos,
               "tstream_down_bytes_total": pos, "tstream_payload_up_bytes_total": pos, "tstream_peers": (lambda v: v >= 1, ">= 1"),
               "tstream_tracker_announces_total": pos, "tstream_peer_pieces_rejected_total": zero,
               "tstream_verify_failures_total": zero, "tstream_peers_banned_total": zero},
    "vswarm": {"tstream_pieces_in_total": pos, "tstream_pieces_delivered_total": pos, "tstream_up_bytes_total": pos,
               "tstream_down_bytes_total": pos, "tstream_payload_down_bytes_total": pos, "tstream_peers": (lambda v: v >= 1, ">= 1"),
               "tstream_tracker_announces_total": pos, "tstream_peer_pieces_rejected_total": zero,
               "tstream_verify_failures_total": zero, "tstream_edge_seq": any_},
    "bridge": {"tstream_pieces_in_total": pos, "tstream_lag_seconds_count": pos, "tstream_http_clients": any_,
               "tstream_http_out_bytes_total": any_, "tstream_gaps_total": any_, "tstream_last_seq": any_},
}[role]
for name, (ok, what) in list(common.items()) + list(need.items()):
    want(name, ok, what)

bi = samples.get("tstream_build_info")
if not bi or bi[0][1] != 1 or not re.fullmatch(r"\d+\.\d+\.\d+", bi[0][0].get("version", "")) or not bi[0][0].get("commit"):
    errs.append("tstream_build_info: %r" % bi)
if role == "bridge":
    b = [(float(l["le"]), v) for l, v in samples.get("tstream_lag_seconds_bucket", [])]
    if not b or b[-1][0] != math.inf or b[-1][1] != val("tstream_lag_seconds_count") or \
            any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
        errs.append("tstream_lag_seconds buckets %r" % b)
    if not val("tstream_lag_seconds_sum") >= 0:
        errs.append("tstream_lag_seconds_sum %r" % val("tstream_lag_seconds_sum"))

try:
    from prometheus_client.parser import text_string_to_metric_families
    fams = list(text_string_to_metric_families(text))
    parsed = "; prometheus_client parsed %d families" % len(fams)
except ImportError:
    parsed = "; prometheus_client not installed (deploy/setup.sh installs it): its parse skipped"
except Exception as e:
    errs.append("prometheus_client cannot parse it: %s" % e)
if errs:
    print("%s /metrics:\n  %s" % (role, "\n  ".join(errs)), file=sys.stderr)
    sys.exit(1)
print("%s: %d families%s" % (role, len(type_), parsed))
PY
}

lag_observed() {
  local n
  n=$(body_of bridge /metrics | sed -n 's/^tstream_lag_seconds_count{[^}]*} //p')
  [ -n "$n" ] && [ "$n" -gt 0 ]
}
readyz_is() { [ "$(code_of "$1" /readyz)" = "$2" ]; }

say "waiting for pieces to reach the viewer's bridge"
wait_for 60 lag_observed || { tail -n 5 ingest.log signer.log bswarm.log vswarm.log bridge.log; fail "no piece reached the bridge"; }
# A piece at the viewer's bridge means every counter checked below has moved (the viewer found
# the broadcaster through its tracker and hooked in at a random-access point).

all_ready() {
  local r
  for r in ingest signer bswarm vswarm bridge; do [ "$(code_of $r /readyz)" = 200 ] || return 1; done
}
wait_for 30 all_ready || {
  for r in ingest signer bswarm vswarm bridge; do echo "$r /readyz: $(code_of $r /readyz) $(body_of $r /readyz)"; done
  fail "not every stage became ready"
}
for r in ingest signer bswarm vswarm bridge; do
  [ "$(code_of $r /livez)" = 200 ] || fail "$r /livez: $(code_of $r /livez) $(body_of $r /livez)"
done
say "every /livez and /readyz answers 200"

check_metrics ingest ingest mx || fail "ingest /metrics"
check_metrics signer signer mx || fail "signer /metrics"
check_metrics bswarm swarm mx || fail "broadcaster swarm /metrics"
check_metrics vswarm swarm mxv || fail "viewer swarm /metrics"
check_metrics bridge player-bridge mxv || fail "player-bridge /metrics"

say "a --metrics port already in use"
set +e
"$TS_BIN/ts-player-bridge" --in "ipc://$WORK/none.ipc" --http 127.0.0.1:0 --path /x.ts \
  --metrics "127.0.0.1:${MPORT[ingest]}" 2>taken.log; rc=$?
set -e
[ $rc -eq 101 ] && grep -q -- "--metrics 127.0.0.1:${MPORT[ingest]}: cannot listen" taken.log \
  || fail "a taken --metrics port: exit $rc: $(tail -2 taken.log)"

say "broadcaster's swarm killed: the signer is not ready"
kill -9 "$BSWARM"
wait "$BSWARM" 2>/dev/null || true
wait_for 30 readyz_is signer 503 || fail "signer /readyz stayed $(code_of signer /readyz) without a swarm"
body=$(body_of signer /readyz)
echo "signer /readyz: $body"
[[ $body == "not ready: "*swarm* ]] || fail "signer /readyz gives no reason naming the swarm: $body"
body_of signer /metrics | grep '^tstream_ready{.*} 0$' >/dev/null || fail "signer tstream_ready is not 0 while /readyz says 503"
[ "$(code_of signer /livez)" = 200 ] || fail "signer /livez: $(code_of signer /livez)"

say "broadcaster's swarm restarted: the signer is ready again"
start_bswarm
wait_for 30 readyz_is signer 200 || fail "signer /readyz stayed $(code_of signer /readyz) after the swarm came back: $(body_of signer /readyz)"
body_of signer /metrics | grep '^tstream_ready{.*} 1$' >/dev/null || fail "signer tstream_ready is not 1 while /readyz says 200"

# Stop every stage (SIGTERM: clean exits, so a sanitizer build reports leaks) and read their logs.
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
if grep -lE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:" "$WORK"/*.log; then
  fail "sanitizer report in the stage logs above"
fi
say "PASS"
