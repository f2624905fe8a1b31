#!/usr/bin/env bash
# tsctl watch --play starts the first of mpv, vlc, ffplay on PATH with the player URL, in the
# foreground, and stops the viewer when the player exits. Stand-in players (scripts named mpv and
# vlc) record how they were called; the "mpv" one decodes 4 s of the stream with ffmpeg, failing
# on any decoder error. With no player on PATH, --play says what to install and starts nothing.
. "$(dirname "$0")/common.bash"

mkdir -p fakebin empty
cat > fakebin/mpv <<SH
#!/bin/sh
echo "mpv \$*" >> $WORK/played.txt
exec ffmpeg -hide_banner -nostdin -v error -xerror -i "\$1" -t 4 -f null -
SH
cat > fakebin/vlc <<SH
#!/bin/sh
echo "vlc \$*" >> $WORK/played.txt
exit 1
SH
chmod +x fakebin/mpv fakebin/vlc

"$TSCTL" start pl --source testsrc --bitrate 2M >/dev/null

say "no player on PATH"
set +e
PATH="$WORK/empty" "$TSCTL" watch pl.tstream --play --name nop > nop.out 2> nop.err; rc=$?
set -e
[ $rc -eq 101 ] || fail "--play without a player: exit $rc (want 101)"
grep -q "found none of mpv, vlc, ffplay on PATH; install one" nop.err || fail "message: $(cat nop.err)"
if grep -q '"name": *"nop"' <<<"$("$TSCTL" status --json)"; then fail "a viewer was started anyway"; fi

say "--play with mpv and vlc on PATH"
PATH="$WORK/fakebin:$PATH" "$TSCTL" watch pl.tstream --play --name pv > pv.out 2> pv.err \
  || fail "tsctl watch --play failed: $(cat pv.err)"
cat pv.out
url=$(sed -n 's/.*player URL: //p' pv.out)
[ -n "$url" ] || fail "no player URL printed"
[ "$(cat played.txt)" = "mpv $url" ] || fail "player calls: $(cat played.txt) (want: mpv $url)"
grep -q "playing in: $WORK/fakebin/mpv" pv.out || fail "tsctl did not say which player it started"
# The player has exited: the viewer must be gone.
if grep -q '"name": *"pv"' <<<"$("$TSCTL" status --json)"; then fail "viewer pv still running after the player exited"; fi

# Closing the player is no failure (issue 16): ^C at the terminal reaches tsctl and the player (one
# process group), and mpv then exits 4. tsctl watch must exit 0 and stop the viewer.
say "--play: the player closed with ^C"
mkdir -p closebin failbin
cat > closebin/mpv <<SH
#!/bin/sh
echo started > $WORK/closed.txt
trap 'echo closed >> $WORK/closed.txt; exit 4' INT TERM
while :; do sleep 0.2; done
SH
printf '#!/bin/sh\nexit 1\n' > failbin/ffplay
chmod +x closebin/mpv failbin/ffplay
set -m # its own process group, as a terminal's foreground job
PATH="$WORK/closebin:$PATH" "$TSCTL" watch pl.tstream --play --name pc > pc.out 2> pc.err &
pid=$!
set +m
wait_for 30 grep -q started closed.txt || fail "the player was not started: $(cat pc.err)"
kill -INT -- -"$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" = 0 ] || fail "tsctl watch --play exited $rc when the player was closed with ^C: $(cat pc.err)"
grep -q closed closed.txt || fail "the player did not see the ^C"
if grep -q '"name": *"pc"' <<<"$("$TSCTL" status --json)"; then fail "viewer pc still running after the player was closed"; fi
say "ok: closed with ^C -> 0, viewer stopped"

say "--play: a player that fails on its own is reported"
rc=0
PATH="$WORK/failbin" "$TSCTL" watch pl.tstream --play --name pf > pf.out 2> pf.err || rc=$?
[ "$rc" = 111 ] || fail "tsctl watch --play with a failing player exited $rc, want 111"
grep -q "ffplay failed (exit status 1); viewer pf stopped" pf.err || fail "message: $(cat pf.err)"
if grep -q '"name": *"pf"' <<<"$("$TSCTL" status --json)"; then fail "viewer pf still running after its player failed"; fi
say "PASS"
