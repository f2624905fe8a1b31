#!/usr/bin/env bash
# Each swarm's peers in the status (tsctl status --json and the supervisor's /status.json carry
# "peer_list"; -v prints them): a 2 Mbit/s broadcast and one viewer. While the stream runs, the
# broadcaster lists exactly one peer, the viewer, uploading to it (up_bps well above 0); the viewer
# lists the broadcaster, marked source, with down_bps above 0 and tstream's client string; the
# two ends agree on who dialled whom, and an outgoing connection's port is the listen port dialled.
# When the viewer stops, the broadcaster's list empties.
. "$(dirname "$0")/common.bash"

BPORT=$(free_ports 1)
"$TSCTL" start demo --source "$(finite_source 20 "$WORK/src.ts")" --bitrate 2M --port "$BPORT" > start.out \
  || { cat start.out; fail "tsctl start failed"; }
"$TSCTL" watch demo.tstream --name v1 --output "$WORK/out1.ts" > watch.out || { cat watch.out; fail "tsctl watch failed"; }
wait_for 60 bash -c "[ \$(stat -c %s $WORK/out1.ts 2>/dev/null || echo 0) -ge 200000 ]" \
  || fail "the viewer received only $(stat -c %s out1.ts 2>/dev/null || echo 0) bytes"
say "the viewer gets data"

# One instance's object, from tsctl status NAME --json (exit 3 while degraded is fine) or from URL.
inst_json() { "$TSCTL" status "$1" --json | /usr/bin/python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["instances"][0]))' || true; }
page_json() { curl -s --max-time 5 "$1status.json" || true; }

# Both ends' lists as the stream runs; exit 0 when they satisfy everything above, else 1 with why.
check() { # BROADCAST_JSON VIEWER_JSON
  /usr/bin/python3 - "$1" "$2" "$BPORT" <<'PY'
import json, sys
b, v, bport = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
def no(why):
    print("not yet: " + why); sys.exit(1)
bl, vl = b.get("peer_list"), v.get("peer_list")
if bl is None or vl is None:
    no("no peer_list (broadcast %s, viewer %s)" % (bl is not None, vl is not None))
if len(bl) != 1:
    no("the broadcaster lists %d peers: %s" % (len(bl), bl))
if len(vl) != 1:
    no("the viewer lists %d peers: %s" % (len(vl), vl))
bp, vp = bl[0], vl[0]
for p in (bp, vp):
    for k in ("addr", "incoming", "up_bps", "down_bps", "up_bytes", "down_bytes", "connected_s", "source"):
        assert k in p, "peer without %s: %s" % (k, p)
    assert isinstance(p["up_bps"], (int, float)) and p["up_bps"] >= 0 and p["down_bps"] >= 0, p
assert vp["source"] is True and bp["source"] is False, "source flags: viewer sees %s, broadcaster sees %s" % (vp, bp)
assert vp.get("client", "").startswith("tstream "), "the broadcaster's client string: %r" % vp.get("client")
assert bp["incoming"] != vp["incoming"], "both ends say incoming=%s" % bp["incoming"]
host, port = vp["addr"].rsplit(":", 1)
if not vp["incoming"]:
    assert int(port) == bport, "the viewer dialled the broadcaster at %s, its port is %d" % (vp["addr"], bport)
if bp["up_bps"] < 500e3:
    no("the broadcaster uploads %.0f bit/s to its viewer" % bp["up_bps"])
if vp["down_bps"] <= 0:
    no("the viewer receives %.0f bit/s" % vp["down_bps"])
assert bp["up_bytes"] > 100000 and vp["down_bytes"] > 100000, "bytes: %s / %s" % (bp, vp)
print("broadcaster -> %s: up %.2f Mbit/s (%d bytes), incoming %s; viewer -> %s: down %.2f Mbit/s, client %r, incoming %s"
      % (bp["addr"], bp["up_bps"] / 1e6, bp["up_bytes"], bp["incoming"], vp["addr"], vp["down_bps"] / 1e6,
         vp["client"], vp["incoming"]))
PY
}
from_cli() { check "$(inst_json demo)" "$(inst_json v1)"; }
wait_for 30 from_cli > check.out || { cat check.out; fail "tsctl status --json: $(tail -1 check.out)"; }
say "tsctl status --json: $(tail -1 check.out)"

BURL=$(inst_json demo | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["status_url"])')
VURL=$(inst_json v1 | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["status_url"])')
from_page() { check "$(page_json "$BURL")" "$(page_json "$VURL")"; }
wait_for 30 from_page > check.out || { cat check.out; fail "/status.json: $(tail -1 check.out)"; }
say "/status.json: $(tail -1 check.out)"

out=$("$TSCTL" status demo -v || true)
grep -Eq "^    127\.0\.0\.[0-9]+:[0-9]+ +↑[0-9.]+ ↓[0-9.]+ Mbit/s" <<<"$out" || fail "tsctl status -v lists no peer: $out"
out=$("$TSCTL" status demo || true)
grep -q "peers:" <<<"$out" && fail "tsctl status without -v lists peers: $out"

say "the viewer stops: the broadcaster's list empties"
"$TSCTL" stop v1 >/dev/null
empty() { [ "$(inst_json demo | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["peer_list"]))')" = 0 ]; }
wait_for 20 empty || fail "the broadcaster still lists: $(inst_json demo)"
say "ok"
