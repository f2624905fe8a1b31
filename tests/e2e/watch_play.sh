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
if "$TSCTL" status --json | grep -q '"name": *"nop"'; then fail "a viewer was started anyway"; fi

say "--play with mpv and vlc on PATH"
PATH="$WORK/fakebin:$PATH" "$TSCTL" watch pl.tstream --play --name pv > pv.out 2> pv.err \
  || fail "tsctl watch --play failed: $(cat pv.err)"
cat pv.out
url=$(sed -n 's/.*player URL: //p' pv.out)
[ -n "$url" ] || fail "no player URL printed"
[ "$(cat played.txt)" = "mpv $url" ] || fail "player calls: $(cat played.txt) (want: mpv $url)"
grep -q "playing in: $WORK/fakebin/mpv" pv.out || fail "tsctl did not say which player it started"
# The player has exited: the viewer must be gone.
if "$TSCTL" status --json | grep -q '"name": *"pv"'; then fail "viewer pv still running after the player exited"; fi
say "PASS"
