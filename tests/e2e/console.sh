#!/usr/bin/env bash
# tsctl console: one page for every instance on the host (issue 16), in Debian's headless Chromium.
# A broadcast, a viewer and a broadcast whose ingest failed: the page shows each with its state,
# stage rows and reasons, history sparklines, peer lists with rates, the broadcast's magnet link,
# and plays the viewer's stream on demand (tests/e2e/console_page.mjs). console.json drops an
# instance that was stopped; bad arguments and a taken port are refused in one line.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.bash"
[ -x /usr/bin/chromium ] || fail "chromium is not installed (deploy/setup.sh installs it)"
export TS_WEB_MODULES="$HERE/../../web/node_modules"
[ -d "$TS_WEB_MODULES/playwright-core" ] || fail "web/node_modules/playwright-core missing (deploy/setup.sh)"

read -r cport taken < <(free_ports 2)
expect 100 "bad --history" "$TSCTL" console --history 5
expect 100 "bad --listen" "$TSCTL" console --listen 127.0.0.1:99999
expect 100 "unexpected argument" "$TSCTL" console extra

"$TSCTL" start cb --source "$(finite_source 90 "$WORK/src.ts")" --bitrate 2M >/dev/null
"$TSCTL" watch cb.tstream --name cv >/dev/null
# A broadcast whose source file is gone: its ingest fails, with the reason tsctl status prints.
head -c 2000000 /dev/zero > "$WORK/in.ts"
"$TSCTL" start cf --source "$WORK/in.ts" --bitrate 2M --wait-data 0 >/dev/null
rm "$WORK/in.ts"
"$TSCTL" restart cf ingest >/dev/null
ingest_failed() { [ "$(stage_field cf ingest state)" = failed ]; }
wait_for 30 ingest_failed || fail "ingest of cf did not fail: $(stage_field cf ingest state)"

"$TSCTL" console --listen "127.0.0.1:$cport" > console.log 2>&1 &
cpid=$!
# The console goes too, and cleanup still sees the test's status in $? (it exits with it).
trap 'rc=$?; kill "$cpid" 2>/dev/null || true; (exit $rc) || cleanup; cleanup' EXIT
U="http://127.0.0.1:$cport/"
wait_for 15 bash -c "[ \"\$(curl -s ${U}livez)\" = ok ]" || fail "the console does not answer: $(cat console.log)"
say "console at $U"

# The same port a second time: refused in one line, the first one unharmed.
expect 111 "cannot serve on 127.0.0.1:$cport" "$TSCTL" console --listen "127.0.0.1:$cport"
kill -0 "$cpid" || fail "the console died"

names() { curl -s "${U}console.json" | /usr/bin/python3 -c 'import json,sys; print(" ".join(sorted(i["status"]["name"] for i in json.load(sys.stdin)["instances"])))'; }
[ "$(names)" = "cb cf cv" ] || fail "console.json lists '$(names)', expected 'cb cf cv'"

IH=$("$TSCTL" status cb --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["instances"][0]["infohash"])' || true)
[ -n "$IH" ] || fail "no infohash for cb"
node "$HERE/console_page.mjs" "$U" cb cv "$IH" cf ingest "configuration or usage error.*in.ts" "$WORK/console.png" \
  || fail "console page"
[ -s console.png ] || fail "no screenshot"
[ -n "${TS_SCREENSHOT:-}" ] && cp console.png "$TS_SCREENSHOT"

# A stopped instance leaves the page (and its history with it).
"$TSCTL" stop cf >/dev/null
gone() { [ "$(names)" = "cb cv" ]; }
wait_for 10 gone || fail "console.json still lists '$(names)' after tsctl stop cf"
kill "$cpid"
wait "$cpid" || fail "the console exited $? on SIGTERM"
grep -q 'msg="signal 15: stopping"' console.log || fail "no stop line in the console's log: $(cat console.log)"
say "PASS"
