#!/usr/bin/env bash
# An encoder pushes by SRT to the broadcast's listener, with a passphrase (AES). A caller with a
# wrong passphrase is refused (log line, counter). The encoder is stopped mid-stream (SIGTERM) and a
# new one pushes: the broadcast goes on (same stages, numbering continuing, a new run), and the
# viewer's output is a slice of what the first run sent followed by all that the second sent,
# each decoding cleanly.
. "$(dirname "$0")/common.bash"
command -v ffmpeg >/dev/null || { echo "SKIP: no ffmpeg"; exit 77; }
ffmpeg -hide_banner -protocols 2>/dev/null | grep -x ' *srt' >/dev/null || { echo "SKIP: ffmpeg without srt"; exit 77; }

read -r port <<<"$(free_ports 1)"
pass=correct-horse-battery
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=size=640x360:rate=25 -f lavfi -i sine=frequency=1000 -t 30 \
  -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p -c:a mp2 -f mpegts clip.ts
# linger: the encoder's last packets reach us before its socket goes (SRT would drop them).
# Run it in a subshell: it becomes ffmpeg (exec), so that $! is ffmpeg's pid.
push() { # SECONDS FILE [PASSPHRASE]
  exec ffmpeg -hide_banner -loglevel error -re -i clip.ts -t "$1" -map 0 -c copy \
    -f tee "[f=mpegts]srt\\://127.0.0.1\\:$port?passphrase=${3:-$pass}&pkt_size=1316&linger=2|[f=mpegts]$WORK/$2"
}

say "start a broadcast listening on srt://:$port with a passphrase, and a viewer"
"$TSCTL" start push --source "srt://:$port?passphrase=$pass&latency=200" --bitrate 2M --wait-data 0 > start.out
"$TSCTL" watch push.tstream --name v1 --output "$WORK/out1.ts" > watch1.out
wait_for 30 grep -q "waiting for an encoder on srt" "$TSTREAM_HOME"/push/log/ingest.log || fail "ingest never listened"
grep -q "passphrase=\*\*\*" <<<"$("$TSCTL" status --json)" || fail "status does not mask the passphrase"
! grep -rq "$pass" "$TSTREAM_HOME"/push/log/ || fail "the passphrase is in a log"
# Nor on any command line (ps shows every user's): the supervisor hands it to ingest in its environment.
! grep -q -- "$pass" <<<"$(ps -eo args | grep -v ffmpeg)" || fail "the passphrase is on a command line: $(ps -eo args | grep -- "$pass" | grep -v ffmpeg)"

say "a caller with a wrong passphrase"
timeout 30 ffmpeg -hide_banner -loglevel quiet -re -i clip.ts -t 3 -c copy -f mpegts \
  "srt://127.0.0.1:$port?passphrase=wrong-passphrase-here&pkt_size=1316" && fail "ffmpeg with a wrong passphrase was let in"
wait_for 30 grep -q "refused SRT caller 127.0.0.1:[0-9]*: wrong passphrase" "$TSTREAM_HOME"/push/log/ingest.log \
  || fail "no log line for the wrong passphrase"
rejected() { [ "$(stage_field push ingest push_rejected)" -ge 1 ]; }
wait_for 30 rejected || fail "push_rejected does not count the wrong passphrase"
[ "$(stage_field push ingest pieces_out)" = 0 ] || fail "pieces from a refused caller"

say "encoder run 1, stopped mid-stream"
(push 30 run1.ts) &
enc=$!
wait_for 60 bash -c "[ \$(stat -c %s out1.ts 2>/dev/null || echo 0) -ge 300000 ]" || fail "the viewer got too little of run 1"
kill -TERM "$enc" # ffmpeg ends its output on SIGTERM, as on q
wait "$enc" || true
wait_for 30 grep -q "disconnected (closed)" "$TSTREAM_HOME"/push/log/ingest.log || fail "ingest did not see run 1 end"
seq1=$(stage_field push ingest seq)
idle() { [ "$(stage_field push ingest source_idle_s)" -ge 2 ]; }
wait_for 30 idle || fail "ingest does not count the time without an encoder as idle"
say "encoder run 2 (8 s, to its end)"
(push 8 run2.ts) || fail "the second encoder failed"
cat run1.ts run2.ts > src.ts
wait_stable 30 out1.ts || fail "the viewer's output never settled"
seq2=$(stage_field push ingest seq)
[ "$seq2" -gt "$seq1" ] || fail "no new pieces after the encoder came back ($seq1 -> $seq2)"
[ "$(stage_field push ingest source_restarts)" = 1 ] || fail "source_restarts is not 1"
for s in ingest signer swarm; do
  [ "$(stage_field push $s restarts)" = 0 ] || fail "$s restarted"
done
"$TSCTL" status
"$TSCTL" stop v1 >/dev/null
"$TSCTL" stop push >/dev/null

# out1 = (a slice of run 1, to wherever the stop cut it) + (all of run 2).
/usr/bin/python3 - run1.ts run2.ts out1.ts <<'PY' || fail "the output is not run 1 then all of run 2"
import sys
r1, r2, out = (open(f, 'rb').read() for f in sys.argv[1:4])
assert len(r2) > 100000 and out.endswith(r2), "the output does not end with the whole of run 2"
a = out[:len(out) - len(r2)]
off = r1.find(a[:4096])
assert len(a) > 100000 and off >= 0 and r1[off:off + len(a)] == a, "the part before run 2 is not a slice of run 1"
print("run 1: %d bytes from byte %d (of %d), run 2: all %d bytes" % (len(a), off, len(r1), len(r2)))
PY
head -c $(( $(stat -c %s out1.ts) - $(stat -c %s run2.ts) )) out1.ts > part1.ts
decodes_clean part1.ts || fail "run 1's part does not decode cleanly"
decodes_clean run2.ts || fail "run 2 does not decode cleanly"
say "PASS"
