#!/usr/bin/env bash
# The README's player one-liners, tried as a new user would, in a virtual X display (Xvfb):
# mpv, VLC, ffplay on the player URL, `tsctl watch --output - | mpv -` and `tsctl watch --play`.
# Each runs as typed for 12 s (then `timeout` ends it, as a user quits); a screenshot of the
# display at 9 s must show a picture (more than 10 colours), and is kept per player. Run by hand (needs mpv, vlc, xvfb, imagemagick:
#   apt-get install mpv vlc xvfb imagemagick); not part of ctest, which installs no players.
# Usage: tests/manual/players.sh [OUTDIR]
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-/tmp/ts-players}
mkdir -p "$out"
export TSTREAM_HOME=$(mktemp -d /tmp/tsplayers.XXXXXX)
T="$here/build/bin/tsctl"
cd "$TSTREAM_HOME"
Xvfb :97 -screen 0 1024x768x24 >/dev/null 2>&1 & xpid=$!
export DISPLAY=:97
trap '"$T" stop --all >/dev/null 2>&1; kill $xpid 2>/dev/null; rm -rf "$TSTREAM_HOME"' EXIT
"$T" start demo --source testsrc >/dev/null
url=$("$T" watch demo.tstream --name v1 | sed -n 's/.*player URL: //p')
echo "player URL: $url"
sleep 2
results=()
try() { # NAME COMMAND...
  local name=$1; shift
  ( timeout 12 "$@" >"$out/$name.log" 2>&1 ) & local pid=$!
  sleep 9; import -window root "$out/$name.png" 2>/dev/null
  wait $pid; local rc=$? colours
  colours=$(convert "$out/$name.png" -format %k info: 2>/dev/null || echo 0)
  results+=("$name: $([ "$colours" -gt 10 ] && echo PLAYS || echo 'NO PICTURE') ($colours colours at 9 s; exit $rc, 124 = still playing at 12 s); $out/$name.png")
  "$T" stop v2 >/dev/null 2>&1; "$T" stop v3 >/dev/null 2>&1; true
}
try mpv mpv "$url"
# VLC refuses to run as root; a new user runs it as themselves.
if [ "$(id -u)" = 0 ]; then
  id tsplayer >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin tsplayer
  try vlc runuser -u tsplayer -- env DISPLAY=:97 HOME=/tmp vlc "$url"
else
  try vlc vlc "$url"
fi
try ffplay ffplay "$url"
try pipe-mpv bash -c "\"$T\" watch demo.tstream --name v2 --output - | mpv -"
try pipe-ffplay bash -c "\"$T\" watch demo.tstream --name v2 --output - | ffplay -"
try play "$T" watch demo.tstream --name v3 --play
printf '%s\n' "${results[@]}"
