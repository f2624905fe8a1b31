#!/usr/bin/env bash
# Installs tstream's programs, status page and systemd units on this host, and creates the tstream
# user (Debian 12, as root). Starts nothing: see deploy/systemd/README.md for the next steps.
# usage: deploy/systemd/install.sh [BUILD_DIR]     (default: ./build, as ./demo.sh builds it)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
[ -x "$build/bin/tsctl" ] || { echo "install.sh: no $build/bin/tsctl: build first (cmake)" >&2; exit 100; }

# tsctl runs the stage programs that sit next to it.
for b in tsctl ts-ingest ts-signer ts-swarm ts-player-bridge; do
  install -D -m 0755 "$build/bin/$b" "/usr/local/bin/$b"
done
# The supervisor's status page and tsctl console's page (TS_WEB_DIR in the units); mpegts.js if
# deploy/setup.sh fetched it.
for f in status.html console.html player.js; do
  install -D -m 0644 "$src/web/$f" "/usr/local/share/tstream/web/$f"
done
js=web/node_modules/mpegts.js/dist/mpegts.js
[ -f "$src/$js" ] && install -D -m 0644 "$src/$js" "/usr/local/share/tstream/$js"
install -D -m 0644 "$src/deploy/systemd/README.md" /usr/local/share/doc/tstream/systemd.md

install -D -m 0644 "$src/deploy/systemd/tstream.sysusers" /etc/sysusers.d/tstream.conf
systemd-sysusers /etc/sysusers.d/tstream.conf
for u in "$src"/deploy/systemd/tstream-*@.service "$src"/deploy/systemd/tstream-console.service \
         "$src"/deploy/systemd/tstream-engine.service; do
  install -m 0644 "$u" /etc/systemd/system/
done
# Instance configuration: root's, readable by the service (it holds no secret; the key does not live here).
install -d -m 0755 /etc/tstream
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
else
  echo "install.sh: systemd is not running here: units installed, not loaded" >&2
fi
echo "installed; next: /etc/tstream/NAME.conf, then systemctl enable --now tstream-broadcast@NAME"
