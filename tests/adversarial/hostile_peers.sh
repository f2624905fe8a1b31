#!/usr/bin/env bash
# Hostile peers against a viewer and a helper seeder (tests/adversarial/evilpeer.py, one scenario
# per connection, each from its own 127/8 address): forged signatures, a flipped payload bit, a
# valid piece under the wrong index, a validly signed second payload for a seq (stolen-key
# equivocation), a replay of a piece older than the window, an oversized length prefix, an
# unknown message id, a truncated message, a message never finished, a bitfield of the wrong size,
# HAVE and request floods, a malformed ut_metadata message, a flood of metadata requests
# (BEP 9), a connection that never finishes its handshake, and 2000 silent
# connections. Each offender must be disconnected and refused when it comes back; the viewer must
# stay up with bounded memory and file descriptors, and its output must stay byte-identical to
# the source, to the end, decoding cleanly.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../e2e/common.bash"
evil() { /usr/bin/python3 "$HERE/evilpeer.py" --tstream "$WORK/demo.tstream" "$@"; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

say "start broadcast (10 s window), a viewer and a helper seeder"
"$TSCTL" start demo --source "$(finite_source 75 "$WORK/src.ts")" --bitrate 2M --window 10 > start.out
vport=$(free_port); sport=$(free_port)
"$TSCTL" watch demo.tstream --name v1 --port "$vport" --output "$WORK/out1.ts" > watch1.out
"$TSCTL" seed demo.tstream --name s1 --port "$sport" > seed1.out
wait_for 60 bash -c "[ \$(stat -c %s $WORK/out1.ts 2>/dev/null || echo 0) -ge 1000000 ]" || fail "the viewer receives nothing"
key="$TSTREAM_HOME/demo/key.pem"
[ -f "$key" ] || fail "no broadcast key at $key"

evil --target "127.0.0.1:$vport" --bind 127.0.0.70 --scenario save --save old.piece || fail "could not fetch a piece"
saved_at=$SECONDS
vpid=$(stage_field v1 swarm pid)
rss0=$(awk '/VmRSS/ {print $2}' /proc/$vpid/status)

# The slow ones (the target waits 10 s for a handshake, 20 s for a message's end) run alongside.
evil --target "127.0.0.1:$vport" --bind 127.0.0.80 --scenario no-handshake --wait 30 > slow1.out 2>&1 & s1=$!
evil --target "127.0.0.1:$vport" --bind 127.0.0.81 --scenario unfinished --wait 40 > slow2.out 2>&1 & s2=$!
evil --target "127.0.0.1:$sport" --bind 127.0.0.82 --scenario unfinished --wait 40 > slow3.out 2>&1 & s3=$!

k=0
for sc in forged bitflip wrong-index equivocate oversized unknown-id truncated bitfield-size have-flood request-flood \
          md-malformed md-flood; do
  for t in "v:$vport" "s:$sport"; do
    k=$((k + 1))
    out=$(evil --target "127.0.0.1:${t#*:}" --bind "127.0.0.$((100 + k))" --scenario $sc --key "$key") \
      || fail "${t%%:*} $sc: $out"
    say "${t%%:*}: $out"
  done
done

# Wait until the saved piece has left the window (10 s of stream): a replay of it is then old.
while [ $((SECONDS - saved_at)) -lt 14 ]; do sleep 1; done
out=$(evil --target "127.0.0.1:$vport" --bind 127.0.0.90 --scenario replay --old old.piece) || fail "v replay: $out"
say "v: $out"
out=$(evil --target "127.0.0.1:$sport" --bind 127.0.0.91 --scenario replay --old old.piece) || fail "s replay: $out"
say "s: $out"

for pid in $s1 $s2 $s3; do wait $pid || { cat slow*.out; fail "a slow scenario failed"; }; done
cat slow1.out slow2.out slow3.out

# 2000 silent connections from 2000 addresses, held 15 s: the viewer must bound what it holds
# (peers + 64 unidentified, each closed 10 s after it connected) and keep playing.
evil --target "127.0.0.1:$vport" --scenario flood-connections --count 2000 --wait 15 > flood.out 2>&1 & fl=$!
maxfds=0
while kill -0 $fl 2>/dev/null; do
  n=$(ls /proc/$vpid/fd 2>/dev/null | wc -l)
  [ "$n" -gt "$maxfds" ] && maxfds=$n
  sleep 0.5
done
wait $fl || { cat flood.out; fail "the connection flood could not run"; }
say "v: $(cat flood.out); the viewer held at most $maxfds descriptors meanwhile"
[ "$maxfds" -lt 200 ] || fail "the viewer held $maxfds descriptors under the flood"

# The viewer is the same process, with bounded memory and descriptors, and still playing.
[ "$(stage_field v1 swarm pid)" = "$vpid" ] || fail "the viewer's swarm was restarted"
[ "$(stage_field v1 swarm restarts)" = 0 ] || fail "the viewer's swarm was restarted"
[ "$(stage_field s1 swarm restarts)" = 0 ] || fail "the seeder's swarm was restarted"
rss1=$(awk '/VmRSS/ {print $2}' /proc/$vpid/status)
fds=$(ls /proc/$vpid/fd | wc -l)
say "viewer swarm: RSS $rss0 -> $rss1 kB, $fds fds, $(stage_field v1 swarm peers_banned) bans"
[ $((rss1 - rss0)) -lt 65536 ] || fail "the viewer's memory grew by $((rss1 - rss0)) kB"
[ "$fds" -lt 200 ] || fail "the viewer holds $fds file descriptors after the flood"
[ "$(stage_field v1 swarm peers_banned)" -ge 12 ] || fail "the viewer banned fewer offenders than it met"
[ "$(stage_field v1 swarm peers)" -ge 1 ] || fail "the viewer lost its real peers"

finish_and_check demo 1
say "PASS"
