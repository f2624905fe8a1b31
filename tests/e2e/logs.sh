#!/usr/bin/env bash
# Per-stage logs: a stage's output (here a source command writing 3000 lines to stderr) lands in
# its log file, wrapped in logfmt, rotated at TS_LOG_SIZE with TS_LOG_KEEP old files; `tsctl logs
# NAME STAGE -f` follows it across every rotation without losing or repeating a line; `tsctl
# logs NAME` interleaves every stage's lines by time.
. "$(dirname "$0")/common.bash"

export TS_LOG_SIZE=64k TS_LOG_KEEP=2
N=3000
# 100 lines every 0.2 s (about 10 kB), so the 64 kB file rotates every second or so.
noise="i=0; while [ \$i -lt $N ]; do echo \"noise \$i\" >&2; i=\$((i + 1)); [ \$((i % 100)) -eq 0 ] && sleep 0.2; done"
"$TSCTL" start demo --source "pipe:sleep 3; $noise; exec sleep 3600" --wait-data 0 >/dev/null
logdir="$TSTREAM_HOME/demo/log"

"$TSCTL" logs demo ingest -f > follow.out &
follower=$!
trap 'rc=$?; set +e; kill $follower 2>/dev/null; (exit $rc); cleanup' EXIT

wait_for 90 grep -q "msg=\"noise $((N - 1))\"" follow.out || fail "the follower never saw the last line ($(grep -c noise follow.out) seen)"
say "follower saw $(grep -c 'msg="noise' follow.out) noise lines"

# The follower: every line once, in order, across the rotations.
grep -o 'msg="noise [0-9]*"' follow.out | grep -o '[0-9]*' > follow.seq
seq 0 $((N - 1)) | cmp -s - follow.seq || fail "tsctl logs -f lost, repeated or reordered lines (got $(wc -l < follow.seq) of $N)"

# Rotation: the current file and exactly KEEP old ones, none above the size, whole logfmt lines.
[ -f "$logdir/ingest.log.1" ] && [ -f "$logdir/ingest.log.2" ] || fail "ingest.log was not rotated: $(ls "$logdir")"
[ ! -e "$logdir/ingest.log.3" ] || fail "more old files than TS_LOG_KEEP=2: $(ls "$logdir")"
for f in "$logdir"/ingest.log "$logdir"/ingest.log.1 "$logdir"/ingest.log.2; do
  size=$(stat -c %s "$f")
  [ "$size" -le 65536 ] || fail "$f has $size bytes, over TS_LOG_SIZE=64k"
  [ -z "$(tail -c 1 "$f")" ] || fail "$f does not end with a whole line"
  bad=$(grep -vc '^time=[0-9T:.-]*Z level=[a-z]* instance=demo stage=[a-z-]* msg=".*"$' "$f" || true)
  [ "$bad" = 0 ] || fail "$f has $bad lines that are not logfmt: $(grep -v '^time=' "$f" | head -2)"
done
say "rotated: $(ls "$logdir" | tr '\n' ' ')"

# tsctl logs NAME STAGE: the retained lines, oldest file first, contiguous up to the last.
"$TSCTL" logs demo ingest | grep -o 'msg="noise [0-9]*"' | grep -o '[0-9]*' > dump.seq
first=$(head -1 dump.seq)
[ "$first" -gt 0 ] || fail "nothing was rotated away"
seq "$first" $((N - 1)) | cmp -s - dump.seq || fail "tsctl logs demo ingest: the retained lines are not contiguous"
say "tsctl logs demo ingest: noise $first..$((N - 1)) in order"

# tsctl logs NAME: every stage and the supervisor, in time order.
"$TSCTL" logs demo > all.out
for s in supervisor ingest signer swarm; do
  grep -q " stage=$s " all.out || fail "tsctl logs demo shows no line of $s"
done
grep -o '^time=[^ ]*' all.out > times
sort -c times || fail "tsctl logs demo is not in time order"
[ "$("$TSCTL" logs demo -n 5 | wc -l)" = 5 ] || fail "tsctl logs -n 5 did not print 5 lines"
"$TSCTL" logs demo nosuchstage >/dev/null 2>&1 && fail "tsctl logs of an unknown stage succeeded"

kill $follower
"$TSCTL" stop demo >/dev/null
# Logs outlive the instance.
"$TSCTL" logs demo supervisor | grep 'msg="stopped"' >/dev/null || fail "tsctl logs after stop lacks the supervisor's last line"
say "PASS"
