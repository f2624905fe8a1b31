#!/usr/bin/env bash
# The supervisor's status page in Debian's headless Chromium: a broadcast's page shows ingest,
# signer and swarm ready and the stream flowing; a viewer's page shows its stages ready and its
# video element plays (currentTime advances). Also /status.json, /metrics, /livez and /readyz.
# Errors stay visible while they hold (issue 16): a viewer served without mpegts.js says so for
# good, not for one poll; a failed stage's row says why it failed, as tsctl status does.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.bash"
[ -x /usr/bin/chromium ] || fail "chromium is not installed (deploy/setup.sh installs it)"
export TS_WEB_MODULES="$HERE/../../web/node_modules"
[ -d "$TS_WEB_MODULES/playwright-core" ] || fail "web/node_modules/playwright-core missing (deploy/setup.sh)"

"$TSCTL" start sp --source testsrc --bitrate 2M >/dev/null
"$TSCTL" watch sp.tstream --name spv >/dev/null
# (status exits 3 while a stream has no piece yet: the JSON is what is read here)
status_url() { { "$TSCTL" status "$1" --json || true; } | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["instances"][0]["status_url"])'; }
B=$(status_url sp) V=$(status_url spv)
say "broadcast page $B, viewer page $V"

for u in "$B" "$V"; do
  [ "$(curl -s "${u}livez")" = ok ] || fail "${u}livez"
  wait_for 30 bash -c "[ \"\$(curl -s ${u}readyz)\" = ok ]" || fail "${u}readyz: $(curl -s "${u}readyz")"
  curl -s "${u}status.json" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["stages"], d' \
    || fail "${u}status.json is not the instance's JSON"
  grep -q '^tstream_stage_state{stream="[a-z]*",stage="swarm",state="ready"} 1$' <<<"$(curl -s "${u}metrics")" \
    || fail "${u}metrics does not show the swarm ready"
done

node "$HERE/status_page.mjs" "$B" ingest,signer,swarm novideo || fail "broadcast page"
node "$HERE/status_page.mjs" "$V" swarm,player-bridge video "$WORK/viewer-page.png" || fail "viewer page"
[ -s viewer-page.png ] || fail "no screenshot"
[ -n "${TS_SCREENSHOT:-}" ] && cp viewer-page.png "$TS_SCREENSHOT"

# A build without web/node_modules: the page is served, /mpegts.js is a 404, and the viewer's page
# must keep saying that the player library is missing.
mkdir -p bare && cp "$HERE/../../web/status.html" "$HERE/../../web/player.js" bare/
TS_WEB_DIR="$WORK/bare" "$TSCTL" watch sp.tstream --name spbare >/dev/null
NB=$(status_url spbare)
[ "$(curl -s -o /dev/null -w '%{http_code}' "${NB}mpegts.js")" = 404 ] || fail "${NB}mpegts.js is served from a bare web dir"
node "$HERE/status_page.mjs" "$NB" --error "mpegts.js is not installed" || fail "the missing mpegts.js does not stay on the page"
"$TSCTL" stop spbare >/dev/null

# A stage that failed: its row gives the reason tsctl status prints.
cp "$WORK/viewer-page.png" "$WORK/in.ts"
"$TSCTL" start spf --source "$WORK/in.ts" --bitrate 2M --wait-data 0 >/dev/null
rm "$WORK/in.ts"
"$TSCTL" restart spf ingest >/dev/null
ingest_failed() { [ "$(stage_field spf ingest state)" = failed ]; }
wait_for 30 ingest_failed || fail "ingest of spf did not fail: $(stage_field spf ingest state)"
{ "$TSCTL" status spf || true; } | grep '!! ingest FAILED' || fail "tsctl status does not say why ingest failed"
node "$HERE/status_page.mjs" "$(status_url spf)" --reason ingest "configuration or usage error.*in.ts" \
  || fail "the failed stage's reason is not on the page"
"$TSCTL" stop spf >/dev/null
say "PASS"
