#!/usr/bin/env bash
# The supervisor's status page in Debian's headless Chromium: a broadcast's page shows ingest,
# signer and swarm ready and the stream flowing; a viewer's page shows its stages ready and its
# video element plays (currentTime advances). Also /status.json, /metrics, /livez and /readyz.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.bash"
[ -x /usr/bin/chromium ] || fail "chromium is not installed (deploy/setup.sh installs it)"
export TS_WEB_MODULES="$HERE/../../web/node_modules"
[ -d "$TS_WEB_MODULES/playwright-core" ] || fail "web/node_modules/playwright-core missing (deploy/setup.sh)"

"$TSCTL" start sp --source testsrc --bitrate 2M >/dev/null
"$TSCTL" watch sp.tstream --name spv >/dev/null
status_url() { "$TSCTL" status "$1" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["instances"][0]["status_url"])'; }
B=$(status_url sp) V=$(status_url spv)
say "broadcast page $B, viewer page $V"

for u in "$B" "$V"; do
  [ "$(curl -s "${u}livez")" = ok ] || fail "${u}livez"
  wait_for 30 bash -c "[ \"\$(curl -s ${u}readyz)\" = ok ]" || fail "${u}readyz: $(curl -s "${u}readyz")"
  curl -s "${u}status.json" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["stages"], d' \
    || fail "${u}status.json is not the instance's JSON"
  curl -s "${u}metrics" | grep -q '^ts_stage_state{instance="[a-z]*",stage="swarm",state="ready"} 1$' \
    || fail "${u}metrics does not show the swarm ready"
done

node "$HERE/status_page.mjs" "$B" ingest,signer,swarm novideo || fail "broadcast page"
node "$HERE/status_page.mjs" "$V" swarm,player-bridge video "$WORK/viewer-page.png" || fail "viewer page"
[ -s viewer-page.png ] || fail "no screenshot"
[ -n "${TS_SCREENSHOT:-}" ] && cp viewer-page.png "$TS_SCREENSHOT"
say "PASS"
