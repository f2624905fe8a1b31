#!/usr/bin/env bash
# A source file that is not there because its directory is empty or missing (issue 16: compose's
# TS_SOURCE_DIR absent on the host, so the engine made an empty one and ingest restarted 68 times
# in 35 s) is a configuration error said in one clear line naming the directory, exit code 101,
# and nothing restarts it: the supervisor starts ingest once and fails the start. `ts-ingest
# --check` (compose's one-shot source service) says the same, and 0 once the file is there.
. "$(dirname "$0")/common.bash"
mkdir -p empty src
head -c 200000 /dev/zero > src/source.ts

# tsctl start checks the file itself; the supervisor meets the error when ingest restarts and the
# file has gone with everything else in its directory.
"$TSCTL" start sm --source "$WORK/src/source.ts" --bitrate 2M --wait-data 0 >/dev/null
rm src/source.ts
"$TSCTL" restart sm ingest >/dev/null
ingest_failed() { [ "$(stage_field sm ingest state)" = failed ]; }
wait_for 30 ingest_failed || fail "ingest is $(stage_field sm ingest state) with its source gone"
reason=$(stage_field sm ingest reason)
say "ingest failed: $reason"
case "$reason" in *"exit code 101: configuration"*"no such file; its directory $WORK/src is empty"*) ;;
  *) fail "the reason does not say the source's directory is empty: $reason" ;; esac
n=$(grep -c 'msg="ingest started' "$TSTREAM_HOME/sm/log/supervisor.log" || true)
[ "$n" = 2 ] || fail "ingest was started $n times (once, then once by tsctl restart): a configuration error is not retried"
n=$(grep -c 'level=error .*stage=ingest msg="source .*no such file; its directory' "$TSTREAM_HOME/sm/log/ingest.log" || true)
[ "$n" = 1 ] || fail "ingest logged the error $n times, expected once"
"$TSCTL" stop sm >/dev/null

rc=0
"$TS_BIN/ts-ingest" --check --source "$WORK/gone/source.ts" --bitrate 2M > check.out 2>&1 || rc=$?
cat check.out
[ $rc = 101 ] || fail "ts-ingest --check of a missing directory exited $rc, expected 101"
[ "$(wc -l < check.out)" = 1 ] || fail "ts-ingest --check said more than one line"
grep -q "level=error .*no such file, and its directory $WORK/gone does not exist either" check.out \
  || fail "ts-ingest --check does not say the directory is missing"
expect 101 "its directory $WORK/empty is empty" "$TS_BIN/ts-ingest" --check --source "$WORK/empty/source.ts" --bitrate 2M
head -c 100000 /dev/zero > empty/source.ts
expect 0 "source $WORK/empty/source.ts: usable" "$TS_BIN/ts-ingest" --check --source "$WORK/empty/source.ts" --bitrate 2M
say "PASS"
