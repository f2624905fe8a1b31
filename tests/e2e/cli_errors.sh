#!/usr/bin/env bash
# Wrong arguments, missing files and a taken port get a clear message and a documented exit code.
. "$(dirname "$0")/common.bash"

expect 100 "usage" "$TSCTL"
expect 100 "unknown command" "$TSCTL" frobnicate
expect 0 "usage" "$TSCTL" --help
expect 100 "source is required" "$TSCTL" start foo
expect 100 "bad NAME" "$TSCTL" start "../evil" --source testsrc
expect 100 "bad --bitrate" "$TSCTL" start foo --source testsrc --bitrate fast
# Push sources: the form is checked before anything is written or started.
expect 100 "bad port" "$TSCTL" start foo --source "srt://:99999"
expect 100 "bad multicast group" "$TSCTL" start foo --source "udp://@192.168.1.1:5000"
expect 100 "unknown query key 'mode'" "$TSCTL" start foo --source "srt://:9000?mode=caller"
expect 100 "10 to 79" "$TSCTL" start foo --source "srt://:9000?passphrase=abc"
[ ! -e foo.tstream ] || fail "a refused push source left foo.tstream"
expect 100 "bad --piece-size" "$TSCTL" start foo --source testsrc --piece-size 10
expect 101 "no such file" "$TSCTL" start foo --source /nonexistent/file.ts --bitrate 2M
expect 100 "needs --bitrate" "$TSCTL" start foo --source /etc/hostname
# Standard input cannot reach the stages in the background: refused, with advice that works, and
# not offered by --help (issue 16).
expect 100 "not supported.*--source 'pipe:COMMAND'" "$TSCTL" start foo --source -
out=$("$TSCTL" start foo --source - 2>&1 || true)
case "$out" in *pipe:cat*) fail "tsctl start still advises pipe:cat: $out" ;; esac
case "$("$TSCTL" start --help)" in *stdin*|*"- ("*) fail "tsctl start --help offers stdin" ;; esac
expect 101 "no such file" "$TSCTL" watch /nonexistent.tstream
printf 'd4:infod4:name3:fooee' > bad.tstream
expect 101 "bad.tstream" "$TSCTL" watch bad.tstream
# Issue 15's switches are documented and take no argument.
for sw in --no-port-mapping --no-holepunch; do
  for cmd in start watch seed; do expect 0 "$sw" "$TSCTL" "$cmd" --help; done
  expect 0 "$sw" "$TS_BIN/ts-swarm" --help
done
expect 100 "usage" "$TSCTL" watch x.tstream --no-port-mapping=yes
# Not found is not a usage error (issue 16): 5, for scripts.
expect 5 "no instance" "$TSCTL" stop nosuch
expect 5 "no instance" "$TSCTL" status nosuch
expect 5 "no running instance" "$TSCTL" restart nosuch swarm
expect 100 "usage" "$TSCTL" restart onlyname
for stage in ts-ingest ts-signer ts-swarm ts-player-bridge; do
  expect 0 "usage" "$TS_BIN/$stage" --help
  expect 100 "usage" "$TS_BIN/$stage" --no-such-option
  expect 100 "exit-unready" "$TS_BIN/$stage" --exit-unready soon
done
# The compose deployment's helpers: tsctl tstream (a .tstream from a public key) and tsctl probe.
expect 100 "pubkey is required" "$TSCTL" tstream foo --output x.tstream --port 6881
expect 100 "or --tracker is required" "$TSCTL" tstream foo --pubkey 00ff --output x.tstream
expect 100 "exclude each other" "$TSCTL" tstream foo --pubkey 00ff --output x.tstream --port 1 --tracker http://t/a
expect 101 "not a hex digit" "$TSCTL" tstream foo --pubkey 00fg --output x.tstream --port 6881
[ ! -e x.tstream ] || fail "tsctl tstream wrote a file for a bad key"
expect 100 "URL is required" "$TSCTL" probe
expect 100 "http://HOST:PORT/PATH" "$TSCTL" probe ftp://example/readyz
expect 100 "bad --timeout" "$TSCTL" probe http://127.0.0.1:1/ --timeout never
expect 1 "refused" "$TSCTL" probe "http://127.0.0.1:$(free_ports 1)/readyz"

# A port that is taken fails the start with the stage's own reason and exit code (101: the swarm
# will not restart), and leaves nothing running.
/usr/bin/python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(60)' > port.txt &
holder=$!
wait_for 10 test -s port.txt
port=$(cat port.txt)
expect 101 "stage swarm failed.*Address already in use" "$TSCTL" start busy --source testsrc --port "$port"
# A listener that never answers: the probe gives up after its timeout, unhealthy.
expect 1 "no complete answer within 1 s" "$TSCTL" probe "http://127.0.0.1:$port/readyz" --timeout 1
kill $holder
pgrep -f "instance busy" && fail "stages of a failed start are still running"
say "PASS"
