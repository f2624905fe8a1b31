#!/usr/bin/env bash
# The README's player one-liners, tried as a new user would, in a virtual X display (Xvfb):
# mpv, VLC, ffplay on the player URL, `tsctl watch --output - | mpv -` and `tsctl watch --play`.
# Each plays 6 s (a time limit is the only flag added to the one-liner) and must exit cleanly;
# a screenshot of the display is kept per player. Run by hand (needs mpv, vlc, xvfb, imagemagick:
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
  ( "$@" >"$out/$name.log" 2>&1 ) & local pid=$!
  sleep 4; import -window root "$out/$name.png" 2>/dev/null
  wait $pid; local rc=$?
  results+=("$name: exit $rc, $(grep -ciE 'error|fail' "$out/$name.log") error lines; screenshot $out/$name.png")
}
try mpv mpv --length=6 "$url"
# VLC refuses to run as root; a new user runs it as themselves.
if [ "$(id -u)" = 0 ]; then
  id tsplayer >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin tsplayer
  try vlc runuser -u tsplayer -- env DISPLAY=:97 HOME=/tmp vlc --run-time=6 --play-and-exit "$url"
else
  try vlc vlc --run-time=6 --play-and-exit "$url"
fi
try ffplay ffplay -autoexit -t 6 "$url"
try pipe-mpv bash -c "\"$T\" watch demo.tstream --name v2 --output - | mpv --length=6 -"
mkdir -p "$TSTREAM_HOME/bin" && printf '#!/bin/sh\nexec /usr/bin/mpv --length=6 "$@"\n' > "$TSTREAM_HOME/bin/mpv" && chmod +x "$TSTREAM_HOME/bin/mpv"
try play env PATH="$TSTREAM_HOME/bin:$PATH" "$T" watch demo.tstream --name v3 --play
printf '%s\n' "${results[@]}"
