#!/usr/bin/env bash
# The console for scripts (issue 16): `tsctl status NAME...` exits 0 only when every named instance
# runs with every stage ready and its stream flowing, 3 when one is stalled (or starting), 4 when a
# stage failed or the instance is down, 5 when a NAME names no instance, 100 on a usage error;
# without NAMEs it lists everything and exits 0. `tsctl --version`, `tsctl help CMD`, usage errors
# in a few lines, and the COUNTERS column: the key ones by default, all with -v.
. "$(dirname "$0")/common.bash"

code() { local rc=0; "$@" > code.out 2> code.err || rc=$?; echo $rc; } # COMMAND... -> its exit code
is_code() { [ "$(code "$@")" = "$want" ]; }                            # (wait_for) want=CODE COMMAND...

say "--version, help CMD, usage errors"
expect 0 "^tsctl [0-9]*\.[0-9]*\.[0-9]* (commit " "$TSCTL" --version
for cmd in start watch seed status stop logs tstream probe; do
  [ "$("$TSCTL" help "$cmd")" = "$("$TSCTL" "$cmd" --help)" ] || fail "tsctl help $cmd is not tsctl $cmd --help"
  [ -n "$("$TSCTL" help "$cmd")" ] || fail "tsctl help $cmd says nothing"
done
expect 0 "Exit code" "$TSCTL" help status
expect 100 "unknown command 'nope'" "$TSCTL" help nope
for args in "" "frobnicate" "status --bogus" "start" "watch" "start x --source testsrc --bitrate" "logs"; do
  rc=0
  # shellcheck disable=SC2086
  "$TSCTL" $args > u.out 2> u.err || rc=$?
  [ "$rc" = 100 ] || fail "tsctl $args exited $rc, want 100"
  [ "$(wc -l < u.err)" -le 3 ] || fail "tsctl $args: a usage error in $(wc -l < u.err) lines: $(cat u.err)"
  grep -q "usage: tsctl" u.err || fail "tsctl $args gives no usage line: $(cat u.err)"
done

say "not found is not a usage error"
expect 5 "no instance named nosuch" "$TSCTL" status nosuch

say "ok: a running broadcast, every stage ready, its stream flowing"
mkdir -p libexec # the stages as usual, from a directory where one can be swapped later
for b in ts-ingest ts-signer ts-swarm ts-player-bridge; do ln -s "$TS_BIN/$b" libexec/$b; done
export TS_LIBEXEC="$WORK/libexec"
"$TSCTL" start ok --source testsrc >/dev/null
want=0 wait_for 30 is_code "$TSCTL" status ok || fail "status ok: exit $(code "$TSCTL" status ok): $(cat code.out)"
grep -q "flowing" code.out || fail "status ok says: $(cat code.out)"
say "ok: status ok -> 0"

say "COUNTERS: the key ones by default, every one with -v"
"$TSCTL" status ok > brief.out
"$TSCTL" status ok -v > all.out
grep -Eq "^  swarm .* peers=[0-9]+ " brief.out || fail "no peers= for the swarm: $(cat brief.out)"
grep -Eq "^  swarm .* up_decreases=" brief.out && fail "an unimportant counter shown by default: $(cat brief.out)"
grep -Eq "^  swarm .* up_decreases=[0-9]+ " all.out || fail "-v does not show every counter: $(cat all.out)"
[ "$(grep -E '^  swarm ' brief.out | wc -c)" -le 160 ] || fail "the swarm's line is still long: $(grep -E '^  swarm ' brief.out)"

say "3: a stalled stream"
"$TSCTL" start stall --source "$(finite_source 2 "$WORK/stall.ts")" --bitrate 2M >/dev/null
stalled() { want=3 is_code "$TSCTL" status stall && grep -q "STALLED" code.out; }
wait_for 60 stalled || fail "status stall: exit $(code "$TSCTL" status stall): $(cat code.out)"
[ "$(code "$TSCTL" status ok stall)" = 3 ] || fail "status ok stall: not 3"
say "ok: status stall -> 3"

say "4: a failed stage"
"$TSCTL" start bad --source testsrc >/dev/null
rm libexec/ts-signer
printf '#!/bin/sh\necho "ts-signer: refusing for the test" >&2\nexit 101\n' > libexec/ts-signer
chmod +x libexec/ts-signer
kill "$(stage_field bad signer pid)"
want=4 wait_for 30 is_code "$TSCTL" status bad || fail "status bad: exit $(code "$TSCTL" status bad): $(cat code.out)"
grep -q "FAILED" code.out || fail "status bad says: $(cat code.out)"
[ "$(code "$TSCTL" status ok stall bad)" = 4 ] || fail "status ok stall bad: not 4"
say "ok: status bad -> 4"
rm libexec/ts-signer
ln -s "$TS_BIN/ts-signer" libexec/ts-signer

say "4: an instance whose supervisor is gone"
"$TSCTL" start gone --source testsrc >/dev/null
kill -9 "$(cat "$TSTREAM_HOME/gone/supervisor.pid")"
want=4 wait_for 30 is_code "$TSCTL" status gone || fail "status gone: exit $(code "$TSCTL" status gone): $(cat code.out)"
grep -q "down" code.out || fail "status gone says: $(cat code.out)"
say "ok: status gone -> 4"

say "5 outweighs the rest; without NAMEs, 0"
[ "$(code "$TSCTL" status ok nosuch)" = 5 ] || fail "status ok nosuch: not 5"
grep -q "^ok " code.out || fail "status ok nosuch does not show ok: $(cat code.out)"
[ "$(code "$TSCTL" status)" = 0 ] || fail "status without NAMEs: not 0"
[ "$(code "$TSCTL" status --json)" = 0 ] || fail "status --json without NAMEs: not 0"
say "PASS"
