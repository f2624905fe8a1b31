#!/usr/bin/env bash
# hls.js plays a viewer's HLS playlist in headless Chromium (issue 17): the status page of a viewer
# started with --dvr plays NAME.m3u8 with hls.js at the live edge, seeks back 15 s into the DVR
# window with its seek bar and keeps playing there, and "live" returns to the edge. The latencies
# are printed (bench/hls_latency.sh measures them), not asserted.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.bash"
[ -x /usr/bin/chromium ] || fail "chromium is not installed (deploy/setup.sh installs it)"
export TS_WEB_MODULES="$HERE/../../web/node_modules"
[ -f "$TS_WEB_MODULES/hls.js/dist/hls.min.js" ] || fail "web/node_modules/hls.js missing (deploy/setup.sh)"

"$TSCTL" start hb --source testsrc --bitrate 2M >/dev/null
"$TSCTL" watch hb.tstream --name hbv --dvr 10m >/dev/null
V=$({ "$TSCTL" status hbv --json || true; } | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["instances"][0]["status_url"])')
say "viewer page $V"
[ "$(curl -s -o /dev/null -w '%{http_code}' "${V}hls.js")" = 200 ] || fail "${V}hls.js is not served"
node "$HERE/hls_browser.mjs" "$V" 15 "$WORK/hls-page.png" || fail "hls.js on the status page"
[ -n "${TS_SCREENSHOT:-}" ] && cp hls-page.png "$TS_SCREENSHOT"
say "PASS"
