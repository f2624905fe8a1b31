#!/usr/bin/env bash
# Quick start: install dependencies, build, broadcast the built-in test pattern, watch it,
# and show that a player can read it. Leaves the broadcast and the viewer running.
set -euo pipefail
cd "$(dirname "$0")"
[ "$(id -u)" = 0 ] && ./deploy/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
tsctl=build/bin/tsctl
mkdir -p demo && cd demo
"../$tsctl" stop demo >/dev/null 2>&1 || true
"../$tsctl" stop demo-view1 >/dev/null 2>&1 || true
"../$tsctl" start demo --source testsrc
"../$tsctl" watch demo.tstream --name demo-view1 | tee watch.out
url=$(sed -n 's/.*player URL: //p' watch.out)
echo "checking that a player can read $url ..."
ffmpeg -hide_banner -nostdin -v error -i "$url" -t 5 -f null - && echo "ffmpeg decoded 5 s of the stream from $url"
"../$tsctl" status
# (status exits 3 while a stage is not ready yet: the page's address is there all the same)
page=$({ "../$tsctl" status demo-view1 || true; } | sed -n 's/^ *page: *//p')
cat <<TXT

The broadcast and a viewer are running. Play the stream:
    mpv $url        (or vlc / ffplay)
or open the viewer's status page (stages, figures and the video) in a browser:
    $page
Stop everything:
    build/bin/tsctl stop --all
TXT
