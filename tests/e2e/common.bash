# Helpers shared by the end-to-end tests (sourced, not run).
set -euo pipefail
TS_BIN=${TS_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../build/bin" && pwd)}
TSCTL="$TS_BIN/tsctl"
WORK=$(mktemp -d /tmp/tse2e.XXXXXX)
export TSTREAM_HOME="$WORK/home"
mkdir -p "$TSTREAM_HOME"
cd "$WORK"

cleanup() {
  local rc=$?
  "$TSCTL" stop --all >/dev/null 2>&1 || true
  # Stages log to files: a sanitizer report there fails the test even if the stream survived.
  if grep -lE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:" "$TSTREAM_HOME"/*/log/*.log* 2>/dev/null; then
    echo "FAIL: sanitizer report in the stage logs above" >&2
    grep -hE -A20 "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:" "$TSTREAM_HOME"/*/log/*.log* | head -60 >&2
    rc=1
  fi
  if [ $rc -ne 0 ]; then
    echo "--- logs of the failed run ($WORK) ---"
    for f in "$TSTREAM_HOME"/*/log/*.log; do
      [ -f "$f" ] && { echo "== $f"; tail -n 25 "$f"; }
    done
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# N free TCP ports, space-separated, from 5000-9999: below where tsctl picks its stages' ports
# (10000 up to the kernel's ephemeral range, which outgoing connections take), so no instance of a
# test running beside this one takes them before our process binds; tests running at once share
# a registry (flock) and never get a port another one got in the last 15 minutes.
free_ports() {
  /usr/bin/python3 -c '
import fcntl, os, random, socket, sys, time
with open("/tmp/tse2e.ports.%d" % os.getuid(), "a+") as reg:
    fcntl.flock(reg, fcntl.LOCK_EX)
    reg.seek(0)
    now, recent = time.time(), {}
    for line in reg:
        f = line.split()
        if len(f) == 2 and now - float(f[0]) < 900:
            recent[int(f[1])] = f[0]
    out = []
    while len(out) < int(sys.argv[1]):
        p = random.randint(5000, 9999)
        if p in recent or p in out:
            continue
        s = socket.socket()
        try:
            s.bind(("0.0.0.0", p))
        except OSError:
            continue
        finally:
            s.close()
        out.append(p)
    reg.seek(0)
    reg.truncate()
    reg.writelines("%s %d\n" % (t, q) for q, t in recent.items())
    reg.writelines("%.3f %d\n" % (now, q) for q in out)
print(" ".join(map(str, out)))' "$1"
}
say() { echo "[$(date +%T)] $*"; }

# COMMAND must exit with CODE, and its output (stdout and stderr) match PATTERN (grep -i).
expect() { # CODE PATTERN COMMAND...
  local code=$1 pat=$2; shift 2
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  [ "$rc" = "$code" ] || fail "'$*' exited $rc, expected $code: $out"
  grep -qi -- "$pat" <<<"$out" || fail "'$*' said '$out', expected '$pat'"
  say "ok: $* -> $rc"
}

# Wait until COMMAND succeeds, at most SECONDS.
wait_for() {
  local secs=$1; shift
  local end=$((SECONDS + secs))
  until "$@"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.5
  done
}

# The 2 Mbit/s CBR MPEG-TS test stream (ffmpeg lavfi), DURATION seconds, written to stdout in real time.
# MUXRATE (default 2000k) pads the same video and audio to a higher constant rate.
testsrc_cmd() { # DURATION [MUXRATE]
  echo "ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc=size=640x360:rate=25 -f lavfi -i sine=frequency=1000:sample_rate=48000 -t $1 -c:v libx264 -preset veryfast -tune zerolatency -b:v 1800k -minrate 1800k -maxrate 1800k -bufsize 900k -x264-params nal-hrd=cbr -g 50 -pix_fmt yuv420p -c:a mp2 -b:a 128k -f mpegts -muxrate ${2:-2000k} pipe:1"
}

# A finite live source: DURATION seconds of the test stream, recorded to FILE as ingest reads
# it; the shell then idles so the pipe stays open (ingest would restart a command that exits).
finite_source() { # DURATION FILE [MUXRATE]
  echo "pipe:$(testsrc_cmd "$1" "${3:-2000k}") | tee -a $2; exec sleep 3600"
}

# Wait until FILE has not grown for 3 s (at most SECONDS).
wait_stable() { # SECONDS FILE
  local end=$((SECONDS + $1)) last=-1 same=0 now
  while [ $SECONDS -lt $end ]; do
    now=$(stat -c %s "$2" 2>/dev/null || echo 0)
    if [ "$now" = "$last" ]; then same=$((same + 1)); else same=0; last=$now; fi
    [ $same -ge 6 ] && return 0
    sleep 0.5
  done
  return 1
}

# Is OUT one contiguous slice of SRC? Prints the offset where it starts.
# With a third argument "to-end", the slice must also run to the last byte of SRC.
slice_offset() {
  /usr/bin/python3 - "$1" "$2" "${3:-}" <<'PY'
import sys
src = open(sys.argv[1], 'rb').read()
out = open(sys.argv[2], 'rb').read()
if len(out) < 4096:
    print("output too short: %d bytes" % len(out), file=sys.stderr); sys.exit(1)
off = src.find(out[:4096])
if off < 0:
    print("output's first 4 KiB are not in the source", file=sys.stderr); sys.exit(1)
if src[off:off + len(out)] != out:
    # find the first differing byte for the report
    s = src[off:off + len(out)]
    i = next((k for k in range(min(len(s), len(out))) if s[k] != out[k]), min(len(s), len(out)))
    print("output differs from the source at output byte %d of %d (source offset %d)" % (i, len(out), off + i), file=sys.stderr)
    sys.exit(1)
if sys.argv[3] == "to-end" and off + len(out) != len(src):
    print("output stops %d bytes before the end of the source" % (len(src) - off - len(out)), file=sys.stderr)
    sys.exit(1)
print(off)
PY
}

# Decode FILE with ffmpeg, failing on the first decoder error.
decodes_clean() {
  local errs
  errs=$(ffmpeg -hide_banner -nostdin -v error -xerror -i "$1" -f null - 2>&1) || { echo "$errs" | head -5 >&2; return 1; }
  [ -z "$errs" ] || { echo "$errs" | head -5 >&2; return 1; }
}

# JSON field of tsctl status --json: jq-free, with python3 from Debian.
status_json() { "$TSCTL" status --json; }
stage_field() { # INSTANCE STAGE FIELD
  status_json | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
for i in d["instances"]:
    if i["name"] == sys.argv[1]:
        for s in i["stages"]:
            if s["name"] == sys.argv[2]:
                print(s.get(sys.argv[3], "")); sys.exit(0)
sys.exit(1)' "$1" "$2" "$3"
}

# tsctl status --json has every field the README promises, for every named instance.
check_status_json() { # NAME...
  "$TSCTL" status --json | /usr/bin/python3 -c '
import json, re, sys
d = json.load(sys.stdin)
names = sys.argv[1:]
by = {i["name"]: i for i in d["instances"]}
stages = {"broadcast": ["ingest", "signer", "swarm"], "viewer": ["swarm", "player-bridge"]}
counters = {"ingest": ["seq", "pieces_out", "bytes_in"], "signer": ["seq", "pieces_signed"],
            "swarm": ["seq", "pieces_in", "pieces_up", "bytes_up", "bytes_down", "peers"],
            "player-bridge": ["pieces_in", "bytes_out", "output_bytes", "last_seq"]}
for n in names:
    i = by.get(n)
    assert i, "no instance %s in status" % n
    for k in ("name", "role", "tstream", "infohash", "stages"):
        assert k in i, "%s: no %s" % (n, k)
    assert re.fullmatch("[0-9a-f]{40}", i["infohash"]), "%s: infohash %r" % (n, i["infohash"])
    if i["role"] == "viewer":
        assert i["player_url"].startswith("http://127.0.0.1:"), "%s: player_url %r" % (n, i.get("player_url"))
    assert [s["name"] for s in i["stages"]] == stages[i["role"]], "%s: stages %r" % (n, i["stages"])
    for s in i["stages"]:
        for k in ("pid", "state", "restarts", "uptime_s"):
            assert k in s, "%s/%s: no %s" % (n, s["name"], k)
        assert s["state"] == "ready" and s["pid"] > 0, "%s/%s: %s pid %s" % (n, s["name"], s["state"], s["pid"])
        for k in counters[s["name"]]:
            assert isinstance(s.get(k), int), "%s/%s: counter %s missing" % (n, s["name"], k)
print("status --json: %d instances, all fields present" % len(names))
' "$@"
}

# The source has ended: wait until it and every output settle, stop the viewers v1..vN and the
# broadcast, then require each output to be the source from its hook-in point to the last byte,
# decoding without an ffmpeg error line.
finish_and_check() { # BROADCAST NVIEWERS
  local b=$1 n=$2 i off
  wait_stable 60 src.ts || fail "the source never finished"
  for i in $(seq 1 "$n"); do wait_stable 30 "out$i.ts" || fail "viewer $i output never settled"; done
  "$TSCTL" status
  for i in $(seq 1 "$n"); do "$TSCTL" stop "v$i" >/dev/null; done
  "$TSCTL" stop "$b" >/dev/null
  for i in $(seq 1 "$n"); do
    off=$(slice_offset src.ts "out$i.ts" to-end) \
      || fail "viewer $i output is not the source from its hook-in point to the end, without a gap"
    say "viewer $i: $(stat -c %s "out$i.ts") bytes, identical to the source from byte $off"
    decodes_clean "out$i.ts" || fail "viewer $i output does not decode cleanly"
  done
}

# OUT is SRC with forward skips only: split OUT where the bridge's --stats FILE shows a jump in seq,
# require every part to be a contiguous slice of SRC, each later in SRC than the one before, the
# last one running to SRC's end. Prints the number of skips and the byte offset of the last part
# in OUT (where playback restarted at a random-access point).
slices_with_skips() { # SRC OUT STATS
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import sys
src = open(sys.argv[1], 'rb').read()
out = open(sys.argv[2], 'rb').read()
rows = [tuple(int(x) for x in l.split()) for l in open(sys.argv[3]) if l.strip()]
# --output starts at the first random-access piece handed on; --stats lists every piece: drop
# the leading rows the output does not hold.
while rows and sum(r[3] for r in rows) > len(out):
    rows.pop(0)
cuts, pos = [0], 0
for i, (seq, ts, handed, n) in enumerate(rows):
    if i and seq != rows[i - 1][0] + 1:
        cuts.append(pos)
    pos += n
if pos != len(out):
    print("stats account for %d bytes, output has %d" % (pos, len(out)), file=sys.stderr); sys.exit(1)
cuts.append(len(out))
prev_end = -1
for k in range(len(cuts) - 1):
    part = out[cuts[k]:cuts[k + 1]]
    probe = part[:4096]
    off = src.find(probe, prev_end if prev_end > 0 else 0)
    if off < 0 or src[off:off + len(part)] != part:
        print("part %d (output bytes %d..%d) is not a slice of the source after the previous part" % (k, cuts[k], cuts[k + 1]), file=sys.stderr); sys.exit(1)
    if k > 0 and off < prev_end:
        print("part %d goes back in the source" % k, file=sys.stderr); sys.exit(1)
    prev_end = off + len(part)
if prev_end != len(src):
    print("output stops %d bytes before the end of the source" % (len(src) - prev_end), file=sys.stderr); sys.exit(1)
print(len(cuts) - 2, cuts[-2])
PY
}

# PIDs of an instance: its supervisor and every stage.
instance_pids() { # NAME
  "$TSCTL" status --json | /usr/bin/python3 -c '
import json, sys
for i in json.load(sys.stdin)["instances"]:
    if i["name"] == sys.argv[1]:
        if i.get("supervisor_pid"): print(i["supervisor_pid"])
        for s in i["stages"]:
            if s.get("pid"): print(s["pid"])' "$1"
}
